package server

// Produce (key 0), v0–v13.
//
// v3 is Kafka 4.0's floor (KIP-896): from v3 every request carries exactly
// one v2 record batch per partition. v0–v2 (Kafka 3.x still served them, and
// librdkafka enables compression only when they are offered) may carry a
// magic 0/1 message set instead; it is validated and up-converted to one v2
// batch before the normal append path, as Kafka's LogValidator converts to
// the log's format (records.UpConvert). A v2 batch in a v0–v2 request is
// appended as is. Batches are validated (framing, CRC-32C, record
// count, max.message.bytes) without decompressing them unless the topic's
// compression.type or a compacted topic demands it, then appended as received
// with their base offset and leader epoch patched in place.
//
// acks=0 sends no response; as in Kafka, a failed acks=0 produce closes the
// connection so the client notices. acks=1 answers after the leader's append;
// acks=-1 (all) also waits until the high watermark covers the batch or
// TimeoutMillis passes (REQUEST_TIMED_OUT). v13 names topics by ID (KIP-516).
// A retried idempotent batch that matches one of the producer's last five is
// answered with its original offsets and no error. A transactional batch
// that opens a transaction on a partition is first checked with the
// transaction coordinator (txn_requests.go): verified as added (KIP-890
// part 1) before v12, added to the transaction from v12 (part 2, the client
// sends no AddPartitionsToTxn). zstd needs v7+ (KIP-110:
// UNSUPPORTED_COMPRESSION_TYPE below). Response fields follow the version:
// ThrottleMillis from v1 (a quota's throttle, quotas.go), LogAppendTime from v2, LogStartOffset from v5.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/protocol/records"
	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

// hasTransactionalRecords reports whether a produced batch is transactional
// (ProduceRequest.hasTransactionalRecords): the first batch of each
// partition decides, as a producer writes one kind of batch per request.
// Magic 0/1 message sets are never transactional.
func hasTransactionalRecords(req *kmsg.ProduceRequest) bool {
	const magicAt, attributesAt = 16, 21
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			r := p.Records
			if len(r) > attributesAt+1 && r[magicAt] == 2 && r[attributesAt+1]&0x10 != 0 {
				return true
			}
		}
	}
	return false
}

func init() { register(kmsg.Produce, 0, 13, handleProduce) }

var errAcksZeroFailed = errors.New("acks=0 produce failed: closing connection as Kafka does")

