package main

// Malformed frames. Each goes out on a fresh connection, which is dropped
// afterwards: whatever the broker makes of it, the connection's state is
// unknown. A broker may answer (then the answer must decode) or close; it may
// not leave the connection open and silent, except where Kafka itself waits
// (a size larger than the bytes sent so far).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawHeader builds a request header (v1, or v2 with the given tag bytes) by
// hand: the point is to send what kmsg would never encode.
func rawHeader(key, ver int16, corr int32, tags []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(ver))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len("wirefuzz")))
	b = append(b, "wirefuzz"...)
	return append(b, tags...)
}

func sized(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// frameCase sends one malformed frame.
func (w *worker) frameCase() {
	rng := w.rng
	api := w.apis[rng.Intn(len(w.apis))]
	ver := api.min + int16(rng.Intn(int(api.max-api.min)+1))
	probe := kmsg.RequestForKey(api.key)
	probe.SetVersion(ver)
	const corr = 7
	var (
		b           []byte
		what        string
		mustClose   bool // Kafka closes at once (InvalidReceiveException)
		mayWait     bool // Kafka waits for the rest of the frame
		decodeAs    kmsg.Request
		decodeCorrs = int32(corr)
	)
	switch rng.Intn(8) {
	case 0:
		what = "size negative"
		b = binary.BigEndian.AppendUint32(nil, uint32(-1-rng.Int31n(math.MaxInt32)))
		b = append(b, randBytes(rng, rng.Intn(64))...)
		mustClose = true
	case 1:
		sizes := []uint32{math.MaxInt32, 1 << 30, 200 << 20}
		s := sizes[rng.Intn(len(sizes))]
		what = fmt.Sprintf("size %d", s)
		b = binary.BigEndian.AppendUint32(nil, s)
		b = append(b, rawHeader(api.key, ver, corr, []byte{0})...)
		mustClose = true
	case 2:
		what = "size larger than body"
		full := frame(probe, corr)
		binary.BigEndian.PutUint32(full, uint32(len(full)-4+1+rng.Intn(4096)))
		b, mayWait = full, true
	case 3:
		what = "truncated header"
		b = sized(rawHeader(api.key, ver, corr, nil)[:rng.Intn(14)])
	case 4:
		key := []int16{-1, -32768, 32767, 1000, int16(200 + rng.Intn(1000))}[rng.Intn(5)]
		what = fmt.Sprintf("unknown api key %d", key)
		b = sized(append(rawHeader(key, 0, corr, nil), randBytes(rng, rng.Intn(64))...))
	case 5:
		bad := []int16{-1, api.max + 1, api.max + int16(1+rng.Intn(100)), math.MaxInt16}[rng.Intn(4)]
		what = fmt.Sprintf("%s unknown version %d", kmsg.NameForKey(api.key), bad)
		b = sized(append(rawHeader(api.key, bad, corr, nil), randBytes(rng, rng.Intn(64))...))
		if api.key == 18 {
			// Kafka answers an unsupported ApiVersions with a v0 response
			// carrying UNSUPPORTED_VERSION (KIP-511).
			decodeAs = kmsg.NewPtrApiVersionsRequest()
		}
	case 6:
		what = fmt.Sprintf("%s v%d garbage body", kmsg.NameForKey(api.key), ver)
		var tags []byte
		if probe.IsFlexible() {
			tags = []byte{0}
		}
		b = sized(append(rawHeader(api.key, ver, corr, tags), randBytes(rng, rng.Intn(512))...))
		decodeAs = probe
	default:
		// KIP-482 tag counts far beyond the bytes sent, in the header or the body.
		flex := w.flexible[rng.Intn(len(w.flexible))]
		probe = kmsg.RequestForKey(flex.key)
		probe.SetVersion(flex.max)
		huge := binary.AppendUvarint(nil, uint64([]uint32{math.MaxUint32, 1 << 31, 10001}[rng.Intn(3)]))
		if rng.Intn(2) == 0 {
			what = fmt.Sprintf("%s v%d header tag count %x", kmsg.NameForKey(flex.key), flex.max, huge)
			b = sized(rawHeader(flex.key, flex.max, corr, huge))
		} else {
			what = fmt.Sprintf("%s v%d body of tag counts", kmsg.NameForKey(flex.key), flex.max)
			body := rawHeader(flex.key, flex.max, corr, []byte{0})
			for i := rng.Intn(8); i >= 0; i-- {
				body = append(body, huge...)
			}
			b = sized(body)
		}
		decodeAs = probe
	}
	w.stats.add("frame")

	c, err := dial(w.addr)
	if err != nil {
		return
	}
	defer c.Close()
	w.busy(what)
	if err := c.write(b, w.timeout); err != nil {
		return // the broker closed while we wrote: fine
	}
	wait := w.timeout
	if mayWait {
		wait = time.Second
	}
	resp, err := c.readFrame(wait)
	switch {
	case errors.Is(err, errClosed):
		return
	case err == errTimeout && mayWait:
		return
	case err == errTimeout && mustClose:
		w.rep.report(finding{class: classBadSizeOpen, what: what, detail: fmt.Sprintf("connection open after %v", wait), req: b})
	case err == errTimeout:
		w.rep.report(finding{class: classUnanswered, what: what, req: b,
			detail: fmt.Sprintf("no response and no close within %v; in flight on the other connections: %s", wait, w.others())})
	case err != nil:
		w.rep.report(finding{class: classUndecodable, what: what, detail: err.Error(), req: b})
	case mustClose:
		w.rep.report(finding{class: classBadSizeOpen, what: what, detail: "answered instead of closing", req: b})
	case decodeAs != nil:
		if decodeAs.Key() == 18 && decodeAs.GetVersion() != ver {
			decodeAs.SetVersion(0)
		}
		if _, err := decodeResponse(decodeAs, decodeCorrs, resp); err != nil {
			w.rep.report(finding{class: classUndecodable, what: what, detail: err.Error(), req: b})
		}
	}
}

func isUndecodable(err error) bool { return errors.Is(err, errUndecodable) }
