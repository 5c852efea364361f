package controller

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// script drives the pure core the way the active controller does: plan
// records against the image, encode them as one raft entry, decode, apply.
type script struct {
	t   testing.TB
	im  *Image
	ids byte
}

func newScript(t testing.TB, brokers ...int32) *script {
	s := &script{t: t, im: NewImage("test-cluster")}
	for _, id := range brokers {
		r, err := registrationRecord(s.im, BrokerRegistration{ID: id, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092 + id, SecurityProtocol: "PLAINTEXT"}}})
		if err != nil {
			t.Fatal(err)
		}
		s.commit(r)
	}
	return s
}

// placement hands out predictable ids (1, 2, 3, ...) and starts at broker 0.
func (s *script) placement() placement {
	return placement{
		newTopicID: func() UUID { s.ids++; return UUID{15: s.ids} },
		start:      func(int) int { return 0 },
	}
}

func (s *script) commit(recs ...Record) {
	s.t.Helper()
	if len(recs) == 0 {
		return
	}
	data, err := EncodeBatch(recs)
	if err != nil {
		s.t.Fatal(err)
	}
	dec, err := DecodeBatch(data)
	if err != nil {
		s.t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(recs), normalize(dec)) {
		s.t.Fatalf("records do not round-trip:\n got %#v\nwant %#v", dec, recs)
	}
	prev := s.im
	next, err := prev.Apply(prev.Offset+1, dec)
	if err != nil {
		s.t.Fatalf("apply: %v", err)
	}
	if next.Offset != prev.Offset+1 {
		s.t.Fatalf("offset %d after %d", next.Offset, prev.Offset)
	}
	s.im = next
}

// normalize maps empty slices to nil so JSON round trips compare equal.
func normalize(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		if p, ok := r.(*PartitionRecord); ok {
			c := *p
			if len(c.RemovingReplicas) == 0 {
				c.RemovingReplicas = nil
			}
			if len(c.AddingReplicas) == 0 {
				c.AddingReplicas = nil
			}
			r = &c
		}
		out[i] = r
	}
	return out
}

func (s *script) create(validateOnly bool, specs ...TopicSpec) []CreateTopicResult {
	s.t.Helper()
	recs, res := planCreateTopics(s.im, specs, 3, 1, s.placement())
	if !validateOnly {
		s.commit(recs...)
	}
	return res
}

func wantKerr(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
	if !strings.Contains(err.Error(), ":") {
		t.Fatalf("%s: error %q does not say what is wrong", what, err)
	}
}

