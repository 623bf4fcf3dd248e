package batch

// Compression codecs for the records section of a batch.
//
// Encoders and decoders are expensive to build (zstd and gzip keep tables of
// hundreds of KiB), and the broker and client run them once per batch, so
// each codec keeps them in a sync.Pool. Pools are per compression level
// because a pooled encoder cannot change its level cheaply.
//
// Every decoder writes into the caller's dst through readLimited, which
// grows dst itself and stops at the caller's limit: a tiny hostile payload
// (a "decompression bomb", snappy-java CVE-2023-34455, sarama #3604) can
// then never make us allocate more than the limit.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Compress appends the compressed form of src to dst and returns the
// extended slice. level 0 (or -1) picks the codec's default; other levels
// are clamped to the codec's range (gzip 1-9, lz4 1-9 (0 = fast), zstd
// 1-22 mapped to the encoder's four speeds; snappy has none).
func Compress(dst []byte, c Codec, level int, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return compressGzip(dst, level, src)
	case CodecSnappy:
		return compressSnappy(dst, src), nil
	case CodecLZ4:
		return compressLZ4(dst, level, src)
	case CodecZstd:
		return compressZstd(dst, level, src)
	}
	return dst, unknownCodec(c)
}

// Decompress appends the decompressed form of src to dst. At most limit
// bytes are appended: more gives ErrTooLarge, and dst never grows by more
// than limit (it doubles on the way, so the garbage left behind can add up
// to another limit). Decoder state is pooled and fixed-size, except a zstd
// window above 8 MiB, which is allocated per call and must fit the limit.
// Malformed input gives an error wrapping ErrCorrupt. On error the returned
// slice's contents are undefined past len(dst).
func Decompress(dst []byte, c Codec, src []byte, limit int) ([]byte, error) {
	limit = max(limit, 0)
	switch c {
	case CodecNone:
		if len(src) > limit {
			return dst, ErrTooLarge
		}
		return append(dst, src...), nil
	case CodecGzip:
		return decompressGzip(dst, src, limit)
	case CodecSnappy:
		return decompressSnappy(dst, src, limit)
	case CodecLZ4, CodecZstd:
		// Both libraries read an empty stream as empty data, but it is no
		// frame at all.
		if len(src) == 0 {
			return dst, corrupt(c, io.ErrUnexpectedEOF)
		}
		if c == CodecLZ4 {
			return decompressLZ4(dst, src, limit)
		}
		return decompressZstd(dst, src, limit)
	}
	return dst, unknownCodec(c)
}

func unknownCodec(c Codec) error { return fmt.Errorf("%w: %d", ErrUnknownCodec, int8(c)) }

// corrupt wraps a codec library's error so callers see one error class.
func corrupt(c Codec, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, c, err)
}

// appendWriter is an io.Writer appending to b; encoders write into the
// caller's dst through it without an intermediate bytes.Buffer.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// sizeHint is the capacity to reserve before decoding, given a size the
// payload claims for itself. A hostile payload can claim anything, so the
// claim is capped by the limit and by a plausible compression ratio; real
// data beyond the ratio just grows the buffer a few more times.
func sizeHint(claimed uint64, srcLen, limit int) int {
	const ratio, slack = 64, 64 << 10
	return int(min(claimed, uint64(limit), uint64(srcLen)*ratio+slack))
}

// readLimited appends all of r to dst. It grows dst by doubling, capped at
// len(dst)+limit, and reads at most limit bytes; reaching the limit it probes
// for one more byte to tell "exactly limit" from "too large".
// probe is one byte of scratch owned by the caller's pooled decoder, so the
// probe does not allocate.
func readLimited(dst []byte, r io.Reader, limit, hint int, c Codec, probe []byte) ([]byte, error) {
	end := len(dst) + limit
	dst = reserve(dst, min(hint, limit))
	for {
		if len(dst) == min(cap(dst), end) {
			if len(dst) == end {
				return dst, probeEOF(r, c, probe)
			}
			dst = reserve(dst, min(max(cap(dst), 4096), end-len(dst)))
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), end)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, corrupt(c, err)
		}
	}
}

// probeEOF checks that r has nothing left once the limit is reached.
func probeEOF(r io.Reader, c Codec, probe []byte) error {
	n, err := io.ReadFull(r, probe[:1])
	switch {
	case n > 0:
		return ErrTooLarge
	case err == io.EOF:
		return nil
	}
	return corrupt(c, err)
}

// reserve returns dst with room for at least n more bytes, allocating
// exactly that much (append's growth policy could overshoot the limit).
func reserve(dst []byte, n int) []byte {
	if n <= 0 || cap(dst)-len(dst) >= n {
		return dst
	}
	grown := make([]byte, len(dst), len(dst)+n)
	copy(grown, dst)
	return grown
}

// byteSource is a reusable io.Reader over a byte slice, kept inside pooled
// decoders so that Reset does not allocate a new bytes.Reader each time.
type byteSource struct {
	bytes.Reader
	probe [1]byte // for readLimited
}

func (s *byteSource) reset(b []byte) *bytes.Reader {
	s.Reset(b)
	return &s.Reader
}

// gzipISize is the uncompressed size (mod 2^32) a gzip member records in
// its trailer; for the usual single-member payload it sizes the output.
func gzipISize(src []byte) uint64 {
	if len(src) < 4 {
		return 0
	}
	return uint64(binary.LittleEndian.Uint32(src[len(src)-4:]))
}
