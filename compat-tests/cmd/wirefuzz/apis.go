package main

// Every advertised API at every advertised version, with kmsg request structs
// filled with random values by reflection, sometimes with the encoded bytes
// mutated afterwards (huge claimed array and string lengths, flipped bytes).

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// readOnlyKeys may name the control and batch topics: nothing they do
// changes a topic's data or configuration.
var readOnlyKeys = map[int16]bool{
	1: true, 2: true, 3: true, 23: true, 32: true, 61: true, 75: true, // Fetch, ListOffsets, Metadata, OffsetForLeaderEpoch, DescribeConfigs, DescribeProducers, DescribeTopicPartitions
}

type filler struct {
	rng       *rand.Rand
	protected []string // topics only read-only APIs may name
	readOnly  bool
}

func (f *filler) fillRequest(req kmsg.Request) {
	v := reflect.ValueOf(req).Elem()
	t := v.Type()
	for i := 0; i < v.NumField(); i++ {
		if t.Field(i).Name == "Version" || !v.Field(i).CanSet() {
			continue
		}
		f.fill(v.Field(i), t.Field(i).Name, 0)
	}
	if p, ok := req.(*kmsg.ProduceRequest); ok {
		// acks=0 has no response by design; the rest of the range is fair.
		p.Acks = []int16{-1, 1, -1, 2, -7}[f.rng.Intn(5)]
	}
	if u, ok := req.(*kmsg.UnregisterBrokerRequest); ok && u.BrokerID >= 0 && u.BrokerID < unregisterSafeID {
		// Unregistering a live broker takes it out of the cluster by
		// design, as Kafka's ReplicationControlManager.unregisterBroker
		// does: an operator's act, like deleting the control topic, so
		// the fuzzer names only ids no broker under test uses.
		u.BrokerID += unregisterSafeID
	}
}

// unregisterSafeID is the lowest broker id the fuzzer may unregister; the
// brokers it fuzzes have smaller ids.
const unregisterSafeID = 1 << 20

func (f *filler) fill(v reflect.Value, name string, depth int) {
	rng := f.rng
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				f.fill(v.Field(i), t.Field(i).Name, depth+1)
			}
		}
	case reflect.Pointer:
		if rng.Intn(5) == 0 {
			return // null
		}
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), name, depth+1)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if rng.Intn(4) > 0 {
				v.SetBytes(randBytes(rng, f.length(depth)*int(1+rng.Intn(64))))
			}
			return
		}
		n := f.length(depth)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			f.fill(s.Index(i), name, depth+1)
		}
		v.Set(s)
	case reflect.Array: // UUIDs
		if rng.Intn(3) > 0 {
			for i := 0; i < v.Len(); i++ {
				v.Index(i).SetUint(uint64(rng.Intn(256)))
			}
		}
	case reflect.String:
		v.SetString(f.str(name))
	case reflect.Bool:
		v.SetBool(rng.Intn(2) == 0)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(f.int(name, v.Type().Bits()))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.int(name, v.Type().Bits())) & (1<<v.Type().Bits() - 1))
	case reflect.Float64:
		v.SetFloat([]float64{0, 1, -1, math.NaN(), math.Inf(1), rng.Float64() * 1e6}[rng.Intn(6)])
	}
}

// length is an array length: mostly short, shorter deeper down, sometimes
// hundreds (huge claimed lengths come from mutate).
func (f *filler) length(depth int) int {
	r := f.rng.Intn(100)
	switch {
	case r < 25:
		return 0
	case r < 85 || depth > 4:
		return 1 + f.rng.Intn(3)
	case r < 97:
		return 4 + f.rng.Intn(16)
	default:
		return 100 + f.rng.Intn(900)
	}
}

