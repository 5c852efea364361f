package records

import (
	"bytes"
	"errors"
	"testing"
)

func seedMessageSets(f *testing.F) [][]byte {
	v := []byte("value")
	m0, m1 := msg{magic: 0, key: []byte("k"), value: v}, msg{magic: 1, ts: 7, value: v}
	seeds := [][]byte{
		messageSet(m0, m0), messageSet(m1, m1, m1),
		kmsgMessage(msg{magic: 0, attrs: int8(CodecLZ4), value: brokenLZ4(f, messageSet(m0, m0, m0))}),
		{}, make([]byte, 30),
	}
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4} {
		seeds = append(seeds, wrapper(f, 0, c, 1, 0, m0, m0), wrapper(f, 1, c, 1, 7, m1, m1))
	}
	return seeds
}

// FuzzUpConvert: UpConvert and ForEachLegacyMessage never panic; what
// UpConvert accepts is a valid v2 batch holding as many records as the
// message set has messages.
func FuzzUpConvert(f *testing.F) {
	for _, s := range seedMessageSets(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		walkErr := ForEachLegacyMessage(data, fuzzLimit, func(*LegacyMessage) error { n++; return nil })
		b, err := UpConvert(data, fuzzLimit)
		if err != nil {
			for _, s := range []error{ErrCorrupt, ErrInvalidRecord, ErrUnsupportedMagic, ErrUnsupportedCompression, ErrInvalidTimestamp, ErrRecordTooLarge} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("UpConvert: error without a sentinel: %v", err)
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("converted batch invalid: %v", err)
		}
		if walkErr != nil || int(b.NumRecords()) != n {
			t.Fatalf("UpConvert made %d records; the walk saw %d messages, %v", b.NumRecords(), n, walkErr)
		}
		if _, err := b.Records(); err != nil {
			t.Fatalf("converted records unreadable: %v", err)
		}
	})
}

// FuzzDownConvert: DownConvert never panics on whatever a log read returns,
// and what it returns is a well-formed message set of the requested magic
// that the legacy reader walks without error.
func FuzzDownConvert(f *testing.F) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := v2Batch(f, 3, 3, c, 0)
		f.Add([]byte(b), int64(4), 100)
		f.Add(append(bytes.Clone(b), b[:20]...), int64(0), 1<<20)
	}
	f.Fuzz(func(t *testing.T, data []byte, fetchOffset int64, maxBytes int) {
		for _, magic := range []int8{MagicV0, MagicV1} {
			out, err := DownConvert(data, magic, fetchOffset, maxBytes)
			if err != nil {
				continue
			}
			if err := ForEachLegacyMessage(out, DefaultDecompressLimit, func(m *LegacyMessage) error {
				if m.Magic != magic {
					t.Fatalf("magic %d, want %d", m.Magic, magic)
				}
				return nil
			}); err != nil {
				t.Fatalf("down-converted set unreadable: %v", err)
			}
		}
	})
}
