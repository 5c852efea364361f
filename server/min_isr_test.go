package server_test

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMinInsyncReplicas: with min.insync.replicas above the ISR size, an
// acks=all produce is refused with NOT_ENOUGH_REPLICAS and nothing is written,
// while acks=1 still succeeds, as in Kafka.
func TestMinInsyncReplicas(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	v := "2"
	createTopic(t, adm, "minisr", 1, map[string]*string{"min.insync.replicas": &v})

	all := newClient(t, tb.addr(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0),
		kgo.UnknownTopicRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	err := all.ProduceSync(ctx, &kgo.Record{Topic: "minisr", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all produce: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	one := newClient(t, tb.addr(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Topic: "minisr", Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatalf("acks=1 produce: %v", err)
	}
	if got := endOffsets(t, adm, "minisr")[0]; got != 1 {
		t.Fatalf("end offset %d, want 1 (only the acks=1 record)", got)
	}
}

// TestTxnMarkerBelowMinInsyncReplicas: WriteTxnMarkers appends with
// acks=all, so with the ISR below min.insync.replicas the marker is refused
// with NOT_ENOUGH_REPLICAS before anything is written (Kafka's
// Partition.appendRecordsToLeader), and the coordinator's retries do not
// pile up duplicate markers in the log.
func TestTxnMarkerBelowMinInsyncReplicas(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	adm := newAdmin(t, tb.addr())
	v := "2"
	createTopic(t, adm, "minisr-marker", 1, map[string]*string{"min.insync.replicas": &v})
	cl := newClient(t, tb.addr())
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	for range 3 { // a coordinator retrying
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed = 7, 0, false
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = "minisr-marker", []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		code := resp.Markers[0].Topics[0].Partitions[0].ErrorCode
		if err := kerr.ErrorForCode(code); !errors.Is(err, kerr.NotEnoughReplicas) {
			t.Fatalf("marker below min ISR: %v, want NOT_ENOUGH_REPLICAS", err)
		}
	}
	if got := endOffsets(t, adm, "minisr-marker")[0]; got != 0 {
		t.Fatalf("end offset %d, want 0: a refused marker was written", got)
	}
}
