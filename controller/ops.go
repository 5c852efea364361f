package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// This file holds the mutations. Each validates against the latest image,
// proposes its records as one raft entry and waits (bounded by ctx) until
// the entry is applied, so the caller's next Image() shows the change.

var defaultPlacement = placement{newTopicID: randomTopicID, start: randomStart}

// propose runs plan against an up-to-date image on the active controller and
// commits the records it returns. plan runs under opMu, so no other proposal
// can slip between validation and commit.
func (c *Controller) propose(ctx context.Context, plan func(im *Image) ([]Record, error)) error {
	_, err := c.proposeIndex(ctx, plan)
	return err
}

// proposeIndex is propose that also returns the offset (raft index) of the
// committed entry; 0 when plan had nothing to write.
func (c *Controller) proposeIndex(ctx context.Context, plan func(im *Image) ([]Record, error)) (uint64, error) {
	if c.rafts.Load() == nil {
		return 0, fmt.Errorf("controller not started: %w", kerr.NotController)
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !c.IsActive() {
		return 0, fmt.Errorf("node %d is not the active controller: %w", c.cfg.NodeID, kerr.NotController)
	}
	// A new leader's image may lag entries committed in earlier terms; a
	// barrier once per term brings it level before anything is validated.
	if term := c.raft().CurrentTerm(); term != c.barrierTerm {
		if err := c.barrier(ctx); err != nil {
			return 0, err
		}
		c.barrierTerm = term
		// A new active controller starts every broker on a fresh
		// session (BrokerHeartbeatManager is rebuilt on activation).
		c.hb.reset()
	}
	recs, err := plan(c.Image())
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	data, err := EncodeBatch(recs)
	if err != nil {
		return 0, fmt.Errorf("%v: %w", err, kerr.UnknownServerError)
	}
	f := c.raft().Apply(data, timeoutOf(ctx))
	if err := waitFuture(ctx, f); err != nil {
		return 0, err
	}
	if err, ok := f.Response().(error); ok && err != nil {
		// Validation and apply disagree: a bug, but the images stay consistent.
		return 0, fmt.Errorf("%v: %w", err, kerr.UnknownServerError)
	}
	return f.Index(), nil
}

// registerBroker records a broker's registration. Registering again with the
// same details is a no-op. A registration that is fenced (the broker
// heartbeats and is unfenced once caught up) moves the leaderships and ISR
// places of the previous incarnation away first, as Kafka does for a broker
// that restarts. Brokers register through RegisterBroker (broker_api.go);
// tests of the state machine use this form.
func (c *Controller) registerBroker(ctx context.Context, reg BrokerRegistration) error {
	return c.propose(ctx, func(im *Image) ([]Record, error) {
		return planRegisterBroker(im, c.hb, reg, -1, c.now(), c.uncleanPolicy(im))
	})
}

// CreateTopics creates topics, each independently valid or not; all valid
// ones commit in one atomic entry. With validateOnly nothing is written but
// the results are those a real request would get.
func (c *Controller) CreateTopics(ctx context.Context, specs []TopicSpec, validateOnly bool) []CreateTopicResult {
	var results []CreateTopicResult
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		var recs []Record
		recs, results = planCreateTopics(im, specs, c.cfg.DefaultNumPartitions, c.cfg.DefaultReplicationFactor, defaultPlacement)
		if validateOnly {
			return nil, nil
		}
		return recs, nil
	})
	if err != nil {
		return failAll(specs, results, err)
	}
	return results
}

func failAll(specs []TopicSpec, results []CreateTopicResult, err error) []CreateTopicResult {
	if results == nil {
		results = make([]CreateTopicResult, len(specs))
		for i, s := range specs {
			results[i].Name = s.Name
		}
	}
	for i := range results {
		if results[i].Err == nil {
			results[i] = CreateTopicResult{Name: results[i].Name, Err: err}
		}
	}
	return results
}

// DeleteTopics deletes topics by name or id; all found ones go in one entry.
func (c *Controller) DeleteTopics(ctx context.Context, refs []TopicRef) []DeleteTopicResult {
	var results []DeleteTopicResult
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		var recs []Record
		recs, results = planDeleteTopics(im, refs)
		return recs, nil
	})
	if err != nil {
		if results == nil {
			results = make([]DeleteTopicResult, len(refs))
			for i, r := range refs {
				results[i] = DeleteTopicResult{Name: r.Name, TopicID: r.ID}
			}
		}
		for i := range results {
			if results[i].Err == nil {
				results[i].Err = err
			}
		}
	}
	return results
}

// AllocateProducerIDs hands out count consecutive producer ids, never handed
// out before (the block is committed before it is returned).
func (c *Controller) AllocateProducerIDs(ctx context.Context, count int) (first int64, err error) {
	err = c.propose(ctx, func(im *Image) ([]Record, error) {
		var recs []Record
		recs, first, err = planProducerIDs(im, count)
		return recs, err
	})
	if err != nil {
		return -1, err
	}
	return first, nil
}

// SetTopicConfigs sets topic configs; a nil value deletes the config (falls
// back to the broker default). Values are validated by the caller.
func (c *Controller) SetTopicConfigs(ctx context.Context, topic string, configs map[string]*string) error {
	return c.propose(ctx, func(im *Image) ([]Record, error) {
		return planTopicConfigs(im, topic, configs)
	})
}

// CreatePartitions grows topic to total partitions.
func (c *Controller) CreatePartitions(ctx context.Context, topic string, total int32, validateOnly bool) error {
	return c.propose(ctx, func(im *Image) ([]Record, error) {
		recs, err := planCreatePartitions(im, topic, total, defaultPlacement)
		if validateOnly {
			return nil, err
		}
		return recs, err
	})
}

// ErrorCode returns the Kafka error code err wraps, 0 for nil, and
// UNKNOWN_SERVER_ERROR for an error that wraps none.
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}