func TestScriptTopicLifecycle(t *testing.T) {
	s := newScript(t, 0, 1, 2)

	res := s.create(false, TopicSpec{Name: "orders", NumPartitions: 3, ReplicationFactor: 2, Configs: map[string]string{"cleanup.policy": "compact"}})
	wantKerr(t, "create orders", res[0].Err, nil)
	if res[0].NumPartitions != 3 || res[0].ReplicationFactor != 2 || res[0].TopicID == ([16]byte{}) {
		t.Fatalf("create result %+v", res[0])
	}
	orders, ok := s.im.Topic("orders")
	if !ok {
		t.Fatal("orders missing from image")
	}
	if byID, _ := s.im.TopicByID(res[0].TopicID); byID != orders {
		t.Fatal("TopicsByID disagrees with Topics")
	}
	wantParts := []PartitionImage{
		{Partition: 0, Replicas: []int32{0, 1}, ISR: []int32{0, 1}, Leader: 0},
		{Partition: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		{Partition: 2, Replicas: []int32{2, 0}, ISR: []int32{2, 0}, Leader: 2},
	}
	if !reflect.DeepEqual(orders.Partitions, wantParts) {
		t.Fatalf("partitions %+v, want %+v", orders.Partitions, wantParts)
	}
	if orders.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("configs %v", orders.Configs)
	}

	// Creating it again fails; validate-only sees the same answer.
	for _, vo := range []bool{true, false} {
		res = s.create(vo, TopicSpec{Name: "orders", NumPartitions: 1, ReplicationFactor: 1})
		wantKerr(t, "create orders again", res[0].Err, kerr.TopicAlreadyExists)
	}

	// Validate-only writes nothing.
	before := s.im
	res = s.create(true, TopicSpec{Name: "dry", NumPartitions: -1, ReplicationFactor: -1})
	wantKerr(t, "validate dry", res[0].Err, nil)
	if res[0].NumPartitions != 3 || res[0].ReplicationFactor != 1 {
		t.Fatalf("defaults not applied: %+v", res[0])
	}
	if s.im != before {
		t.Fatal("validate-only changed the image")
	}

	// Delete, then re-create: a new id, the old one is gone.
	oldID := orders.ID
	recs, dres := planDeleteTopics(s.im, []TopicRef{{Name: "orders"}})
	wantKerr(t, "delete orders", dres[0].Err, nil)
	if dres[0].TopicID != oldID {
		t.Fatalf("delete result id %v, want %v", dres[0].TopicID, oldID)
	}
	s.commit(recs...)
	if _, ok := s.im.Topic("orders"); ok {
		t.Fatal("orders survived deletion")
	}
	if _, ok := s.im.TopicByID(oldID); ok {
		t.Fatal("orders' id survived deletion")
	}
	if before.Topics["orders"] == nil {
		t.Fatal("deletion mutated an earlier image")
	}
	res = s.create(false, TopicSpec{Name: "orders", NumPartitions: 1, ReplicationFactor: 1})
	wantKerr(t, "re-create orders", res[0].Err, nil)
	if res[0].TopicID == oldID {
		t.Fatal("re-created topic reused the old id")
	}
	if got := s.im.Topics["orders"].Configs; len(got) != 0 {
		t.Fatalf("re-created topic inherited configs %v", got)
	}

	// Deleting unknown names and ids.
	_, dres = planDeleteTopics(s.im, []TopicRef{{Name: "nope"}, {ID: oldID}, {Name: "orders"}, {Name: "orders"}})
	wantKerr(t, "delete unknown name", dres[0].Err, kerr.UnknownTopicOrPartition)
	wantKerr(t, "delete unknown id", dres[1].Err, kerr.UnknownTopicID)
	wantKerr(t, "delete duplicate 1", dres[2].Err, kerr.InvalidRequest)
	wantKerr(t, "delete duplicate 2", dres[3].Err, kerr.InvalidRequest)
}

