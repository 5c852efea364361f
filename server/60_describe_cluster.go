package server

// DescribeCluster (key 60), v0–v2.
//
// KIP-700: the cluster ID, a controller ID and the brokers, as the Java admin
// client's describeCluster (and kafka-cluster.sh cluster-id) read them. The
// controller ID is the active controller when it is a broker too (every
// broker forwards admin writes to it anyway), else a live broker (this one),
// as Kafka's brokers name one that forwards. v1 adds EndpointType
// (KIP-919): a broker answers only for broker endpoints and refuses
// controller ones with UNSUPPORTED_ENDPOINT_TYPE; the CONTROLLER listener
// answers v1+ for controller endpoints only: the voters of the metadata
// quorum and the active one. v2 can include fenced brokers, flagged.

import (
	"context"
	"fmt"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.DescribeCluster, 0, 2, handleDescribeCluster)
	registerController(kmsg.DescribeCluster, 1, 2, handleDescribeClusterOfControllers)
}

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
	resp.ControllerID = b.controllerIDForClients(im)
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterAuthorizedOpsFor(rc)
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

// controllerIDForClients is the controller id Metadata and DescribeCluster
// give clients: the active controller when it is a registered, unfenced
// broker, else this broker, which forwards what a client sends it.
func (b *Broker) controllerIDForClients(im *controller.Image) int32 {
	if id := im.ControllerID; id >= 0 {
		if br, ok := im.Brokers[id]; ok && !br.Fenced {
			return id
		}
	}
	return b.cfg.NodeID
}

// handleDescribeClusterOfControllers is DescribeCluster on the CONTROLLER
// listener (KIP-919, Kafka's ControllerApis.handleDescribeCluster).
func handleDescribeClusterOfControllers(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{}
	if req.EndpointType != endpointTypeController {
		err := fmt.Errorf("%w: the controller listener serves controller endpoints only (endpoint type %d requested)", kerr.UnsupportedEndpointType, req.EndpointType)
		resp.ErrorCode, resp.ErrorMessage = errCode(err), errMsg(err)
		return resp, nil
	}
	resp.ClusterID = b.clusterID
	resp.ControllerID = -1
	if id, _, ok := b.ctrl.ActiveController(); ok {
		resp.ControllerID = id
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterAuthorizedOpsFor(rc)
	}
	for _, v := range b.ctrl.Controllers() {
		if v.Port <= 0 || v.Port > 65535 {
			continue
		}
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port = v.ID, v.Host, v.Port
		resp.Brokers = append(resp.Brokers, db)
	}
	return resp, nil
}

// clusterAuthorizedOpsFor is the cluster's authorized operations as
// AuthHelper.computeDescribeClusterResponse gives them: 0 without DESCRIBE
// on the cluster.
func clusterAuthorizedOpsFor(rc *requestContext) int32 {
	if !rc.authorizeCluster(authz.OpDescribe) {
		return 0
	}
	return rc.authorizedOps(authz.ResourceCluster, authz.ClusterName)
}
