package batch

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// benchRecords are 100 JSON-ish records of ~200 bytes: a typical 20 KiB
// producer batch, compressible like real events.
func benchRecords() []Record {
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([]Record, 100)
	for i := range recs {
		recs[i] = Record{
			OffsetDelta:    int32(i),
			TimestampDelta: int64(i),
			Key:            fmt.Appendf(nil, "user-%d", rng.IntN(1000)),
			Value: fmt.Appendf(nil, `{"id":%d,"event":"page_view","path":"/products/%d","ms":%d,"agent":"Mozilla/5.0 (X11; Linux x86_64)","ref":"https://example.com/%x"}`,
				i, rng.IntN(5000), rng.IntN(3000), rng.Uint64()),
			Headers: []RecordHeader{{Key: "trace", Value: fmt.Appendf(nil, "%016x", rng.Uint64())}},
		}
	}
	return recs
}

func benchPayload() []byte {
	var raw []byte
	for _, r := range benchRecords() {
		raw = AppendRecord(raw, &r)
	}
	return raw
}

func BenchmarkCompress(b *testing.B) {
	src := benchPayload()
	for _, c := range allCodecs[1:] {
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var dst []byte
			for b.Loop() {
				dst, _ = Compress(dst[:0], c, 0, src)
			}
		})
	}
}

func BenchmarkDecompress(b *testing.B) {
	src := benchPayload()
	for _, c := range allCodecs[1:] {
		comp, _ := Compress(nil, c, 0, src)
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var dst []byte
			for b.Loop() {
				var err error
				if dst, err = Decompress(dst[:0], c, comp, len(src)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnpooled is the baseline the pools are measured against: a
// fresh library encoder or decoder per batch, as naive code would do.
func BenchmarkUnpooled(b *testing.B) {
	src := benchPayload()
	run := func(name string, f func() error) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	var buf bytes.Buffer
	run("compress/gzip", func() error {
		buf.Reset()
		w := gzip.NewWriter(&buf)
		w.Write(src)
		return w.Close()
	})
	run("compress/lz4", func() error {
		buf.Reset()
		w := lz4.NewWriter(&buf)
		w.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
		w.Write(src)
		return w.Close()
	})
	run("compress/zstd", func() error {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err == nil {
			e.EncodeAll(src, nil)
		}
		return err
	})
	gz, _ := Compress(nil, CodecGzip, 0, src)
	lz, _ := Compress(nil, CodecLZ4, 0, src)
	zs, _ := Compress(nil, CodecZstd, 0, src)
	run("decompress/gzip", func() error {
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		return err
	})
	run("decompress/lz4", func() error {
		_, err := io.ReadAll(lz4.NewReader(bytes.NewReader(lz)))
		return err
	})
	run("decompress/zstd", func() error {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err == nil {
			_, err = d.DecodeAll(zs, nil)
			d.Close()
		}
		return err
	})
}

func BenchmarkValidate(b *testing.B) {
	recs := benchRecords()
	for _, c := range allCodecs {
		batch := mustBuild(b, producerSpec(c, recs))
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch, ValidateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	recs := benchRecords()
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			var dst []byte
			for b.Loop() {
				var err error
				if dst, err = Build(dst[:0], producerSpec(c, recs)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadRecords(b *testing.B) {
	batch := mustBuild(b, producerSpec(CodecNone, benchRecords()))
	h, _ := ParseHeader(batch)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		ReadRecords(&h, batch[HeaderSize:], 0, func(r Record) error { n += len(r.Value); return nil })
	}
}
