package server

// Encoding buffers for large responses. A fetch response can run to tens of
// MiB (fetch.max.bytes); encoding one into a buffer that starts small grows
// it by doubling (copying everything encoded so far each time), and a fresh
// allocation per response makes the runtime zero and fault in new pages and
// the collector reclaim them. Profiles of 8-partition consumers showed that
// work outweighing the copy of the records themselves. So a large response
// is encoded into a buffer sized up front from the records it carries and
// borrowed from a pool shared by all connections.

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// smallResponseBuf is the most a connection keeps for its own
	// responses; larger ones borrow from respBufPool.
	smallResponseBuf = 1 << 20
	// maxPooledResponseBuf bounds what the pool keeps.
	maxPooledResponseBuf = 64 << 20
)

var respBufPool sync.Pool // of *[]byte, cap > smallResponseBuf

// responseSizeHint estimates the encoded size of resp when it is large
// (a fetch response: its record bytes plus room for the fields), or 0.
func responseSizeHint(resp kmsg.Response) int {
	fr, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	n := 256
	for i := range fr.Topics {
		t := &fr.Topics[i]
		n += 64 + len(t.Topic)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			n += 96 + len(p.RecordBatches) + 32*len(p.AbortedTransactions)
		}
	}
	return n
}

// getResponseBuf returns an empty buffer of at least hint bytes.
func getResponseBuf(hint int) []byte {
	if v := respBufPool.Get(); v != nil {
		if b := *v.(*[]byte); cap(b) >= hint {
			return b[:0]
		}
	}
	return make([]byte, 0, hint)
}

// putResponseBuf gives a large buffer back once its bytes are written.
func putResponseBuf(b []byte) {
	if cap(b) > smallResponseBuf && cap(b) <= maxPooledResponseBuf {
		respBufPool.Put(&b)
	}
}