func TestScriptCreateValidation(t *testing.T) {
	s := newScript(t, 1, 2)
	s.create(false, TopicSpec{Name: "a.b", NumPartitions: 1, ReplicationFactor: 1})
	cases := []struct {
		name string
		spec TopicSpec
		want *kerr.Error
	}{
		{"empty name", TopicSpec{Name: "", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"dot", TopicSpec{Name: ".", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"dotdot", TopicSpec{Name: "..", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"too long", TopicSpec{Name: strings.Repeat("x", 250), NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"249 is fine", TopicSpec{Name: strings.Repeat("x", 249), NumPartitions: 1, ReplicationFactor: 1}, nil},
		{"bad char", TopicSpec{Name: "a/b", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"unicode", TopicSpec{Name: "tópico", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"collides", TopicSpec{Name: "a_b", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"zero partitions", TopicSpec{Name: "z", NumPartitions: 0, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"negative partitions", TopicSpec{Name: "z", NumPartitions: -5, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"2^31-1 partitions", TopicSpec{Name: "z", NumPartitions: 1<<31 - 1, ReplicationFactor: 1}, kerr.PolicyViolation},
		{"10,001 partitions", TopicSpec{Name: "z", NumPartitions: MaxRecordsPerUserOp + 1, ReplicationFactor: 1}, kerr.PolicyViolation},
		{"10,000 partitions", TopicSpec{Name: "z", NumPartitions: MaxRecordsPerUserOp, ReplicationFactor: 1}, nil},
		{"zero rf", TopicSpec{Name: "z", NumPartitions: 1, ReplicationFactor: 0}, kerr.InvalidReplicationFactor},
		{"rf above brokers", TopicSpec{Name: "z", NumPartitions: 1, ReplicationFactor: 3}, kerr.InvalidReplicationFactor},
		{"rf = brokers", TopicSpec{Name: "z2", NumPartitions: 1, ReplicationFactor: 2}, nil},
		{"assignment and counts", TopicSpec{Name: "m", NumPartitions: 1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}}}, kerr.InvalidRequest},
		{"assignment gap", TopicSpec{Name: "m", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}, 2: {2}}}, kerr.InvalidReplicaAssignment},
		{"assignment unknown broker", TopicSpec{Name: "m", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {7}}}, kerr.InvalidReplicaAssignment},
		{"assignment duplicate broker", TopicSpec{Name: "m", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 1}}}, kerr.InvalidReplicaAssignment},
		{"assignment uneven", TopicSpec{Name: "m", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 2}, 1: {2}}}, kerr.InvalidReplicaAssignment},
		{"assignment empty", TopicSpec{Name: "m", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {}}}, kerr.InvalidReplicaAssignment},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := s.create(true, tc.spec)
			wantKerr(t, tc.name, res[0].Err, tc.want)
		})
	}

	// A manual assignment is taken as given.
	res := s.create(false, TopicSpec{Name: "manual", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {2, 1}, 1: {1, 2}}})
	wantKerr(t, "manual", res[0].Err, nil)
	p0, _ := s.im.Topics["manual"].Partition(0)
	if !reflect.DeepEqual(p0.Replicas, []int32{2, 1}) || p0.Leader != 2 {
		t.Fatalf("manual partition 0: %+v", p0)
	}

	// Duplicates within one request fail on every copy; the rest proceed.
	res = s.create(false,
		TopicSpec{Name: "dup", NumPartitions: 1, ReplicationFactor: 1},
		TopicSpec{Name: "ok", NumPartitions: 1, ReplicationFactor: 1},
		TopicSpec{Name: "dup", NumPartitions: 1, ReplicationFactor: 1})
	wantKerr(t, "dup 1", res[0].Err, kerr.InvalidRequest)
	wantKerr(t, "ok", res[1].Err, nil)
	wantKerr(t, "dup 2", res[2].Err, kerr.InvalidRequest)
	if _, ok := s.im.Topic("dup"); ok {
		t.Fatal("duplicated topic was created")
	}

	// Two names colliding with each other in one request: the second fails.
	res = s.create(false,
		TopicSpec{Name: "x.y", NumPartitions: 1, ReplicationFactor: 1},
		TopicSpec{Name: "x_y", NumPartitions: 1, ReplicationFactor: 1})
	wantKerr(t, "x.y", res[0].Err, nil)
	wantKerr(t, "x_y", res[1].Err, kerr.InvalidTopicException)

	// One request may ask for at most MaxRecordsPerUserOp partitions in
	// all (Kafka's validateTotalNumberOfPartitions): over it, every topic
	// of the request is refused, valid or not; at it, they are created.
	res = s.create(true,
		TopicSpec{Name: "big1", NumPartitions: 5000, ReplicationFactor: 1},
		TopicSpec{Name: "big2", NumPartitions: 5000, ReplicationFactor: 1},
		TopicSpec{Name: "big3", NumPartitions: 1, ReplicationFactor: 1},
		TopicSpec{Name: "bad name!", NumPartitions: 1, ReplicationFactor: 1})
	for i, name := range []string{"big1", "big2", "big3", "bad name!"} {
		wantKerr(t, name, res[i].Err, kerr.PolicyViolation)
	}
	res = s.create(true,
		TopicSpec{Name: "big1", NumPartitions: 5000, ReplicationFactor: 1},
		TopicSpec{Name: "big2", NumPartitions: 4997, ReplicationFactor: 1}, // + 3 by default: 10,000
		TopicSpec{Name: "big3", NumPartitions: -1, ReplicationFactor: 1})
	for i, name := range []string{"big1", "big2", "big3"} {
		wantKerr(t, name, res[i].Err, nil)
	}
	assigned := map[int32][]int32{}
	for p := range int32(MaxRecordsPerUserOp + 1) {
		assigned[p] = []int32{0}
	}
	res = s.create(true, TopicSpec{Name: "assigned", NumPartitions: -1, ReplicationFactor: -1, Assignments: assigned})
	wantKerr(t, "assigned", res[0].Err, kerr.PolicyViolation)

	// No registered broker: nothing can be placed.
	empty := newScript(t)
	res = empty.create(true, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 1})
	wantKerr(t, "no brokers", res[0].Err, kerr.InvalidReplicationFactor)
}

