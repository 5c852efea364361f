package server

// DeleteTopics (key 20), v1–v6.
//
// v6 names topics by name or by topic ID (KIP-516), one of the two; before
// that by name. The response is sent once the partitions' logs are gone from
// this broker (Kafka renames a deleted partition's directory with a -delete
// suffix and removes it; storage does the same).

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/authz"
)

func init() { register(kmsg.DeleteTopics, 1, 6, handleDeleteTopics) }

func handleDeleteTopics(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	b := rc.b
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)

	var refs []controller.TopicRef
	var idx []int
	add := func(name *string, id [16]byte) {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = name, id
		if name != nil && id != [16]byte{} {
			err := fmt.Errorf("%w: give a topic name or a topic ID, not both", kerr.InvalidRequest)
			rt.ErrorCode, rt.ErrorMessage = errCode(err), errMsg(err)
			resp.Topics = append(resp.Topics, rt)
			return
		}
		ref := controller.TopicRef{ID: id}
		if name != nil {
			ref.Name = *name
		}
		idx = append(idx, len(resp.Topics))
		refs = append(refs, ref)
		resp.Topics = append(resp.Topics, rt)
	}
	if req.Version >= 6 {
		for _, t := range req.Topics {
			add(t.Topic, t.TopicID)
		}
	} else {
		for _, name := range req.TopicNames {
			n := name
			add(&n, [16]byte{})
		}
	}
	if len(refs) == 0 {
		return resp, nil
	}
	if !b.cfg.DeleteTopicEnable {
		// ControllerApis.deleteTopics: delete.topic.enable=false refuses
		// the whole request, INVALID_REQUEST before v3.
		err := fmt.Errorf("%w: topic deletion is disabled (delete.topic.enable=false)", kerr.TopicDeletionDisabled)
		if req.Version < 3 {
			err = fmt.Errorf("%w: topic deletion is disabled (delete.topic.enable=false)", kerr.InvalidRequest)
		}
		for _, i := range idx {
			rt := &resp.Topics[i]
			rt.ErrorCode = errCode(err)
			if req.Version >= 5 {
				rt.ErrorMessage = errMsg(err)
			}
		}
		return resp, nil
	}
	// Authorization (ControllerApis.deleteTopics): DELETE on each topic
	// (TOPIC_AUTHORIZATION_FAILED); a topic named by ID also needs
	// DESCRIBE, without which its name is not disclosed. Unknown IDs are
	// left to the controller (UNKNOWN_TOPIC_ID).
	img := b.ctrl.Image()
	allowedRefs, allowedIdx := refs[:0:0], idx[:0:0]
	for i, ref := range refs {
		name := ref.Name
		if ref.Name == "" {
			t, ok := img.TopicByID(ref.ID)
			if !ok {
				allowedRefs, allowedIdx = append(allowedRefs, ref), append(allowedIdx, idx[i])
				continue
			}
			name = t.Name
			if !rc.authorizeTopic(authz.OpDescribe, name) {
				resp.Topics[idx[i]].ErrorCode = kerr.TopicAuthorizationFailed.Code
				continue
			}
		}
		if !rc.authorizeTopic(authz.OpDelete, name) {
			rt := &resp.Topics[idx[i]]
			rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			if ref.Name == "" {
				rt.Topic = &name
			}
			continue
		}
		allowedRefs, allowedIdx = append(allowedRefs, ref), append(allowedIdx, idx[i])
	}
	refs, idx = allowedRefs, allowedIdx
	// KIP-599: a deleted topic's partitions count against the client's
	// controller_mutation_rate; from v5 a topic over the quota is not
	// deleted (THROTTLING_QUOTA_EXCEEDED).
	mq := rc.mutationQuota(req.Version >= 5)
	defer rc.finishMutationQuota(mq)
	permits := make([]float64, len(refs))
	keptRefs, keptIdx := refs[:0:0], idx[:0:0]
	for i, ref := range refs {
		t, ok := img.Topic(ref.Name)
		if ref.Name == "" {
			t, ok = img.TopicByID(ref.ID)
		}
		if ok {
			permits[i] = float64(len(t.Partitions))
			if !mq.Record(permits[i], time.Now()) {
				rt := &resp.Topics[idx[i]]
				rt.ErrorCode = errCode(errThrottlingQuotaExceeded)
				rt.ErrorMessage = errMsg(errThrottlingQuotaExceeded)
				continue
			}
		}
		keptRefs, keptIdx = append(keptRefs, ref), append(keptIdx, i)
	}
	refs = keptRefs
	if len(refs) == 0 {
		return resp, nil
	}
	for j, r := range b.ctrl.DeleteTopics(ctx, refs) {
		i := keptIdx[j]
		if r.Err != nil {
			mq.Refund(permits[i], time.Now())
		}
		rt := &resp.Topics[idx[i]]
		if rt.Topic == nil && r.Name != "" {
			name := r.Name
			rt.Topic = &name
		}
		if r.TopicID != [16]byte{} {
			rt.TopicID = r.TopicID
		}
		if r.Err != nil {
			rt.ErrorCode = errCode(r.Err)
			if req.Version >= 5 {
				rt.ErrorMessage = errMsg(r.Err)
			}
		}
	}
	b.waitApplied(ctx, b.ctrl.Image().Offset)
	return resp, nil
}
