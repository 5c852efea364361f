package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle-io/riffle/config"
)

// TestAdminEndpoint: with riffle.admin.listener set, /healthz and /readyz
// answer, and /metrics carries Kafka-named metrics that move when a real
// client produces and consumes.
func TestAdminEndpoint(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.AdminListener = "127.0.0.1:0" })
	admin := tb.b.AdminAddr()
	if admin == "" {
		t.Fatal("admin endpoint not started")
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(path); code != http.StatusOK {
			t.Fatalf("GET %s = %d %q", path, code, body)
		}
	}

	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "metered", 2, nil)
	cl := newClient(t, tb.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := genBase()
	produceGenerated(t, cl, "metered", 0, 1000, 2, base, nil)
	consumeGenerated(t, tb.addr(), "metered", 1000, 2, base)

	_, metrics := get("/metrics")
	for _, want := range []string{
		`kafka_network_requestmetrics_requests_total{request="Produce"}`,
		`kafka_network_requestmetrics_requests_total{request="Fetch"}`,
		`kafka_server_brokertopicmetrics_bytesin_total{topic="metered"}`,
		`kafka_server_brokertopicmetrics_bytesout_total{topic="metered"}`,
		`kafka_server_brokertopicmetrics_messagesin_total{topic="metered"} 1000`,
		`kafka_server_replicamanager_partitioncount`,
		`kafka_server_replicamanager_leadercount`,
		"\nkafka_server_replicamanager_underreplicatedpartitions 0\n",
		`kafka_network_requestmetrics_totaltime_seconds_bucket{request="Produce"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
}
