package server

// ListOffsets (key 2), v0–v11.
//
// Special timestamps: -1 latest (the high watermark, or the last stable offset
// for read_committed), -2 earliest (log start offset), -3 the record with the
// largest timestamp (KIP-734), -4 earliest local (KIP-405: the log start
// offset, as nothing is tiered), -5 latest tiered and -6 earliest pending
// upload (KIP-1005, KIP-1023: nothing is tiered, so no offset, as Kafka answers
// without remote storage). Any other timestamp finds the first record at or
// after it through the time index; none → offset -1.
//
// v0 (Sarama before 0.10.1 and other old clients) answers Kafka's legacy
// OldStyleOffsets instead: up to MaxNumOffsets offsets, newest first, taken
// from the segments' base offsets and the log end offset, the segment chosen
// by its file's modification time for a timestamp; -1 and -2 give the high
// watermark and the log start offset (Kafka 2.x Log.legacyFetchOffsetsBefore
// with ReplicaManager.legacyFetchOffsetsForTimestamp).

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/replica"
	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.ListOffsets, 0, 11, handleListOffsets) }

func handleListOffsets(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	// Each topic needs DESCRIBE (TOPIC_AUTHORIZATION_FAILED), as in
	// KafkaApis.handleListOffsetRequest.
	canDescribe := rc.topicAuthorizer(authz.OpDescribe)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			if !canDescribe.allowed(rt.Topic) {
				sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if req.Version == 0 {
				offsets, err := b.legacyOffsetsBefore(rt.Topic, rp.Partition, rp.Timestamp, rp.MaxNumOffsets, req.ReplicaID)
				sp.OldStyleOffsets = offsets
				sp.ErrorCode = errCode(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			ts, off, epoch, err := b.listOffset(rt.Topic, rp.Partition, replica.OffsetQuery{
				Timestamp: rp.Timestamp, CurrentLeaderEpoch: rp.CurrentLeaderEpoch,
				ReadCommitted: req.IsolationLevel == 1, FromFollower: req.ReplicaID >= 0,
			})
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = ts, off, epoch
			sp.ErrorCode = errCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// listOffset answers one partition under the partition's leadership check
// (replica.Partition.FetchOffsetForTimestamp).
func (b *Broker) listOffset(topic string, partition int32, q replica.OffsetQuery) (ts, offset int64, epoch int32, err error) {
	p, err := b.replicas.Partition(storage.TopicPartition{Topic: topic, Partition: partition})
	if err != nil {
		return -1, -1, -1, err
	}
	return p.FetchOffsetForTimestamp(q)
}

// maxLegacyOffsets bounds the answer to a v0 request, whatever MaxNumOffsets
// claims.
const maxLegacyOffsets = 10_000

// legacyOffsetsBefore is Kafka 2.x's fetchOffsetsBefore for ListOffsets v0.
func (b *Broker) legacyOffsetsBefore(topic string, partition int32, target int64, maxNum int32, replicaID int32) ([]int64, error) {
	p, err := b.replicas.Partition(storage.TopicPartition{Topic: topic, Partition: partition})
	if err != nil {
		return []int64{}, err
	}
	hw, err := p.LeaderHighWatermark()
	if err != nil {
		return []int64{}, err
	}
	log := p.Log()
	start, end := log.LogStartOffset(), log.LogEndOffset()
	// (offset, time) pairs: each segment's base offset (not below the log
	// start) with its file's mtime, then the log end offset "now" unless the
	// active segment is empty.
	type point struct {
		offset int64
		mtime  int64
	}
	var points []point
	segs := segmentFiles(log.Dir())
	for _, s := range segs {
		points = append(points, point{max(s.base, start), s.mtime})
	}
	if len(segs) == 0 {
		// No segment files to read: the log start stands for the one
		// segment, older than any timestamp.
		points = append(points, point{start, 0})
	}
	if end > points[len(points)-1].offset && (len(segs) == 0 || segs[len(segs)-1].size > 0) {
		points = append(points, point{end, time.Now().UnixMilli()})
	}
	var idx int
	switch target {
	case -1:
		idx = len(points) - 1
	case -2:
		idx = 0
	default:
		idx = len(points) - 1
		for idx >= 0 && points[idx].mtime > target {
			idx--
		}
	}
	n := min(int(max(maxNum, 0)), idx+1, maxLegacyOffsets)
	offsets := make([]int64, 0, max(n, 0))
	for j := 0; j < n; j++ {
		offsets = append(offsets, points[idx-j].offset)
	}
	slices.SortFunc(offsets, func(a, b int64) int { return cmp.Compare(b, a) }) // newest first
	if replicaID == -1 && len(offsets) > 0 && offsets[0] > hw {
		// A consumer sees nothing past the high watermark: offsets above
		// it collapse into the high watermark itself.
		i := 0
		for i < len(offsets) && offsets[i] > hw {
			i++
		}
		offsets = append([]int64{hw}, offsets[i:]...)
	}
	return offsets, nil
}

type segmentFile struct {
	base, mtime, size int64
}

// segmentFiles lists a partition directory's segments, Kafka-named
// <20-digit base offset>.log, by base offset. Only the legacy v0 answer needs
// their modification times, which it reads from the files as Kafka does
// (LogSegment.lastModified).
func segmentFiles(dir string) []segmentFile {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var segs []segmentFile
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".log") || len(name) != 24 {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, ".log"), 10, 64)
		if err != nil {
			continue
		}
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		segs = append(segs, segmentFile{base: base, mtime: info.ModTime().UnixMilli(), size: info.Size()})
	}
	slices.SortFunc(segs, func(a, b segmentFile) int { return cmp.Compare(a.base, b.base) })
	return segs
}
