package server

// Client quotas, enforced as Kafka enforces them. The values are stored in
// the metadata log (ClientQuotaRecord, controller/quotas.go; set with
// AlterClientQuotas); each request is measured under the entity that
// applies to its user (the connection's principal name) and client-id
// (server/quota: the eight levels of ClientQuotaManager):
//
//   - producer_byte_rate: the size of each Produce request (KafkaApis
//     records request.sizeInBytes), acks=0 included.
//   - consumer_byte_rate: the size of each consumer Fetch response;
//     followers are not measured. A fetch over its quota is answered
//     empty and its bytes are taken back (unrecordQuotaSensor), and no
//     fetch reads more than the quota allows in one span
//     (maxValueInQuotaWindow).
//   - request_percentage (KIP-124): the time spent serving the client's
//     requests, as a percentage of one thread (100 = one second per
//     second). Cluster actions (follower fetches, WriteTxnMarkers, the
//     controller's APIs) and acks=0 produces are exempt; throttles are at
//     most one window (ClientRequestQuotaManager).
//   - controller_mutation_rate (KIP-599): partitions created or deleted
//     per second by CreateTopics, CreatePartitions and DeleteTopics, on
//     the active controller (quota_mutation.go).
//
// KIP-219: the broker answers at once with throttle_time_ms set to the
// largest throttle a request earned, then mutes the connection for that
// time: it reads and serves nothing more from it (conn.mute). Quota
// changes apply to the next request: the quotas are re-read whenever the
// metadata image changes.

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/controller"
	"github.com/riffle-io/riffle/server/quota"
)

// Quota keys (Kafka's QuotaConfig).
const (
	quotaProducerByteRate       = "producer_byte_rate"
	quotaConsumerByteRate       = "consumer_byte_rate"
	quotaRequestPercentage      = "request_percentage"
	quotaControllerMutationRate = "controller_mutation_rate"
)

// clientQuotas holds the usage of every measured client.
type clientQuotas struct {
	produce  *quota.Manager
	fetch    *quota.Manager
	request  *quota.Manager
	mutation *quota.MutationManager

	// indexes are the quotas by key, built from one version of the
	// image's quota map; rebuilt (by whichever request first sees a new
	// one) when a ClientQuotaRecord replaces the map, so that requests
	// share no lock.
	indexes atomic.Pointer[quotaIndexSet]
}

type quotaIndexSet struct {
	quotas  map[string]controller.ClientQuota // kept: its identity is the cache key
	indexes map[string]*quota.Index
}

func newClientQuotas(cfg *config.Broker) *clientQuotas {
	client := quota.Config{Samples: int(cfg.QuotaWindowNum), Window: time.Duration(cfg.QuotaWindowSizeSeconds) * time.Second}
	if client.Samples <= 0 || client.Window <= 0 {
		client = quota.DefaultConfig
	}
	ctrl := quota.Config{Samples: int(cfg.ControllerQuotaWindowNum), Window: time.Duration(cfg.ControllerQuotaWindowSizeSeconds) * time.Second}
	if ctrl.Samples <= 0 || ctrl.Window <= 0 {
		ctrl = quota.DefaultConfig
	}
	return &clientQuotas{
		produce: quota.NewManager(client, 0),
		fetch:   quota.NewManager(client, 0),
		// ClientRequestQuotaManager: a request-time throttle is at most
		// one window.
		request:  quota.NewManager(client, client.Window),
		mutation: quota.NewMutationManager(ctrl),
	}
}

// index returns the quotas of key as the current metadata image holds
// them.
func (q *clientQuotas) index(img *controller.Image, key string) *quota.Index {
	set := q.indexes.Load()
	// The image's quota map is copied whole on every change
	// (controller/quotas.go), so its identity tells whether it changed.
	if set == nil || reflect.ValueOf(set.quotas).Pointer() != reflect.ValueOf(img.ClientQuotas).Pointer() {
		set = &quotaIndexSet{quotas: img.ClientQuotas, indexes: quotaIndexes(img)}
		q.indexes.Store(set)
	}
	return set.indexes[key]
}

// quotaIndexes indexes the user and client-id quotas of img by key (ip
// entities carry connection_creation_rate, which is not enforced here).
func quotaIndexes(img *controller.Image) map[string]*quota.Index {
	byKey := map[string]map[quota.Entity]float64{}
	for _, cq := range img.ClientQuotas {
		var e quota.Entity
		ip := false
		for _, d := range cq.Entity {
			p := quota.DefaultPart
			if d.EntityName != nil {
				p = quota.Named(*d.EntityName)
			}
			switch d.EntityType {
			case controller.QuotaEntityUser:
				e.User = p
			case controller.QuotaEntityClientID:
				e.ClientID = p
			default:
				ip = true
			}
		}
		if ip {
			continue
		}
		for k, v := range cq.Values {
			if byKey[k] == nil {
				byKey[k] = map[quota.Entity]float64{}
			}
			byKey[k][e] = v
		}
	}
	out := make(map[string]*quota.Index, len(byKey))
	for k, vals := range byKey {
		out[k] = quota.NewIndex(vals)
	}
	return out
}

