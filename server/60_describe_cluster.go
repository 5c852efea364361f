package server

// DescribeCluster (key 60), v0–v2.
//
// KIP-700: the cluster ID, a controller ID and the brokers, as the Java admin
// client's describeCluster (and kafka-cluster.sh cluster-id) read them. As a
// Kafka broker does, the controller ID is a live broker (this one), to which
// controller-bound admin requests can be sent. v1 adds EndpointType
// (KIP-919): a broker answers only for broker endpoints and refuses
// controller ones with UNSUPPORTED_ENDPOINT_TYPE. v2 can include fenced
// brokers, flagged.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeCluster, 0, 2, handleDescribeCluster) }

// Endpoint types of DescribeCluster v1+.
const (
	endpointTypeBroker     int8 = 1
	endpointTypeController int8 = 2
)

func handleDescribeCluster(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{}
	if req.Version >= 1 && req.EndpointType != endpointTypeBroker {
		err := fmt.Errorf("%w: this node serves broker endpoints only (endpoint type %d requested)", kerr.UnsupportedEndpointType, req.EndpointType)
		if req.EndpointType != endpointTypeController {
			err = fmt.Errorf("%w: unknown endpoint type %d", kerr.UnsupportedEndpointType, req.EndpointType)
		}
		resp.ErrorCode, resp.ErrorMessage = errCode(err), errMsg(err)
		return resp, nil
	}
	im := b.ctrl.Image()
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.cfg.NodeID
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterAuthorizedOps
	}
	for _, id := range sortedBrokerIDs(im) {
		br := im.Brokers[id]
		if br.Fenced && !req.IncludeFencedBrokers {
			continue
		}
		ep, ok := endpointFor(br, rc.listener)
		if !ok {
			continue
		}
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port = br.ID, ep.Host, ep.Port
		if br.Rack != "" {
			db.Rack = strPtr(br.Rack)
		}
		db.IsFenced = br.Fenced
		resp.Brokers = append(resp.Brokers, db)
	}
	return resp, nil
}
