package seglog

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
)

// onDisk is a batch as laid out in a segment file.
type onDisk struct {
	file       string
	pos, size  int64
	base, last int64
}

// layout parses every segment file independently of the code under test.
func layout(t testing.TB, dir string) []onDisk {
	t.Helper()
	var out []onDisk
	for _, path := range segmentFiles(t, dir) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for pos := 0; pos < len(b); {
			h, err := batch.ParseHeader(b[pos:])
			if err != nil || pos+h.Size() > len(b) {
				t.Fatalf("%s: bad batch at %d", path, pos)
			}
			out = append(out, onDisk{filepath.Base(path), int64(pos), int64(h.Size()), h.BaseOffset, h.LastOffset()})
			pos += h.Size()
		}
	}
	return out
}

// buildCrashLog writes a log of several segments with rolls both before and
// after a Sync, and leaves it open (as a process killed now would).
func buildCrashLog(t testing.TB, dir string) (*Log, [][]byte) {
	t.Helper()
	l := openLog(t, dir, Options{SegmentBytes: 3000, IndexIntervalBytes: 200})
	var raw [][]byte
	add := func(n int) {
		for i := 0; i < n; i++ {
			b := buildBatch(crashSpec(len(raw)))
			if _, err := l.Append(b, int32(len(raw)/20), 0, false); err != nil {
				t.Fatal(err)
			}
			raw = append(raw, b)
		}
	}
	add(60)
	if _, err := l.Sync(); err != nil { // moves the recovery point past the first rolls
		t.Fatal(err)
	}
	add(60)
	return l, raw
}

// crashSpec is the i-th batch of buildCrashLog: every third one is not
// idempotent, the others come from producer 5 in sequence.
func crashSpec(i int) spec {
	s := spec{records: 1 + i%4, valueSize: 30 + i%60, baseTs: int64(1000 + i)}
	if i%3 != 0 {
		s.pid, s.epoch = 5, 1
		for j := 0; j < i; j++ {
			if j%3 != 0 {
				s.seq += int32(1 + j%4)
			}
		}
	}
	return s
}

// checkProducerRecovered retries batches around the cut: the last surviving
// idempotent batch is a duplicate, the first lost one is appended at the end.
func checkProducerRecovered(t testing.TB, l *Log, n int) {
	t.Helper()
	last := n - 1
	for last >= 0 && last%3 == 0 {
		last--
	}
	if last >= 0 {
		res, err := l.Append(buildBatch(crashSpec(last)), 0, 0, false)
		if err != nil || !res.Duplicate {
			t.Fatalf("retry of surviving batch %d: %+v %v", last, res, err)
		}
	}
	lost := n
	for lost%3 == 0 {
		lost++
	}
	if lost == n { // the first lost batch is idempotent: it must be accepted now
		leo := l.LogEndOffset()
		res, err := l.Append(buildBatch(crashSpec(lost)), 0, 0, false)
		if err != nil || res.Duplicate || res.BaseOffset != leo {
			t.Fatalf("retry of lost batch %d: %+v %v", lost, res, err)
		}
	}
}

// reopenCheck opens a crashed copy and checks it holds exactly the batches
// raw[:n], whole, in order, with consistent indexes, and accepts appends.
func reopenCheck(t *testing.T, dir string, raw [][]byte, n int) {
	t.Helper()
	l := openLog(t, dir, Options{SegmentBytes: 3000, IndexIntervalBytes: 200})
	got := readAll(t, l)
	if len(got) != n {
		t.Fatalf("recovered %d batches, want %d", len(got), n)
	}
	for i := range got {
		if !bytes.Equal(got[i].raw, raw[i]) {
			t.Fatalf("recovered batch %d differs", i)
		}
	}
	checkIndexes(t, l)
	checkProducerRecovered(t, l, n)
	leo := l.LogEndOffset()
	mustAppend(t, l, buildBatch(spec{records: 2}))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, Options{SegmentBytes: 3000, IndexIntervalBytes: 200})
	defer l.Close()
	checkContiguous(t, readAll(t, l), 0, leo+2)
	checkIndexes(t, l)
}

