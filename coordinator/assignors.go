package coordinator

// Server-side assignors for KIP-848 groups (group.consumer.assignors):
// "uniform" spreads all subscribed partitions evenly and keeps partitions
// where they are when it can (Kafka's UniformAssignor); "range" gives each
// member contiguous ranges of every topic it subscribes to, so that
// co-partitioned topics line up (Kafka's RangeAssignor).

import (
	"fmt"
	"regexp"
	"strings"
)

func (s *Shard) groupAssignor(g *consumerGroup) string {
	for _, id := range sortedKeys(g.members) {
		if a := g.members[id].serverAssignor; a != nil && s.knownAssignor(*a) {
			return *a
		}
	}
	return s.cfg.ConsumerAssignors[0]
}

// memberTopics resolves a member's subscription against the known topics.
// A regex must match a topic's whole name, and internal topics are not
// excluded: Kafka's GroupMetadataManager resolves subscriptions with RE2/J's
// matcher(topic).matches() over every topic of the metadata image, so a
// regex naming __consumer_offsets is assigned it.
func (s *Shard) memberTopics(m *consumerMember) []string {
	set := map[string]bool{}
	for _, t := range m.subscribedNames {
		if _, ok := s.topics[t]; ok {
			set[t] = true
		}
	}
	if m.subscribedRegex != nil {
		if re, err := compileTopicRegex(*m.subscribedRegex); err == nil {
			for name := range s.topics {
				if re.MatchString(name) {
					set[name] = true
				}
			}
		}
	}
	return sortedKeys(set)
}

// compileTopicRegex compiles a KIP-848 SubscribedTopicRegex so that it
// matches whole topic names only (RE2/J's Matcher.matches(); Go's
// MatchString finds a match anywhere). The pattern is checked on its own
// first, so that one such as "a)|(b" is refused rather than turned into a
// different expression by the anchoring group.
func compileTopicRegex(pattern string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, err
	}
	return regexp.Compile(`\A(?:` + pattern + `)\z`)
}

func (s *Shard) resolvePartitions(g *consumerGroup) string {
	set := map[string]bool{}
	for _, m := range g.members {
		for _, t := range s.memberTopics(m) {
			set[t] = true
		}
	}
	var sb strings.Builder
	for _, t := range sortedKeys(set) {
		fmt.Fprintf(&sb, "%s:%x:%d,", t, s.topics[t].ID, s.topics[t].Partitions)
	}
	return sb.String()
}

// computeTargetAssignment runs the group's assignor and makes its result the
// target of the current group epoch.
func (s *Shard) computeTargetAssignment(g *consumerGroup) {
	g.assignmentEpoch = g.epoch
	g.resolvedPartitions = s.resolvePartitions(g)
	ids := sortedKeys(g.members)
	subs := make(map[string][]string, len(ids))
	all := map[string]bool{}
	for _, id := range ids {
		subs[id] = s.memberTopics(g.members[id])
		for _, t := range subs[id] {
			all[t] = true
		}
	}
	g.subscribedTopics = all
	var target map[string]map[tp]bool
	if s.groupAssignor(g) == "range" {
		target = s.assignRange(ids, subs)
	} else {
		target = s.assignUniform(ids, subs, g.target)
	}
	g.target = target
}

func (s *Shard) assignRange(ids []string, subs map[string][]string) map[string]map[tp]bool {
	out := make(map[string]map[tp]bool, len(ids))
	for _, id := range ids {
		out[id] = map[tp]bool{}
	}
	byTopic := map[string][]string{}
	for _, id := range ids {
		for _, t := range subs[id] {
			byTopic[t] = append(byTopic[t], id)
		}
	}
	for _, topic := range sortedKeys(byTopic) {
		members := byTopic[topic]
		info := s.topics[topic]
		n, k := int(info.Partitions), len(members)
		per, extra := n/k, n%k
		p := 0
		for i, id := range members {
			count := per
			if i < extra {
				count++
			}
			for j := 0; j < count; j++ {
				out[id][tp{info.ID, int32(p)}] = true
				p++
			}
		}
	}
	return out
}

func (s *Shard) assignUniform(ids []string, subs map[string][]string, prev map[string]map[tp]bool) map[string]map[tp]bool {
	out := make(map[string]map[tp]bool, len(ids))
	subscribed := make(map[string]map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = map[tp]bool{}
		subscribed[id] = map[string]bool{}
		for _, t := range subs[id] {
			subscribed[id][t] = true
		}
	}
	type part struct {
		topic string
		key   tp
	}
	var parts []part
	topics := map[string]bool{}
	for _, id := range ids {
		for _, t := range subs[id] {
			topics[t] = true
		}
	}
	for _, t := range sortedKeys(topics) {
		info := s.topics[t]
		for p := int32(0); p < info.Partitions; p++ {
			parts = append(parts, part{t, tp{info.ID, p}})
		}
	}
	if len(ids) == 0 {
		return out
	}
	base, extra := len(parts)/len(ids), len(parts)%len(ids)
	prevOwner := map[tp]string{}
	for id, set := range prev {
		for k := range set {
			prevOwner[k] = id
		}
	}
	// Stickiness: keep a partition with its previous owner while that
	// owner is within its quota.
	var rest []part
	for _, p := range parts {
		id, ok := prevOwner[p.key]
		if ok && subscribed[id] != nil && subscribed[id][p.topic] {
			n := len(out[id])
			if n < base || (n == base && extra > 0) {
				if n == base {
					extra--
				}
				out[id][p.key] = true
				continue
			}
		}
		rest = append(rest, p)
	}
	for _, p := range rest {
		best := ""
		for _, id := range ids {
			if !subscribed[id][p.topic] {
				continue
			}
			if best == "" || len(out[id]) < len(out[best]) {
				best = id
			}
		}
		if best != "" {
			out[best][p.key] = true
		}
	}
	return out
}
