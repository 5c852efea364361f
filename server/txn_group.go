package server

// The group coordinator's side of transaction markers: a marker written to
// a partition of __consumer_offsets completes (COMMIT) or drops (ABORT) the
// producer's pending transactional offset commits in that partition's shard.

import "github.com/riffle-io/riffle/storage"

// completeTxn applies a marker just written to partition of
// __consumer_offsets. A shard still loading may have read the log before
// the marker landed: it is marked for a reload, which replays the marker.
func (rt *groupRuntime) completeTxn(partition int32, pid int64, commit bool) {
	rt.mu.Lock()
	sh := rt.mu.shards[partition]
	rt.mu.Unlock()
	if sh == nil {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.mu.ready && !sh.mu.failed {
		sh.mu.shard.CompleteTxn(pid, commit)
		// The offsets the marker made visible are served only once
		// the marker is replicated (coordinator_runtime.go).
		if end := sh.mu.p.Log().LogEndOffset(); end > sh.mu.writtenEnd {
			sh.mu.writtenEnd = end
		}
		sh.mu.x.sharedEnd = sh.mu.writtenEnd
		return
	}
	sh.mu.failed = true
}

// controlIsCommit reports whether a control batch of __consumer_offsets
// commits its producer's transaction; false also for a malformed one.
func controlIsCommit(b []byte) bool {
	typ, err := storage.ControlRecordType(b)
	return err == nil && typ == storage.ControlCommit
}
