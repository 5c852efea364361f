package server_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Untrusted bytes must be refused quickly and cheaply: within this long the
// broker answers or closes the connection.
const refuseWithin = 2 * time.Second

// tagRefuseWithin bounds the answer to a request claiming 2^32-1 tagged
// fields: below the server's decode watchdog (1 s), so that only bounded
// decoding passes.
const tagRefuseWithin = 500 * time.Millisecond

// header builds a request header: key, version, correlation ID, client ID,
// and for flexible (v2) headers the given raw tag-buffer bytes.
func header(key, version int16, corr int32, tags []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 2)
	b = append(b, "it"...)
	return append(b, tags...)
}

func withSize(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// answeredOrClosed waits for either a response frame or the end of the
// connection; it fails only if neither happens within d.
func (rc *rawConn) answeredOrClosed(d time.Duration) {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	_, err := rc.c.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatalf("neither answered nor closed within %v", d)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	tb := startBroker(t)
	addr := tb.addr()

	closedCases := []struct {
		name string
		send []byte
		half bool // half-close after sending: the rest never comes
	}{
		{"size -1", []byte{0xff, 0xff, 0xff, 0xff}, false},
		{"size 2^31-1", []byte{0x7f, 0xff, 0xff, 0xff}, false},
		{"size above socket.request.max.bytes", binary.BigEndian.AppendUint32(nil, 104857600+1), false},
		{"size 0", []byte{0, 0, 0, 0}, false},
		{"frame shorter than a header", withSize([]byte{0, 18}), false},
		{"truncated frame", append(binary.BigEndian.AppendUint32(nil, 100), header(18, 0, 1, nil)...), true},
		{"truncated size", []byte{0, 0}, true},
		{"unknown API key", withSize(header(9999, 0, 1, nil)), false},
		{"negative API key", withSize(header(-2, 0, 1, nil)), false},
		{"unsupported Metadata version", withSize(header(3, 99, 1, nil)), false},
		{"client ID longer than the frame", withSize(append(header(18, 0, 1, nil)[:8], 0x7f, 0xff)), false},
	}
	for _, c := range closedCases {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			if err := rc.write(c.send); err != nil {
				t.Fatalf("write: %v", err)
			}
			if c.half {
				_ = rc.c.(*net.TCPConn).CloseWrite()
			}
			rc.expectClosed(refuseWithin)
			checkAlive(t, addr)
		})
	}

	t.Run("unsupported ApiVersions version", func(t *testing.T) {
		// KIP-511: answer with a v0 body, UNSUPPORTED_VERSION and the table,
		// so the client can retry at a version we support.
		rc := dialRaw(t, addr)
		if err := rc.write(withSize(header(18, 99, 7, []byte{0}))); err != nil {
			t.Fatalf("write: %v", err)
		}
		f, err := rc.readFrame(refuseWithin)
		if err != nil {
			t.Fatalf("no response to ApiVersions v99: %v", err)
		}
		body, err := responseBody(f, 7, false)
		if err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decode v0 ApiVersions response: %v", err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("error %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(resp.ErrorCode))
		}
		found := false
		for _, k := range resp.ApiKeys {
			if k.ApiKey == 18 && k.MinVersion == 0 && k.MaxVersion >= 3 {
				found = true
			}
		}
		if !found {
			t.Fatalf("version table lacks ApiVersions v0..v3+: %+v", resp.ApiKeys)
		}
		// The connection stays usable.
		if vs := rc.versions(); len(vs) == 0 {
			t.Fatalf("empty version table")
		}
		checkAlive(t, addr)
	})

	// kmsg keeps looping over a claimed tag count after the input ends
	// (field notes): 2^32-1 claimed tags must not cost the broker seconds.
	hugeTags := []byte{0xff, 0xff, 0xff, 0xff, 0x0f}
	pad := make([]byte, 40)
	tagCases := []struct {
		name string
		body []byte
	}{
		{"ApiVersions v3 header tags", append(header(18, 3, 1, hugeTags), pad...)},
		{"Metadata v12 header tags", append(header(3, 12, 1, hugeTags), pad...)},
		// Metadata v12 body: null topics, allow_auto, include_topic_ops, then the tags.
		{"Metadata v12 body tags", append(append(header(3, 12, 1, []byte{0}), 0, 0, 0), append(hugeTags, pad...)...)},
		{"ApiVersions v3 body tags", append(append(header(18, 3, 1, []byte{0}), 2, 'x', 2, 'y'), append(hugeTags, pad...)...)},
	}
	for _, c := range tagCases {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			start := time.Now()
			if err := rc.write(withSize(c.body)); err != nil {
				t.Fatalf("write: %v", err)
			}
			// Under the broker's one-second decode watchdog: the decode
			// itself must stop at the end of the input.
			rc.answeredOrClosed(tagRefuseWithin)
			t.Logf("refused after %v", time.Since(start))
			checkAlive(t, addr)
		})
	}

	t.Run("random frames", func(t *testing.T) {
		// Deterministic garbage after a plausible header for every API the
		// broker advertises: each is answered or refused in time.
		rng := rand.New(rand.NewPCG(1, 2))
		vs := dialRaw(t, addr).versions()
		for key, r := range vs {
			for _, version := range []int16{r[0], r[1]} {
				rc := dialRaw(t, addr)
				body := header(key, version, 1, nil)
				junk := make([]byte, rng.IntN(64))
				for k := range junk {
					junk[k] = byte(rng.Uint32())
				}
				if err := rc.write(withSize(append(body, junk...))); err != nil {
					t.Fatalf("write: %v", err)
				}
				rc.answeredOrClosed(refuseWithin)
			}
		}
		checkAlive(t, addr)
	})

	t.Run("corrupt batches", func(t *testing.T) {
		adm := newAdmin(t, addr)
		created := createTopic(t, adm, "corrupt", 1, nil)
		rp := newRawProducer(t, addr, "corrupt", created.ID)
		ts := time.Now().UnixMilli()

		badCRC := makeBatch(-1, -1, -1, ts, "a", "b", "c")
		badCRC[len(badCRC)-1] ^= 0xff // inside the CRC-covered records
		if r := rp.send(0, badCRC); r.ErrorCode != kerr.CorruptMessage.Code {
			t.Errorf("batch with a bad CRC: error %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(r.ErrorCode))
		}

		// NumRecords disagrees with LastOffsetDelta. Kafka's LogValidator
		// answers INVALID_RECORD here; CORRUPT_MESSAGE is accepted too.
		miscount := makeBatch(-1, -1, -1, ts, "a", "b", "c")
		binary.BigEndian.PutUint32(miscount[57:61], 4)
		fixCRC(miscount)
		// NumRecords and LastOffsetDelta agree (4) but only three records follow.
		short := makeBatch(-1, -1, -1, ts, "a", "b", "c")
		binary.BigEndian.PutUint32(short[23:27], 3)
		binary.BigEndian.PutUint32(short[57:61], 4)
		fixCRC(short)
		// A length field that runs past the end of the records.
		long := makeBatch(-1, -1, -1, ts, "a", "b", "c")
		binary.BigEndian.PutUint32(long[8:12], binary.BigEndian.Uint32(long[8:12])+100)
		for name, b := range map[string][]byte{"count vs offset delta": miscount, "fewer records than declared": short, "length past the end": long} {
			r := rp.send(0, b)
			if r.ErrorCode != kerr.CorruptMessage.Code && r.ErrorCode != kerr.InvalidRecord.Code {
				t.Errorf("%s: error %v, want CORRUPT_MESSAGE or INVALID_RECORD", name, kerr.ErrorForCode(r.ErrorCode))
			}
		}

		// Nothing from the refused batches is readable; a good batch lands at 0.
		if hw := endOffsets(t, adm, "corrupt")[0]; hw != 0 {
			t.Fatalf("high watermark %d after refused batches, want 0", hw)
		}
		if r := rp.send(0, makeBatch(-1, -1, -1, ts, "ok")); r.ErrorCode != 0 || r.BaseOffset != 0 {
			t.Fatalf("good batch after refused ones: error %v offset %d", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
		}
		recs := readPartition(t, addr, "corrupt", 0, 1)
		if string(recs[0].Value) != "ok" {
			t.Fatalf("read %q, want the good record", recs[0].Value)
		}
		checkAlive(t, addr)
	})

	// A connection that sends nothing is not a reason to stall others.
	t.Run("idle connection", func(t *testing.T) {
		rc := dialRaw(t, addr)
		checkAlive(t, addr)
		_ = rc.c.Close()
	})
}