func TestScriptPartitionsConfigsProducerIDs(t *testing.T) {
	s := newScript(t, 0, 1)
	s.create(false, TopicSpec{Name: "t", NumPartitions: 2, ReplicationFactor: 2})
	t0 := s.im.Topics["t"]

	// Grow only.
	for _, tc := range []struct {
		total int32
		want  *kerr.Error
	}{
		{2, kerr.InvalidPartitions}, {1, kerr.InvalidPartitions},
		// More than one user operation's worth of new partitions.
		{1<<31 - 1, kerr.PolicyViolation}, {2 + MaxRecordsPerUserOp + 1, kerr.PolicyViolation},
		{2 + MaxRecordsPerUserOp, nil},
	} {
		_, err := planCreatePartitions(s.im, "t", tc.total, s.placement())
		wantKerr(t, "create partitions", err, tc.want)
	}
	_, err := planCreatePartitions(s.im, "missing", 4, s.placement())
	wantKerr(t, "create partitions of missing", err, kerr.UnknownTopicOrPartition)
	recs, err := planCreatePartitions(s.im, "t", 5, s.placement())
	wantKerr(t, "grow to 5", err, nil)
	s.commit(recs...)
	t1 := s.im.Topics["t"]
	if len(t1.Partitions) != 5 || len(t0.Partitions) != 2 {
		t.Fatalf("partitions now %d (was %d)", len(t1.Partitions), len(t0.Partitions))
	}
	for i, p := range t1.Partitions {
		if p.Partition != int32(i) || len(p.Replicas) != 2 || p.Leader != p.Replicas[0] {
			t.Fatalf("partition %d: %+v", i, p)
		}
	}
	if t1.ID != t0.ID {
		t.Fatal("topic id changed")
	}

	// Configs: set, overwrite, delete; no-op changes write nothing.
	v1, v2 := "1000", "2000"
	recs, err = planTopicConfigs(s.im, "t", map[string]*string{"retention.ms": &v1, "segment.ms": &v2})
	wantKerr(t, "set configs", err, nil)
	s.commit(recs...)
	recs, _ = planTopicConfigs(s.im, "t", map[string]*string{"retention.ms": &v1, "nothing": nil})
	if len(recs) != 0 {
		t.Fatalf("no-op config change produced %d records", len(recs))
	}
	recs, _ = planTopicConfigs(s.im, "t", map[string]*string{"retention.ms": &v2, "segment.ms": nil})
	s.commit(recs...)
	if got, want := s.im.Topics["t"].Configs, map[string]string{"retention.ms": "2000"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("configs %v, want %v", got, want)
	}
	if t1.Configs["retention.ms"] != "" {
		t.Fatal("config change mutated an earlier image")
	}
	_, err = planTopicConfigs(s.im, "missing", map[string]*string{"a": &v1})
	wantKerr(t, "configs of missing", err, kerr.UnknownTopicOrPartition)

	// Producer id blocks never overlap.
	var next int64
	for _, n := range []int{1000, 1, 5000} {
		recs, first, err := planProducerIDs(s.im, n)
		wantKerr(t, "producer ids", err, nil)
		if first != next {
			t.Fatalf("block starts at %d, want %d", first, next)
		}
		s.commit(recs...)
		next += int64(n)
		if s.im.NextProducerID != next {
			t.Fatalf("next producer id %d, want %d", s.im.NextProducerID, next)
		}
	}
	for _, n := range []int{0, -1, 1 << 30} {
		_, _, err := planProducerIDs(s.im, n)
		wantKerr(t, "bad producer id count", err, kerr.InvalidRequest)
	}
	// A record moving the mark backwards is rejected as a whole batch.
	prev := s.im
	next2, err := prev.Apply(prev.Offset+1, []Record{&ProducerIdsRecord{NextProducerId: 10}})
	if !errors.Is(err, errRejected) || next2.NextProducerID != prev.NextProducerID || next2.Offset != prev.Offset+1 {
		t.Fatalf("backwards producer ids: err %v, image %+v", err, next2)
	}
}

