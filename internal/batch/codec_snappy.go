package batch

// Snappy in Kafka comes in two shapes. franz-go and librdkafka write one raw
// snappy block; the Java client writes snappy-java's "xerial" framing:
//
//	magic 82 'SNAPPY' 00 | version BE32 | compatible version BE32 |
//	{ chunk length BE32 | raw snappy block }*
//
// We write raw blocks (every client reads them) and read both.

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/s2"
)

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderSize = len("\x82SNAPPY\x00") + 4 + 4
	// snappyMaxRatio bounds what a genuine snappy block can expand to: the
	// densest op, a 3-byte copy, yields 64 bytes. A block claiming more is
	// rejected before its claimed size is allocated.
	snappyMaxRatio = 22
)

func compressSnappy(dst, src []byte) []byte {
	dst = reserve(dst, s2.MaxEncodedLen(len(src)))
	out := s2.EncodeSnappy(dst[len(dst):cap(dst)], src)
	return dst[:len(dst)+len(out)]
}

func decompressSnappy(dst, src []byte, limit int) ([]byte, error) {
	if !isXerial(src) {
		return snappyBlock(dst, src, limit)
	}
	return xerialChunks(dst, src[xerialHeaderSize:], limit)
}

// isXerial reports xerial framing. A raw block could in theory start with
// the same 8 bytes, but its length varint would then claim 10 KiB decoded
// from a block whose next bytes spell "NAPPY", which real encoders never
// produce; every Kafka client makes the same call.
func isXerial(src []byte) bool {
	return len(src) >= xerialHeaderSize && bytes.Equal(src[:len(xerialMagic)], xerialMagic)
}

// xerialChunks decodes the chunks after the xerial header; the version
// fields are not checked (snappy-java itself only reads them for logging).
func xerialChunks(dst, chunks []byte, limit int) ([]byte, error) {
	start := len(dst)
	for len(chunks) > 0 {
		if len(chunks) < 4 {
			return dst, corrupt(CodecSnappy, fmt.Errorf("xerial: %d stray bytes", len(chunks)))
		}
		n := binary.BigEndian.Uint32(chunks)
		chunks = chunks[4:]
		if uint64(n) > uint64(len(chunks)) {
			return dst, corrupt(CodecSnappy, fmt.Errorf("xerial: chunk of %d bytes, %d left", n, len(chunks)))
		}
		var err error
		if dst, err = snappyBlock(dst, chunks[:n], limit-(len(dst)-start)); err != nil {
			return dst, err
		}
		chunks = chunks[n:]
	}
	return dst, nil
}

// snappyBlock decodes one raw block, whose varint prefix states its decoded
// size exactly, so the size is checked before anything is allocated.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return dst, corrupt(CodecSnappy, err)
	}
	if n > limit {
		return dst, ErrTooLarge
	}
	if n > snappyMaxRatio*len(block) {
		return dst, corrupt(CodecSnappy, fmt.Errorf("block claims %d bytes from %d", n, len(block)))
	}
	dst = reserve(dst, n)
	out, err := s2.Decode(dst[len(dst):len(dst)+n], block)
	if err != nil {
		return dst, corrupt(CodecSnappy, err)
	}
	return dst[:len(dst)+len(out)], nil
}
