package controller

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// rackScript is a script whose brokers have racks: racks[i] is broker i+1's.
func rackScript(t *testing.T, racks ...string) *script {
	s := newScript(t)
	for i, rack := range racks {
		r := &RegisterBrokerRecord{BrokerId: int32(i + 1), IncarnationId: UUID{byte(i + 1)}, EndPoints: []BrokerEndpoint{{Name: "PLAINTEXT", Host: "h", Port: uint16(9000 + i)}}}
		if rack != "" {
			r.Rack = &rack
		}
		s.commit(r)
	}
	return s
}

// placementStats checks every partition of topic and returns how many
// partitions each broker leads and how many replicas it holds.
func placementStats(t *testing.T, s *script, topic string, rf int, wantRacks int) (leaders, replicas map[int32]int) {
	t.Helper()
	leaders, replicas = map[int32]int{}, map[int32]int{}
	for _, p := range s.im.Topics[topic].Partitions {
		if len(p.Replicas) != rf {
			t.Fatalf("partition %d has replicas %v, want %d", p.Partition, p.Replicas, rf)
		}
		racks := map[string]bool{}
		for _, id := range p.Replicas {
			b := s.im.Brokers[id]
			if b.Fenced {
				t.Fatalf("partition %d placed on fenced broker %d", p.Partition, id)
			}
			racks[b.Rack] = true
			replicas[id]++
		}
		if len(racks) != wantRacks {
			t.Fatalf("partition %d replicas %v span %d racks, want %d", p.Partition, p.Replicas, len(racks), wantRacks)
		}
		leaders[p.Leader]++
	}
	return leaders, replicas
}

func wantEven(t *testing.T, what string, counts map[int32]int, brokers, each int) {
	t.Helper()
	if len(counts) != brokers {
		t.Fatalf("%s: %v covers %d brokers, want %d", what, counts, len(counts), brokers)
	}
	for id, n := range counts {
		if n != each {
			t.Fatalf("%s: broker %d has %d, want %d (%v)", what, id, n, each, counts)
		}
	}
}

func TestScriptRackAwarePlacement(t *testing.T) {
	// Three racks of two brokers: every partition on three racks, leaders
	// and replicas spread evenly, for every start the random pick may give.
	for start := range 6 {
		s := rackScript(t, "a", "a", "b", "b", "c", "c")
		pl := s.placement()
		pl.start = func(int) int { return start }
		recs, res := planCreateTopics(s.im, []TopicSpec{{Name: "t", NumPartitions: 12, ReplicationFactor: 3}}, 1, 1, pl)
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		s.commit(recs...)
		leaders, replicas := placementStats(t, s, "t", 3, 3)
		wantEven(t, "leaders", leaders, 6, 2)
		wantEven(t, "replicas", replicas, 6, 6)

		// CreatePartitions places the same way.
		recs, err := planCreatePartitions(s.im, "t", 18, pl)
		if err != nil {
			t.Fatal(err)
		}
		s.commit(recs...)
		leaders, _ = placementStats(t, s, "t", 3, 3)
		wantEven(t, "leaders after CreatePartitions", leaders, 6, 3)
	}

	// Unbalanced racks: three brokers in a, one in b; every partition of
	// RF 2 still has a replica in each rack.
	s := rackScript(t, "a", "a", "a", "b")
	s.create(false, TopicSpec{Name: "u", NumPartitions: 8, ReplicationFactor: 2})
	leaders, _ := placementStats(t, s, "u", 2, 2)
	wantEven(t, "leaders, unbalanced racks", leaders, 4, 2)

	// Brokers without a rack form a rack of their own.
	s = rackScript(t, "a", "", "a", "")
	s.create(false, TopicSpec{Name: "v", NumPartitions: 4, ReplicationFactor: 2})
	placementStats(t, s, "v", 2, 2)
}

func TestScriptPlacementSkipsFencedBrokers(t *testing.T) {
	s := rackScript(t, "a", "b", "c")
	s.commit(&FenceBrokerRecord{Id: 3, Epoch: s.im.Brokers[3].Epoch})
	s.create(false, TopicSpec{Name: "t", NumPartitions: 6, ReplicationFactor: 2})
	leaders, _ := placementStats(t, s, "t", 2, 2)
	wantEven(t, "leaders", leaders, 2, 3)

	res := s.create(false, TopicSpec{Name: "rf3", NumPartitions: 1, ReplicationFactor: 3})
	wantKerr(t, "RF above the unfenced brokers", res[0].Err, kerr.InvalidReplicationFactor)
	if _, err := planCreatePartitions(s.im, "t", 7, s.placement()); err != nil {
		t.Fatal(err)
	}
	s.commit(&FenceBrokerRecord{Id: 2, Epoch: s.im.Brokers[2].Epoch})
	_, err := planCreatePartitions(s.im, "t", 7, s.placement())
	wantKerr(t, "CreatePartitions above the unfenced brokers", err, kerr.InvalidReplicationFactor)
}
