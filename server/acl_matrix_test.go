package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// aclGrant is one ALLOW ACL a principal of the matrix is given.
type aclGrant struct {
	rt      kmsg.ACLResourceType
	name    string
	pattern kmsg.ACLResourcePatternType
	op      kmsg.ACLOperation
}

func topicACL(name string, op kmsg.ACLOperation) aclGrant {
	return aclGrant{kmsg.ACLResourceTypeTopic, name, kmsg.ACLResourcePatternTypeLiteral, op}
}
func groupACL(name string, op kmsg.ACLOperation) aclGrant {
	return aclGrant{kmsg.ACLResourceTypeGroup, name, kmsg.ACLResourcePatternTypeLiteral, op}
}
func txnACL(name string, op kmsg.ACLOperation) aclGrant {
	return aclGrant{kmsg.ACLResourceTypeTransactionalId, name, kmsg.ACLResourcePatternTypeLiteral, op}
}
func clusterACL(op kmsg.ACLOperation) aclGrant {
	return aclGrant{kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLResourcePatternTypeLiteral, op}
}

// startSecuredBroker starts a broker with the StandardAuthorizer, User:admin
// as its super user, and the test hook that takes principals from client
// ids; it returns the broker and an admin client.
func startSecuredBroker(t *testing.T, opts ...func(*config.Broker)) (*testBroker, *kgo.Client) {
	t.Helper()
	tb := startBroker(t, append([]func(*config.Broker){func(c *config.Broker) {
		c.AuthorizerClassName = config.StandardAuthorizer
		c.SuperUsers = "User:admin"
	}}, opts...)...)
	tb.b.PrincipalsFromClientIDs()
	return tb, principalClient(t, tb.addr(), "admin")
}

// principalClient is a franz-go client acting as User:name.
func principalClient(t *testing.T, addr, name string, opts ...kgo.Opt) *kgo.Client {
	return newClient(t, addr, append([]kgo.Opt{kgo.ClientID("principal:User:" + name)}, opts...)...)
}

// grantACLs creates ALLOW ACLs for principal from any host, as the admin.
func grantACLs(t *testing.T, admin *kgo.Client, principal string, grants ...aclGrant) {
	t.Helper()
	req := kmsg.NewPtrCreateACLsRequest()
	for _, g := range grants {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = g.rt, g.name, g.pattern
		c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", g.op, kmsg.ACLPermissionTypeAllow
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctxFor(t, requestTimeout), admin)
	if err != nil {
		t.Fatalf("create acls: %v", err)
	}
	for i, r := range resp.Results {
		if r.ErrorCode != 0 {
			t.Fatalf("create acl %+v: %v", grants[i], kerr.ErrorForCode(r.ErrorCode))
		}
	}
}

// seedRequest sends req to the seed broker (or addr's controller listener
// client), so that franz-go does not route it by coordinator or leader.
func seedRequest(ctx context.Context, cl *kgo.Client, req kmsg.Request) (kmsg.Response, error) {
	return cl.SeedBrokers()[0].Request(ctx, req)
}

// aclCase is one row of the matrix: a request, the ACLs that allow it, and
// where its outcome is in the response.
type aclCase struct {
	name       string
	grants     []aclGrant
	denied     int16 // the code without the grants
	controller bool  // sent to the CONTROLLER listener
	req        func() kmsg.Request
	code       func(kmsg.Response) int16
}

const (
	mxTopic = "acl-t"
	mxGroup = "acl-g"
	mxTxn   = "acl-tx"
)

