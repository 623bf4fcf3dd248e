package seglog

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAppend appends 1 KiB batches (one write each), applying size
// retention now and then so the disk use stays bounded.
func BenchmarkAppend(b *testing.B) {
	l := openLog(b, b.TempDir(), Options{SegmentBytes: 16 << 20, RetentionBytes: 64 << 20, RetentionMs: -1})
	defer l.Close()
	rec := buildBatch(spec{records: 10, valueSize: 1024/10 - 8})
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Append(rec, 1, 0, false); err != nil {
			b.Fatal(err)
		}
		if i%16384 == 16383 {
			if _, err := l.ApplyRetention(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAppendSync is Append plus a Sync every 32 appends: a group commit
// of 32 acks=all produce requests.
func BenchmarkAppendSync(b *testing.B) {
	l := openLog(b, b.TempDir(), Options{SegmentBytes: 16 << 20, RetentionBytes: 64 << 20, RetentionMs: -1})
	defer l.Close()
	rec := buildBatch(spec{records: 10, valueSize: 1024/10 - 8})
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Append(rec, 1, 0, false); err != nil {
			b.Fatal(err)
		}
		if i%32 == 31 {
			if _, err := l.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchRead(b *testing.B, maxBytes int) {
	l := openLog(b, b.TempDir(), Options{SegmentBytes: 16 << 20})
	defer l.Close()
	rec := buildBatch(spec{records: 10, valueSize: 1024/10 - 8})
	for i := 0; i < 64<<10; i++ { // 64 MiB
		if _, err := l.Append(rec, 1, 0, false); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	rng := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		r, err := l.Read(rng.Int64N(leo), maxBytes, leo)
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(r.Records))
	}
	b.SetBytes(n / int64(b.N))
}

func BenchmarkRead16K(b *testing.B) { benchRead(b, 16<<10) }
func BenchmarkRead1M(b *testing.B)  { benchRead(b, 1<<20) }