func handleProduce(ctx context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	img := b.ctrl.Image()
	now := time.Now()

	validAcks := req.Acks == 0 || req.Acks == 1 || req.Acks == -1
	// Authorization (KafkaApis.handleProduceRequest): transactional records
	// need WRITE on the transactional id, else every partition fails with
	// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; each topic needs WRITE
	// (TOPIC_AUTHORIZATION_FAILED, checked before whether it exists).
	var requestErr error
	if hasTransactionalRecords(req) && (req.TransactionID == nil || !rc.authorizeTxnID(authz.OpWrite, *req.TransactionID)) {
		requestErr = kerr.TransactionalIDAuthorizationFailed
	}
	canWrite := rc.topicAuthorizer(authz.OpWrite)
	type waiter struct {
		p      *replica.Partition
		next   int64
		ti, pi int // response slot
	}
	var waits []waiter
	failed := false

	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := rt.Topic
		var topicErr error
		if req.Version >= 13 {
			if t, ok := img.TopicByID(rt.TopicID); ok {
				name = t.Name
			} else {
				topicErr = kerr.UnknownTopicID
			}
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			var err error
			var p *replica.Partition
			switch {
			case requestErr != nil:
				err = requestErr
			case !validAcks:
				err = fmt.Errorf("%w: acks must be -1, 0 or 1, not %d", kerr.InvalidRequiredAcks, req.Acks)
			case topicErr != nil:
				err = topicErr
			case !canWrite.allowed(name):
				err = kerr.TopicAuthorizationFailed
			default:
				p, err = b.replicas.Partition(storage.TopicPartition{Topic: name, Partition: rp.Partition})
			}
			data := rp.Records
			if err == nil && req.Acks == -1 {
				err = p.CheckEnoughReplicas()
			}
			if err == nil {
				data, err = produceRecords(req.Version, data)
			}
			if err == nil {
				var res storage.AppendResult
				res, err = b.appendProduce(ctx, p, req.TransactionID, req.Version, data, now)
				if err == nil {
					sp.BaseOffset = res.FirstOffset
					if !res.Duplicate {
						b.metrics.bytesIn.WithLabelValues(name).Add(float64(len(data)))
						b.metrics.messagesIn.WithLabelValues(name).Add(float64(res.LastOffset - res.FirstOffset + 1))
					}
					sp.LogAppendTime = res.LogAppendTime
					sp.LogStartOffset = res.LogStartOffset
					if req.Acks == -1 {
						waits = append(waits, waiter{p: p, next: res.LastOffset + 1, ti: len(resp.Topics), pi: len(st.Partitions)})
					}
				}
			}
			if err != nil {
				failed = true
				sp.ErrorCode = errCode(err)
				if req.Version >= 8 {
					sp.ErrorMessage = errMsg(err)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		if failed {
			return nil, errAcksZeroFailed
		}
		// KafkaApis: acks=0 produces are exempt from the request quota,
		// but not from the byte rate: the connection is still muted.
		rc.requestQuotaDone = true
		rc.recordProduceBytes(time.Now())
		return nil, nil
	}
	// acks=all: every partition's high watermark must reach its batch
	// (every ISR member has it) before the response; a leader that loses
	// its leadership meanwhile answers NOT_LEADER_OR_FOLLOWER at once, an
	// ISR that shrank below min.insync.replicas
	// NOT_ENOUGH_REPLICAS_AFTER_APPEND (Kafka's DelayedProduce).
	waitStart := time.Now()
	deadline := waitStart.Add(time.Duration(req.TimeoutMillis) * time.Millisecond)
	for _, w := range waits {
		if err := b.replicas.WaitForAcksAll(ctx, w.p, w.next, time.Until(deadline)); err != nil {
			resp.Topics[w.ti].Partitions[w.pi].ErrorCode = errCode(err)
		}
	}
	rc.waited += time.Since(waitStart)
	// KafkaApis measures the request against producer_byte_rate once it
	// is answered; the throttle goes in ThrottleMillis (finishQuotas).
	rc.recordProduceBytes(time.Now())
	return resp, nil
}

// produceRecords applies the version rules of Kafka's
// ProduceRequest.validateRecords that depend on the request version, and
// up-converts a v0–v2 request's magic 0/1 message set to a v2 batch.
func produceRecords(version int16, data []byte) ([]byte, error) {
	if magic, legacy := records.LegacyMagic(data); legacy {
		if version >= 3 {
			return nil, fmt.Errorf("%w: produce requests v3+ carry only magic v2 batches, got magic %d", kerr.InvalidRecord, magic)
		}
		b, err := records.UpConvert(data, records.DefaultDecompressLimit)
		if err != nil {
			return nil, legacyProduceError(err)
		}
		return b, nil
	}
	if version < 7 && len(data) >= records.HeaderSize && records.Batch(data).Codec() == records.CodecZstd {
		return nil, fmt.Errorf("%w: produce requests v%d may not use zstd (KIP-110 needs v7)", kerr.UnsupportedCompressionType, version)
	}
	return data, nil
}

// legacyProduceError maps an up-conversion failure to the code Kafka's
// LogValidator answers with: the records sentinels' codes (kafkaError), and
// CORRUPT_MESSAGE for anything else wrong with a message set.
func legacyProduceError(err error) error {
	if mapped := kafkaError(err); !errors.Is(mapped, kerr.UnknownServerError) {
		return mapped
	}
	return fmt.Errorf("%w: %v", kerr.CorruptMessage, err)
}
