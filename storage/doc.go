// Package storage keeps each partition's records in Apache Kafka's exact
// on-disk format: one Log per partition, a LogManager over log.dirs.
//
// A log directory (one entry of log.dirs):
//
//	<log.dir>/
//	  meta.properties                    node.id=, directory.id=, version=1, cluster.id=
//	  recovery-point-offset-checkpoint   offsets checkpoints, see below
//	  log-start-offset-checkpoint
//	  replication-offset-checkpoint      high watermarks
//	  cleaner-offset-checkpoint          where each compacted log's dirty section starts
//	  .kafka_cleanshutdown               present only after a clean shutdown
//	  <topic>-<partition>/               one per partition (a Log)
//	  <topic>-<partition>.<uuidhex>-delete/  a deleted partition being removed
//
// A partition directory:
//
//	00000000000000000000.log        record batches, byte-for-byte as received
//	00000000000000000000.index      sparse offset index
//	00000000000000000000.timeindex  sparse time index
//	00000000000000000000.txnindex   aborted transactions, 34-byte AbortedTxn entries (txn_index.go)
//	00000000000000001234.log        next segment: name = its base offset, 20 digits
//	...
//	00000000000000001234.snapshot   producer state at offset 1234
//	00000000000000000000.log.deleted  a segment awaiting file.delete.delay.ms
//	00000000000000000000.log.cleaned  the cleaner's output, being written
//	00000000000000000000.log.swap     the cleaner's output, whole, replacing
//	                                  the segments in [0, its next offset)
//	leader-epoch-checkpoint
//	partition.metadata
//
// A .log segment is a concatenation of v2 record batches:
//
//	+-------------+-------------+-------------+---------
//	|   batch 0   |   batch 1   |   batch 2   |   ...
//	+-------------+-------------+-------------+---------
//	batch: baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
//	       magic int8 (2) | crc uint32 (CRC-32C of attributes..end) | attributes int16 |
//	       lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 |
//	       producerId int64 | producerEpoch int16 | baseSequence int32 |
//	       numRecords int32 | records...
//
// Index entries are big-endian and relative to the segment's base offset:
//
//	.index      +-------------------+-------------------+
//	            | relOffset  uint32 | position   uint32 |   8 bytes
//	            +-------------------+-------------------+
//	.timeindex  +---------------------------+-------------------+
//	            | timestamp           int64 | relOffset  uint32 |   12 bytes
//	            +---------------------------+-------------------+
//
// An offset index entry maps the last offset of a batch to the file position
// where that batch starts; one is added each time index.interval.bytes of log
// has been written since the previous one (Kafka's LogSegment.append). A time
// index entry records the largest timestamp so far and the last offset of the
// batch carrying it; it is added at the same interval when the maximum grew,
// and once more when a segment is rolled or closed.
//
// A producer state snapshot (Kafka's ProducerStateManager, version 1):
//
//	+---------------+-------------+----------------+-----------------------
//	| version int16 | crc  uint32 | count    int32 | entries ...
//	+---------------+-------------+----------------+-----------------------
//	crc: CRC-32C of everything after the crc field
//	entry: producerId int64 | epoch int16 | lastSequence int32 | lastOffset int64 |
//	       offsetDelta int32 | timestamp int64 | coordinatorEpoch int32 |
//	       currentTxnFirstOffset int64
//
// Text files, all written atomically (write to .tmp, fsync, rename, fsync dir):
//
//	offset checkpoints       leader-epoch-checkpoint    partition.metadata
//	+----------------------+ +----------------------+   +----------------------+
//	| 0                    | | 0                    |   | version: 0           |
//	| <count>              | | <count>              |   | topic_id: <base64url>|
//	| <topic> <part> <off> | | <epoch> <startOffset>|   +----------------------+
//	| ...                  | | ...                  |
//	+----------------------+ +----------------------+
//
// Invariants: offsets in a log increase (compaction leaves holes but never
// renumbers); everything below the recovery point has been fsynced; indexes
// and producer snapshots are derived data that recovery rebuilds when
// missing or inconsistent. After an unclean shutdown every batch past the
// recovery point is validated (framing, magic, CRC-32C, offsets). Only the
// last segment's tail past the recovery point can be torn by a crash, and it
// is cut; bad data anywhere else is damage, and the log loads offline
// (ErrCorruptLog, naming file, position and offset) rather than serve or
// drop data silently. A failed write, fsync or read takes the log offline
// for good (ErrLogOffline), and with it every log of its log dir (Kafka's
// LogDirFailureChannel, log_dir_failure.go); logs in other log dirs keep
// working. A log that merely failed to load is offline alone.
//
// Segments leave only from the head: retention (ApplyRetention:
// retention.ms from each segment's largest timestamp, retention.bytes) and
// DeleteRecords (IncrementLogStartOffset) delete whole segments below the
// high watermark, never the active one, which ApplyRetention rolls once it
// is older than segment.ms; files are renamed .deleted and removed after
// file.delete.delay.ms. A follower truncates the tail (TruncateTo) or
// restarts the log (TruncateFullyAndStartAt). The cleaner (cleaner.go)
// rewrites segments below the high watermark and the active segment, and
// swaps them in through .cleaned and .swap files that loading completes or
// discards (completeSwaps).
//
// Lock order: LogManager.cleanMu, then a partition's claim in the
// LogManager (claimPartition: creation, deletion and moves of one
// partition), then LogManager.mu, then Log.appendMu, then Log.flushMu,
// then Log.mu, then an index's mu. LogManager.mu guards only the maps and
// is never held across disk I/O. A roll fsyncs the rolled segment in the
// background under Log.flushMu alone (flushRolled), so appends do not wait
// for it. Log.mu is held only for in-memory work, never across I/O on
// segment data; readers take a view of the segments under it and then read
// the files without locks (the appender only ever writes past the sizes
// published in that view).
package storage
