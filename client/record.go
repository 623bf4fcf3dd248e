package client

import (
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

// RecordHeader is one record header (Key, Value; a nil Value is null).
type RecordHeader = batch.RecordHeader

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

// wireRecord is r as internal/batch encodes it at the given deltas.
func wireRecord(r *Record, tsDelta int64, offDelta int32) batch.Record {
	return batch.Record{TimestampDelta: tsDelta, OffsetDelta: offDelta, Key: r.Key, Value: r.Value, Headers: r.Headers}
}
