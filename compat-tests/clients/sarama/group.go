package sarama

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/riffle-io/riffle/compat-tests/suite"
)

// groupHandler keeps the first n messages, marks them, and commits once it
// has them all (auto-commit is off, so nothing else is committed).
type groupHandler struct {
	n    int
	done chan struct{}
	once sync.Once
	mu   struct {
		sync.Mutex
		kept []suite.Record
	}
}

func (*groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.mu.Lock()
			keep := len(h.mu.kept) < h.n
			if keep {
				r := suite.Record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
				for _, hd := range m.Headers {
					r.Headers = append(r.Headers, suite.Header{Key: string(hd.Key), Value: hd.Value})
				}
				h.mu.kept = append(h.mu.kept, r)
				sess.MarkMessage(m, "")
			}
			full := len(h.mu.kept) == h.n
			h.mu.Unlock()
			if keep && full {
				sess.Commit() // synchronous OffsetCommit of the marked offsets
				h.once.Do(func() { close(h.done) })
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

func (d Driver) GroupConsume(ctx context.Context, group, topic string, n int) ([]suite.Record, error) {
	cfg := d.config(ctx)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup(d.Seeds, group, cfg)
	if err != nil {
		return nil, err
	}
	h := &groupHandler{n: n, done: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	exited := make(chan error, 1)
	go func() {
		// Consume returns at the end of each session (a rebalance); a
		// member calls it again to rejoin.
		for cctx.Err() == nil {
			if err := cg.Consume(cctx, []string{topic}, h); err != nil {
				exited <- err
				return
			}
		}
		exited <- nil
	}()
	var failure error
	select {
	case <-h.done:
	case err := <-exited:
		failure = fmt.Errorf("consume: %v", err)
		exited <- nil
	case err := <-cg.Errors():
		failure = fmt.Errorf("consumer group: %w", err)
	case <-ctx.Done():
	}
	cancel()
	<-exited
	if err := cg.Close(); err != nil && failure == nil { // LeaveGroup
		failure = fmt.Errorf("close: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if failure != nil {
		return nil, failure
	}
	if len(h.mu.kept) < n {
		return nil, fmt.Errorf("%d of %d records before the deadline", len(h.mu.kept), n)
	}
	return h.mu.kept, nil
}