// TestCrashTornTail cuts the log at random points, as a crash in the middle
// of writes would, and checks recovery keeps every whole batch before the cut.
func TestCrashTornTail(t *testing.T) {
	src := t.TempDir()
	l, raw := buildCrashLog(t, src)
	defer l.Close()
	bs := layout(t, src)
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 40; iter++ {
		// Cut inside one of the last 70 batches: in the active segment or in
		// segments rolled after the last Sync.
		victim := bs[len(bs)-1-rng.IntN(70)]
		cut := victim.pos + rng.Int64N(victim.size)
		dst := t.TempDir()
		copyDir(t, src, dst, nil, nil)
		cutFiles(t, dst, victim.file, cut)
		want := 0
		for want < len(bs) && bs[want].last < victim.base {
			want++
		}
		reopenCheck(t, dst, raw, want)
	}
}

// cutFiles truncates file at cut and removes the segments after it, which a
// crash before their creation would not have left.
func cutFiles(t testing.TB, dir, file string, cut int64) {
	t.Helper()
	if err := os.Truncate(filepath.Join(dir, file), cut); err != nil {
		t.Fatal(err)
	}
	for _, p := range segmentFiles(t, dir) {
		if filepath.Base(p) > file {
			os.Remove(p)
		}
	}
}

// TestCrashTornTailKeepsLaterSegments: a torn batch in the middle of the
// unsynced part also drops the later segments, whose offsets would not chain.
func TestCrashTornTailKeepsLaterSegments(t *testing.T) {
	src := t.TempDir()
	l, raw := buildCrashLog(t, src)
	defer l.Close()
	bs := layout(t, src)
	victim := bs[len(bs)-45]
	dst := t.TempDir()
	copyDir(t, src, dst, nil, nil)
	if err := os.Truncate(filepath.Join(dst, victim.file), victim.pos+victim.size/2); err != nil {
		t.Fatal(err)
	}
	reopenCheck(t, dst, raw, len(bs)-45)
}

// TestCrashBitFlip flips one byte of a batch in the unsynced tail; recovery
// truncates the log at that batch.
func TestCrashBitFlip(t *testing.T) {
	src := t.TempDir()
	l, raw := buildCrashLog(t, src)
	defer l.Close()
	bs := layout(t, src)
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 30; iter++ {
		vi := len(bs) - 1 - rng.IntN(50)
		victim := bs[vi]
		var at int64
		for {
			at = rng.Int64N(victim.size)
			if at < 12 || at >= 16 { // the leader epoch is outside the CRC, and rewritten by design
				break
			}
		}
		dst := t.TempDir()
		copyDir(t, src, dst, nil, nil)
		flipByte(t, filepath.Join(dst, victim.file), victim.pos+at)
		reopenCheck(t, dst, raw, vi)
	}
}

