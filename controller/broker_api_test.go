package controller

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func registrationRequest(clusterID string, id int32, incarnation byte) *kmsg.BrokerRegistrationRequest {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.Version = 4
	req.BrokerID, req.ClusterID = id, clusterID
	req.IncarnationID[0] = incarnation
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port, l.SecurityProtocol = "PLAINTEXT", "127.0.0.1", 9092, 0
	req.Listeners = append(req.Listeners, l)
	return req
}

// TestRegisterBrokerRequest: the broker epoch is the offset of the entry
// that registered the broker; a repeated request of the same incarnation
// writes nothing and gets the same epoch; a new incarnation (a restart)
// gets a higher one; a broker formatted for another cluster is refused
// with INCONSISTENT_CLUSTER_ID.
func TestRegisterBrokerRequest(t *testing.T) {
	c := startController(t, t.TempDir())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	register := func(req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse {
		t.Helper()
		resp, err := c.RegisterBroker(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := register(registrationRequest("riffle-test", 1, 1))
	if first.ErrorCode != 0 || first.BrokerEpoch <= 0 {
		t.Fatalf("first registration: %v, epoch %d", kerr.ErrorForCode(first.ErrorCode), first.BrokerEpoch)
	}
	if got := c.Image().Brokers[1].Epoch; got != first.BrokerEpoch {
		t.Fatalf("image has epoch %d, the answer %d", got, first.BrokerEpoch)
	}
	offset := c.Image().Offset
	again := register(registrationRequest("riffle-test", 1, 1))
	if again.ErrorCode != 0 || again.BrokerEpoch != first.BrokerEpoch || c.Image().Offset != offset {
		t.Fatalf("repeated registration: %v, epoch %d (first %d), offset %d -> %d",
			kerr.ErrorForCode(again.ErrorCode), again.BrokerEpoch, first.BrokerEpoch, offset, c.Image().Offset)
	}
	restarted := register(registrationRequest("riffle-test", 1, 2))
	if restarted.ErrorCode != 0 || restarted.BrokerEpoch <= first.BrokerEpoch {
		t.Fatalf("new incarnation: %v, epoch %d (first %d)", kerr.ErrorForCode(restarted.ErrorCode), restarted.BrokerEpoch, first.BrokerEpoch)
	}
	other := register(registrationRequest("another-cluster", 2, 1))
	if other.ErrorCode != kerr.InconsistentClusterID.Code {
		t.Fatalf("registration for another cluster: %v, want INCONSISTENT_CLUSTER_ID", kerr.ErrorForCode(other.ErrorCode))
	}
	if _, ok := c.Image().Brokers[2]; ok {
		t.Fatal("a broker of another cluster was registered")
	}
}

// TestAllocateProducerIDsChecksBrokerEpoch: as Kafka's
// ProducerIdControlManager, a block goes only to a registered broker at its
// current epoch; an unknown broker or an earlier incarnation gets
// STALE_BROKER_EPOCH and nothing is written.
func TestAllocateProducerIDsChecksBrokerEpoch(t *testing.T) {
	c := startController(t, t.TempDir())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := c.RegisterBroker(ctx, registrationRequest("riffle-test", 1, 1))
	if err != nil || reg.ErrorCode != 0 {
		t.Fatalf("register: %v %v", err, kerr.ErrorForCode(reg.ErrorCode))
	}
	alloc := func(id int32, epoch int64) *kmsg.AllocateProducerIDsResponse {
		t.Helper()
		req := kmsg.NewPtrAllocateProducerIDsRequest()
		req.BrokerID, req.BrokerEpoch = id, epoch
		resp, err := c.AllocateProducerIDsReq(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	offset := c.Image().Offset
	for _, bad := range []struct {
		id    int32
		epoch int64
	}{{999, 1}, {1, reg.BrokerEpoch - 1}, {1, -1}} {
		if resp := alloc(bad.id, bad.epoch); resp.ErrorCode != kerr.StaleBrokerEpoch.Code || resp.ProducerIDLen != 0 {
			t.Fatalf("broker %d epoch %d: %v, %d ids", bad.id, bad.epoch, kerr.ErrorForCode(resp.ErrorCode), resp.ProducerIDLen)
		}
	}
	if c.Image().Offset != offset {
		t.Fatalf("a refused allocation wrote to the metadata log: offset %d -> %d", offset, c.Image().Offset)
	}
	a, b := alloc(1, reg.BrokerEpoch), alloc(1, reg.BrokerEpoch)
	if a.ErrorCode != 0 || b.ErrorCode != 0 || b.ProducerIDStart != a.ProducerIDStart+int64(a.ProducerIDLen) {
		t.Fatalf("registered broker: %v %v, blocks at %d and %d", kerr.ErrorForCode(a.ErrorCode), kerr.ErrorForCode(b.ErrorCode), a.ProducerIDStart, b.ProducerIDStart)
	}
}
