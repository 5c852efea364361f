package pyclient

import (
	"context"
	"fmt"
	"strconv"

	"github.com/riffle-io/riffle/compat-tests/suite"
)

type pyTxn struct {
	Records []pyRecord `json:"records"`
	Commit  bool       `json:"commit"`
}

// ProduceTxns runs client.py's produce_txns (confluent-kafka-python's
// init/begin/commit/abort_transaction); kafka-python 2.0.2 has no
// transactional producer and is n/a in the matrix.
func (d Driver) ProduceTxns(ctx context.Context, topic, txnID string, txns []suite.Txn) error {
	req := make([]pyTxn, len(txns))
	for i, txn := range txns {
		req[i] = pyTxn{Records: toPy(txn.Records), Commit: txn.Commit}
	}
	return d.call(ctx, "produce_txns", map[string]any{"topic": topic, "txn_id": txnID, "txns": req}, &struct{}{})
}

// ConsumeCommitted is Consume with isolation.level=read_committed.
func (d Driver) ConsumeCommitted(ctx context.Context, topic string, counts map[int32]int) ([]suite.Record, error) {
	return d.consume(ctx, topic, counts, "read_committed")
}

func (d Driver) consume(ctx context.Context, topic string, counts map[int32]int, isolation string) ([]suite.Record, error) {
	c := map[string]int{}
	total := 0
	for p, n := range counts {
		c[strconv.Itoa(int(p))] = n
		total += n
	}
	var resp struct {
		Records []pyRecord `json:"records"`
	}
	req := map[string]any{"topic": topic, "counts": c}
	if isolation != "" {
		req["isolation"] = isolation
	}
	if err := d.call(ctx, "consume", req, &resp); err != nil {
		return nil, err
	}
	if len(resp.Records) != total {
		return nil, fmt.Errorf("consumed %d of %d records before the deadline", len(resp.Records), total)
	}
	return toRecords(resp.Records)
}