func aclMatrix(topicID [16]byte) []aclCase {
	var (
		topicAuth   = kerr.TopicAuthorizationFailed.Code
		groupAuth   = kerr.GroupAuthorizationFailed.Code
		txnAuth     = kerr.TransactionalIDAuthorizationFailed.Code
		clusterAuth = kerr.ClusterAuthorizationFailed.Code
	)
	return []aclCase{
		{"Metadata", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationDescribe)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrMetadataRequest()
				t := kmsg.NewMetadataRequestTopic()
				t.Topic = kmsg.StringPtr(mxTopic)
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode }},
		{"Metadata auto-create", []aclGrant{topicACL("acl-auto", kmsg.ACLOperationDescribe), topicACL("acl-auto", kmsg.ACLOperationCreate)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrMetadataRequest()
				r.AllowAutoTopicCreation = true
				t := kmsg.NewMetadataRequestTopic()
				t.Topic = kmsg.StringPtr("acl-auto")
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode }},
		{"ListOffsets", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationDescribe)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrListOffsetsRequest()
				t := kmsg.NewListOffsetsRequestTopic()
				t.Topic = mxTopic
				p := kmsg.NewListOffsetsRequestTopicPartition()
				p.Timestamp = -1
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode }},
		{"Fetch", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationRead)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrFetchRequest()
				r.MaxBytes, r.MaxWaitMillis = 1<<20, 0
				t := kmsg.NewFetchRequestTopic()
				t.Topic, t.TopicID = mxTopic, topicID
				p := kmsg.NewFetchRequestTopicPartition()
				p.PartitionMaxBytes = 1 << 20
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode }},
		{"Fetch as follower", []aclGrant{clusterACL(kmsg.ACLOperationClusterAction)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrFetchRequest()
				r.ReplicaID, r.ReplicaState.ID = 7, 7
				r.MaxBytes = 1 << 20
				t := kmsg.NewFetchRequestTopic()
				t.Topic, t.TopicID = mxTopic, topicID
				p := kmsg.NewFetchRequestTopicPartition()
				p.PartitionMaxBytes = 1 << 20
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode }},
		{"OffsetForLeaderEpoch", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationDescribe)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrOffsetForLeaderEpochRequest()
				t := kmsg.NewOffsetForLeaderEpochRequestTopic()
				t.Topic = mxTopic
				p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				p.CurrentLeaderEpoch, p.LeaderEpoch = -1, 0
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 {
				return r.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{"OffsetCommit group", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationRead)}, groupAuth, false,
			offsetCommit(mxGroup, mxTopic, topicID), func(r kmsg.Response) int16 {
				c := r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
				if c == kerr.TopicAuthorizationFailed.Code {
					return 0 // the group passed; the topic is the next row
				}
				return c
			}},
		{"OffsetCommit topic", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationRead), topicACL(mxTopic, kmsg.ACLOperationRead)}, groupAuth, false,
			offsetCommit(mxGroup, mxTopic, topicID), func(r kmsg.Response) int16 { return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode }},
		{"OffsetFetch", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationDescribe)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrOffsetFetchRequest()
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = mxGroup
				r.Groups = append(r.Groups, g)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetFetchResponse).Groups[0].ErrorCode }},
		{"FindCoordinator group", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationDescribe)}, groupAuth, false,
			findCoordinator(0, mxGroup), func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode }},
		{"FindCoordinator transaction", []aclGrant{txnACL(mxTxn, kmsg.ACLOperationDescribe)}, txnAuth, false,
			findCoordinator(1, mxTxn), func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode }},
		{"JoinGroup", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationRead)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrJoinGroupRequest()
				r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis, r.ProtocolType = mxGroup, 6000, 6000, "consumer"
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name, p.Metadata = "range", []byte{}
				r.Protocols = append(r.Protocols, p)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }},
		{"Heartbeat", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationRead)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrHeartbeatRequest()
				r.Group, r.MemberID = mxGroup, "m"
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }},
		{"SyncGroup", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationRead)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrSyncGroupRequest()
				r.Group, r.MemberID = mxGroup, "m"
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }},
		{"LeaveGroup", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationRead)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrLeaveGroupRequest()
				r.Group = mxGroup
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID = "m"
				r.Members = append(r.Members, m)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.LeaveGroupResponse).ErrorCode }},
		{"DescribeGroups", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationDescribe)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDescribeGroupsRequest()
				r.Groups = []string{mxGroup}
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode }},
		{"DeleteGroups", []aclGrant{groupACL("acl-gone", kmsg.ACLOperationDelete)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDeleteGroupsRequest()
				r.Groups = []string{"acl-gone"}
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode }},
		{"OffsetDelete", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationDelete), topicACL(mxTopic, kmsg.ACLOperationRead)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrOffsetDeleteRequest()
				r.Group = mxGroup
				t := kmsg.NewOffsetDeleteRequestTopic()
				t.Topic = mxTopic
				p := kmsg.NewOffsetDeleteRequestTopicPartition()
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 {
				resp := r.(*kmsg.OffsetDeleteResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Topics[0].Partitions[0].ErrorCode
			}},
		{"ConsumerGroupHeartbeat", []aclGrant{groupACL("acl-cg", kmsg.ACLOperationRead), topicACL(mxTopic, kmsg.ACLOperationDescribe)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				r.Group, r.MemberID, r.MemberEpoch, r.RebalanceTimeoutMillis = "acl-cg", "acl-member-00000000001", 0, 5000
				r.SubscribedTopicNames = []string{mxTopic}
				r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode }},
		{"ConsumerGroupDescribe", []aclGrant{groupACL(mxGroup, kmsg.ACLOperationDescribe)}, groupAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrConsumerGroupDescribeRequest()
				r.Groups = []string{mxGroup}
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode }},
		{"CreateTopics", []aclGrant{topicACL("acl-new", kmsg.ACLOperationCreate)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrCreateTopicsRequest()
				r.ValidateOnly, r.TimeoutMillis = true, 10000
				t := kmsg.NewCreateTopicsRequestTopic()
				t.Topic, t.NumPartitions, t.ReplicationFactor = "acl-new", 1, 1
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }},
		{"DeleteTopics", []aclGrant{topicACL("acl-missing", kmsg.ACLOperationDelete)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDeleteTopicsRequest()
				r.TimeoutMillis = 10000
				t := kmsg.NewDeleteTopicsRequestTopic()
				t.Topic = kmsg.StringPtr("acl-missing")
				r.Topics = append(r.Topics, t)
				r.TopicNames = []string{"acl-missing"}
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }},
		{"DeleteRecords", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationDelete)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDeleteRecordsRequest()
				r.TimeoutMillis = 10000
				t := kmsg.NewDeleteRecordsRequestTopic()
				t.Topic = mxTopic
				p := kmsg.NewDeleteRecordsRequestTopicPartition()
				p.Offset = 0
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode }},
		{"CreatePartitions", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationAlter)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrCreatePartitionsRequest()
				r.ValidateOnly, r.TimeoutMillis = true, 10000
				t := kmsg.NewCreatePartitionsRequestTopic()
				t.Topic, t.Count = mxTopic, 3
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode }},
		{"DescribeConfigs topic", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationAlterConfigs)}, topicAuth, false,
			describeConfigsReq(kmsg.ConfigResourceTypeTopic, mxTopic), func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }},
		{"DescribeConfigs broker", []aclGrant{clusterACL(kmsg.ACLOperationDescribeConfigs)}, clusterAuth, false,
			describeConfigsReq(kmsg.ConfigResourceTypeBroker, "1"), func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }},
		{"AlterConfigs", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationAlterConfigs)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrAlterConfigsRequest()
				r.ValidateOnly = true
				rr := kmsg.NewAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, mxTopic
				r.Resources = append(r.Resources, rr)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode }},
		{"IncrementalAlterConfigs", []aclGrant{clusterACL(kmsg.ACLOperationAlterConfigs)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrIncrementalAlterConfigsRequest()
				r.ValidateOnly = true
				rr := kmsg.NewIncrementalAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, ""
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "log.cleaner.backoff.ms", kmsg.StringPtr("20000")
				rr.Configs = append(rr.Configs, c)
				r.Resources = append(r.Resources, rr)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode }},
		{"InitProducerId transactional", []aclGrant{txnACL(mxTxn, kmsg.ACLOperationWrite)}, txnAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrInitProducerIDRequest()
				r.TransactionalID, r.TransactionTimeoutMillis = kmsg.StringPtr(mxTxn), 30000
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }},
		{"InitProducerId idempotent", []aclGrant{clusterACL(kmsg.ACLOperationIdempotentWrite)}, clusterAuth, false,
			initIdempotent, func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }},
		{"InitProducerId idempotent by topic WRITE", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationWrite)}, clusterAuth, false,
			initIdempotent, func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }},
		{"AddPartitionsToTxn from a broker", []aclGrant{clusterACL(kmsg.ACLOperationClusterAction), topicACL(mxTopic, kmsg.ACLOperationWrite)}, clusterAuth, false,
			func() kmsg.Request {
				// v4+, as brokers verify transactions (KIP-890);
				// franz-go sends the newest version.
				r := kmsg.NewPtrAddPartitionsToTxnRequest()
				tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
				tx.TransactionalID, tx.ProducerID, tx.VerifyOnly = mxTxn, 999, true
				t := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
				t.Topic, t.Partitions = mxTopic, []int32{0}
				tx.Topics = append(tx.Topics, t)
				r.Transactions = append(r.Transactions, tx)
				return r
			}, func(r kmsg.Response) int16 {
				resp := r.(*kmsg.AddPartitionsToTxnResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Transactions[0].Topics[0].Partitions[0].ErrorCode
			}},
		{"AddOffsetsToTxn", []aclGrant{txnACL(mxTxn, kmsg.ACLOperationWrite), groupACL(mxGroup, kmsg.ACLOperationRead)}, txnAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrAddOffsetsToTxnRequest()
				r.TransactionalID, r.ProducerID, r.Group = mxTxn, 999, mxGroup
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode }},
		{"EndTxn", []aclGrant{txnACL(mxTxn, kmsg.ACLOperationWrite)}, txnAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrEndTxnRequest()
				r.TransactionalID, r.ProducerID = mxTxn, 999
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.EndTxnResponse).ErrorCode }},
		{"TxnOffsetCommit", []aclGrant{txnACL(mxTxn, kmsg.ACLOperationWrite), groupACL(mxGroup, kmsg.ACLOperationRead), topicACL(mxTopic, kmsg.ACLOperationRead)}, txnAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrTxnOffsetCommitRequest()
				r.TransactionalID, r.Group, r.ProducerID, r.Generation = mxTxn, mxGroup, 999, -1
				t := kmsg.NewTxnOffsetCommitRequestTopic()
				t.Topic = mxTopic
				p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 {
				return r.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{"WriteTxnMarkers", []aclGrant{clusterACL(kmsg.ACLOperationClusterAction)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrWriteTxnMarkersRequest()
				m := kmsg.NewWriteTxnMarkersRequestMarker()
				m.ProducerID = 999
				t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
				t.Topic, t.Partitions = "acl-missing", []int32{0}
				m.Topics = append(m.Topics, t)
				r.Markers = append(r.Markers, m)
				return r
			}, func(r kmsg.Response) int16 {
				return r.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
			}},
		{"DescribeProducers", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationRead)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDescribeProducersRequest()
				t := kmsg.NewDescribeProducersRequestTopic()
				t.Topic, t.Partitions = mxTopic, []int32{0}
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 {
				return r.(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{"DescribeTransactions", []aclGrant{txnACL(mxTxn, kmsg.ACLOperationDescribe)}, txnAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDescribeTransactionsRequest()
				r.TransactionalIDs = []string{mxTxn}
				return r
			}, func(r kmsg.Response) int16 {
				return r.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode
			}},
		{"DescribeTopicPartitions", []aclGrant{topicACL(mxTopic, kmsg.ACLOperationDescribe)}, topicAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDescribeTopicPartitionsRequest()
				t := kmsg.NewDescribeTopicPartitionsRequestTopic()
				t.Topic = mxTopic
				r.Topics = append(r.Topics, t)
				r.ResponsePartitionLimit = 100
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeTopicPartitionsResponse).Topics[0].ErrorCode }},
		{"DescribeLogDirs", []aclGrant{clusterACL(kmsg.ACLOperationDescribe)}, clusterAuth, false,
			func() kmsg.Request { return kmsg.NewPtrDescribeLogDirsRequest() },
			func(r kmsg.Response) int16 { return r.(*kmsg.DescribeLogDirsResponse).ErrorCode }},
		{"AlterReplicaLogDirs", []aclGrant{clusterACL(kmsg.ACLOperationAlter)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrAlterReplicaLogDirsRequest()
				d := kmsg.NewAlterReplicaLogDirsRequestDir()
				d.Dir = "/nonexistent"
				t := kmsg.NewAlterReplicaLogDirsRequestDirTopic()
				t.Topic, t.Partitions = mxTopic, []int32{0}
				d.Topics = append(d.Topics, t)
				r.Dirs = append(r.Dirs, d)
				return r
			}, func(r kmsg.Response) int16 {
				return r.(*kmsg.AlterReplicaLogDirsResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{"ElectLeaders", []aclGrant{clusterACL(kmsg.ACLOperationAlter)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrElectLeadersRequest()
				r.TimeoutMillis = 10000
				t := kmsg.NewElectLeadersRequestTopic()
				t.Topic, t.Partitions = mxTopic, []int32{0}
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.ElectLeadersResponse).ErrorCode }},
		{"AlterPartitionAssignments", []aclGrant{clusterACL(kmsg.ACLOperationAlter)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
				r.TimeoutMillis = 10000
				t := kmsg.NewAlterPartitionAssignmentsRequestTopic()
				t.Topic = "acl-missing"
				p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
				p.Replicas = []int32{1}
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.AlterPartitionAssignmentsResponse).ErrorCode }},
		{"ListPartitionReassignments", []aclGrant{clusterACL(kmsg.ACLOperationDescribe)}, clusterAuth, false,
			func() kmsg.Request { return kmsg.NewPtrListPartitionReassignmentsRequest() },
			func(r kmsg.Response) int16 { return r.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode }},
		{"DescribeClientQuotas", []aclGrant{clusterACL(kmsg.ACLOperationDescribeConfigs)}, clusterAuth, false,
			func() kmsg.Request { return kmsg.NewPtrDescribeClientQuotasRequest() },
			func(r kmsg.Response) int16 { return r.(*kmsg.DescribeClientQuotasResponse).ErrorCode }},
		{"AlterClientQuotas", []aclGrant{clusterACL(kmsg.ACLOperationAlterConfigs)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrAlterClientQuotasRequest()
				r.ValidateOnly = true
				e := kmsg.NewAlterClientQuotasRequestEntry()
				en := kmsg.NewAlterClientQuotasRequestEntryEntity()
				en.Type, en.Name = "user", kmsg.StringPtr("alice")
				e.Entity = append(e.Entity, en)
				op := kmsg.NewAlterClientQuotasRequestEntryOp()
				op.Key, op.Value = "producer_byte_rate", 1024
				e.Ops = append(e.Ops, op)
				r.Entries = append(r.Entries, e)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.AlterClientQuotasResponse).Entries[0].ErrorCode }},
		{"DescribeUserScramCredentials", []aclGrant{clusterACL(kmsg.ACLOperationDescribe)}, clusterAuth, false,
			func() kmsg.Request { return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest() },
			func(r kmsg.Response) int16 { return r.(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode }},
		{"AlterUserScramCredentials", []aclGrant{clusterACL(kmsg.ACLOperationAlter)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
				d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
				d.Name, d.Mechanism = "nobody-at-all", 1
				r.Deletions = append(r.Deletions, d)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode }},
		{"DescribeQuorum", []aclGrant{clusterACL(kmsg.ACLOperationDescribe)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDescribeQuorumRequest()
				t := kmsg.NewDescribeQuorumRequestTopic()
				t.Topic = "__cluster_metadata"
				t.Partitions = append(t.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
				r.Topics = append(r.Topics, t)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeQuorumResponse).ErrorCode }},
		{"UpdateFeatures", []aclGrant{clusterACL(kmsg.ACLOperationAlter)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrUpdateFeaturesRequest()
				r.ValidateOnly, r.TimeoutMillis = true, 10000
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.UpdateFeaturesResponse).ErrorCode }},
		{"UnregisterBroker", []aclGrant{clusterACL(kmsg.ACLOperationAlter)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrUnregisterBrokerRequest()
				r.BrokerID = 999
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.UnregisterBrokerResponse).ErrorCode }},
		{"DescribeAcls", []aclGrant{clusterACL(kmsg.ACLOperationDescribe)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDescribeACLsRequest()
				r.ResourceType, r.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
				r.Operation, r.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeACLsResponse).ErrorCode }},
		{"CreateAcls", []aclGrant{clusterACL(kmsg.ACLOperationAlter)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrCreateACLsRequest()
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "acl-unused", kmsg.ACLResourcePatternTypeLiteral
				c.Principal, c.Host, c.Operation, c.PermissionType = "User:nobody-else", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
				r.Creations = append(r.Creations, c)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode }},
		{"DeleteAcls", []aclGrant{clusterACL(kmsg.ACLOperationAlter)}, clusterAuth, false,
			func() kmsg.Request {
				r := kmsg.NewPtrDeleteACLsRequest()
				f := kmsg.NewDeleteACLsRequestFilter()
				f.ResourceType, f.ResourceName, f.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.StringPtr("acl-unused"), kmsg.ACLResourcePatternTypeLiteral
				f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				r.Filters = append(r.Filters, f)
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteACLsResponse).Results[0].ErrorCode }},
		{"AllocateProducerIds", []aclGrant{clusterACL(kmsg.ACLOperationClusterAction)}, clusterAuth, true,
			func() kmsg.Request {
				r := kmsg.NewPtrAllocateProducerIDsRequest()
				r.BrokerID, r.BrokerEpoch = 999, 1
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.AllocateProducerIDsResponse).ErrorCode }},
		{"BrokerHeartbeat", []aclGrant{clusterACL(kmsg.ACLOperationClusterAction)}, clusterAuth, true,
			func() kmsg.Request {
				r := kmsg.NewPtrBrokerHeartbeatRequest()
				r.BrokerID, r.BrokerEpoch = 999, 1
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.BrokerHeartbeatResponse).ErrorCode }},
		{"AlterPartition", []aclGrant{clusterACL(kmsg.ACLOperationClusterAction)}, clusterAuth, true,
			func() kmsg.Request {
				r := kmsg.NewPtrAlterPartitionRequest()
				r.BrokerID, r.BrokerEpoch = 999, 1
				return r
			}, func(r kmsg.Response) int16 { return r.(*kmsg.AlterPartitionResponse).ErrorCode }},
		{"Envelope", []aclGrant{clusterACL(kmsg.ACLOperationClusterAction)}, clusterAuth, true,
			func() kmsg.Request { return envelope("User:admin", describeQuorumFrame()) },
			func(r kmsg.Response) int16 { return r.(*kmsg.EnvelopeResponse).ErrorCode }},
	}
}

