// Package batch reads, validates and rewrites Kafka record batches (magic v2),
// the unit samsa stores byte for byte on disk and serves to consumers.
//
// Layout of the 61-byte header (docs/implementation.html §5.3.1):
//
//	baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 |
//	crc u32 | attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 |
//	maxTimestamp i64 | producerId i64 | producerEpoch i16 | baseSequence i32 |
//	recordsCount i32
//
// The CRC-32C covers attributes..end, so baseOffset and partitionLeaderEpoch
// can be rewritten by the broker without recomputing it.
//
// The rest of the package: codec*.go compress and decompress the records
// section (bounded output, pooled state); record.go encodes and decodes
// records; build.go writes batches (client, tests); validate.go is the
// broker's produce-path check and Iterate; errors.go maps errors to Kafka
// codes.
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Field offsets inside a batch.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// HeaderSize is the size of a v2 batch header, records excluded.
	HeaderSize = 61
	// LogOverhead is the part of the header before batchLength counts:
	// baseOffset and batchLength themselves.
	LogOverhead = 12
)

// Attribute bits.
const (
	CodecMask        = 0x07
	TimestampTypeBit = 0x08 // 1 = LogAppendTime
	TransactionalBit = 0x10
	ControlBit       = 0x20
	DeleteHorizonBit = 0x40
	NoProducerID     = -1
	NoSequence       = -1
	NoPartitionEpoch = -1
)

// Codec is the compression codec of a batch (attributes bits 0-2).
type Codec int8

const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Errors. The broker maps them to Kafka error codes (see ErrorCode in errors.go).
var (
	// ErrShort means fewer bytes than the header or batchLength claim.
	ErrShort = errors.New("batch: truncated")
	// ErrCorrupt means a CRC mismatch or inconsistent lengths (CORRUPT_MESSAGE).
	ErrCorrupt = errors.New("batch: corrupt")
	// ErrMagic means a message format other than v2 (UNSUPPORTED_FOR_MESSAGE_FORMAT / CORRUPT_MESSAGE).
	ErrMagic = errors.New("batch: unsupported magic")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the Castagnoli checksum of b.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Header is a decoded v2 batch header.
type Header struct {
	BaseOffset           int64
	Length               int32 // batchLength: bytes after the Length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the batch's total size in bytes on the wire and on disk.
func (h *Header) Size() int { return LogOverhead + int(h.Length) }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the batch's compression codec.
func (h *Header) Codec() Codec { return Codec(h.Attributes & CodecMask) }

// IsTransactional reports the transactional attribute bit.
func (h *Header) IsTransactional() bool { return h.Attributes&TransactionalBit != 0 }

// IsControl reports the control attribute bit.
func (h *Header) IsControl() bool { return h.Attributes&ControlBit != 0 }

// LogAppendTime reports whether timestamps are broker-assigned.
func (h *Header) LogAppendTime() bool { return h.Attributes&TimestampTypeBit != 0 }

// HasProducerID reports whether the batch was written by an idempotent producer.
func (h *Header) HasProducerID() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the batch's last record, wrapping at MaxInt32 as Kafka does.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence == NoSequence {
		return NoSequence
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 0x7fffffff {
		s -= 0x80000000
	}
	return int32(s)
}

// ParseHeader decodes the header at the start of b. It checks only that the
// header fits and that batchLength is sane; it does not check the CRC or that
// the whole batch is present (see Validate and Complete).
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, ErrShort
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[offLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offNumRecords:]))
	if h.Magic != 2 {
		if h.Magic == 0 || h.Magic == 1 {
			return h, ErrOldMagic
		}
		return h, ErrMagic
	}
	if h.Length < HeaderSize-LogOverhead {
		return h, ErrCorrupt
	}
	return h, nil
}

// CheckCRC verifies the CRC-32C of a complete batch b (b[:h.Size()]).
func CheckCRC(b []byte) error {
	if len(b) < HeaderSize {
		return ErrShort
	}
	want := binary.BigEndian.Uint32(b[offCRC:])
	if CRC32C(b[offAttributes:]) != want {
		return ErrCorrupt
	}
	return nil
}

// SetBaseOffset rewrites baseOffset in place (not covered by the CRC).
func SetBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }

// SetPartitionLeaderEpoch rewrites partitionLeaderEpoch in place (not covered by the CRC).
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetMaxTimestamp rewrites maxTimestamp and recomputes the CRC (LogAppendTime topics).
func SetMaxTimestamp(b []byte, ts int64) {
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], CRC32C(b[offAttributes:]))
}
