package server

// InitProducerId (key 22), v0–v5.
//
// Without a transactional id (idempotent producers), every call gets a fresh
// producer ID with epoch 0, as Kafka's TransactionCoordinator does; IDs come
// from blocks the controller allocates, so they are never reused. With a
// transactional id the transaction coordinator answers (txn_runtime.go):
// the id's producer id with a bumped epoch, fencing older producers.
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v4 (KIP-588).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.InitProducerID, 0, 5, handleInitProducerID) }

func handleInitProducerID(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	// Authorization (KafkaApis.handleInitProducerIdRequest): a
	// transactional producer needs WRITE on its transactional id; an
	// idempotent one IDEMPOTENT_WRITE on the cluster or WRITE on some topic
	// (KIP-679).
	transactional := req.TransactionalID != nil && *req.TransactionalID != ""
	switch {
	case transactional && !rc.authorizeTxnID(authz.OpWrite, *req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	case !transactional && !rc.authorizeCluster(authz.OpIdempotentWrite) &&
		!rc.authorizeByResourceType(authz.OpWrite, authz.ResourceTopic):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if transactional {
		return rc.b.txn.initProducerID(ctx, req), nil
	}
	id, err := rc.b.nextProducerID(ctx)
	if err != nil {
		rc.b.logger.Warn("allocating producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
