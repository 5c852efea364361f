package server

// DescribeLogDirs (key 35), v1–v5.
//
// kafka-log-dirs.sh --describe: every log dir of this broker (absolute path),
// with the size of each partition's log and its offset lag (for a current
// replica, max(high watermark - log end offset, 0), as Kafka computes it), for
// all partitions (null Topics) or those asked for. Dirs without matching
// partitions are still listed, with an empty topic list. v4+ adds the
// volume's total and usable bytes; v5 the cordoned flag (never set).
// A log dir that an I/O error took offline is listed with
// KAFKA_STORAGE_ERROR and no partitions, as Kafka lists it.
// AlterReplicaLogDirs moves a partition before it answers, so no future
// replica is ever visible and IsFuture is always false.

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle-io/riffle/server/authz"
	"github.com/riffle-io/riffle/storage"
)

func init() { register(kmsg.DescribeLogDirs, 1, 5, handleDescribeLogDirs) }

func handleDescribeLogDirs(_ context.Context, rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeLogDirsRequest)
	b := rc.b
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	// DESCRIBE on the cluster (KafkaApis.handleDescribeLogDirsRequest).
	if !rc.authorizeCluster(authz.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.Dirs = []kmsg.DescribeLogDirsResponseDir{}
		return resp, nil
	}

	want := func(storage.TopicPartition) bool { return true }
	if req.Topics != nil {
		asked := map[storage.TopicPartition]bool{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				asked[storage.TopicPartition{Topic: t.Topic, Partition: p}] = true
			}
		}
		want = func(tp storage.TopicPartition) bool { return asked[tp] }
	}

	byDir := map[string]map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
	for tp, l := range b.logs.Logs() {
		if !want(tp) {
			continue
		}
		dir, ok := b.logs.LogDir(tp)
		if !ok {
			continue
		}
		dir = absDir(dir)
		p := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		p.Partition = tp.Partition
		p.Size = l.Size()
		p.OffsetLag = max(l.HighWatermark()-l.LogEndOffset(), 0)
		if byDir[dir] == nil {
			byDir[dir] = map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
		}
		byDir[dir][tp.Topic] = append(byDir[dir][tp.Topic], p)
	}

	for _, d := range b.logs.Dirs() {
		offline := b.logs.DirOffline(d) != nil
		d = absDir(d)
		rd := kmsg.NewDescribeLogDirsResponseDir()
		rd.Dir = d
		rd.Topics = []kmsg.DescribeLogDirsResponseDirTopic{}
		if offline {
			// Kafka's ReplicaManager.describeLogDirs: an offline dir is
			// listed with KAFKA_STORAGE_ERROR and nothing else.
			rd.ErrorCode = kerr.KafkaStorageError.Code
			rd.TotalBytes, rd.UsableBytes = -1, -1
			resp.Dirs = append(resp.Dirs, rd)
			continue
		}
		topics := byDir[d]
		names := make([]string, 0, len(topics))
		for n := range topics {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			rt := kmsg.NewDescribeLogDirsResponseDirTopic()
			rt.Topic = n
			rt.Partitions = topics[n]
			slices.SortFunc(rt.Partitions, func(a, b kmsg.DescribeLogDirsResponseDirTopicPartition) int {
				return int(a.Partition) - int(b.Partition)
			})
			rd.Topics = append(rd.Topics, rt)
		}
		rd.TotalBytes, rd.UsableBytes = volumeBytes(d)
		resp.Dirs = append(resp.Dirs, rd)
	}
	return resp, nil
}

// absDir returns dir as an absolute, clean path; Kafka reports log dirs so.
func absDir(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return filepath.Clean(dir)
}

// volumeBytes returns the total and usable bytes of the volume holding dir
// (KIP-827), or -1, -1 when they cannot be read.
func volumeBytes(dir string) (total, usable int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize)
}
