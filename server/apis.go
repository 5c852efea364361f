package server

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc serves one decoded request. It returns the response to send, or
// nil when none is due (acks=0 produce). A non-nil error means the connection
// is broken or must be closed (as Kafka closes it for acks=0 failures); a Kafka
// outcome is always an error code inside the response instead.
type handlerFunc func(ctx context.Context, rc *requestContext, req kmsg.Request) (kmsg.Response, error)

type apiEntry struct {
	key      int16
	min, max int16
	handle   handlerFunc
}

// apiTable is the one table of supported APIs: dispatch reads it to route and
// to refuse unsupported versions, ApiVersions reads it to advertise, and the
// README's API list is generated from it (`riffle api-versions --markdown`).
// Each API file registers itself from init with its version range: the floor
// is Kafka 4.0's (KIP-896) or lower where older clients still need it, the
// ceiling what kmsg can decode.
var apiTable = map[int16]*apiEntry{}

func register(key kmsg.Key, min, max int16, h handlerFunc) {
	if req := kmsg.RequestForKey(int16(key)); req == nil || max > req.MaxVersion() {
		panic("server: API registered beyond what kmsg knows: " + key.Name())
	}
	apiTable[int16(key)] = &apiEntry{key: int16(key), min: min, max: max, handle: h}
}

// APIInfo describes one supported API.
type APIInfo struct {
	Key        int16
	Name       string
	MinVersion int16
	MaxVersion int16
}

// APIs returns the supported APIs sorted by key.
func APIs() []APIInfo {
	out := make([]APIInfo, 0, len(apiTable))
	for _, e := range apiTable {
		out = append(out, APIInfo{Key: e.key, Name: kmsg.NameForKey(e.key), MinVersion: e.min, MaxVersion: e.max})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func lookupAPI(key, version int16) (*apiEntry, bool) {
	e, ok := apiTable[key]
	if !ok || version < e.min || version > e.max {
		return e, false
	}
	return e, true
}

// APIMarkdown renders the API table as the Markdown list in README.md
// (`riffle api-versions --markdown`; a test keeps the README in step).
func APIMarkdown() string {
	var sb strings.Builder
	sb.WriteString("| Key | API | Versions |\n|---:|---|---|\n")
	for _, a := range APIs() {
		fmt.Fprintf(&sb, "| %d | %s | %d–%d |\n", a.Key, a.Name, a.MinVersion, a.MaxVersion)
	}
	return sb.String()
}
