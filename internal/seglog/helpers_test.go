package seglog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/batch"
)

// spec describes a test batch. Zero values: one record, no producer id.
type spec struct {
	records   int
	baseTs    int64 // record i gets baseTs + i*tsStep
	tsStep    int64
	valueSize int
	pid       int64 // 0 means none (-1 on the wire)
	epoch     int16
	seq       int32
	attrs     int16
}

func idem(pid int64, epoch int16, seq int32, records int) spec {
	return spec{records: records, pid: pid, epoch: epoch, seq: seq}
}

// buildBatch encodes a valid uncompressed v2 batch with its CRC.
func buildBatch(s spec) []byte {
	if s.records == 0 {
		s.records = 1
	}
	if s.tsStep == 0 {
		s.tsStep = 1
	}
	var recs []byte
	for i := 0; i < s.records; i++ {
		var r []byte
		r = append(r, 0) // attributes
		r = binary.AppendVarint(r, int64(i)*s.tsStep)
		r = binary.AppendVarint(r, int64(i))
		r = binary.AppendVarint(r, -1) // null key
		val := bytes.Repeat([]byte{byte('a' + i%26)}, s.valueSize)
		r = binary.AppendVarint(r, int64(len(val)))
		r = append(r, val...)
		r = binary.AppendVarint(r, 0) // headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	pid, seq := int64(-1), int32(-1)
	epoch := int16(-1)
	if s.pid != 0 {
		pid, seq, epoch = s.pid, s.seq, s.epoch
	}
	b := make([]byte, batch.HeaderSize, batch.HeaderSize+len(recs))
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)
	be.PutUint32(b[8:], uint32(batch.HeaderSize-batch.LogOverhead+len(recs)))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	be.PutUint16(b[21:], uint16(s.attrs))
	be.PutUint32(b[23:], uint32(s.records-1))
	be.PutUint64(b[27:], uint64(s.baseTs))
	be.PutUint64(b[35:], uint64(s.baseTs+int64(s.records-1)*s.tsStep))
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[53:], uint32(seq))
	be.PutUint32(b[57:], uint32(s.records))
	b = append(b, recs...)
	be.PutUint32(b[17:], batch.CRC32C(b[21:]))
	return b
}

// clock is an injectable time source.
type clock struct{ ms int64 }

func (c *clock) now() time.Time { return time.UnixMilli(c.ms) }

func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b, 0, 1000, false)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// batchInfo is a batch seen by a read.
type batchInfo struct {
	base, last int64
	h          batch.Header
	raw        []byte
}

// splitBatches parses the batches of a Read result, checking CRCs.
func splitBatches(t testing.TB, b []byte) []batchInfo {
	t.Helper()
	var out []batchInfo
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			t.Fatalf("bad batch in read result: %v", err)
		}
		if err := batch.CheckCRC(b[:h.Size()]); err != nil {
			t.Fatalf("read returned a batch with a bad CRC at %d", h.BaseOffset)
		}
		out = append(out, batchInfo{h.BaseOffset, h.LastOffset(), h, b[:h.Size()]})
		b = b[h.Size():]
	}
	return out
}

// readAll reads the whole log in small fetches and returns its batches.
func readAll(t testing.TB, l *Log) []batchInfo {
	t.Helper()
	var all []batchInfo
	off, leo := l.LogStartOffset(), l.LogEndOffset()
	for off < leo {
		res, err := l.Read(off, 3000, leo)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		bs := splitBatches(t, res.Records)
		if len(bs) == 0 {
			t.Fatalf("Read(%d) below LEO %d returned nothing", off, leo)
		}
		if bs[0].base > off || bs[0].last < off {
			t.Fatalf("Read(%d) starts with batch %d-%d", off, bs[0].base, bs[0].last)
		}
		all = append(all, bs...)
		off = res.NextOffset
	}
	return all
}

// checkContiguous asserts the batches cover [from, to) in order without gaps.
func checkContiguous(t testing.TB, bs []batchInfo, from, to int64) {
	t.Helper()
	next := from
	for i, b := range bs {
		if i == 0 && b.base <= from && b.last >= from {
			next = b.base
		}
		if b.base != next {
			t.Fatalf("batch %d starts at %d, want %d", i, b.base, next)
		}
		next = b.last + 1
	}
	if next != to && !(len(bs) == 0 && from == to) {
		t.Fatalf("batches end at %d, want %d", next, to)
	}
}

// checkIndexes asserts every index entry of every segment names the batch at
// its position, and time entries are monotonic, under the log's own lock.
func checkIndexes(t testing.TB, l *Log) {
	t.Helper()
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.segs {
		for i, e := range s.index {
			h, err := newScanner(s.f, s.size).header(int64(e.pos))
			if err != nil || h.BaseOffset != s.base+int64(e.rel) {
				t.Fatalf("segment %d index entry %d (%d@%d) wrong: %v base %d", s.base, i, e.rel, e.pos, err, h.BaseOffset)
			}
		}
		for i := 1; i < len(s.timeIndex); i++ {
			if s.timeIndex[i].ts < s.timeIndex[i-1].ts || s.timeIndex[i].rel < s.timeIndex[i-1].rel {
				t.Fatalf("segment %d time index not monotonic at %d", s.base, i)
			}
		}
		st, err := s.f.Stat()
		if err != nil || st.Size() != s.size {
			t.Fatalf("segment %d: file size %d, in memory %d (%v)", s.base, st.Size(), s.size, err)
		}
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

// copyDir copies a log directory as a crash would leave it: each file in
// sizes is cut to that size (what was synced), files not in sizes are left
// out unless keep says otherwise.
func copyDir(t testing.TB, src, dst string, sizes map[string]int64, keep func(name string) bool) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := sizes[e.Name()]; ok {
			b = b[:min(int64(len(b)), n)]
		} else if sizes != nil && !keep(e.Name()) {
			continue
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
