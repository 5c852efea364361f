package server_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// TestACLsThroughKadm is kafka-acls.sh --add / --list / --remove through
// kadm's ACL builder against the StandardAuthorizer: ACLs are created,
// found by exact and MATCH filters, survive a restart (they are metadata
// records), and are deleted by filter.
func TestACLsThroughKadm(t *testing.T) {
	tb, admin := startSecuredBroker(t)
	adm := kadm.NewClient(admin)
	ctx := ctxFor(t, time.Minute)

	create := func(b *kadm.ACLBuilder) {
		t.Helper()
		res, err := adm.CreateACLs(ctx, b)
		if err != nil {
			t.Fatalf("create acls: %v", err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create acl %+v: %v %s", r, r.Err, r.ErrMessage)
			}
		}
	}
	create(kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternLiteral).
		Allow("User:alice").AllowHosts().Operations(kadm.OpRead, kadm.OpDescribe))
	create(kadm.NewACLs().Topics("ord").ResourcePatternType(kadm.ACLPatternPrefixed).
		Deny("User:*").DenyHosts("10.0.0.1").Operations(kadm.OpWrite))
	create(kadm.NewACLs().Groups("billing").ResourcePatternType(kadm.ACLPatternLiteral).
		Allow("User:bob").AllowHosts().Operations(kadm.OpRead))

	describe := func(b *kadm.ACLBuilder) kadm.DescribedACLs {
		t.Helper()
		res, err := adm.DescribeACLs(ctx, b)
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("describe acls: %v %+v", err, res)
		}
		return res[0].Described
	}
	all := func() kadm.DescribedACLs {
		return describe(kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).
			Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny))
	}
	if got := all(); len(got) != 4 {
		t.Fatalf("all acls: %d, want 4: %+v", len(got), got)
	}
	// MATCH: the ACLs that apply to topic "orders": the literal one and
	// the "ord" prefix, not the group's.
	match := describe(kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternMatch).
		Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny))
	if len(match) != 3 {
		t.Fatalf("MATCH orders: %+v", match)
	}
	for _, d := range match {
		if d.Name != "orders" && d.Name != "ord" {
			t.Fatalf("MATCH orders found %+v", d)
		}
	}

	// A principal without a type is INVALID_REQUEST, as in Kafka.
	bad, err := adm.CreateACLs(ctx, kadm.NewACLs().Topics("x").ResourcePatternType(kadm.ACLPatternLiteral).
		Allow("alice").AllowHosts().Operations(kadm.OpRead))
	if err != nil || len(bad) != 1 || !errors.Is(bad[0].Err, kerr.InvalidRequest) {
		t.Fatalf("create with principal alice: %v %+v", err, bad)
	}

	// ACLs are in the metadata log: a restart keeps them.
	tb.restart()
	tb.b.PrincipalsFromClientIDs()
	admin = principalClient(t, tb.addr(), "admin")
	adm = kadm.NewClient(admin)
	if got := all(); len(got) != 4 {
		t.Fatalf("acls after restart: %+v", got)
	}

	deleted, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("ord", "orders").ResourcePatternType(kadm.ACLPatternAny).
		Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny))
	if err != nil {
		t.Fatalf("delete acls: %v", err)
	}
	n := 0
	for _, d := range deleted {
		if d.Err != nil {
			t.Fatalf("delete: %+v", d)
		}
		n += len(d.Deleted)
	}
	if n != 3 {
		t.Fatalf("deleted %d acls, want 3: %+v", n, deleted)
	}
	if got := all(); len(got) != 1 || got[0].Name != "billing" {
		t.Fatalf("acls after delete: %+v", got)
	}
}