func flipByte(t testing.TB, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptionAtRead: damage to data that was already recovered is found
// by Read and reported as ErrCorrupt, never served.
func TestCorruptionAtRead(t *testing.T) {
	dir := t.TempDir()
	l, _ := buildCrashLog(t, dir)
	defer l.Close()
	bs := layout(t, dir)
	victim := bs[10]
	flipByte(t, filepath.Join(dir, victim.file), victim.pos+victim.size-1)
	_, err := l.Read(victim.base, 1<<20, l.LogEndOffset())
	wantErr(t, err, ErrCorrupt)
	r, err := l.Read(victim.base-1, 1, l.LogEndOffset()) // the batch before is fine
	if err != nil || len(r.Records) == 0 {
		t.Fatalf("read before the damage: %v", err)
	}
	// A damaged header on the way to the target is corruption too.
	flipByte(t, filepath.Join(dir, bs[20].file), bs[20].pos+16) // magic
	_, err = l.Read(bs[20].last, 1<<20, l.LogEndOffset())
	wantErr(t, err, ErrCorrupt)
}

// TestCrashTrustedSegmentDamaged: a segment below the recovery point that
// does not match its checkpoints is recovered instead of trusted.
func TestCrashTrustedSegmentDamaged(t *testing.T) {
	src := t.TempDir()
	l, raw := buildCrashLog(t, src)
	defer l.Close()
	bs := layout(t, src)
	dst := t.TempDir()
	copyDir(t, src, dst, nil, nil)
	first := bs[0].file
	var inFirst int
	for inFirst < len(bs) && bs[inFirst].file == first {
		inFirst++
	}
	cutFiles(t, dst, first, bs[inFirst-1].pos+3) // the first segment loses its last batch
	reopenCheck(t, dst, raw, inFirst-1)
}

// TestCrashLoseUnsynced simulates kill -9 plus power loss: only what was
// synced survives. Everything below the synced offset must be there once and
// in order; producer state must match what survived.
func TestCrashLoseUnsynced(t *testing.T) {
	src := t.TempDir()
	l := openLog(t, src, Options{SegmentBytes: 2500, IndexIntervalBytes: 300})
	defer l.Close()
	var raw [][]byte
	seq := int32(0)
	add := func(n int) {
		for i := 0; i < n; i++ {
			b := buildBatch(spec{records: 2, valueSize: 40, pid: 5, seq: seq})
			if _, err := l.Append(b, 3, 0, false); err != nil {
				t.Fatal(err)
			}
			seq += 2
			raw = append(raw, b)
		}
	}
	add(50)
	synced, err := l.Sync()
	if err != nil {
		t.Fatal(err)
	}
	sizes := fileSizes(t, src)
	nSynced := len(raw)
	add(50) // rolls more segments, never synced
	dst := t.TempDir()
	copyDir(t, src, dst, sizes, func(name string) bool { return !strings.Contains(name, ".") || strings.HasSuffix(name, "checkpoint") })
	l2 := openLog(t, dst, Options{SegmentBytes: 2500, IndexIntervalBytes: 300})
	defer l2.Close()
	if l2.LogEndOffset() != synced {
		t.Fatalf("LEO %d after crash, synced %d", l2.LogEndOffset(), synced)
	}
	got := readAll(t, l2)
	if len(got) != nSynced {
		t.Fatalf("%d batches survived, want %d", len(got), nSynced)
	}
	for i := range got {
		if !bytes.Equal(got[i].raw, raw[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
	checkIndexes(t, l2)
	// The producer's retry of the last synced batch is a duplicate; its retry
	// of the first lost batch is appended at the synced offset.
	last := buildBatch(spec{records: 2, valueSize: 40, pid: 5, seq: int32(2 * (nSynced - 1))})
	res, err := l2.Append(last, 3, 0, false)
	if err != nil || !res.Duplicate || res.LastOffset != synced-1 {
		t.Fatalf("retry of a synced batch: %+v %v", res, err)
	}
	lost := buildBatch(spec{records: 2, valueSize: 40, pid: 5, seq: int32(2 * nSynced)})
	res, err = l2.Append(lost, 3, 0, false)
	if err != nil || res.Duplicate || res.BaseOffset != synced {
		t.Fatalf("retry of a lost batch: %+v %v", res, err)
	}
	if e, o := l2.EndOffsetForEpoch(3); e != 3 || o != synced+2 {
		t.Fatalf("epoch cache after crash: %d %d", e, o)
	}
}

// fileSizes records the segment and index files' sizes: what a Sync made durable.
func fileSizes(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, e := range ents {
		if ext := filepath.Ext(e.Name()); ext == ".log" || ext == ".index" || ext == ".timeindex" {
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			m[e.Name()] = info.Size()
		}
	}
	return m
}

// TestCrashNoPowerLoss: kill -9 without losing the page cache keeps every
// appended batch, synced or not.
func TestCrashNoPowerLoss(t *testing.T) {
	src := t.TempDir()
	l, raw := buildCrashLog(t, src)
	defer l.Close()
	dst := t.TempDir()
	copyDir(t, src, dst, nil, nil)
	reopenCheck(t, dst, raw, len(raw))
}
