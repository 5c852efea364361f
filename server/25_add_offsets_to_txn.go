package server

// AddOffsetsToTxn (key 25), v0–v4.
//
// Adds the group's partition of __consumer_offsets to the transaction, so
// that its TxnOffsetCommit records are committed or aborted with it.
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2 (KIP-588).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/coordinator"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.AddOffsetsToTxn, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	// WRITE on the transactional id, READ on the group
	// (KafkaApis.handleAddOffsetsToTxnRequest).
	switch {
	case !rc.authorizeTxnID(authz.OpWrite, req.TransactionalID):
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	case !rc.authorizeGroup(authz.OpRead, req.Group):
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	// The group's partition must exist to be added.
	if err := rc.b.groups.ensureOffsetsTopic(ctx); err != nil {
		rc.b.logger.Warn("creating __consumer_offsets for AddOffsetsToTxn", "err", err)
	}
	resp := rc.b.txn.handle(ctx, req.TransactionalID, req, func(s *coordinator.TxnShard, token uint64) {
		s.Step(time.Now(), token, req)
	}).(*kmsg.AddOffsetsToTxnResponse)
	resp.ErrorCode = oldFenced(resp.ErrorCode, req.Version, 2)
	return resp, nil
}
