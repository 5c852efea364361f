package server_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/config"
)

// answerWithin bounds the answer to any request whose own timeouts are
// clamped below it (see clampWaits): a well-formed response of the
// request's version, or a closed connection.
const answerWithin = 5 * time.Second

// randomRequest fills req's fields with values a buggy or hostile client
// might send: extreme integers, empty and over-long strings, short random
// arrays, null nullable fields. The version is left as set.
type randomFiller struct {
	rng    *rand.Rand
	topics []string // names that exist, picked now and then
	// bigUsed: this request already has a long array. One per request:
	// nested long arrays (a thousand topics of a thousand partitions)
	// made requests whose million-entry answers took longer than
	// answerWithin to build on a busy machine, a measure of the machine.
	bigUsed bool
}

func (f *randomFiller) fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			name := v.Type().Field(i).Name
			if name == "Version" || name == "UnknownTags" || !v.Field(i).CanSet() {
				continue
			}
			f.fill(v.Field(i), depth+1)
		}
	case reflect.Bool:
		v.SetBool(f.rng.IntN(2) == 0)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(f.int(v.Type().Bits()))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.int(v.Type().Bits())))
	case reflect.Float64:
		v.SetFloat(f.rng.Float64() * 1e6)
	case reflect.String:
		v.SetString(f.string())
	case reflect.Pointer:
		if f.rng.IntN(4) == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, f.rng.IntN(64))
			for i := range b {
				b[i] = byte(f.rng.Uint32())
			}
			if f.rng.IntN(4) == 0 {
				b = nil
			}
			v.SetBytes(b)
			return
		}
		n := f.rng.IntN(4)
		switch {
		case depth > 6:
			n = 0
		case depth < 4 && !f.bigUsed && f.rng.IntN(30) == 0:
			f.bigUsed = true
			n = 100 + f.rng.IntN(900)
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			f.fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Array: // UUIDs
		for i := 0; i < v.Len(); i++ {
			f.fill(v.Index(i), depth+1)
		}
	}
}

func (f *randomFiller) int(bits int) int64 {
	lim := int64(math.MaxInt64)
	if bits < 64 {
		lim = int64(1)<<(bits-1) - 1
	}
	switch f.rng.IntN(9) {
	case 8:
		return int64(f.rng.IntN(100_000)) // a plausible count or id
	case 0:
		return 0
	case 1:
		return -1
	case 2:
		return lim
	case 3:
		return -lim - 1
	case 4:
		return 1
	case 5:
		return int64(f.rng.IntN(10))
	default:
		return f.rng.Int64N(lim) - f.rng.Int64N(lim)
	}
}

func (f *randomFiller) string() string {
	switch f.rng.IntN(6) {
	case 0:
		return ""
	case 1:
		return f.topics[f.rng.IntN(len(f.topics))]
	case 3:
		return fmt.Sprintf("rnd-%d", f.rng.IntN(20)) // valid names, reused
	case 2:
		return strings.Repeat("x", 33_000+f.rng.IntN(100)) // beyond an int16 length
	default:
		b := make([]byte, 1+f.rng.IntN(12))
		for i := range b {
			b[i] = byte('a' + f.rng.IntN(26))
		}
		return string(b)
	}
}

// clampWaits bounds the fields that legitimately ask the broker to wait
// (a fetch's MaxWaitMillis), so that every answer is due within
// answerWithin. Timeouts of admin requests are left random: Kafka answers
// them when the operation completes, not when the timeout expires.
func clampWaits(req kmsg.Request) {
	switch r := req.(type) {
	case *kmsg.FetchRequest:
		r.MaxWaitMillis = min(max(r.MaxWaitMillis, 0), 500)
	case *kmsg.ShareFetchRequest:
		r.MaxWaitMillis = min(max(r.MaxWaitMillis, 0), 500)
	// Requests the broker may hold until their own timeout (a controller
	// write under load, a replication wait): a random timeout of hours is
	// honoured, and would outlast answerWithin on a busy machine.
	case *kmsg.ProduceRequest:
		r.TimeoutMillis = clampTimeout(r.TimeoutMillis)
	case *kmsg.CreateTopicsRequest:
		r.TimeoutMillis = clampTimeout(r.TimeoutMillis)
	case *kmsg.DeleteTopicsRequest:
		r.TimeoutMillis = clampTimeout(r.TimeoutMillis)
	case *kmsg.DeleteRecordsRequest:
		r.TimeoutMillis = clampTimeout(r.TimeoutMillis)
	case *kmsg.CreatePartitionsRequest:
		r.TimeoutMillis = clampTimeout(r.TimeoutMillis)
	case *kmsg.ElectLeadersRequest:
		r.TimeoutMillis = clampTimeout(r.TimeoutMillis)
	case *kmsg.AlterPartitionAssignmentsRequest:
		r.TimeoutMillis = clampTimeout(r.TimeoutMillis)
	case *kmsg.ListPartitionReassignmentsRequest:
		r.TimeoutMillis = clampTimeout(r.TimeoutMillis)
	}
}

