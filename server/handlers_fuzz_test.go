package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
	"github.com/riffle-io/riffle/protocol"
)

// FuzzHandlers feeds every API's handler requests decoded from arbitrary
// bytes, on a live single-node broker: whatever a client sends that decodes
// must be answered (or refused with an error) without a panic, and the
// answer must encode. Handlers run here without the connection's recover,
// so a panic fails the fuzz run. Each request is bounded by a short
// context, as a slow handler must honour it.
func FuzzHandlers(f *testing.F) {
	cfg := config.Default()
	cfg.LogDirs = []string{f.TempDir()}
	var err error
	if cfg.Listeners, err = config.ParseListeners("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"); err != nil {
		f.Fatal(err)
	}
	if cfg.AdvertisedListeners, err = config.ParseListeners("PLAINTEXT://127.0.0.1:0"); err != nil {
		f.Fatal(err)
	}
	cfg.OffsetsTopicNumPartitions = 1
	cfg.TransactionStateLogNumPartitions = 1
	cfg.OffsetsTopicReplicationFactor = 1
	cfg.TransactionStateLogReplicationFactor = 1
	cfg.TransactionStateLogMinIsr = 1
	cfg.GroupInitialRebalanceDelayMs = 0
	b, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		_ = b.Shutdown(sctx)
	})

	// Seeds: every API at each end of its version range, with its
	// default request and with one naming a topic.
	for _, api := range APIs() {
		for _, v := range []int16{api.MinVersion, api.MaxVersion} {
			req := kmsg.RequestForKey(api.Key)
			req.SetVersion(v)
			f.Add(api.Key, v, req.AppendTo(nil))
		}
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("fuzz")
	md.Topics = append(md.Topics, rt)
	f.Add(int16(kmsg.Metadata), int16(12), md.AppendTo(nil))

	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		entry, ok := lookupAPI(key, version)
		if !ok {
			return
		}
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		if err := protocol.DecodeRequest(req, body, time.Second, func() {}); err != nil {
			return
		}
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer rcancel()
		rc := &requestContext{b: b, header: protocol.RequestHeader{APIKey: key, APIVersion: version, CorrelationID: 1,
			ClientID: kmsg.StringPtr("fuzz")}, listener: "PLAINTEXT"}
		resp, err := entry.handle(rctx, rc, req)
		if err != nil || resp == nil {
			return
		}
		resp.SetVersion(version)
		_ = protocol.AppendResponse(nil, 1, resp)
	})
}
