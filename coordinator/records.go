package coordinator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one key/value record for __consumer_offsets. A nil Value is a
// tombstone: compaction removes the key.
type Record struct {
	Key, Value []byte
}

// Record key versions of __consumer_offsets (Kafka's
// CoordinatorRecordType): 0 and 1 are offset commits, 2 is classic group
// metadata; higher versions are KIP-848 and transaction records that this
// coordinator does not write and skips on replay.
const (
	keyOffsetCommitV0  = 0
	keyOffsetCommitV1  = 1
	keyGroupMetadataV2 = 2
)

// Kafka 3.x/4.x write OffsetCommitValue v3 (v1 when the commit carries an
// explicit expiry, OffsetCommit v2–v4 retention) and GroupMetadataValue v3.
const (
	offsetCommitValueVersion           = 3
	offsetCommitValueVersionWithExpiry = 1
	groupMetadataValueVersion          = 3
)

var errBadRecord = errors.New("malformed __consumer_offsets record")

func offsetCommitKey(group, topic string, partition int32) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version = keyOffsetCommitV1
	k.Group, k.Topic, k.Partition = group, topic, partition
	return k.AppendTo(nil)
}

func groupMetadataKey(group string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version = keyGroupMetadataV2
	k.Group = group
	return k.AppendTo(nil)
}

func offsetCommitRecord(group, topic string, partition int32, o committedOffset) Record {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetCommitValueVersion
	if o.expireTimestamp >= 0 {
		v.Version = offsetCommitValueVersionWithExpiry
		v.ExpireTimestamp = o.expireTimestamp
	}
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.commitTimestamp
	return Record{Key: offsetCommitKey(group, topic, partition), Value: v.AppendTo(nil)}
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

// groupMetadataRecord is the classic group's GroupMetadataValue, written when
// a generation's assignment is stored, when the group empties, and when a
// static member is replaced.
func groupMetadataRecord(g *classicGroup) Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocolName != "" {
		p := g.protocolName
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = millis(g.stateTimestamp)
	for _, id := range g.sortedMemberIDs() {
		m := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadataFor(g.protocolName)
		vm.Assignment = m.assignment
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return Record{Key: groupMetadataKey(g.id), Value: v.AppendTo(nil)}
}

// RecordGroup returns the group a __consumer_offsets record belongs to:
// every key type Kafka writes there (offset commits, classic group
// metadata, KIP-848 and share group records) begins with its version and
// then the group id as an INT16-length string. ok is false for a key too
// short to hold one.
func RecordGroup(key []byte) (group string, ok bool) {
	if len(key) < 4 {
		return "", false
	}
	n := int(int16(binary.BigEndian.Uint16(key[2:])))
	if n < 0 || len(key) < 4+n {
		return "", false
	}
	return string(key[4 : 4+n]), true
}

// decodedRecord is one replayed record.
type decodedRecord struct {
	kind        int16 // key version
	group       string
	topic       string
	partition   int32
	offset      *kmsg.OffsetCommitValue
	groupValue  *kmsg.GroupMetadataValue
	isTombstone bool
}

// decodeRecord parses a __consumer_offsets record. ok is false for record
// types this coordinator does not own (KIP-848, share and streams groups),
// which replay skips, as a Kafka broker skips unknown versions it cannot
// read. A malformed record of a known type is an error.
func decodeRecord(key, value []byte) (decodedRecord, bool, error) {
	if len(key) < 2 {
		return decodedRecord{}, false, fmt.Errorf("%w: key of %d bytes", errBadRecord, len(key))
	}
	d := decodedRecord{kind: int16(binary.BigEndian.Uint16(key)), isTombstone: value == nil}
	switch d.kind {
	case keyOffsetCommitV0, keyOffsetCommitV1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return d, false, fmt.Errorf("%w: offset commit key: %v", errBadRecord, err)
		}
		d.group, d.topic, d.partition = k.Group, k.Topic, k.Partition
		if value != nil {
			v, err := readOffsetCommitValue(value)
			if err != nil {
				return d, false, fmt.Errorf("%w: offset commit value: %v", errBadRecord, err)
			}
			d.offset = v
		}
	case keyGroupMetadataV2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return d, false, fmt.Errorf("%w: group metadata key: %v", errBadRecord, err)
		}
		d.group = k.Group
		if value != nil {
			v, err := readGroupMetadataValue(value)
			if err != nil {
				return d, false, fmt.Errorf("%w: group metadata value: %v", errBadRecord, err)
			}
			d.groupValue = v
		}
	default:
		return d, false, nil
	}
	return d, true, nil
}

// Values are decoded here rather than with kmsg: kmsg's flexible decoders
// loop over whatever tag count the bytes claim (NOTES.md), and a shard must
// load in bounded time whatever its log holds. Field order per version
// follows Kafka's OffsetCommitValue.json and GroupMetadataValue.json.

func readOffsetCommitValue(b []byte) (*kmsg.OffsetCommitValue, error) {
	r := rbuf{b: b}
	v := kmsg.NewOffsetCommitValue()
	v.Version = r.int16()
	if v.Version < 0 || v.Version > 4 {
		return nil, fmt.Errorf("unknown version %d", v.Version)
	}
	flexible := v.Version >= 4
	v.Offset = r.int64()
	v.LeaderEpoch = -1
	if v.Version >= 3 {
		v.LeaderEpoch = r.int32()
	}
	if flexible {
		v.Metadata = r.compactString()
	} else {
		v.Metadata = r.str()
	}
	v.CommitTimestamp = r.int64()
	if v.Version == 1 {
		v.ExpireTimestamp = r.int64()
	}
	if flexible {
		r.skipTags()
	}
	return &v, r.err
}

func readGroupMetadataValue(b []byte) (*kmsg.GroupMetadataValue, error) {
	r := rbuf{b: b}
	v := kmsg.NewGroupMetadataValue()
	v.Version = r.int16()
	if v.Version < 0 || v.Version > 4 {
		return nil, fmt.Errorf("unknown version %d", v.Version)
	}
	flexible := v.Version >= 4
	str := func() string {
		if flexible {
			return r.compactString()
		}
		return r.str()
	}
	nstr := func() *string {
		if flexible {
			return r.compactNullableString()
		}
		return r.nullableStr()
	}
	bytes := func() []byte {
		if flexible {
			return r.compactBytes()
		}
		return r.bytes()
	}
	v.ProtocolType = str()
	v.Generation = r.int32()
	v.Protocol = nstr()
	v.Leader = nstr()
	if v.Version >= 2 {
		v.CurrentStateTimestamp = r.int64()
	}
	n := 0
	if flexible {
		n = max(r.length(), 0)
	} else {
		n = r.arrayLen()
	}
	for i := 0; i < n && r.err == nil; i++ {
		m := kmsg.NewGroupMetadataValueMember()
		m.MemberID = str()
		if v.Version >= 3 {
			m.InstanceID = nstr()
		}
		m.ClientID = str()
		m.ClientHost = str()
		if v.Version >= 1 {
			m.RebalanceTimeoutMillis = r.int32()
		}
		m.SessionTimeoutMillis = r.int32()
		m.Subscription = bytes()
		m.Assignment = bytes()
		if flexible {
			r.skipTags()
		}
		v.Members = append(v.Members, m)
	}
	if flexible {
		r.skipTags()
	}
	return &v, r.err
}
