package records

import (
	"strconv"
	"strings"
)

// Codec is the compression codec in attributes bits 0-2 (Kafka
// CompressionType ids).
type Codec int8

const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4 // KIP-110
)

var codecNames = [...]string{"none", "gzip", "snappy", "lz4", "zstd"}

// String is Kafka's name for the codec (CompressionType.name).
func (c Codec) String() string {
	if c >= 0 && int(c) < len(codecNames) {
		return codecNames[c]
	}
	return "Codec(" + strconv.Itoa(int(c)) + ")"
}

// Valid reports whether c is one of the five codecs Kafka defines.
func (c Codec) Valid() bool { return c >= 0 && int(c) < len(codecNames) }

// ParseCodec accepts Kafka's codec names, case-insensitively. The broker-side
// values "producer" and "uncompressed" of compression.type are config
// concerns and are not accepted here.
func ParseCodec(name string) (Codec, bool) {
	for i, n := range codecNames {
		if strings.EqualFold(name, n) {
			return Codec(i), true
		}
	}
	return 0, false
}