// quotaFor resolves the quota of key that applies to rc's client.
func (rc *requestContext) quotaFor(key string) (quota.Tags, float64, bool) {
	b := rc.b
	if b.quotas == nil || b.ctrl == nil {
		return quota.Tags{}, 0, false
	}
	clientID := ""
	if rc.header.ClientID != nil {
		clientID = *rc.header.ClientID
	}
	return b.quotas.index(b.ctrl.Image(), key).Resolve(rc.principal().Name, clientID)
}

// throttleBy notes that the request earned throttle d under m's quota;
// the largest throttle of a request is the one applied (KafkaApis: "use
// the max throttle time between the two quotas").
func (rc *requestContext) throttleBy(m quotaSensor, tags quota.Tags, d time.Duration) {
	if d > rc.throttle.d {
		rc.throttle = requestThrottle{d: d, m: m, tags: tags}
	}
}

// quotaSensor is a quota manager that counts the throttles it causes.
type quotaSensor interface {
	RecordThrottle(tags quota.Tags, d time.Duration, now time.Time)
}

// requestThrottle is the throttle a request earned and the quota that
// caused it.
type requestThrottle struct {
	d    time.Duration
	m    quotaSensor
	tags quota.Tags
}

// recordProduceBytes measures a Produce request (its size, as Kafka
// measures request.sizeInBytes) against producer_byte_rate.
func (rc *requestContext) recordProduceBytes(now time.Time) {
	tags, limit, ok := rc.quotaFor(quotaProducerByteRate)
	if !ok {
		return
	}
	rc.throttleBy(rc.b.quotas.produce, tags, rc.b.quotas.produce.Record(tags, limit, float64(rc.size), now))
}

// throttleFetch measures a consumer fetch's request time and response
// size against its quotas, in KafkaApis's order, and reports whether the
// fetch is throttled: it is then answered empty, so its bytes are taken
// back from consumer_byte_rate (unrecordQuotaSensor).
func (rc *requestContext) throttleFetch(results []kmsg.FetchResponseTopicPartition) bool {
	now := time.Now()
	rc.recordRequestTime(now)
	tags, limit, ok := rc.quotaFor(quotaConsumerByteRate)
	size := fetchResponseSize(results)
	if ok {
		rc.throttleBy(rc.b.quotas.fetch, tags, rc.b.quotas.fetch.Record(tags, limit, float64(size), now))
	}
	if rc.throttle.d <= 0 {
		return false
	}
	if ok {
		rc.b.quotas.fetch.Unrecord(tags, float64(size), now)
	}
	return true
}

// fetchResponseSize is about the encoded size of a fetch response with
// these partitions (Kafka measures FetchResponse.sizeOf): their records
// and their fixed fields.
func fetchResponseSize(results []kmsg.FetchResponseTopicPartition) int {
	n := 16
	for i := range results {
		n += 40 + len(results[i].RecordBatches) + 16*len(results[i].AbortedTransactions)
	}
	return n
}

// mutationQuota returns the controller_mutation_rate quota of rc's
// request (KIP-599); strict when the request's version can carry
// THROTTLING_QUOTA_EXCEEDED.
func (rc *requestContext) mutationQuota(strict bool) *quota.MutationQuota {
	if rc.b.quotas == nil {
		return (*quota.MutationManager)(nil).Quota(quota.Tags{}, 0, false, false)
	}
	tags, limit, ok := rc.quotaFor(quotaControllerMutationRate)
	return rc.b.quotas.mutation.Quota(tags, limit, ok, strict)
}

// errThrottlingQuotaExceeded is a topic refused by a strict mutation quota.
var errThrottlingQuotaExceeded = fmt.Errorf("%w: The throttling quota has been exceeded.", kerr.ThrottlingQuotaExceeded)

// finishMutationQuota puts the mutation quota's throttle on the request
// (ControllerApis: sendResponseMaybeThrottleWithControllerQuota).
func (rc *requestContext) finishMutationQuota(q *quota.MutationQuota) {
	if d := q.ThrottleTime(time.Now()); d > 0 {
		rc.throttleBy(rc.b.quotas.mutation, q.Tags(), d)
	}
}

// recordRequestTime measures the time rc's request was served, less the
// time it waited (long polls, acks=all), against request_percentage: as
// ClientRequestQuotaManager, in percent of one second per second.
func (rc *requestContext) recordRequestTime(now time.Time) {
	rc.requestQuotaDone = true
	tags, limit, ok := rc.quotaFor(quotaRequestPercentage)
	if !ok {
		return
	}
	busy := now.Sub(rc.started) - rc.waited
	if busy < 0 {
		busy = 0
	}
	pct := float64(busy) / float64(time.Second) * 100
	rc.throttleBy(rc.b.quotas.request, tags, rc.b.quotas.request.Record(tags, limit, pct, now))
}

