package server

// Metrics and the admin HTTP endpoint (riffle.admin.listener): Prometheus
// text format on /metrics under Kafka's metric names (group_type_name, as the
// JMX exporter spells kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec),
// /healthz (the process serves), /readyz (the broker is started and the
// metadata quorum has a leader) and Go's pprof under /debug/pprof/. Each
// broker has its own registry, so several can run in one process (tests).

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/replica"
)

type brokerMetrics struct {
	registry       *prometheus.Registry
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	bytesIn        *prometheus.CounterVec
	bytesOut       *prometheus.CounterVec
	messagesIn     *prometheus.CounterVec
	connections    prometheus.Gauge
	// fetchSessionEvictions counts the incremental fetch sessions evicted
	// to make room for new ones.
	fetchSessionEvictions prometheus.Counter
}

func newBrokerMetrics(b *Broker) *brokerMetrics {
	m := &brokerMetrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafka_network_requestmetrics_requests_total",
			Help: "Requests served, by API.",
		}, []string{"request"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kafka_network_requestmetrics_totaltime_seconds",
			Help:    "Time from a request's arrival to its response being ready, by API.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"request"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafka_server_brokertopicmetrics_bytesin_total",
			Help: "Record bytes appended by producers, by topic.",
		}, []string{"topic"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafka_server_brokertopicmetrics_bytesout_total",
			Help: "Record bytes returned to fetchers, by topic.",
		}, []string{"topic"}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafka_server_brokertopicmetrics_messagesin_total",
			Help: "Records appended by producers, by topic.",
		}, []string{"topic"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kafka_server_socketservermetrics_connection_count",
			Help: "Open client connections.",
		}),
		fetchSessionEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kafka_server_fetchsessioncache_incrementalfetchsessionevictions_total",
			Help: "Incremental fetch sessions evicted from the cache to make room for new ones.",
		}),
	}
	partitions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kafka_server_replicamanager_partitioncount",
		Help: "Partitions hosted by this broker.",
	}, func() float64 {
		if b.replicas == nil {
			return 0
		}
		return float64(len(b.replicas.Partitions()))
	})
	leaders := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kafka_server_replicamanager_leadercount",
		Help: "Partitions this broker leads.",
	}, func() float64 {
		if b.replicas == nil {
			return 0
		}
		n, _ := b.replicas.LeaderStats()
		return float64(n)
	})
	underReplicated := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kafka_server_replicamanager_underreplicatedpartitions",
		Help: "Partitions this broker leads whose in-sync replica set lacks a replica.",
	}, func() float64 {
		if b.replicas == nil {
			return 0
		}
		_, n := b.replicas.LeaderStats()
		return float64(n)
	})
	// kafka.server:type=FetchSessionCache (KIP-227).
	fetchSessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kafka_server_fetchsessioncache_numincrementalfetchsessions",
		Help: "Incremental fetch sessions in the cache.",
	}, func() float64 {
		if b.fetchSessions == nil {
			return 0
		}
		return float64(b.fetchSessions.size())
	})
	fetchSessionPartitions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kafka_server_fetchsessioncache_numincrementalfetchpartitionscached",
		Help: "Partitions cached by all incremental fetch sessions.",
	}, func() float64 {
		if b.fetchSessions == nil {
			return 0
		}
		return float64(b.fetchSessions.totalPartitions())
	})
	// kafka.server:type=LeaderReplication / FollowerReplication,
	// name=byte-rate: the throttled replication traffic as the KIP-73
	// quotas measure it.
	replicationRate := func(side string, q func() *replica.ReplicationQuota) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kafka_server_" + side + "replication_byte_rate",
			Help: "Throttled " + side + " replication traffic in bytes/s, as measured against its replication throttle.",
		}, func() float64 { return q().Rate(time.Now()) })
	}
	leaderReplication := replicationRate("leader", func() *replica.ReplicationQuota { return b.leaderQuota })
	followerReplication := replicationRate("follower", func() *replica.ReplicationQuota { return b.followerQuota })
	m.registry.MustRegister(m.requests, m.requestSeconds, m.bytesIn, m.bytesOut, m.messagesIn,
		m.connections, partitions, leaders, underReplicated, fetchSessions, fetchSessionPartitions, m.fetchSessionEvictions,
		leaderReplication, followerReplication,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if b.quotas != nil {
		m.registry.MustRegister(newQuotaCollector(b.quotas))
	}
	return m
}

func (m *brokerMetrics) observeRequest(key int16, start time.Time) {
	name := kmsg.NameForKey(key)
	m.requests.WithLabelValues(name).Inc()
	m.requestSeconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
}

// adminServer serves the admin endpoint until the broker stops.
type adminServer struct {
	srv   *http.Server
	ln    net.Listener
	ready atomic.Bool
}

func (b *Broker) startAdmin() error {
	if b.cfg.AdminListener == "" {
		return nil
	}
	ln, err := net.Listen("tcp", b.cfg.AdminListener)
	if err != nil {
		return err
	}
	a := &adminServer{ln: ln}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(b.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() || b.ctrl == nil || b.ctrl.Image().ControllerID < 0 {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.admin = a
	b.goBackground(func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.logger.Error("admin endpoint stopped", "err", err)
		}
	})
	return nil
}

func (b *Broker) stopAdmin() {
	if b.admin == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = b.admin.srv.Shutdown(ctx)
}

// AdminAddr returns the bound admin endpoint address, or "" when disabled.
func (b *Broker) AdminAddr() string {
	if b.admin == nil {
		return ""
	}
	return b.admin.ln.Addr().String()
}
