package kcat

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/riffle-io/riffle/compat-tests/suite"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ProduceTxns drives kcat's transactional producer (-X transactional.id,
// kcat 1.5+ with librdkafka 1.4+): one invocation is one transaction, begun
// at start-up, committed when stdin reaches EOF and aborted when kcat is
// terminated by a signal. kcat writes one partition per invocation (-p), so
// each Txn becomes one transaction per partition, all ended the same way.
func (d Driver) ProduceTxns(ctx context.Context, topic, txnID string, txns []suite.Txn) error {
	for i, txn := range txns {
		// Order matters only within a partition: one kcat per partition.
		var parts []int32
		byPart := map[int32][]suite.Record{}
		for _, r := range txn.Records {
			if _, ok := byPart[r.Partition]; !ok {
				parts = append(parts, r.Partition)
			}
			byPart[r.Partition] = append(byPart[r.Partition], r)
		}
		for _, p := range parts {
			if err := d.txnRun(ctx, topic, txnID, byPart[p], txn.Commit); err != nil {
				return fmt.Errorf("transaction %d: %w", i, err)
			}
		}
	}
	return nil
}

// txnRun produces recs (one partition) in one kcat transaction.
func (d Driver) txnRun(ctx context.Context, topic, txnID string, recs []suite.Record, commit bool) error {
	p := recs[0].Partition
	var before int64
	if !commit {
		var err error
		if before, err = d.endOffset(ctx, topic, p); err != nil {
			return err
		}
	}
	args := []string{"-b", strings.Join(d.Seeds, ","), "-X", "log_level=3",
		"-P", "-t", topic, "-p", fmt.Sprint(p), "-K", "\t", "-z", "none",
		"-X", "transactional.id=" + txnID, "-X", "linger.ms=5"}
	for _, h := range recs[0].Headers {
		args = append(args, "-H", h.Key+"="+string(h.Value))
	}
	var in bytes.Buffer
	for i, r := range recs {
		if !sameHeaders(r.Headers, recs[0].Headers) {
			return fmt.Errorf("record %d: kcat sets headers per invocation, not per record", i)
		}
		if bytes.ContainsAny(r.Key, "\t\n") || bytes.ContainsRune(r.Value, '\n') {
			return fmt.Errorf("record %d cannot be expressed as a kcat line", i)
		}
		in.Write(r.Key)
		in.WriteByte('\t')
		in.Write(r.Value)
		in.WriteByte('\n')
	}
	// kcat reads stdin with fread in 128-byte chunks through stdio's 4 KiB
	// buffer and hands a line on only after later reads return: trailing
	// empty lines (which kcat skips) get every record to librdkafka while
	// stdin stays open. Measured with kcat 1.7.1: 512 bytes are not enough,
	// 4096 are.
	in.Write(bytes.Repeat([]byte{'\n'}, 8192))
	cmd := exec.CommandContext(ctx, binary(), args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	_, werr := stdin.Write(in.Bytes())
	if werr == nil && !commit {
		// The records must be in the log before the abort, or there is
		// nothing to abort: librdkafka purges what it has not sent yet.
		werr = d.waitEndOffset(ctx, topic, p, before+int64(len(recs)))
		if werr == nil {
			werr = cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	// EOF ends the input loop: a commit, or the abort after the signal.
	_ = stdin.Close()
	err = cmd.Wait()
	msg := strings.TrimSpace(stderr.String())
	switch {
	case werr != nil:
		return fmt.Errorf("kcat transactional produce to partition %d: %v: %s", p, werr, clip(msg))
	case err != nil || strings.Contains(msg, "% ERROR"):
		return fmt.Errorf("kcat transactional produce to partition %d: %v: %s", p, err, clip(msg))
	case commit && !strings.Contains(msg, "Transaction successfully committed"):
		return fmt.Errorf("kcat did not report a committed transaction: %s", clip(msg))
	case !commit && !strings.Contains(msg, "Aborting transaction"):
		return fmt.Errorf("kcat did not report an aborted transaction: %s", clip(msg))
	}
	return nil
}

func (d Driver) endOffset(ctx context.Context, topic string, p int32) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.Seeds...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	lo, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	o, ok := lo.Lookup(topic, p)
	if !ok {
		return 0, fmt.Errorf("ListOffsets %s[%d]: no answer", topic, p)
	}
	return o.Offset, o.Err
}

// waitEndOffset polls the high watermark of topic[p] until it reaches want.
func (d Driver) waitEndOffset(ctx context.Context, topic string, p int32, want int64) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		got, err := d.endOffset(ctx, topic, p)
		if err == nil && got >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("high watermark %d (err %v), want %d before aborting", got, err, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ConsumeCommitted is Consume with -X isolation.level=read_committed.
func (d Driver) ConsumeCommitted(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts, "read_committed")
}