func TestApplyRejectsWholeBatch(t *testing.T) {
	s := newScript(t, 0)
	s.create(false, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 1})
	id := UUID(s.im.Topics["t"].ID)
	bad := [][]Record{
		{&TopicRecord{Name: "new", TopicId: UUID{9}}, &TopicRecord{Name: "t", TopicId: UUID{10}}},         // name exists
		{&TopicRecord{Name: "new", TopicId: id}},                                                          // id exists
		{&TopicRecord{Name: "bad/name", TopicId: UUID{11}}},                                               // invalid name
		{&TopicRecord{Name: "zero"}},                                                                      // zero id
		{&PartitionRecord{PartitionId: 5, TopicId: id, Replicas: []int32{0}, Isr: []int32{0}}},            // gap
		{&PartitionRecord{PartitionId: 1, TopicId: UUID{99}, Replicas: []int32{0}}},                       // unknown topic
		{&PartitionRecord{PartitionId: 1, TopicId: id, Replicas: nil}},                                    // no replicas
		{&PartitionRecord{PartitionId: 1, TopicId: id, Replicas: []int32{0}, Isr: []int32{3}, Leader: 0}}, // isr outside replicas
		{&PartitionChangeRecord{PartitionId: 3, TopicId: id, Leader: NoLeaderChange}},                     // unknown partition
		{&PartitionChangeRecord{PartitionId: 0, TopicId: id, Leader: 4}},                                  // leader not in isr
		{&RemoveTopicRecord{TopicId: UUID{42}}},                                                           // unknown topic
		{&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "nope", Name: "a"}},               // unknown topic
		{&ConfigRecord{ResourceType: 9, ResourceName: "x", Name: "a"}},                                    // unknown resource type
		{&RegisterBrokerRecord{BrokerId: -3}},                                                             // bad broker id
	}
	for i, batch := range bad {
		next, err := s.im.Apply(s.im.Offset+1, batch)
		if !errors.Is(err, errRejected) {
			t.Fatalf("batch %d: got %v, want rejection", i, err)
		}
		if len(next.Topics) != len(s.im.Topics) || next.Topics["t"] != s.im.Topics["t"] || next.Topics["new"] != nil {
			t.Fatalf("batch %d: rejected batch changed the image", i)
		}
	}
}

func TestPartitionChangeEpochs(t *testing.T) {
	s := newScript(t, 0, 1, 2)
	s.create(false, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 3})
	id := UUID(s.im.Topics["t"].ID)

	// Shrinking the ISR bumps only the partition epoch.
	s.commit(&PartitionChangeRecord{PartitionId: 0, TopicId: id, Isr: []int32{0, 1}, Leader: NoLeaderChange})
	p, _ := s.im.Topics["t"].Partition(0)
	if p.Leader != 0 || p.LeaderEpoch != 0 || p.PartitionEpoch != 1 || !reflect.DeepEqual(p.ISR, []int32{0, 1}) {
		t.Fatalf("after ISR shrink: %+v", p)
	}
	// A new leader bumps both.
	s.commit(&PartitionChangeRecord{PartitionId: 0, TopicId: id, Isr: []int32{1}, Leader: 1})
	p, _ = s.im.Topics["t"].Partition(0)
	if p.Leader != 1 || p.LeaderEpoch != 1 || p.PartitionEpoch != 2 {
		t.Fatalf("after leader change: %+v", p)
	}
	// No leader at all.
	s.commit(&PartitionChangeRecord{PartitionId: 0, TopicId: id, Isr: []int32{}, Leader: NoLeader})
	p, _ = s.im.Topics["t"].Partition(0)
	if p.Leader != NoLeader || p.LeaderEpoch != 2 || len(p.ISR) != 0 {
		t.Fatalf("after leader loss: %+v", p)
	}
}

