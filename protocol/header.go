package protocol

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrHeaderInvalid is returned when a request header cannot be parsed.
var ErrHeaderInvalid = errors.New("invalid request header")

// RequestHeader is a parsed Kafka request header (v1, or v2 for flexible
// versions per KIP-482).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      *string
	// Flexible is true when the header carried tagged fields (header v2).
	Flexible bool
}

// ParseRequestHeader parses the header at the start of frame and returns it
// with the remaining body. The api key and version are read first; whether
// the header is v1 or v2 depends on whether that key and version are flexible
// in kmsg's definitions. For a key or version kmsg does not know, the header
// is parsed as v1 (ApiVersions must still be answered then: KIP-511).
//
// The header's tagged-field section is parsed here with the number of tags
// bounded by the bytes left, unlike kmsg's generic loop.
func ParseRequestHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	b := kbin.Reader{Src: frame}
	h.APIKey = b.Int16()
	h.APIVersion = b.Int16()
	h.CorrelationID = b.Int32()
	h.ClientID = b.NullableString()
	if err := b.Complete(); err != nil {
		return h, nil, fmt.Errorf("%w: %v", ErrHeaderInvalid, err)
	}
	if req := kmsg.RequestForKey(h.APIKey); req != nil && h.APIVersion >= 0 && h.APIVersion <= req.MaxVersion() {
		req.SetVersion(h.APIVersion)
		// ControlledShutdown v0 used header v0 (no client id); Kafka 4
		// no longer serves it, so it is simply unsupported here.
		h.Flexible = req.IsFlexible()
	}
	if h.Flexible {
		rest, err := SkipTaggedFields(b.Src)
		if err != nil {
			return h, nil, err
		}
		return h, rest, nil
	}
	return h, b.Src, nil
}

// SkipTaggedFields skips a tagged-field section (KIP-482) at the start of src
// and returns what follows. Every tag needs at least two bytes (its key and
// its size), so a count claiming more tags than that is refused at once.
func SkipTaggedFields(src []byte) ([]byte, error) {
	n, used := kbin.Uvarint(src)
	if used <= 0 {
		return nil, fmt.Errorf("%w: truncated tagged fields", ErrHeaderInvalid)
	}
	src = src[used:]
	if uint64(n) > uint64(len(src)/2) {
		return nil, fmt.Errorf("%w: %d tagged fields claimed in %d bytes", ErrHeaderInvalid, n, len(src))
	}
	for i := uint32(0); i < n; i++ {
		_, kn := kbin.Uvarint(src)
		if kn <= 0 {
			return nil, fmt.Errorf("%w: truncated tag key", ErrHeaderInvalid)
		}
		src = src[kn:]
		size, sn := kbin.Uvarint(src)
		if sn <= 0 || uint64(size) > uint64(len(src)-sn) {
			return nil, fmt.Errorf("%w: tag size out of range", ErrHeaderInvalid)
		}
		src = src[sn+int(size):]
	}
	return src, nil
}

// AppendResponse appends a complete size-prefixed response frame to dst:
// size, correlation id, the header's tagged fields when the response is
// flexible (header v1), and the body. ApiVersions responses always use
// header v0 so that a client can parse them before it knows our versions
// (KIP-511).
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, correlationID)
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		dst = append(dst, 0) // no tagged fields in the response header
	}
	dst = resp.AppendTo(dst)
	size := uint32(len(dst) - start - 4)
	dst[start] = byte(size >> 24)
	dst[start+1] = byte(size >> 16)
	dst[start+2] = byte(size >> 8)
	dst[start+3] = byte(size)
	return dst
}
