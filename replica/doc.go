// Package replica owns the role of each partition on this broker: the leader
// side of appends (validation of producer batches, topic-level recompression,
// acks) and reads (high watermark, last stable offset), and the delayed
// operations that wait for them (long-poll fetches, acks=all produces).
//
// Today every partition is led by this node with an ISR of itself, so the high
// watermark follows the log end offset. The high watermark is nonetheless
// computed as Kafka computes it — the minimum log end offset over the ISR —
// so that followers slot in without changing the produce and fetch paths.
package replica
