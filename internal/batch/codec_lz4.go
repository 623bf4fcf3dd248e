package batch

import (
	"sync"

	"github.com/pierrec/lz4/v4"
)

// lz4Levels lists the library levels by index: 0 = Fast, then 1-9.
var lz4Levels = [...]lz4.CompressionLevel{lz4.Fast, lz4.Level1, lz4.Level2, lz4.Level3,
	lz4.Level4, lz4.Level5, lz4.Level6, lz4.Level7, lz4.Level8, lz4.Level9}

var (
	lz4Encoders [len(lz4Levels)]sync.Pool
	lz4Decoders sync.Pool
)

type lz4Encoder struct {
	w   *lz4.Writer
	out appendWriter
}

type lz4Decoder struct {
	r   *lz4.Reader
	src byteSource
}

// lz4Level maps a level to an index of lz4Levels. Java's levels go to 17
// (its HC compressor); the Go library stops at 9, the closest match.
func lz4Level(level int) int { return min(max(level, 0), len(lz4Levels)-1) }

// newLZ4Writer makes a frame writer the Java consumer can read: 64 KiB
// independent blocks (what Kafka's own KafkaLZ4BlockOutputStream writes,
// and 64x less buffer per pooled writer than the library's 4 MiB default).
func newLZ4Writer(level int) (*lz4.Writer, error) {
	w := lz4.NewWriter(nil)
	err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.CompressionLevelOption(lz4Levels[level]))
	return w, err
}

func compressLZ4(dst []byte, level int, src []byte) ([]byte, error) {
	level = lz4Level(level)
	pool := &lz4Encoders[level]
	e, _ := pool.Get().(*lz4Encoder)
	if e == nil {
		w, err := newLZ4Writer(level)
		if err != nil {
			return dst, err
		}
		e = &lz4Encoder{w: w}
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

func decompressLZ4(dst, src []byte, limit int) ([]byte, error) {
	d, _ := lz4Decoders.Get().(*lz4Decoder)
	if d == nil {
		d = &lz4Decoder{r: lz4.NewReader(nil)}
	}
	defer lz4Decoders.Put(d)
	d.r.Reset(d.src.reset(src))
	return readLimited(dst, d.r, limit, sizeHint(uint64(4*len(src)), len(src), limit), CodecLZ4, d.src.probe[:])
}