// offsetCommit commits offset 0 of partition 0 of the topic (named for
// v9 and older, by ID from v10) as a simple consumer.
func offsetCommit(group, topic string, topicID [16]byte) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.Generation = group, -1
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic, t.TopicID = topic, topicID
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Offset = 0
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return r
	}
}

func findCoordinator(typ int8, key string) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.CoordinatorType, r.CoordinatorKeys = typ, []string{key}
		return r
	}
}

func describeConfigsReq(typ kmsg.ConfigResourceType, name string) func() kmsg.Request {
	return func() kmsg.Request {
		r := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = typ, name
		r.Resources = append(r.Resources, rr)
		return r
	}
}

func initIdempotent() kmsg.Request {
	r := kmsg.NewPtrInitProducerIDRequest()
	r.TransactionTimeoutMillis = 30000
	return r
}

// TestACLMatrix: for every API with an authorization check, a principal
// without ACLs gets Kafka's *_AUTHORIZATION_FAILED, and a principal given
// the ACLs Kafka requires gets past it, through franz-go over TCP.
func TestACLMatrix(t *testing.T) {
	tb, admin := startSecuredBroker(t)
	ctx := ctxFor(t, 3*time.Minute)
	mustCreate(t, admin, mxTopic, 1)
	ctrlAddr := tb.b.ControllerAddr()

	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	var topicID [16]byte
	for _, mt := range md.Topics {
		if mt.Topic != nil && *mt.Topic == mxTopic {
			topicID = mt.TopicID
		}
	}
	// A group with a committed offset, for the group rows.
	commit := offsetCommit(mxGroup, mxTopic, topicID)().(*kmsg.OffsetCommitRequest)
	if cr, err := commit.RequestWith(ctx, admin); err != nil || cr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("admin offset commit: %v %+v", err, cr)
	}
	cases := aclMatrix(topicID)
	nobody := principalClient(t, tb.addr(), "nobody")
	nobodyCtrl := principalClient(t, ctrlAddr, "nobody")
	for i, c := range cases {
		cl, addr := nobody, tb.addr()
		if c.controller {
			cl, addr = nobodyCtrl, ctrlAddr
		}
		resp, err := seedRequest(ctx, cl, c.req())
		if err != nil {
			t.Fatalf("%s as nobody: %v", c.name, err)
		}
		if got := c.code(resp); got != c.denied {
			t.Errorf("%s without ACLs: %v, want %v", c.name, kerr.ErrorForCode(got), kerr.ErrorForCode(c.denied))
		}
		// The same request by a principal given exactly the grants.
		name := fmt.Sprintf("c%d", i)
		grantACLs(t, admin, "User:"+name, c.grants...)
		allowed := principalClient(t, addr, name)
		caseCtx, cancel := context.WithTimeout(ctx, requestTimeout)
		waitFor(t, caseCtx, c.name+" allowed", func() error {
			resp, err := seedRequest(ctx, allowed, c.req())
			if err != nil {
				return err
			}
			got := c.code(resp)
			if isAuthorizationFailure(got) {
				return fmt.Errorf("with %+v: %v", c.grants, kerr.ErrorForCode(got))
			}
			t.Logf("%s allowed: %v", c.name, kerr.ErrorForCode(got))
			return nil
		})
		cancel()
	}
}