// int picks boundary values and small numbers. Fields that make the broker
// wait (timeouts, max waits) stay within 3 s so a slow answer is a finding.
func (f *filler) int(name string, bits int) int64 {
	rng := f.rng
	if strings.Contains(name, "Timeout") || strings.Contains(name, "Wait") {
		return int64(rng.Intn(3001)) - 1
	}
	hi := int64(1)<<(bits-1) - 1
	switch r := rng.Intn(10); {
	case r < 4:
		return int64(rng.Intn(11)) - 1
	case r < 6:
		return rng.Int63() & hi
	case r < 7:
		return hi
	case r < 8:
		return -hi - 1
	case r < 9:
		return -int64(rng.Intn(1000))
	default:
		return int64(rng.Intn(100000))
	}
}

func (f *filler) str(name string) string {
	rng := f.rng
	lower := strings.ToLower(name)
	switch r := rng.Intn(10); {
	case r == 0:
		return ""
	case r == 1 && rng.Intn(10) == 0:
		// Longer than an int16 length can say: only compact (flexible)
		// strings carry it; a broker must not store what it cannot encode.
		return strings.Repeat("y", 32768+rng.Intn(40000))
	case r == 1:
		return strings.Repeat("x", 200+rng.Intn(2000))
	case r == 2:
		return string(randBytes(rng, 1+rng.Intn(20))) // often invalid UTF-8
	case strings.Contains(lower, "topic") || lower == "name":
		if f.readOnly && rng.Intn(3) == 0 {
			return f.protected[rng.Intn(len(f.protected))]
		}
		if rng.Intn(20) == 0 {
			// A new name: auto-creation and creation paths. Rarely, as each
			// costs the broker files for the rest of the run.
			return fmt.Sprintf("wfz-t-%x", rng.Int63())
		}
		return fmt.Sprintf("wfz-t-%d", rng.Intn(40))
	case strings.Contains(lower, "group"):
		return fmt.Sprintf("wfz-g-%d", rng.Intn(40))
	case strings.Contains(lower, "transactional"):
		return fmt.Sprintf("wfz-tx-%d", rng.Intn(40))
	}
	return fmt.Sprintf("wfz-%x", rng.Int63())
}

// headerLen is the request header's length in a frame from frame():
// size, key, version, correlation id, client id, and a tag count byte when
// flexible.
func headerLen(flexible bool) int {
	n := 4 + 2 + 2 + 4 + 2 + len("wirefuzz")
	if flexible {
		n++
	}
	return n
}

