package batch

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// BatchSpec describes a batch to build. Zero is a valid value for most
// fields on the wire, so a producer must set the "none" markers itself:
// PartitionLeaderEpoch = NoPartitionEpoch, and without idempotence
// ProducerID = NoProducerID, ProducerEpoch = -1, BaseSequence = NoSequence.
type BatchSpec struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	// Attributes carries the timestamp-type, transactional and control
	// bits; the codec bits are taken from Codec.
	Attributes    int16
	Codec         Codec
	Level         int // compression level; 0 = the codec's default
	BaseTimestamp int64
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	// Records are written as given: the caller sets OffsetDelta (0..n-1
	// for a producer) and TimestampDelta (relative to BaseTimestamp).
	Records []Record
}

// Build appends a complete v2 batch for s to dst: header, records
// (compressed if s.Codec says so) and CRC. lastOffsetDelta is the last
// record's OffsetDelta and maxTimestamp the largest record timestamp.
func Build(dst []byte, s BatchSpec) ([]byte, error) {
	b := builderPool.Get().(*Builder)
	b.Reset(s)
	dst, err := b.Finish(dst)
	b.Reset(BatchSpec{}) // drop references to the caller's records
	builderPool.Put(b)
	return dst, err
}

var builderPool = sync.Pool{New: func() any { return new(Builder) }}

// Builder builds a batch record by record, for a producer that fills a
// batch until it reaches a size: Size tells the uncompressed size so far.
// A Builder is reusable after Finish via Reset; it is not safe for
// concurrent use.
type Builder struct {
	spec      BatchSpec // Records unused
	recs      []byte    // encoded records, uncompressed
	n         int32
	lastDelta int32
	maxTS     int64
}

// NewBuilder returns a Builder for s, with s.Records already added.
func NewBuilder(s BatchSpec) *Builder {
	b := new(Builder)
	b.Reset(s)
	return b
}

// Reset starts a new batch for s (adding s.Records), keeping the buffer.
func (b *Builder) Reset(s BatchSpec) {
	recs := s.Records
	s.Records = nil
	b.spec = s
	b.recs = b.recs[:0]
	b.n, b.lastDelta, b.maxTS = 0, 0, s.BaseTimestamp
	for i := range recs {
		b.Add(&recs[i])
	}
}

// Add appends r to the batch.
func (b *Builder) Add(r *Record) {
	b.recs = AppendRecord(b.recs, r)
	b.n++
	b.lastDelta = r.OffsetDelta
	b.maxTS = max(b.maxTS, b.spec.BaseTimestamp+r.TimestampDelta)
}

// NumRecords is the number of records added so far.
func (b *Builder) NumRecords() int { return int(b.n) }

// Size is the size of the batch if finished uncompressed now.
func (b *Builder) Size() int { return HeaderSize + len(b.recs) }

// Finish appends the finished batch to dst.
func (b *Builder) Finish(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = reserve(dst, b.Size())[:start+HeaderSize]
	dst, err := Compress(dst, b.spec.Codec, b.spec.Level, b.recs)
	if err != nil {
		return dst[:start], err
	}
	if len(dst)-start-LogOverhead > math.MaxInt32 {
		return dst[:start], fmt.Errorf("batch: %d bytes do not fit a batch", len(dst)-start)
	}
	b.putHeader(dst[start:])
	return dst, nil
}

// putHeader fills in the header of the finished batch b, CRC last.
func (b *Builder) putHeader(out []byte) {
	s := &b.spec
	be := binary.BigEndian
	be.PutUint64(out[offBaseOffset:], uint64(s.BaseOffset))
	be.PutUint32(out[offLength:], uint32(len(out)-LogOverhead))
	be.PutUint32(out[offLeaderEpoch:], uint32(s.PartitionLeaderEpoch))
	out[offMagic] = 2
	be.PutUint16(out[offAttributes:], uint16(s.Attributes&^CodecMask|int16(s.Codec)&CodecMask))
	be.PutUint32(out[offLastOffsetDelta:], uint32(b.lastDelta))
	be.PutUint64(out[offBaseTimestamp:], uint64(s.BaseTimestamp))
	be.PutUint64(out[offMaxTimestamp:], uint64(b.maxTS))
	be.PutUint64(out[offProducerID:], uint64(s.ProducerID))
	be.PutUint16(out[offProducerEpoch:], uint16(s.ProducerEpoch))
	be.PutUint32(out[offBaseSequence:], uint32(s.BaseSequence))
	be.PutUint32(out[offNumRecords:], uint32(b.n))
	be.PutUint32(out[offCRC:], CRC32C(out[offAttributes:]))
}
