package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func frameOf(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

func TestReadFrame(t *testing.T) {
	good := make([]byte, 20)
	tests := []struct {
		name    string
		in      []byte
		max     int32
		wantErr error
	}{
		{"ok", frameOf(good), 100, nil},
		{"negative", []byte{0xff, 0xff, 0xff, 0xff}, 100, ErrFrameInvalid},
		{"huge", []byte{0x7f, 0xff, 0xff, 0xff}, 100 << 20, ErrFrameTooLarge},
		{"over max", frameOf(good), 19, ErrFrameTooLarge},
		{"too short", frameOf(make([]byte, 3)), 100, ErrFrameInvalid},
		{"truncated body", frameOf(good)[:10], 100, io.ErrUnexpectedEOF},
		{"truncated size", []byte{0, 0}, 100, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tt.in), tt.max)
			if tt.wantErr == nil {
				if err != nil || len(got) != len(good) {
					t.Fatalf("got %d bytes, err %v", len(got), err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestParseRequestHeaderRoundTrip(t *testing.T) {
	for _, req := range []kmsg.Request{
		func() kmsg.Request { r := kmsg.NewPtrMetadataRequest(); r.SetVersion(1); return r }(),
		func() kmsg.Request { r := kmsg.NewPtrMetadataRequest(); r.SetVersion(12); return r }(),
		func() kmsg.Request { r := kmsg.NewPtrApiVersionsRequest(); r.SetVersion(3); return r }(),
	} {
		f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("cid"))
		frame := f.AppendRequest(nil, req, 42)[4:]
		h, body, err := ParseRequestHeader(frame)
		if err != nil {
			t.Fatalf("%T v%d: %v", req, req.GetVersion(), err)
		}
		if h.APIKey != req.Key() || h.APIVersion != req.GetVersion() || h.CorrelationID != 42 || *h.ClientID != "cid" || h.Flexible != req.IsFlexible() {
			t.Fatalf("bad header %+v", h)
		}
		dec := kmsg.RequestForKey(h.APIKey)
		dec.SetVersion(h.APIVersion)
		if err := DecodeRequest(dec, body, time.Second, func() {}); err != nil {
			t.Fatalf("decode: %v", err)
		}
	}
}

// A flexible header claiming 2^32-1 tagged fields is refused at once rather
// than iterated.
func TestHeaderHugeTagCount(t *testing.T) {
	frame := []byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}
	start := time.Now()
	if _, _, err := ParseRequestHeader(frame); !errors.Is(err, ErrHeaderInvalid) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("took %v", d)
	}
}

func TestAppendResponseHeaders(t *testing.T) {
	// ApiVersions always uses response header v0, even when flexible.
	av := kmsg.NewPtrApiVersionsResponse()
	av.SetVersion(3)
	out := AppendResponse(nil, 7, av)
	if got := binary.BigEndian.Uint32(out); int(got) != len(out)-4 {
		t.Fatalf("size prefix %d, len %d", got, len(out)-4)
	}
	if !bytes.Equal(out[4:8], []byte{0, 0, 0, 7}) {
		t.Fatal("correlation id")
	}
	back := kmsg.NewPtrApiVersionsResponse()
	back.SetVersion(3)
	if err := back.ReadFrom(out[8:]); err != nil {
		t.Fatal(err)
	}
	// Flexible responses carry an empty tag section after the id.
	md := kmsg.NewPtrMetadataResponse()
	md.SetVersion(12)
	out = AppendResponse(nil, 7, md)
	if out[8] != 0 {
		t.Fatal("missing tagged-field byte")
	}
	back2 := kmsg.NewPtrMetadataResponse()
	back2.SetVersion(12)
	if err := back2.ReadFrom(out[9:]); err != nil {
		t.Fatal(err)
	}
}

// FuzzReadFrame: never panics, never returns more than the bound.
func FuzzReadFrame(f *testing.F) {
	f.Add(frameOf(make([]byte, 12)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ReadFrame(bytes.NewReader(in), 1<<16)
		if err == nil && len(got) > 1<<16 {
			t.Fatalf("frame of %d bytes beyond the bound", len(got))
		}
	})
}

// FuzzParseRequestHeader: never panics; the body returned is a suffix of the
// input. (Bodies are decoded by kmsg under DecodeRequest's time bound; kmsg's
// tagged-field loops are not bounded by input, so they are not fuzzed here.)
func FuzzParseRequestHeader(f *testing.F) {
	r := kmsg.NewPtrMetadataRequest()
	r.SetVersion(12)
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, r, 1)[4:])
	f.Add([]byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, in []byte) {
		_, body, err := ParseRequestHeader(in)
		if err != nil {
			return
		}
		if len(body) > len(in) || !bytes.HasSuffix(in, body) {
			t.Fatal("body is not a suffix of the input")
		}
	})
}

// A flexible body whose top-level tag section claims 2^32-1 tags decodes (to
// an error) at once: kmsg's tag loops stop when the input is exhausted
// (third_party/kmsg/PATCHES.md).
func TestBodyHugeTagCountIsCheap(t *testing.T) {
	// Metadata v12 body: topics null (compact array length 0), allow auto
	// create, include topic authorized ops, then a tag count of 2^32-1.
	body := []byte{0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	start := time.Now()
	overran := false
	if err := DecodeRequest(req, body, 5*time.Second, func() { overran = true }); err == nil {
		t.Fatal("decode of an impossible tag count succeeded")
	}
	if d := time.Since(start); d > 100*time.Millisecond || overran {
		t.Fatalf("decode took %v", d)
	}
}

// A frame that claims socket.request.max.bytes and sends a few bytes costs
// one chunk, not the claimed size (an idle client could otherwise pin
// 100 MiB per connection).
func TestReadFrameAllocatesAsBytesArrive(t *testing.T) {
	in := append(binary.BigEndian.AppendUint32(nil, 100<<20), make([]byte, 16)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := ReadFrame(bytes.NewReader(in), 100<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
		t.Fatalf("allocated %d MiB for a 16-byte body", d>>20)
	}
	// A large frame that does arrive is read whole.
	body := make([]byte, 5<<20+3)
	for i := range body {
		body[i] = byte(i)
	}
	got, err := ReadFrame(bytes.NewReader(frameOf(body)), 100<<20)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("large frame: %d bytes, err %v", len(got), err)
	}
}