// mutate damages a frame's body: an int32 or uvarint that claims a huge
// length, flipped bytes, or a cut. The size prefix is fixed up afterwards so
// the frame itself is still well-delimited.
func mutate(rng *rand.Rand, b []byte, start int) ([]byte, string) {
	if len(b) <= start {
		return b, ""
	}
	b = append([]byte(nil), b...)
	pos := start + rng.Intn(len(b)-start)
	var what string
	switch rng.Intn(4) {
	case 0:
		vals := []uint32{0x7fffffff, 0xffffffff, 0x00ffffff, 0x000fffff, 0x80000000}
		v := vals[rng.Intn(len(vals))]
		for i := 0; i < 4 && pos+i < len(b); i++ {
			b[pos+i] = byte(v >> (24 - 8*i))
		}
		what = fmt.Sprintf("int32 %#x at %d", v, pos)
	case 1:
		huge := binary.AppendUvarint(nil, uint64([]uint32{0xffffffff, 0x7fffffff, 1 << 24}[rng.Intn(3)]))
		b = append(b[:pos], append(huge, b[pos:]...)...)
		what = fmt.Sprintf("uvarint %x inserted at %d", huge, pos)
	case 2:
		for i := 1 + rng.Intn(4); i > 0; i-- {
			b[start+rng.Intn(len(b)-start)] ^= byte(1 + rng.Intn(255))
		}
		what = "flipped bytes"
	default:
		b = b[:pos]
		what = fmt.Sprintf("cut at %d", pos)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, what
}

// apiCase sends one random request of a random advertised API and version.
func (w *worker) apiCase() {
	rng := w.rng
	api := w.apis[rng.Intn(len(w.apis))]
	ver := api.min + int16(rng.Intn(int(api.max-api.min)+1))
	req := kmsg.RequestForKey(api.key)
	req.SetVersion(ver)
	f := &filler{rng: rng, protected: w.protected, readOnly: readOnlyKeys[api.key]}
	f.fillRequest(req)
	req.SetVersion(ver)
	what := fmt.Sprintf("%s v%d", kmsg.NameForKey(api.key), ver)

	c, err := w.conn()
	if err != nil {
		return
	}
	corr := c.next()
	b := frame(req, corr)
	if rng.Intn(3) == 0 {
		var how string
		if b, how = mutate(rng, b, mutateFrom(req)); how != "" {
			what += " mutated"
		}
	}
	w.stats.add("api")
	w.busy(what)
	if err := c.write(b, w.timeout); err != nil {
		w.drop()
		return
	}
	resp, err := c.readResponse(req, corr, w.timeout)
	w.check(err, what, b)
	if err == nil {
		w.checkLimits(req, resp, what, b)
	}
}

// maxRecordsPerOp is KRaft's QuorumController.MAX_RECORDS_PER_USER_OP: one
// admin request may not create more partitions than this, so Kafka refuses
// a CreateTopics or CreatePartitions that asks for more.
const maxRecordsPerOp = 10000

// checkLimits reports topic and partition creations that Kafka would refuse
// for their size but the broker accepted.
func (w *worker) checkLimits(req kmsg.Request, resp kmsg.Response, what string, b []byte) {
	over := func(name string, n int64, code int16) {
		if n > maxRecordsPerOp && code == 0 {
			w.rep.report(finding{class: classOverLimit, what: what,
				detail: fmt.Sprintf("%s: %d partitions accepted (Kafka refuses more than %d records per request)", name, n, maxRecordsPerOp), req: b})
		}
	}
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		codes := map[string]int16{}
		for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
			codes[t.Topic] = t.ErrorCode
		}
		for _, t := range r.Topics {
			if code, ok := codes[t.Topic]; ok && !r.ValidateOnly {
				over(t.Topic, int64(t.NumPartitions), code) // one PartitionRecord each
			}
		}
	case *kmsg.CreatePartitionsRequest:
		codes := map[string]int16{}
		for _, t := range resp.(*kmsg.CreatePartitionsResponse).Topics {
			codes[t.Topic] = t.ErrorCode
		}
		for _, t := range r.Topics {
			// Count is the new total, and the fuzzer does not know the
			// current one: a topic created with 10,000 partitions may
			// legitimately grow by 10,000 more, so only a total no two
			// accepted requests could reach is a finding.
			if code, ok := codes[t.Topic]; ok && !r.ValidateOnly {
				over(t.Topic, int64(t.Count)-maxRecordsPerOp, code)
			}
		}
	}
}

// check turns a response outcome into findings: a close is always an
// acceptable answer; silence and undecodable responses are not.
func (w *worker) check(err error, what string, req []byte) {
	switch {
	case err == nil:
		return
	case err == errTimeout:
		w.rep.report(finding{class: classUnanswered, what: what, req: req,
			detail: fmt.Sprintf("no response within %v and the connection open; in flight on the other connections: %s", w.timeout, w.others())})
	case isUndecodable(err):
		w.rep.report(finding{class: classUndecodable, what: what, detail: err.Error(), req: req})
	}
	w.drop()
}

// mutateFrom is where mutate may start: after the request header, and for
// Produce after Acks as well, which must stay non-zero (acks=0 has no
// response by design, so silence would prove nothing).
func mutateFrom(req kmsg.Request) int {
	start := headerLen(req.IsFlexible())
	p, ok := req.(*kmsg.ProduceRequest)
	if !ok {
		return start
	}
	if p.GetVersion() < 3 {
		return start + 2 // v0–v2 open with Acks
	}
	// TransactionID (nullable string, compact when flexible), then Acks.
	n := 0
	if p.TransactionID != nil {
		n = len(*p.TransactionID)
	}
	if req.IsFlexible() {
		start += len(binary.AppendUvarint(nil, uint64(n+1))) + n
	} else {
		start += 2 + n
	}
	return start + 2
}