// clampTimeout bounds a request's own timeout to 2 s; zero and negative
// values (the broker's default) become 2 s too.
func clampTimeout(ms int32) int32 {
	if ms <= 0 || ms > 2000 {
		return 2000
	}
	return ms
}

// Every API at every advertised version, sent with random field values, is
// answered within answerWithin with a response that decodes as that API at
// that version, or the connection is closed; nothing is left unanswered
// with the connection open (that blocks every later request on it). The
// broker keeps serving a well-behaved client afterwards.
func TestRandomRequestsAnswered(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) {
		c.GroupInitialRebalanceDelayMs = 0
		c.OffsetsTopicNumPartitions = 1
		c.TransactionStateLogNumPartitions = 1
	})
	addr := tb.addr()
	adm := newAdmin(t, addr)
	createTopic(t, adm, "rnd", 2, nil)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RIFFLE_RANDOM_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rounds := 3
	if s := os.Getenv("RIFFLE_RANDOM_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d (RIFFLE_RANDOM_SEED reproduces), %d rounds", seed, rounds)
	f := &randomFiller{rng: rand.New(rand.NewPCG(seed, 1)), topics: []string{"rnd", "__consumer_offsets"}}
	vs := dialRaw(t, addr).versions()
	keys := make([]int16, 0, len(vs))
	for k := range vs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var nAnswered, nClosed int
	for round := 0; round < rounds; round++ {
		for _, key := range keys {
			for v := vs[key][0]; v <= vs[key][1]; v++ {
				req := kmsg.RequestForKey(key)
				f.bigUsed = false
				f.fill(reflect.ValueOf(req).Elem(), 0)
				req.SetVersion(v)
				clampWaits(req)
				answered, err := sendAndCheck(addr, req)
				if err != nil {
					t.Errorf("seed %d: %s v%d: %v", seed, kmsg.NameForKey(key), v, err)
					if os.Getenv("RIFFLE_RANDOM_DUMP") != "" && strings.Contains(err.Error(), "no answer") {
						_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
						t.FailNow()
					}
				}
				if answered {
					nAnswered++
				} else {
					nClosed++
				}
			}
		}
	}
	t.Logf("%d answered, %d refused by closing", nAnswered, nClosed)
	checkAlive(t, addr)
}

// sendAndCheck sends req on a fresh connection and checks the answer; it
// reports whether a response came (false: the connection was closed).
func sendAndCheck(addr string, req kmsg.Request) (bool, error) {
	c, err := net.DialTimeout("tcp", addr, requestTimeout)
	if err != nil {
		return false, err
	}
	defer c.Close()
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		p.Acks = 1 // acks=0 is answered by silence
	}
	_ = c.SetDeadline(time.Now().Add(answerWithin))
	if _, err := c.Write(formatter.AppendRequest(nil, req, 7)); err != nil {
		return false, nil // the broker closed it while we wrote: refused
	}
	start := time.Now()
	frame, err := readLargeFrame(c, answerWithin)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return false, fmt.Errorf("no answer within %v and the connection is open", answerWithin)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return false, nil // closed: an allowed outcome
	case err != nil:
		if strings.Contains(err.Error(), "reset") {
			return false, nil
		}
		return false, err
	}
	body, err := responseBody(frame, 7, req.IsFlexible() && req.Key() != 18)
	if err != nil {
		return true, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return true, fmt.Errorf("response after %v does not decode: %v", time.Since(start), err)
	}
	return true, nil
}

// A group whose ID is longer than a non-flexible string can carry (created
// through a flexible OffsetCommit) makes ListGroups v0–v2 responses
// unencodable; they leave it out and stay readable, and v3+ list it.
func TestListGroupsLongGroupID(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(c *config.Broker) { c.OffsetsTopicNumPartitions = 1 })
	adm := newAdmin(t, tb.addr())
	createTopic(t, adm, "long-group", 1, nil)
	long := strings.Repeat("g", 40_000)
	rc := dialRaw(t, tb.addr())
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 8
	commit.Group = long
	commit.Generation = -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "long-group"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Offset = 0
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	if !poll(requestTimeout, func() bool {
		resp := rc.roundTrip(commit).(*kmsg.OffsetCommitResponse)
		return resp.Topics[0].Partitions[0].ErrorCode == 0
	}) {
		t.Fatal("offset commit for the long group failed")
	}
	for v := int16(0); v <= 5; v++ {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = v
		resp := rc.roundTrip(req).(*kmsg.ListGroupsResponse) // decodes, or the test fails
		listed := false
		for _, g := range resp.Groups {
			listed = listed || g.Group == long
		}
		if want := v >= 3; listed != want {
			t.Errorf("ListGroups v%d: long group listed %v, want %v", v, listed, want)
		}
	}
}

// readLargeFrame reads one response frame of up to 512 MiB: random requests
// naming hundreds of 33 KB names get responses that echo them.
func readLargeFrame(c net.Conn, d time.Duration) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 512<<20 {
		return nil, fmt.Errorf("response frame size %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