// TestACLsEnforcedOnClients drives real clients as two users: alice may use
// the "app-" topics and group, bob nothing. Producing, consuming in a group,
// listing topics and groups, and authorized operations all follow the ACLs;
// a DENY added later wins over alice's ALLOW.
func TestACLsEnforcedOnClients(t *testing.T) {
	tb, admin := startSecuredBroker(t)
	adm := kadm.NewClient(admin)
	ctx := ctxFor(t, 2*time.Minute)
	mustCreate(t, admin, "app-orders", 1)
	mustCreate(t, admin, "secret", 1)
	res, err := adm.CreateACLs(ctx, kadm.NewACLs().Topics("app-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Allow("User:alice").AllowHosts().Operations(kadm.OpRead, kadm.OpWrite))
	if err == nil {
		var more kadm.CreateACLsResults
		more, err = adm.CreateACLs(ctx, kadm.NewACLs().Groups("app-group").ResourcePatternType(kadm.ACLPatternLiteral).
			Allow("User:alice").AllowHosts().Operations(kadm.OpRead))
		res = append(res, more...)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create acl: %v", r.Err)
		}
	}
	// Another group with offsets, which alice may not see.
	smd, err := adm.Metadata(ctx, "secret")
	if err != nil {
		t.Fatal(err)
	}
	commit := offsetCommit("other-group", "secret", smd.Topics["secret"].ID)().(*kmsg.OffsetCommitRequest)
	if cr, err := commit.RequestWith(ctx, admin); err != nil || cr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("admin commits for other-group: %v %+v", err, cr)
	}

	// alice produces with an idempotent producer: InitProducerId passes
	// on her WRITE to some topic (KIP-679).
	alice := principalClient(t, tb.addr(), "alice", kgo.DefaultProduceTopic("app-orders"))
	waitFor(t, ctx, "alice produces", func() error {
		return alice.ProduceSync(ctx, &kgo.Record{Value: []byte("v1")}, &kgo.Record{Value: []byte("v2")}).FirstErr()
	})
	// bob may not.
	bob := principalClient(t, tb.addr(), "bob", kgo.DefaultProduceTopic("app-orders"), kgo.DisableIdempotentWrite())
	bctx, cancel := context.WithTimeout(ctx, requestTimeout)
	err = bob.ProduceSync(bctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	cancel()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob produces: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// alice consumes in her group and commits.
	consumer := principalClient(t, tb.addr(), "alice", kgo.ConsumeTopics("app-orders"), kgo.ConsumerGroup("app-group"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	var got []string
	for len(got) < 2 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("alice polls: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice commits: %v", err)
	}

	// Metadata for all topics and ListGroups show alice only her own.
	aadm := kadm.NewClient(principalClient(t, tb.addr(), "alice"))
	topics, err := aadm.ListTopics(ctx)
	if err != nil || !topics.Has("app-orders") || topics.Has("secret") {
		t.Fatalf("alice lists topics: %v %v", err, topics.Names())
	}
	groups, err := aadm.ListGroups(ctx)
	if err != nil || !slices.Contains(groups.Groups(), "app-group") || slices.Contains(groups.Groups(), "other-group") {
		t.Fatalf("alice lists groups: %v %v", err, groups.Groups())
	}
	all, err := adm.ListGroups(ctx)
	if err != nil || !slices.Contains(all.Groups(), "other-group") {
		t.Fatalf("admin lists groups: %v %v", err, all.Groups())
	}

	// Authorized operations (KIP-430): alice has READ and WRITE on
	// app-orders (DESCRIBE implied) and nothing on the cluster.
	md := kmsg.NewPtrMetadataRequest()
	md.IncludeTopicAuthorizedOperations = true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("app-orders")
	md.Topics = append(md.Topics, mt)
	mresp, err := md.RequestWith(ctx, principalClient(t, tb.addr(), "alice"))
	if err != nil || mresp.Topics[0].AuthorizedOperations != 1<<3|1<<4|1<<8 {
		t.Fatalf("alice's operations on app-orders: %v %b", err, mresp.Topics[0].AuthorizedOperations)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	dresp, err := dc.RequestWith(ctx, principalClient(t, tb.addr(), "alice"))
	if err != nil || dresp.ClusterAuthorizedOperations != 0 {
		t.Fatalf("alice's cluster operations: %v %b", err, dresp.ClusterAuthorizedOperations)
	}
	dresp, err = dc.RequestWith(ctx, admin)
	if err != nil || dresp.ClusterAuthorizedOperations != 1<<5|1<<7|1<<8|1<<9|1<<10|1<<11|1<<12 {
		t.Fatalf("admin's cluster operations: %v %b", err, dresp.ClusterAuthorizedOperations)
	}

	// DENY wins: alice may no longer read app-orders.
	dres, err := adm.CreateACLs(ctx, kadm.NewACLs().Topics("app-orders").ResourcePatternType(kadm.ACLPatternLiteral).
		Deny("User:alice").DenyHosts().Operations(kadm.OpRead))
	if err != nil || dres[0].Err != nil {
		t.Fatalf("create deny: %v %+v", err, dres)
	}
	lo := principalClient(t, tb.addr(), "alice")
	waitFor(t, ctx, "deny applies", func() error {
		offs, err := kadm.NewClient(lo).ListEndOffsets(ctx, "app-orders")
		if err != nil {
			return err
		}
		o, _ := offs.Lookup("app-orders", 0)
		if o.Err == nil || !errors.Is(o.Err, kerr.TopicAuthorizationFailed) {
			// ListOffsets needs DESCRIBE, which WRITE still implies;
			// the fetch is what READ's DENY refuses.
			f := kmsg.NewPtrFetchRequest()
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "app-orders"
			md, _ := kadm.NewClient(admin).Metadata(ctx, "app-orders")
			ft.TopicID = md.Topics["app-orders"].ID
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes = 1 << 20
			ft.Partitions = append(ft.Partitions, fp)
			f.Topics = append(f.Topics, ft)
			f.MaxBytes = 1 << 20
			fr, err := seedRequest(ctx, lo, f)
			if err != nil {
				return err
			}
			if c := fr.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
				return kerr.ErrorForCode(c)
			}
		}
		return nil
	})
}

// TestACLsThroughKafkaPython: kafka-python's admin client (a second client
// library) creates, lists and deletes ACLs, and is refused without ALTER on
// the cluster.
func TestACLsThroughKafkaPython(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Fatalf("python3: %v", err)
	}
	tb, _ := startSecuredBroker(t)
	script := `
import sys
from kafka.admin import KafkaAdminClient, ACL, ACLFilter, ResourcePattern, ResourcePatternFilter, ACLOperation, ACLPermissionType, ResourceType, ACLResourcePatternType
addr, who = sys.argv[1], sys.argv[2]
adm = KafkaAdminClient(bootstrap_servers=addr, client_id="principal:User:" + who, api_version=(2, 5, 0))
acl = ACL(principal="User:carol", host="*", operation=ACLOperation.READ, permission_type=ACLPermissionType.ALLOW,
          resource_pattern=ResourcePattern(ResourceType.TOPIC, "py-topic", ACLResourcePatternType.LITERAL))
res = adm.create_acls([acl])
if res["failed"]:
    e = res["failed"][0][1]
    print("create failed", getattr(e, "__name__", type(e).__name__))
    sys.exit(0)
flt = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, "py-topic", ACLResourcePatternType.LITERAL))
acls, err = adm.describe_acls(flt)
print("described", len(acls), acls[0].principal if acls else "")
deleted = adm.delete_acls([flt])
print("deleted", len(deleted[0][1]))
acls, err = adm.describe_acls(flt)
print("after", len(acls))
`
	run := func(who string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, tb.addr(), who).CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-python as %s: %v\n%s", who, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := run("admin"); out != "described 1 User:carol\ndeleted 1\nafter 0" {
		t.Fatalf("kafka-python as admin:\n%s", out)
	}
	if out := run("nobody"); !strings.Contains(out, "create failed ClusterAuthorizationFailedError") {
		t.Fatalf("kafka-python as nobody:\n%s", out)
	}
}

