package client

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// compressor compresses batch bodies with one codec and level. Encoders are
// pooled: partition goroutines compress in parallel.
//
// TODO(batch): switch to batch.Compress once internal/batch provides it.
type compressor struct {
	codec Codec
	level int
	pool  sync.Pool
}

func newCompressor(codec Codec, level int) (*compressor, error) {
	c := &compressor{codec: codec, level: level}
	switch codec {
	case CodecNone, CodecSnappy:
	case CodecGzip:
		if level == 0 {
			level = gzip.DefaultCompression
		}
		if _, err := gzip.NewWriterLevel(nil, level); err != nil {
			return nil, err
		}
		c.pool.New = func() any { w, _ := gzip.NewWriterLevel(nil, level); return w }
	case CodecLZ4:
		c.pool.New = func() any {
			w := lz4.NewWriter(nil)
			opts := []lz4.Option{lz4.ConcurrencyOption(1)}
			if level > 0 {
				opts = append(opts, lz4.CompressionLevelOption(lz4.CompressionLevel(1<<(8+level))))
			}
			_ = w.Apply(opts...)
			return w
		}
	case CodecZstd:
		zl := zstd.SpeedDefault
		if level > 0 {
			zl = zstd.EncoderLevelFromZstd(level)
		}
		c.pool.New = func() any {
			e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zl), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
			return e
		}
	default:
		return nil, fmt.Errorf("samsa/client: unknown codec %d", codec)
	}
	return c, nil
}

// compress appends the compressed form of src to dst.
func (c *compressor) compress(dst, src []byte) ([]byte, error) {
	switch c.codec {
	case CodecSnappy:
		// Raw snappy block, as franz-go writes; Kafka and samsa accept it.
		n := s2.MaxEncodedLen(len(src))
		dst = slices.Grow(dst, n)
		out := s2.EncodeSnappy(dst[len(dst):len(dst)+n], src)
		return dst[:len(dst)+len(out)], nil
	case CodecZstd:
		e := c.pool.Get().(*zstd.Encoder)
		dst = e.EncodeAll(src, dst)
		c.pool.Put(e)
		return dst, nil
	case CodecGzip:
		w := c.pool.Get().(*gzip.Writer)
		buf := bytes.NewBuffer(dst)
		w.Reset(buf)
		_, err := w.Write(src)
		if err == nil {
			err = w.Close()
		}
		c.pool.Put(w)
		return buf.Bytes(), err
	case CodecLZ4:
		w := c.pool.Get().(*lz4.Writer)
		buf := bytes.NewBuffer(dst)
		w.Reset(buf)
		_, err := w.Write(src)
		if err == nil {
			err = w.Close()
		}
		c.pool.Put(w)
		return buf.Bytes(), err
	}
	return append(dst, src...), nil
}
