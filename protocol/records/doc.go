// Package records is a non-allocating view of Kafka's v2 RecordBatch (magic 2,
// KIP-98) plus the compression codecs Kafka clients use inside it.
//
// A Batch is the batch's bytes exactly as a producer sent them or as they sit
// in a segment file. Accessors read fields in place; SetBaseOffset and
// SetPartitionLeaderEpoch patch fields that lie outside the CRC, so a broker
// can assign offsets without re-encoding anything, as Kafka does. Only
// WalkRecords, Records, ForEachRecord and Recompress look inside the records
// section, and they decompress with an explicit output bound so a small
// "zip bomb" cannot exhaust memory. WalkRecords is the produce path's check
// (Kafka LogValidator): it streams through the records into small pooled
// buffers, skipping keys and values, and allocates nothing per record.
//
// The v2 batch header, 61 bytes, big-endian (Kafka DefaultRecordBatch):
//
//	 offset  size  field
//	+------+-----+----------------------+
//	|    0 |   8 | baseOffset           |  int64   patched by the leader
//	|    8 |   4 | batchLength          |  int32   bytes after this field
//	|   12 |   4 | partitionLeaderEpoch |  int32   patched by the leader
//	|   16 |   1 | magic                |  int8    always 2
//	|   17 |   4 | crc                  |  uint32  CRC-32C of bytes 21..end
//	+------+-----+----------------------+  ---- CRC covers from here ----
//	|   21 |   2 | attributes           |  int16   see below
//	|   23 |   4 | lastOffsetDelta      |  int32
//	|   27 |   8 | baseTimestamp        |  int64
//	|   35 |   8 | maxTimestamp         |  int64
//	|   43 |   8 | producerId           |  int64   -1: not idempotent
//	|   51 |   2 | producerEpoch        |  int16
//	|   53 |   4 | baseSequence         |  int32
//	|   57 |   4 | records count        |  int32
//	|   61 | ... | records              |  compressed as a whole by the codec
//	+------+-----+----------------------+
//
//	attributes: bit 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
//	            bit 3   timestamp type (0 CreateTime, 1 LogAppendTime)
//	            bit 4   transactional (KIP-98)
//	            bit 5   control batch (transaction markers)
//	            bit 6   has delete horizon (KIP-534)
//
// Each record inside (Kafka DefaultRecord), varints are zigzag (protobuf
// sint32/sint64):
//
//	length          varint   bytes that follow in this record
//	attributes      int8     unused, 0
//	timestampDelta  varlong  from baseTimestamp
//	offsetDelta     varint   from baseOffset
//	keyLength       varint   -1: null key
//	key             bytes
//	valueLength     varint   -1: null value
//	value           bytes
//	headersCount    varint
//	headers         headersCount × { keyLength varint; key; valueLength varint (-1 null); value }
//
// The legacy message sets of magic 0 and 1 (legacy.go) exist only at the
// protocol edge: UpConvert turns a Produce v0–v2 message set into one v2
// batch, DownConvert turns stored batches into what a Fetch v0–v3 client
// reads. Nothing stores them.
//
// Invariants: nothing here panics on bytes from the network or disk, and no
// decoder allocates more than its output limit; the fuzz tests check both.
package records
