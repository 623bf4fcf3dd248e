package batch

import (
	"sync"

	"github.com/klauspost/compress/gzip"
)

// gzip levels run from HuffmanOnly (-2) to BestCompression (9); one pool each.
var gzipEncoders [gzip.BestCompression - gzip.HuffmanOnly + 1]sync.Pool

var gzipDecoders sync.Pool

type gzipEncoder struct {
	w   *gzip.Writer
	out appendWriter
}

type gzipDecoder struct {
	r   gzip.Reader
	src byteSource
}

// gzipLevel maps a Kafka compression.gzip.level to a library level: 0 and
// -1 are the default (the library's 0 would mean "store uncompressed").
func gzipLevel(level int) int {
	if level == 0 || level < gzip.HuffmanOnly {
		return gzip.DefaultCompression
	}
	return min(level, gzip.BestCompression)
}

func compressGzip(dst []byte, level int, src []byte) ([]byte, error) {
	level = gzipLevel(level)
	pool := &gzipEncoders[level-gzip.HuffmanOnly]
	e, _ := pool.Get().(*gzipEncoder)
	if e == nil {
		w, err := gzip.NewWriterLevel(nil, level)
		if err != nil {
			return dst, err
		}
		e = &gzipEncoder{w: w}
	}
	e.out.b = dst
	e.w.Reset(&e.out)
	_, err := e.w.Write(src)
	if err == nil {
		err = e.w.Close()
	}
	dst, e.out.b = e.out.b, nil
	pool.Put(e)
	return dst, err
}

func decompressGzip(dst, src []byte, limit int) ([]byte, error) {
	d, _ := gzipDecoders.Get().(*gzipDecoder)
	if d == nil {
		d = new(gzipDecoder)
	}
	defer gzipDecoders.Put(d)
	if err := d.r.Reset(d.src.reset(src)); err != nil {
		return dst, corrupt(CodecGzip, err)
	}
	return readLimited(dst, &d.r, limit, sizeHint(gzipISize(src), len(src), limit), CodecGzip, d.src.probe[:])
}
