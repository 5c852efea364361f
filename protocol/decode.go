package protocol

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DecodeRequest decodes body into req, whose version must already be set.
//
// kmsg's decoders keep iterating over a claimed count of tagged fields after
// the input is exhausted (each iteration then reads nothing), so a 67-byte
// flexible request claiming 2^32-1 tags keeps a core busy for tens of seconds.
// A well-formed body decodes in time proportional to its size, so a decode
// that outlives limit can only be such a request: onOverrun is then called
// (the connection closes it), and the result is discarded. Counts in kmsg's
// array readers are already bounded by the bytes left.
func DecodeRequest(req kmsg.Request, body []byte, limit time.Duration, onOverrun func()) (err error) {
	t := time.AfterFunc(limit, onOverrun)
	defer t.Stop()
	defer func() {
		// kmsg does not panic on short input, but a decoder bug must not
		// take the broker down: the connection is closed instead.
		if r := recover(); r != nil {
			err = fmt.Errorf("decoding %s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), r)
		}
	}()
	if err := req.ReadFrom(body); err != nil {
		return fmt.Errorf("decoding %s v%d: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return nil
}