func TestImageRecordsRebuildImage(t *testing.T) {
	s := newScript(t, 0, 1, 2)
	s.create(false,
		TopicSpec{Name: "a", NumPartitions: 4, ReplicationFactor: 3, Configs: map[string]string{"x": "y"}},
		TopicSpec{Name: "b", NumPartitions: 1, ReplicationFactor: 1})
	recs, _, _ := planProducerIDs(s.im, 1234)
	s.commit(recs...)
	v := "3"
	s.commit(&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Name: "num.partitions", Value: &v},
		&FeatureLevelRecord{Name: "metadata.version", FeatureLevel: 25})
	id := UUID(s.im.Topics["a"].ID)
	s.commit(&PartitionChangeRecord{PartitionId: 2, TopicId: id, Isr: []int32{2, 0}, Leader: NoLeaderChange})

	data, err := EncodeBatch(s.im.Records())
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := NewImage("test-cluster").Apply(s.im.Offset, dec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rebuilt, s.im) {
		t.Fatalf("rebuilt image differs:\n got %+v\nwant %+v", rebuilt, s.im)
	}
}

func TestDecodeBatchRejectsGarbage(t *testing.T) {
	for _, in := range []string{
		``, `{}`, `null x`, `[{"type":"Nope","version":0,"data":{}}]`,
		`[{"type":"TopicRecord","version":7,"data":{}}]`,
		`[{"type":"TopicRecord","version":0,"data":{"TopicId":"short"}}]`,
		`[{"type":"TopicRecord","version":0,"data":[1,2]}]`,
	} {
		if _, err := DecodeBatch([]byte(in)); err == nil {
			t.Errorf("DecodeBatch(%q) succeeded", in)
		}
	}
}

func FuzzDecodeApply(f *testing.F) {
	s := newScript(f, 0)
	s.create(false, TopicSpec{Name: "t", NumPartitions: 2, ReplicationFactor: 1})
	good, _ := EncodeBatch(s.im.Records())
	f.Add(good)
	f.Add([]byte(`[{"type":"PartitionChangeRecord","version":0,"data":{"PartitionId":-7}}]`))
	// Invariant: decoding and applying arbitrary bytes never panics, and a
	// rejected batch leaves the image's content alone.
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeBatch(b)
		if err != nil {
			return
		}
		next, err := s.im.Apply(s.im.Offset+1, recs)
		if err != nil && len(next.Topics) != len(s.im.Topics) {
			t.Fatal("rejected batch changed the image")
		}
	})
}

func TestParseVoters(t *testing.T) {
	v, err := ParseVoters("1@localhost:9093, 2@[::1]:9094,3@10.0.0.3:9093")
	if err != nil {
		t.Fatal(err)
	}
	want := []Voter{{1, "localhost:9093"}, {2, "[::1]:9094"}, {3, "10.0.0.3:9093"}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %v, want %v", v, want)
	}
	if v, err := ParseVoters("  "); err != nil || v != nil {
		t.Fatalf("empty: %v %v", v, err)
	}
	for _, bad := range []string{"1", "x@h:1", "-1@h:1", "1@h", "1@h:0", "1@h:70000", "1@:9093", "1@h:1,1@g:2", "1@h:1,"} {
		if _, err := ParseVoters(bad); err == nil {
			t.Errorf("ParseVoters(%q) succeeded", bad)
		}
	}
}

func TestUUIDText(t *testing.T) {
	for range 200 {
		id := randomTopicID()
		if id == (UUID{}) || strings.HasPrefix(id.String(), "-") {
			t.Fatalf("bad random id %s", id)
		}
		var back UUID
		if err := back.UnmarshalText([]byte(id.String())); err != nil || back != id {
			t.Fatalf("round trip %s: %v %s", id, err, back)
		}
	}
}
