package protocol

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allocatedBy returns the bytes allocated while fn ran.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// metadataV0Body is a Metadata v0 body claiming n topics followed by rest.
func metadataV0Body(n int32, rest []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(n)), rest...)
}

// Kafka 4.4's readers refuse an array claiming more than 1,000,000
// elements, however many bytes follow (third_party/kmsg/PATCHES.md); one
// at the limit still decodes.
func TestDecodeArrayLengthLimit(t *testing.T) {
	for _, tc := range []struct {
		n  int32
		ok bool
	}{{1_000_000, true}, {1_000_001, false}} {
		// Empty topic names: two bytes per element.
		rest := make([]byte, 2*int(tc.n))
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(1)
		err := DecodeRequest(req, metadataV0Body(tc.n, rest), 5*time.Second, func() {})
		if (err == nil) != tc.ok {
			t.Fatalf("%d elements: err = %v", tc.n, err)
		}
		if tc.ok && len(req.Topics) != int(tc.n) {
			t.Fatalf("%d elements decoded as %d", tc.n, len(req.Topics))
		}
	}
}

// An array is not allocated at its claimed length before its elements are
// read: a body claiming 500,000 topics whose first element is already
// invalid costs about what 1,000 elements cost, not 500,000 (kmsg v1.15.0
// allocated them all up front, so a 64 MiB request could make a broker
// allocate gigabytes).
func TestDecodePreallocationCapped(t *testing.T) {
	const n = 500_000
	rest := make([]byte, 2*n)
	rest[0], rest[1] = 0xff, 0xfe // a string of length -2: invalid
	body := metadataV0Body(n, rest)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(0)
	var err error
	got := allocatedBy(func() { err = DecodeRequest(req, body, 5*time.Second, func() {}) })
	if err == nil {
		t.Fatal("invalid first element decoded")
	}
	if limit := uint64(1 << 20); got > limit {
		t.Fatalf("decoding allocated %d KiB for one invalid element", got>>10)
	}
}

// More than 10,000 tagged fields in one section are refused, as Kafka 4.4
// refuses them; 10,000 still decode.
func TestDecodeTagCountLimit(t *testing.T) {
	for _, tc := range []struct {
		n  int
		ok bool
	}{{10_000, true}, {10_001, false}} {
		// Metadata v12: topics null, allow auto create, include topic
		// authorized operations, then the body's tag section.
		body := []byte{0, 1, 0}
		body = binary.AppendUvarint(body, uint64(tc.n))
		for i := 0; i < tc.n; i++ {
			body = binary.AppendUvarint(body, uint64(100+i)) // an unknown tag
			body = append(body, 0)                           // of size 0
		}
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(12)
		err := DecodeRequest(req, body, 5*time.Second, func() {})
		if (err == nil) != tc.ok {
			t.Fatalf("%d tags: err = %v", tc.n, err)
		}
	}
}

// FuzzDecodeRequest decodes arbitrary bytes as every API and version kmsg
// knows. Invariants: never panics, never outlives the decode time bound,
// allocates no more than a bounded multiple of the input (no allocation at
// a claimed length), and whatever decodes encodes again.
func FuzzDecodeRequest(f *testing.F) {
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		for _, v := range []int16{0, req.MaxVersion()} {
			req.SetVersion(v)
			f.Add(key, v, req.AppendTo(nil))
		}
	}
	f.Add(int16(3), int16(0), metadataV0Body(500_000, []byte{0xff, 0xfe}))
	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		req := kmsg.RequestForKey(key)
		if req == nil || version < 0 || version > req.MaxVersion() {
			return
		}
		req.SetVersion(version)
		overran := false
		var err error
		got := allocatedBy(func() { err = DecodeRequest(req, body, time.Second, func() { overran = true }) })
		if overran {
			t.Fatalf("%s v%d: decoding %d bytes outlived the time bound", kmsg.NameForKey(key), version, len(body))
		}
		// Every element read consumes at least one byte, and no decoded
		// struct is more than a few hundred bytes: anything beyond
		// that came from a claimed length.
		if limit := uint64(1<<20 + 1024*len(body)); got > limit {
			t.Fatalf("%s v%d: decoding %d bytes allocated %d KiB", kmsg.NameForKey(key), version, len(body), got>>10)
		}
		if err == nil {
			_ = req.AppendTo(nil)
		}
	})
}
