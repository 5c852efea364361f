// Package checker judges the history of a fault-injection run against a
// Kafka-compatible cluster (compat-tests/cmd/chaos records it).
//
// A history holds every write a producer attempted with its outcome (the
// acknowledged partition and offset, or the error), every record the live
// consumers polled in the order they polled it, the transactions and their
// outcomes, the faults injected, and a final read of every partition from
// the beginning at both isolation levels. Check reports the anomaly classes
// that published analyses of Kafka-compatible brokers look for (Jepsen's
// Redpanda and Bufstream analyses: lost write, duplicate, inconsistent
// offsets, nonmonotonic send, aborted read, poll skip, nonmonotonic poll)
// plus exactly-once violations of a consume-transform-produce pipeline and
// replicas of a partition that hold different bytes after the run. It also
// records each partition's leader changes, so that a report can say whether
// anything failed over at all.
//
// Record values identify their write: "p=<producer> s=<sequence>", the
// sequence counting up per producer, so a record in the log can be traced
// to the attempt that wrote it whatever offset it landed at.
package checker

import (
	"fmt"
	"time"
)

// Write is one record a producer attempted.
type Write struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Producer  int       `json:"producer"`
	Seq       int64     `json:"seq"`
	Sent      time.Time `json:"sent"`           // when Produce was called
	Done      time.Time `json:"done"`           // when the outcome arrived
	Offset    int64     `json:"offset"`         // acknowledged offset, valid when Err is empty
	Err       string    `json:"err,omitempty"`  // the producer's error: outcome unknown
	Txn       int64     `json:"txn,omitempty"`  // transaction number (Txns), 0 for none
	Lost      bool      `json:"lost,omitempty"` // never acknowledged because the run ended first
}

// Acked reports whether the cluster acknowledged the write.
func (w Write) Acked() bool { return w.Err == "" && !w.Lost }

// Value is the record value a write carries.
func (w Write) Value() string { return Value(w.Producer, w.Seq) }

// Value formats the value of producer p's write number seq.
func Value(p int, seq int64) string { return fmt.Sprintf("p=%d s=%d", p, seq) }

// ParseValue parses a value made by Value.
func ParseValue(v string) (p int, seq int64, ok bool) {
	n, err := fmt.Sscanf(v, "p=%d s=%d", &p, &seq)
	return p, seq, err == nil && n == 2
}

// Txn is one transaction of a transactional producer.
type Txn struct {
	ID      int64  `json:"id"`
	Intent  string `json:"intent"`  // "commit" or "abort": what EndTxn asked
	Outcome string `json:"outcome"` // "committed", "aborted" or "unknown" (EndTxn failed)
}

// Record is one record read back: by a live consumer or the final read.
type Record struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Value     string `json:"value"`
}

// Consumer is what one live consumer polled, in order.
type Consumer struct {
	Name          string   `json:"name"`
	ReadCommitted bool     `json:"read_committed"`
	Records       []Record `json:"records"`
}

// Fault is one injected fault.
type Fault struct {
	Kind      string    `json:"kind"` // kill, isolate, pause, restart
	Node      int32     `json:"node"`
	Topic     string    `json:"topic,omitempty"`
	Partition int32     `json:"partition"` // the partition whose leader was chosen; -1 for none
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
}

// LeaderChange is a partition's leader as seen by polling Metadata during
// the run: one entry each time it differs from the previous poll.
type LeaderChange struct {
	Topic       string    `json:"topic"`
	Partition   int32     `json:"partition"`
	At          time.Time `json:"at"`
	Leader      int32     `json:"leader"` // -1: none
	LeaderEpoch int32     `json:"leader_epoch"`
}

// ReplicaLog is one replica's copy of a partition after the run, read from
// the node's data volume once the cluster was quiet: its .log segments
// concatenated in order. Replicas of a partition must be identical, as
// Kafka's followers store the leader's batches byte for byte.
type ReplicaLog struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Node      int32  `json:"node"`
	Bytes     int64  `json:"bytes"`
	SHA256    string `json:"sha256"`
}

// Pipeline describes an exactly-once consume-transform-produce run: every
// record of Input must appear exactly once in Output for read_committed
// readers, carrying the input's value.
type Pipeline struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

// FinalRead is every partition consumed from its log start to its end
// (high watermark for read_uncommitted, last stable offset for
// read_committed) after the run.
type FinalRead struct {
	Uncommitted []Record `json:"uncommitted"`
	Committed   []Record `json:"committed"`
	// Ends are where each partition's reads stopped. A partition missing
	// here was not read to its end, and writes to it are not judged lost.
	Ends []PartitionEnd `json:"ends"`
}

// PartitionEnd is one partition's offsets at the final read.
type PartitionEnd struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	LogStart      int64  `json:"log_start"`
	HighWatermark int64  `json:"high_watermark"`
	LastStable    int64  `json:"last_stable"`
}

// History is everything one run recorded.
type History struct {
	Writes    []Write        `json:"writes"`
	Txns      []Txn          `json:"txns,omitempty"`
	Consumers []Consumer     `json:"consumers,omitempty"`
	Faults    []Fault        `json:"faults,omitempty"`
	Leaders   []LeaderChange `json:"leaders,omitempty"`
	Replicas  []ReplicaLog   `json:"replicas,omitempty"`
	Pipelines []Pipeline     `json:"pipelines,omitempty"`
	Final     FinalRead      `json:"final"`
}
