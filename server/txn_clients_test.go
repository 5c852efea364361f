package server_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestTxnConfluentPython drives librdkafka's transactional producer
// (Debian's confluent-kafka 1.7 on librdkafka 2.0.2): a committed, an aborted
// and another committed transaction; read_committed consumers see the
// committed records only, read_uncommitted ones everything, as with Kafka.
func TestTxnConfluentPython(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Fatalf("python3: %v", err)
	}
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	const topic = "txn-rdkafka"
	createTopic(t, adm, topic, 2, nil)
	script := `
import sys
from confluent_kafka import Producer, Consumer, TopicPartition
bs, topic = sys.argv[1], sys.argv[2]
p = Producer({"bootstrap.servers": bs, "transactional.id": "rdkafka-txn", "transaction.timeout.ms": 10000})
p.init_transactions(30)
def txn(values, commit):
    p.begin_transaction()
    for i, v in enumerate(values):
        p.produce(topic, value=v.encode(), partition=i % 2)
    p.flush(30)
    if commit:
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)
txn(["a1", "a2", "a3"], True)
txn(["b1", "b2"], False)
txn(["c1", "c2"], True)

def consume(isolation, want):
    c = Consumer({"bootstrap.servers": bs, "group.id": "rdkafka-txn-" + isolation,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": isolation})
    c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    got = []
    for _ in range(150):
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
        if len(got) >= want:
            break
    for _ in range(5):
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    c.close()
    return ",".join(sorted(got))
print("committed", consume("read_committed", 5))
print("uncommitted", consume("read_uncommitted", 7))
`
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, tb.addr(), topic).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"committed a1,a2,a3,c1,c2", "uncommitted a1,a2,a3,b1,b2,c1,c2"} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("librdkafka output lacks %q:\n%s", want, text)
		}
	}
}

// TestTxnSarama: Sarama's transactional producer commits and aborts; a
// read_committed Sarama consumer sees only the committed records.
func TestTxnSarama(t *testing.T) {
	tb := startBroker(t, txnConfig)
	adm := newAdmin(t, tb.addr())
	const topic = "txn-sarama"
	createTopic(t, adm, topic, 1, nil)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = "sarama-txn"
	cfg.Producer.Transaction.Timeout = 10 * time.Second
	cfg.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer([]string{tb.addr()}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer prod.Close()
	txn := func(commit bool, values ...string) {
		t.Helper()
		if err := prod.BeginTxn(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for _, v := range values {
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatalf("send %s: %v", v, err)
			}
		}
		if commit {
			err = prod.CommitTxn()
		} else {
			err = prod.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end (commit=%v): %v", commit, err)
		}
	}
	txn(true, "s1", "s2")
	txn(false, "x1")
	txn(true, "s3")

	ccfg := sarama.NewConfig()
	ccfg.Version = sarama.V2_8_0_0
	ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
	ccfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cons, err := sarama.NewConsumer([]string{tb.addr()}, ccfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	defer pc.Close()
	var got []string
	timeout := time.After(15 * time.Second)
	for len(got) < 3 {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case <-timeout:
			t.Fatalf("read_committed Sarama consumer saw %v, want [s1 s2 s3]", got)
		}
	}
	// Nothing else arrives: the aborted record is filtered.
	select {
	case m := <-pc.Messages():
		got = append(got, string(m.Value))
	case <-time.After(500 * time.Millisecond):
	}
	if fmt.Sprint(got) != "[s1 s2 s3]" {
		t.Errorf("read_committed Sarama consumer saw %v, want [s1 s2 s3]", got)
	}
}
