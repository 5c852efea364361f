package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riffle-io/riffle/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// internalBroker starts a one-node broker on 127.0.0.1 with its logs in dir,
// for tests that look at its controller's image.
func internalBroker(t *testing.T, dir string, opts ...func(*config.Broker)) *Broker {
	t.Helper()
	cfg := config.Default()
	cfg.LogDirs = []string{dir}
	var err error
	if cfg.Listeners, err = config.ParseListeners("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if cfg.AdvertisedListeners, err = config.ParseListeners("PLAINTEXT://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(cfg)
	}
	b, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReassignmentInProgressListedAndCancelled: a move to a broker that
// has not caught up stays in progress; kadm (kafka-reassign-partitions.sh's
// calls) lists it with its adding and removing replicas and cancels it.
func TestReassignmentInProgressListedAndCancelled(t *testing.T) {
	b := internalBroker(t, t.TempDir())
	defer b.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A second registered broker that never fetches: the move cannot finish.
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID, reg.IncarnationID, reg.ClusterID = 2, [16]byte{2}, b.clusterID
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", 1
	reg.Listeners = append(reg.Listeners, l)
	if resp, err := b.ctrl.RegisterBroker(ctx, reg); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("registering broker 2: %v %+v", err, resp)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "moving"); err != nil {
		t.Fatal(err)
	}
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("moving", 0, []int32{2})
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || res["moving"][0].Err != nil {
		t.Fatalf("reassign: %v %+v", err, res)
	}
	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moving": {0: {}, 5: {}}})
	if err != nil {
		t.Fatal(err)
	}
	got := listed["moving"][0]
	if len(listed) != 1 || len(listed["moving"]) != 1 || !slicesEqual(got.Replicas, []int32{2, 1}) || !slicesEqual(got.AddingReplicas, []int32{2}) || !slicesEqual(got.RemovingReplicas, []int32{1}) {
		t.Fatalf("listed: %+v", listed)
	}
	// Null topics: every reassignment in progress.
	all, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl)
	if err != nil || len(all.Topics) != 1 || all.Topics[0].Topic != "moving" || len(all.Topics[0].Partitions) != 1 {
		t.Fatalf("list all: %v %+v", err, all)
	}
	// The leader stays on broker 1 while broker 2 catches up.
	if p, _ := b.ctrl.Image().Topics["moving"].Partition(0); p.Leader != 1 {
		t.Fatalf("during the move: %+v", p)
	}
	var cancelReq kadm.AlterPartitionAssignmentsReq
	cancelReq.CancelAssign("moving", 0)
	if res, err := adm.AlterPartitionAssignments(ctx, cancelReq); err != nil || res["moving"][0].Err != nil {
		t.Fatalf("cancel: %v %+v", err, res)
	}
	if listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moving": {0: {}}}); err != nil || len(listed) != 0 {
		t.Fatalf("listed after cancel: %v %+v", err, listed)
	}
	if p, _ := b.ctrl.Image().Topics["moving"].Partition(0); !slicesEqual(p.Replicas, []int32{1}) || p.Leader != 1 {
		t.Fatalf("after cancel: %+v", p)
	}
}

func slicesEqual(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