func isAuthorizationFailure(code int16) bool {
	switch code {
	case kerr.TopicAuthorizationFailed.Code, kerr.GroupAuthorizationFailed.Code,
		kerr.ClusterAuthorizationFailed.Code, kerr.TransactionalIDAuthorizationFailed.Code:
		return true
	}
	return false
}

// waitFor polls fn until it succeeds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, fn func() error) {
	t.Helper()
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func mustCreate(t *testing.T, admin *kgo.Client, topic string, partitions int32) {
	t.Helper()
	r := kmsg.NewPtrCreateTopicsRequest()
	r.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	r.Topics = append(r.Topics, rt)
	resp, err := r.RequestWith(ctxFor(t, requestTimeout), admin)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s: %v %v", topic, err, errors.Join(kerr.ErrorForCode(resp.Topics[0].ErrorCode)))
	}
}

// frameOf is req as a broker forwards it: header and body, no size.
func frameOf(req kmsg.Request, clientID string) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, 7)[4:]
}

func describeQuorumFrame() []byte {
	r := kmsg.NewPtrDescribeQuorumRequest()
	r.Version = 0
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	t.Partitions = append(t.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	r.Topics = append(r.Topics, t)
	return frameOf(r, "forwarding-broker")
}

// envelope wraps a forwarded request frame for the client principal.
func envelope(principal string, frame []byte) *kmsg.EnvelopeRequest {
	typ, name, _ := strings.Cut(principal, ":")
	p := kmsg.DefaultPrincipalData{Type: typ, Name: name}
	r := kmsg.NewPtrEnvelopeRequest()
	r.RequestData, r.RequestPrincipal, r.ClientHostAddress = frame, p.AppendTo(nil), []byte{127, 0, 0, 1}
	return r
}

// TestEnvelopeAuthorizesTheForwardedPrincipal: a broker's Envelope needs
// CLUSTER_ACTION, and the request inside is authorized as the client it
// names (KIP-590), not as the broker that forwarded it.
func TestEnvelopeAuthorizesTheForwardedPrincipal(t *testing.T) {
	tb, admin := startSecuredBroker(t)
	ctx := ctxFor(t, time.Minute)
	grantACLs(t, admin, "User:broker", clusterACL(kmsg.ACLOperationClusterAction))
	grantACLs(t, admin, "User:creator", aclGrant{kmsg.ACLResourceTypeTopic, "env-", kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationCreate})
	broker := principalClient(t, tb.b.ControllerAddr(), "broker")
	createFrame := func(topic string) []byte {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.Version, r.TimeoutMillis = 7, 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
		r.Topics = append(r.Topics, rt)
		return frameOf(r, "forwarding-broker")
	}
	forward := func(principal string, frame []byte) int16 {
		t.Helper()
		var code int16
		waitFor(t, ctx, "envelope from "+principal, func() error {
			resp, err := seedRequest(ctx, broker, envelope(principal, frame))
			if err != nil {
				return err
			}
			er := resp.(*kmsg.EnvelopeResponse)
			if er.ErrorCode != 0 {
				return kerr.ErrorForCode(er.ErrorCode)
			}
			inner := kmsg.NewPtrCreateTopicsResponse()
			inner.Version = 7
			// Skip the correlation id and the empty tagged-field header.
			if err := inner.ReadFrom(er.ResponseData[5:]); err != nil {
				return err
			}
			code = inner.Topics[0].ErrorCode
			return nil
		})
		return code
	}
	if code := forward("User:nobody", createFrame("env-a")); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("CreateTopics forwarded for User:nobody: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	if code := forward("User:creator", createFrame("env-a")); code != 0 {
		t.Fatalf("CreateTopics forwarded for User:creator: %v", kerr.ErrorForCode(code))
	}
	// A client that is not a broker may not send Envelopes.
	resp, err := seedRequest(ctx, principalClient(t, tb.b.ControllerAddr(), "creator"), envelope("User:admin", createFrame("env-b")))
	if err != nil || resp.(*kmsg.EnvelopeResponse).ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("envelope from a client: %v %+v", err, resp)
	}
	// A principal that does not decode.
	bad := envelope("User:admin", createFrame("env-b"))
	bad.RequestPrincipal = []byte{0xff}
	resp, err = seedRequest(ctx, broker, bad)
	if err != nil || resp.(*kmsg.EnvelopeResponse).ErrorCode != kerr.PrincipalDeserializationFailure.Code {
		t.Fatalf("envelope with a bad principal: %v %+v", err, resp)
	}
}