// requestQuotaExempt reports whether rc's request is a cluster action,
// which Kafka records as exempt from request quotas: the APIs brokers and
// controllers send each other, and everything on a controller listener.
func (rc *requestContext) requestQuotaExempt() bool {
	if rc.conn != nil && rc.conn.controller && !rc.forwarded {
		return true
	}
	switch kmsg.Key(rc.header.APIKey) {
	case kmsg.LeaderAndISR, kmsg.StopReplica, kmsg.UpdateMetadata, kmsg.ControlledShutdown,
		kmsg.WriteTxnMarkers, kmsg.Envelope, kmsg.Vote, kmsg.BeginQuorumEpoch, kmsg.EndQuorumEpoch,
		kmsg.FetchSnapshot, kmsg.BrokerRegistration, kmsg.BrokerHeartbeat, kmsg.AlterPartition,
		kmsg.AllocateProducerIDs, kmsg.SASLHandshake, kmsg.SASLAuthenticate:
		return true
	}
	return false
}

// finishQuotas runs after a request's handler: it measures the request
// time unless the handler did or the request is exempt, puts the largest
// throttle the request earned in the response's throttle_time_ms, and
// mutes the connection for it (KIP-219: the response leaves at once, the
// client's next requests wait). A request forwarded in an Envelope is
// measured here, on the active controller, but its throttle is applied by
// the broker that forwarded it, to the client's connection.
func (rc *requestContext) finishQuotas(resp kmsg.Response) {
	now := time.Now()
	if !rc.requestQuotaDone && !rc.requestQuotaExempt() {
		rc.recordRequestTime(now)
	}
	t := rc.throttle
	if t.d <= 0 {
		return
	}
	ms := int32(min(t.d.Milliseconds(), 1<<31-1))
	if r, ok := resp.(kmsg.SetThrottleResponse); ok {
		if cur, _ := resp.(kmsg.ThrottleResponse).Throttle(); cur < ms {
			r.SetThrottle(ms)
		}
	}
	if t.m != nil {
		t.m.RecordThrottle(t.tags, t.d, now)
	}
	if !rc.forwarded && rc.conn != nil {
		rc.conn.mute(t.d)
	}
}

// mute stops reading and serving the connection's requests for d, as
// Kafka's ThrottledChannel mutes a channel. Responses still leave.
func (c *conn) mute(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.mutedUntil.Load()
		if cur >= until || c.mutedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// waitUnmuted waits until the connection's throttle has passed (or the
// connection ends).
func (c *conn) waitUnmuted() {
	for {
		wait := time.Until(time.Unix(0, c.mutedUntil.Load()))
		if wait <= 0 {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return
		}
	}
}

// quotaCollector exports the quota sensors as Kafka's quota metrics
// (kafka.server:type=Produce|Fetch|Request|ControllerMutation,user=…,
// client-id=…), named as the JMX exporter names them:
// kafka_server_produce_byte_rate{user,client_id},
// kafka_server_produce_throttle_time, kafka_server_fetch_byte_rate,
// kafka_server_request_request_time,
// kafka_server_controllermutation_mutation_rate and their throttle_time.
// Only clients under a quota are measured, as in Kafka, where the sensors
// exist only once a quota is set.
type quotaCollector struct {
	q     *clientQuotas
	descs map[string]*prometheus.Desc
}

var quotaMetricNames = []struct{ typ, rate, rateHelp string }{
	{"produce", "byte_rate", "Produce request bytes per second, per quota entity."},
	{"fetch", "byte_rate", "Fetch response bytes per second to consumers, per quota entity."},
	{"request", "request_time", "Request handling time in percent of one thread, per quota entity."},
	{"controllermutation", "mutation_rate", "Partitions created or deleted per second, per quota entity."},
}

func newQuotaCollector(q *clientQuotas) *quotaCollector {
	c := &quotaCollector{q: q, descs: map[string]*prometheus.Desc{}}
	labels := []string{"user", "client_id"}
	for _, n := range quotaMetricNames {
		c.descs[n.typ+"_rate"] = prometheus.NewDesc("kafka_server_"+n.typ+"_"+n.rate, n.rateHelp, labels, nil)
		c.descs[n.typ+"_throttle"] = prometheus.NewDesc("kafka_server_"+n.typ+"_throttle_time",
			"Mean throttle time in milliseconds over the last 30 to 60 seconds, per quota entity.", labels, nil)
	}
	return c
}

func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	stats := map[string][]quota.Stat{
		"produce":            c.q.produce.Stats(now),
		"fetch":              c.q.fetch.Stats(now),
		"request":            c.q.request.Stats(now),
		"controllermutation": c.q.mutation.Stats(now),
	}
	for typ, ss := range stats {
		for _, s := range ss {
			ch <- prometheus.MustNewConstMetric(c.descs[typ+"_rate"], prometheus.GaugeValue, s.Rate, s.Tags.User, s.Tags.ClientID)
			ch <- prometheus.MustNewConstMetric(c.descs[typ+"_throttle"], prometheus.GaugeValue, s.ThrottleMs, s.Tags.User, s.Tags.ClientID)
		}
	}
}
