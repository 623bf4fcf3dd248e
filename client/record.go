package client

import (
	"encoding/binary"
	"time"

	"github.com/samsa-io/samsa/internal/batch"
)

// Record is one message to produce. After its callback runs, Partition,
// Offset and Timestamp hold where and when it was written. Do not modify
// a record between Produce and its callback.
type Record struct {
	Topic string
	// Partition is the partition chosen (input only for
	// ManualPartitioner).
	Partition int32
	Key       []byte // nil = null key
	Value     []byte // nil = null value (a tombstone)
	Headers   []RecordHeader
	// Timestamp is the record's create time; zero means "now" at Produce.
	Timestamp time.Time
	// Offset is set on success (-1 with AcksNone, or when the broker only
	// reported a duplicate).
	Offset int64
	// Metadata is carried through untouched, for the caller's own use.
	Metadata any
}

// RecordHeader is one record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Codec is a batch compression codec.
type Codec = batch.Codec

// Codecs.
const (
	CodecNone   = batch.CodecNone
	CodecGzip   = batch.CodecGzip
	CodecSnappy = batch.CodecSnappy
	CodecLZ4    = batch.CodecLZ4
	CodecZstd   = batch.CodecZstd
)

// ParseCodec maps "none", "gzip", "snappy", "lz4", "zstd" to a Codec.
func ParseCodec(s string) (Codec, bool) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		if c.String() == s {
			return c, true
		}
	}
	return 0, false
}

// userSize is what a record counts against MaxBufferedBytes.
func userSize(r *Record) int {
	n := len(r.Key) + len(r.Value) + 16
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 4
	}
	return n
}

func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func bytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// recordBodyLen is the encoded length of a v2 record after its length
// prefix.
func recordBodyLen(r *Record, tsDelta int64, offDelta int32) int {
	n := 1 + varintLen(tsDelta) + varintLen(int64(offDelta)) + bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// appendRecord appends r as a v2 record with a precomputed body length.
func appendRecord(dst []byte, r *Record, bodyLen int, tsDelta int64, offDelta int32) []byte {
	dst = binary.AppendVarint(dst, int64(bodyLen))
	dst = append(dst, 0) // attributes
	dst = binary.AppendVarint(dst, tsDelta)
	dst = binary.AppendVarint(dst, int64(offDelta))
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}
