// Package coordinator is Kafka's group coordinator as a pure state machine:
// consumer groups (the classic JoinGroup/SyncGroup protocol and KIP-848's
// ConsumerGroupHeartbeat) and their committed offsets.
//
// One Shard serves the groups whose id hashes to one partition of
// __consumer_offsets (PartitionFor), as each GroupCoordinatorShard does in
// Kafka, so that partitions can move between brokers. A Shard has no
// goroutines, sockets, clocks or randomness of its own: every input carries
// the time, and the caller drives it in the etcd raft style:
//
//	s.Step(now, token, req)   // a request; token names it for the answer
//	s.Tick(now)               // session, rebalance and sync timeouts
//	rd := s.Ready()           // records to append, then responses to send
//
// Invariant: a caller appends rd.Records to the shard's partition before it
// releases rd.Responses, because responses may acknowledge those records
// (an OffsetCommit is answered after it is written, as in Kafka). If the
// append fails, the caller answers with FailResponse and rebuilds the shard
// by replaying the partition (Replay), which is also how a shard starts.
//
// Records use Kafka's schemas, so tools that read __consumer_offsets
// understand them: kmsg.OffsetCommitKey/Value and kmsg.GroupMetadataKey/Value
// for offsets and classic groups, and Kafka's ConsumerGroup* record types
// (consumer_records.go, encoded here as kmsg lacks them) for KIP-848 groups.
// Decoding is bounds-checked and never panics on what the log holds.
//
// The transaction coordinator (TxnShard, txn_coordinator.go) is built the
// same way over __transaction_state (kmsg.TxnMetadataKey/Value records);
// besides records and responses its Ready carries the COMMIT/ABORT markers
// to write, which the caller writes only after the records that decided
// them. Transactional offset commits stay pending in the group Shard until
// their marker reaches __consumer_offsets (txn_offsets.go).
package coordinator
