package coordinator

import "unicode/utf16"

// PartitionFor returns the partition of __consumer_offsets that owns groupID:
// Utils.abs(groupId.hashCode()) % numPartitions in Kafka, where hashCode is
// Java's String.hashCode over UTF-16 code units and Utils.abs maps
// Integer.MIN_VALUE to 0. Matching it exactly keeps a group on the same
// partition as in Apache Kafka, whatever the number of brokers.
func PartitionFor(groupID string, numPartitions int32) int32 {
	if numPartitions <= 0 {
		return 0
	}
	return javaAbs(javaStringHashCode(groupID)) % numPartitions
}

func javaStringHashCode(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(c)
	}
	return h
}

func javaAbs(n int32) int32 {
	if n == -1<<31 {
		return 0
	}
	if n < 0 {
		return -n
	}
	return n
}
