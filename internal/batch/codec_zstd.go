package batch

import (
	"bytes"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdMaxWindow bounds the history a frame may ask for. The decoder
// allocates the window up front, so without a bound a 20-byte frame could
// claim gigabytes. 8 MiB is what the zstd format recommends every decoder
// support and covers producer levels up to 19 (Java's default level 3 asks
// for 2 MiB); frames from levels 20-22 take decompressZstdLargeWindow.
const zstdMaxWindow = 8 << 20

var (
	zstdEncoders [zstd.SpeedBestCompression + 1]sync.Pool
	zstdDecoders sync.Pool
)

type zstdDecoder struct {
	d   *zstd.Decoder
	src byteSource
}

// zstdLevel maps a Kafka compression.zstd.level (1-22, default 3) to one of
// the library's four speeds.
func zstdLevel(level int) zstd.EncoderLevel {
	if level == 0 || level == -1 {
		level = 3
	}
	return zstd.EncoderLevelFromZstd(level)
}

func compressZstd(dst []byte, level int, src []byte) ([]byte, error) {
	lvl := zstdLevel(level)
	pool := &zstdEncoders[lvl]
	e, _ := pool.Get().(*zstd.Encoder)
	if e == nil {
		var err error
		// One goroutine-free encoder per pool entry; concurrency comes from
		// the pool. Zero frames for empty input keep every decoder happy.
		e, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true))
		if err != nil {
			return dst, err
		}
	}
	dst = e.EncodeAll(src, dst)
	pool.Put(e)
	return dst, nil
}

// decompressZstd streams the frames through readLimited rather than using
// DecodeAll: DecodeAll's size cap also caps the window, which would reject
// Java's 2 MiB-window frames whenever the limit is smaller. Streaming keeps
// the output bounded by limit; the decoder's own history is bounded by
// zstdMaxWindow and reused across calls.
func decompressZstd(dst, src []byte, limit int) ([]byte, error) {
	var fh zstd.Header
	claimed := uint64(0)
	if fh.Decode(src) == nil {
		if fh.HasFCS && fh.FrameContentSize > uint64(limit) {
			return dst, ErrTooLarge
		}
		if !fh.SingleSegment && fh.WindowSize > zstdMaxWindow {
			if fh.WindowSize > uint64(limit) {
				return dst, ErrTooLarge
			}
			return decompressZstdLargeWindow(dst, src, limit)
		}
		claimed = fh.FrameContentSize
	}
	d, err := getZstdDecoder()
	if err != nil {
		return dst, err
	}
	defer zstdDecoders.Put(d)
	if err := d.d.Reset(d.src.reset(src)); err != nil {
		return dst, corrupt(CodecZstd, err)
	}
	return readLimited(dst, d.d, limit, sizeHint(claimed, len(src), limit), CodecZstd, d.src.probe[:])
}

func getZstdDecoder() (*zstdDecoder, error) {
	if d, ok := zstdDecoders.Get().(*zstdDecoder); ok {
		return d, nil
	}
	// Concurrency 1 decodes synchronously in the caller's goroutine; a
	// buffers-below of 0 stops Reset from decoding small inputs in one go,
	// which would bypass readLimited.
	zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecodeBuffersBelow(0))
	if err != nil {
		return nil, err
	}
	return &zstdDecoder{d: zd}, nil
}

// decompressZstdLargeWindow decodes frames whose window exceeds
// zstdMaxWindow (Java producers at levels 20-22 ask for 32-128 MiB) with a
// decoder of its own that allows windows up to the limit: the window is
// allocated up front, so it counts against the limit like the output.
// Such frames are rare, so the decoder is not pooled: a pooled one would
// keep its huge window alive.
func decompressZstdLargeWindow(dst, src []byte, limit int) ([]byte, error) {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(uint64(limit)), zstd.WithDecodeBuffersBelow(0))
	if err != nil {
		return dst, err
	}
	defer d.Close()
	if err := d.Reset(bytes.NewReader(src)); err != nil {
		return dst, corrupt(CodecZstd, err)
	}
	var probe [1]byte
	return readLimited(dst, d, limit, sizeHint(0, len(src), limit), CodecZstd, probe[:])
}
