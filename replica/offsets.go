package replica

// ListOffsets and DeleteRecords on the leader, each under the leadership
// check (Kafka's Partition.fetchOffsetForTimestamp and
// deleteRecordsOnLeader).

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// OffsetQuery is one partition of a ListOffsets request.
type OffsetQuery struct {
	// Timestamp is the target: -1 latest, -2 earliest, -3 max timestamp
	// (KIP-734), -4 earliest local, -5 latest tiered, -6 earliest pending
	// upload (KIP-405, KIP-1005, KIP-1023), else a time.
	Timestamp          int64
	CurrentLeaderEpoch int32
	ReadCommitted      bool
	// FromFollower is a follower's query (a replica id): latest is the
	// log end offset, not the high watermark (Kafka answers a replica
	// without an isolation level).
	FromFollower bool
}

// FetchOffsetForTimestamp answers one ListOffsets partition: the
// timestamp, offset and leader epoch found, (-1, -1, -1) for none.
func (p *Partition) FetchOffsetForTimestamp(q OffsetQuery) (ts, offset int64, epoch int32, err error) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	epoch, err = p.checkLeaderLocked(q.CurrentLeaderEpoch)
	if err != nil {
		return -1, -1, -1, err
	}
	log := p.log
	hw := p.HighWatermark()
	limit := hw
	switch {
	case q.FromFollower:
		limit = log.LogEndOffset()
	case q.ReadCommitted:
		limit = p.LastStableOffset()
	}
	switch q.Timestamp {
	case -1:
		return -1, limit, epoch, nil
	case -2, -4:
		return -1, log.LogStartOffset(), epoch, nil
	case -3:
		mts, moff := log.MaxTimestamp()
		if moff < 0 || moff >= hw {
			return -1, -1, -1, nil
		}
		return mts, moff, epoch, nil
	case -5, -6:
		return -1, -1, -1, nil
	}
	if q.Timestamp < 0 {
		return -1, -1, -1, kerr.InvalidRequest
	}
	off, fts, found := log.OffsetForTimestamp(q.Timestamp)
	if !found || off >= limit {
		return -1, -1, -1, nil
	}
	return fts, off, epoch, nil
}

// LeaderHighWatermark returns the high watermark of a partition this node
// leads, NOT_LEADER_OR_FOLLOWER otherwise.
func (p *Partition) LeaderHighWatermark() (int64, error) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	if _, err := p.checkLeaderLocked(-1); err != nil {
		return -1, err
	}
	return p.HighWatermark(), nil
}

// DeleteRecordsOnLeader moves the log start offset forward to offset (-1:
// the high watermark) and returns the new log start offset (KIP-107). An
// offset past the high watermark is OFFSET_OUT_OF_RANGE; a topic whose
// cleanup.policy lacks delete is POLICY_VIOLATION. Followers follow the
// leader's log start offset with their next fetch: Manager
// .WaitForLowWatermark waits for them (Kafka's DelayedDeleteRecords).
func (p *Partition) DeleteRecordsOnLeader(offset int64) (int64, error) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	if _, err := p.checkLeaderLocked(-1); err != nil {
		return -1, err
	}
	log := p.log
	if err := log.Offline(); err != nil {
		return -1, err
	}
	if !log.Config().CleanupDelete {
		return -1, fmt.Errorf("%w: records of partition %s can not be deleted due to the configured policy", kerr.PolicyViolation, p.TP)
	}
	hw := p.HighWatermark()
	if offset == -1 {
		offset = hw // DeleteRecordsRequest.HIGH_WATERMARK
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("%w: cannot delete records of %s before %d: the high watermark is %d", kerr.OffsetOutOfRange, p.TP, offset, hw)
	}
	if err := log.IncrementLogStartOffset(offset); err != nil {
		return -1, err
	}
	return log.LogStartOffset(), nil
}

// lowWatermarkLocked is Kafka's Partition.lowWatermarkIfLeader: the
// smallest log start offset over this replica and the followers on live
// brokers, -1 while such a follower has not fetched in this leader epoch.
// leaderIsrUpdateLock held.
func (p *Partition) lowWatermarkLocked() int64 {
	low := p.log.LogStartOffset()
	p.replicaMu.Lock()
	defer p.replicaMu.Unlock()
	for id, r := range p.remote {
		if r.logStartOffset < low && (p.brokerAlive == nil || p.brokerAlive(id)) {
			low = r.logStartOffset
		}
	}
	return low
}

// lowWatermarkReached reports whether every live replica's log start
// offset reached offset, and the low watermark; NOT_LEADER_OR_FOLLOWER
// once this node no longer leads.
func (p *Partition) lowWatermarkReached(offset int64) (bool, int64, error) {
	p.leaderIsrUpdateLock.RLock()
	defer p.leaderIsrUpdateLock.RUnlock()
	if _, err := p.checkLeaderLocked(-1); err != nil {
		return true, -1, err
	}
	low := p.lowWatermarkLocked()
	return low >= offset, low, nil
}
