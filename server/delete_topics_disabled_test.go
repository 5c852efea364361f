package server_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// delete.topic.enable=false refuses every deletion, as Kafka's
// ControllerApis.deleteTopics does: TOPIC_DELETION_DISABLED from v3,
// INVALID_REQUEST before; the topic stays.
func TestDeleteTopicsDisabled(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.DeleteTopicEnable = false })
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "keep", 1, nil)
	rc := dialRaw(t, tb.addr())
	for _, tc := range []struct {
		version int16
		want    *kerr.Error
	}{{1, kerr.InvalidRequest}, {2, kerr.InvalidRequest}, {3, kerr.TopicDeletionDisabled}, {6, kerr.TopicDeletionDisabled}} {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version = tc.version
		req.TimeoutMillis = 5000
		if tc.version >= 6 {
			dt := kmsg.NewDeleteTopicsRequestTopic()
			dt.Topic = kmsg.StringPtr("keep")
			req.Topics = append(req.Topics, dt)
		} else {
			req.TopicNames = []string{"keep"}
		}
		resp := rc.roundTrip(req).(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != tc.want.Code {
			t.Fatalf("v%d: response %+v, want %v", tc.version, resp.Topics, tc.want)
		}
	}
	if mt := metadataTopic(t, rc, 1, false, "keep"); mt.ErrorCode != 0 {
		t.Fatalf("topic gone after refused deletions: %v", kerr.ErrorForCode(mt.ErrorCode))
	}
}
