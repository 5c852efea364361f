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