// TestACLsWithSASLPlain: principals from real SASL/PLAIN authentication.
// The super user creates ACLs for alice over SASL; alice then produces and
// consumes in her group, is refused what she was not granted, and an
// unauthenticated client (User:ANONYMOUS on the PLAINTEXT listener) is
// refused everything.
func TestACLsWithSASLPlain(t *testing.T) {
	tb := startBroker(t, withListener("SASL_PLAINTEXT", "SASL_PLAINTEXT", map[string]string{
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config":  plainJAAS,
	}), func(c *config.Broker) {
		c.AuthorizerClassName = config.StandardAuthorizer
		c.SuperUsers = "User:admin"
	})
	addr := tb.b.ListenerAddr("SASL_PLAINTEXT")
	ctx := ctxFor(t, 2*time.Minute)
	admin := newClient(t, addr, plainAuth("admin", "admin-secret"))
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "sasl-acl"); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Topics("sasl-acl").ResourcePatternType(kadm.ACLPatternLiteral).
			Allow("User:alice").AllowHosts().Operations(kadm.OpRead, kadm.OpWrite),
		kadm.NewACLs().Groups("sasl-group").ResourcePatternType(kadm.ACLPatternLiteral).
			Allow("User:alice").AllowHosts().Operations(kadm.OpRead),
	} {
		res, err := adm.CreateACLs(ctx, b)
		if err != nil || res[0].Err != nil {
			t.Fatalf("create acls: %v %+v", err, res)
		}
	}

	alice := newClient(t, addr, plainAuth("alice", "alice-secret"), kgo.DefaultProduceTopic("sasl-acl"),
		kgo.ConsumeTopics("sasl-acl"), kgo.ConsumerGroup("sasl-group"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err := alice.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("alice produces: %v", err)
	}
	fs := alice.PollFetches(ctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 {
		t.Fatalf("alice consumes: %v, %d records", err, fs.NumRecords())
	}
	if err := alice.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice commits: %v", err)
	}
	// Not granted: creating topics and listing ACLs.
	aadm := kadm.NewClient(newClient(t, addr, plainAuth("alice", "alice-secret")))
	ct, err := aadm.CreateTopic(ctx, 1, 1, nil, "alice-own")
	if !errors.Is(ct.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice creates a topic: %v %+v", err, ct)
	}
	if res, err := aadm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).
		Allow().AllowHosts().Operations(kadm.OpAny)); err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describes acls: %v %+v", err, res)
	}

	// The PLAINTEXT listener's clients are User:ANONYMOUS, who has no ACLs.
	anon := newClient(t, tb.addr(), kgo.DefaultProduceTopic("sasl-acl"), kgo.DisableIdempotentWrite())
	actx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := anon.ProduceSync(actx, &kgo.Record{Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("anonymous produces: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}
