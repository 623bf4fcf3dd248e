package seglog

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/internal/vfs"
)

// A follower of a compacted leader: AppendReplicated copies the offset gaps
// the cleaner left (before, inside and between batches), each segment that
// receives one gets a durable gap marker first, and recovery accepts gaps
// in marked segments only.

const (
	gapPID     = 7 // the idempotent producer of the compacted leader
	gapBatches = 60
)

// compactedLeader builds a leader log on its own filesystem: batches of
// two or three keyed records (see add), in three leader epochs,
// every fifth one from an idempotent producer, compacted, then a
// contiguous tail in a fourth epoch. It returns the open log; its batches
// have gaps (checked).
func compactedLeader(t testing.TB) *Log {
	t.Helper()
	return compactedLeaderOn(t, vfs.NewCrashableMem())
}

// compactedLeaderOn is compactedLeader on m, in memDir.
func compactedLeaderOn(t testing.TB, m *vfs.Mem) *Log {
	t.Helper()
	memSetup(t, m)
	c := &clock{ms: 1_000_000}
	l, err := Open(memDir, Options{FS: m, SegmentBytes: 400, IndexIntervalBytes: 100, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	seq := int32(0)
	add := func(i int, epoch int32) {
		// Hot keys are overwritten over and over; batches 2, 3, 6, 10, 11,
		// 14... also hold a key written once, so they survive with a gap
		// inside and gaps around them.
		s := kvSpec{ts: c.ms}
		keys := []string{fmt.Sprintf("h%d", i%4), fmt.Sprintf("h%d", (i+1)%4)}
		if i%4 == 2 || i%8 == 3 {
			keys[1] = fmt.Sprintf("u%d", i)
		}
		if i%2 == 1 {
			keys = append(keys, fmt.Sprintf("h%d", (i+2)%4))
		}
		for r, k := range keys {
			s.recs = append(s.recs, kv{k: k, v: fmt.Sprintf("v%d.%d", i, r)})
		}
		if i%5 == 0 {
			s.pid, s.seq = gapPID, seq
			seq += int32(len(s.recs))
		}
		if _, err := l.Append(kvBatch(t, s), epoch, c.ms, false); err != nil {
			t.Fatalf("leader Append %d: %v", i, err)
		}
		c.ms++
	}
	for i := range gapBatches {
		add(i, int32(i/20))
	}
	if st := mustCompact(t, l, CompactOptions{}); st.RecordsRemoved == 0 {
		t.Fatalf("leader compaction removed nothing: %+v", st)
	}
	for i := gapBatches; i < gapBatches+8; i++ {
		add(i, 3)
	}
	bs := gapRead(t, l)
	inside, between := 0, 0
	for i, b := range bs {
		if i == 0 && b.base > 0 || i > 0 && b.base > bs[i-1].last+1 {
			between++
		}
		if int(b.h.NumRecords) < int(b.last-b.base)+1 {
			inside++
		}
	}
	if between < 3 || inside == 0 || bs[0].base == 0 {
		t.Fatalf("leader has %d gaps between batches, %d batches with gaps inside, first base %d: not a test", between, inside, bs[0].base)
	}
	return l
}

// gapRead reads the whole log in small fetches: every fetch starts with
// the first batch reaching its offset, batches never overlap, offsets may
// jump forward.
func gapRead(t testing.TB, l *Log) []batchInfo {
	t.Helper()
	var all []batchInfo
	off, leo := l.LogStartOffset(), l.LogEndOffset()
	for off < leo {
		res, err := l.Read(off, 500, leo)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		bs := splitBatches(t, res.Records)
		if len(bs) == 0 {
			// Only a trailing gap: a truncation of a compacted log may
			// end at the base of a segment after one that ends earlier.
			if res.NextOffset != off || l.active().size != 0 {
				t.Fatalf("Read(%d) below LEO %d returned nothing, next %d", off, leo, res.NextOffset)
			}
			return all
		}
		if bs[0].last < off {
			t.Fatalf("Read(%d) starts with batch %d-%d", off, bs[0].base, bs[0].last)
		}
		for _, b := range bs {
			if n := len(all); n > 0 && b.base <= all[n-1].last {
				t.Fatalf("batch %d-%d after %d-%d", b.base, b.last, all[n-1].base, all[n-1].last)
			}
			all = append(all, b)
		}
		off = res.NextOffset
	}
	if n := len(all); n > 0 && all[n-1].last+1 != leo {
		t.Fatalf("last batch ends at %d, LEO %d", all[n-1].last+1, leo)
	}
	return all
}

// feed copies the leader to the follower as a replica fetcher does: reads
// from the follower's end in chunks of random size, appends them, syncs
// now and then, and finally syncs.
func feed(t testing.TB, rng *rand.Rand, leader, follower *Log) {
	t.Helper()
	for {
		off, leo := follower.LogEndOffset(), leader.LogEndOffset()
		if off >= leo {
			break
		}
		res, err := leader.Read(off, 1+rng.IntN(1500), leo)
		if err != nil {
			t.Fatalf("leader Read(%d): %v", off, err)
		}
		bs := splitBatches(t, res.Records)
		ar, err := follower.AppendReplicated(res.Records)
		if err != nil {
			t.Fatalf("AppendReplicated at %d: %v", off, err)
		}
		if ar.BaseOffset != bs[0].base || ar.LastOffset+1 != res.NextOffset || follower.LogEndOffset() != res.NextOffset {
			t.Fatalf("AppendReplicated at %d = %+v, LEO %d; want %d..%d", off, ar, follower.LogEndOffset(), bs[0].base, res.NextOffset-1)
		}
		if rng.IntN(3) == 0 {
			if _, err := follower.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if to, err := follower.Sync(); err != nil || to != follower.LogEndOffset() {
		t.Fatalf("Sync = %d %v, LEO %d", to, err, follower.LogEndOffset())
	}
}

// sameAsLeader checks the follower holds the leader's batches byte for
// byte, serves every offset (gaps included) as the leader does, and keeps
// its indexes and epoch cache consistent with its batches.
func sameAsLeader(t testing.TB, leader, follower *Log) {
	t.Helper()
	leo := leader.LogEndOffset()
	if f := follower.LogEndOffset(); f != leo {
		t.Fatalf("LEO leader %d, follower %d", leo, f)
	}
	fb := gapRead(t, follower)
	sameBatches(t, "follower vs leader", rawOf(fb), rawOf(gapRead(t, leader)))
	for off := follower.LogStartOffset(); off < leo; off++ {
		a, err := leader.Read(off, 1, leo)
		if err != nil {
			t.Fatal(err)
		}
		b, err := follower.Read(off, 1, leo)
		if err != nil {
			t.Fatalf("follower Read(%d): %v", off, err)
		}
		if !bytes.Equal(a.Records, b.Records) || a.NextOffset != b.NextOffset {
			t.Fatalf("Read(%d): follower serves %d bytes to %d, leader %d bytes to %d", off, len(b.Records), b.NextOffset, len(a.Records), a.NextOffset)
		}
	}
	checkIndexes(t, follower)
	checkEpochs(t, follower, fb)
	if a, b := leader.LatestEpoch(), follower.LatestEpoch(); a != b {
		t.Fatalf("LatestEpoch leader %d, follower %d", a, b)
	}
}

// checkGapReads reads at every offset: the first batch served is the
// first one whose last offset reaches it.
func checkGapReads(t testing.TB, l *Log) {
	t.Helper()
	all := gapRead(t, l)
	i := 0
	for off := l.LogStartOffset(); off < l.LogEndOffset(); off++ {
		for all[i].last < off {
			i++
		}
		res, err := l.Read(off, 1, l.LogEndOffset())
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if bs := splitBatches(t, res.Records); len(bs) == 0 || !bytes.Equal(bs[0].raw, all[i].raw) {
			t.Fatalf("Read(%d) does not start with batch %d-%d", off, all[i].base, all[i].last)
		}
	}
}

// gapMarkers lists the gap markers in the log directory, checking that
// each belongs to a segment file.
func gapMarkers(t testing.TB, m *vfs.Mem) []string {
	t.Helper()
	ents, err := m.ReadDir(memDir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	var out []string
	for _, e := range ents {
		if stem, ok := strings.CutSuffix(e.Name(), ".gaps"); ok {
			if !names[stem+".log"] {
				t.Fatalf("gap marker %s without its segment", e.Name())
			}
			out = append(out, e.Name())
		}
	}
	return out
}

// reopenCrashed opens what a crash of m would leave now.
func reopenCrashed(t testing.TB, m *vfs.Mem, segBytes int64) (*vfs.Mem, *Log) {
	t.Helper()
	c := m.CrashClone()
	l, err := memLog(c, segBytes)
	if err != nil {
		t.Fatalf("recovery: %v", err)
	}
	return c, l
}

// TestReplicateCompactedLeader: a follower fed a compacted leader's
// batches, in random chunks with random syncs, is identical to the leader;
// so it stays after a clean reopen and after a crash (recovery of segments
// with gaps, above the recovery point); a follower that becomes leader
// knows the idempotent producer; truncation into a gap, retention and the
// follower's own compaction keep working.
func TestReplicateCompactedLeader(t *testing.T) {
	leader := compactedLeader(t)
	defer leader.Close()
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 11))
		m := vfs.NewCrashableMem()
		memSetup(t, m)
		f := memOpen(t, m, 300)
		feed(t, rng, leader, f)
		sameAsLeader(t, leader, f)
		if len(gapMarkers(t, m)) == 0 {
			t.Fatal("no segment has a gap marker")
		}

		// Unclean restart: the segments from the recovery point on are
		// recovered from their batches, gaps included.
		_, c := reopenCrashed(t, m, 300)
		sameAsLeader(t, leader, c)
		c.Close()

		// Truncation into a gap: the new end is after the last batch below
		// the cut; fetching again restores the leader's log.
		bs := gapRead(t, f)
		var gaps []int // batches after a gap
		for k := 1; k < len(bs); k++ {
			if bs[k].base > bs[k-1].last+1 {
				gaps = append(gaps, k)
			}
		}
		k := gaps[rng.IntN(len(gaps))]
		to := bs[k].base - 1 - rng.Int64N(bs[k].base-bs[k-1].last-1)
		if err := f.TruncateTo(to); err != nil {
			t.Fatal(err)
		}
		if leo := f.LogEndOffset(); leo != bs[k-1].last+1 || f.SyncedOffset() != leo {
			t.Fatalf("TruncateTo(%d): LEO %d synced %d, want %d", to, leo, f.SyncedOffset(), bs[k-1].last+1)
		}
		sameBatches(t, "after TruncateTo", rawOf(gapRead(t, f)), rawOf(bs[:k]))
		gapMarkers(t, m)
		_, c = reopenCrashed(t, m, 300)
		sameBatches(t, "after TruncateTo and a crash", rawOf(gapRead(t, c)), rawOf(bs[:k]))
		c.Close()
		feed(t, rng, leader, f)
		sameAsLeader(t, leader, f)

		// Clean reopen.
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		f = memOpen(t, m, 300)
		sameAsLeader(t, leader, f)

		// The follower becomes leader: the producer's retry of its last
		// batch is a duplicate, its next batch is accepted.
		var last batchInfo
		for _, b := range bs {
			if b.h.ProducerID == gapPID {
				last = b
			}
		}
		retry := bytes.Clone(last.raw)
		res, err := f.Append(retry, 4, 2_000_000, false)
		if err != nil || !res.Duplicate || res.BaseOffset != last.base {
			t.Fatalf("retry of the producer's last batch: %+v %v", res, err)
		}
		next := kvBatch(t, kvSpec{ts: 2_000_000, pid: gapPID, seq: last.h.BaseSequence + last.h.NumRecords, recs: []kv{{k: "k1", v: "new"}}})
		if _, err := f.Append(next, 4, 2_000_000, false); err != nil {
			t.Fatalf("producer's next batch: %v", err)
		}

		// The follower compacts its own segments and deletes from the
		// front; markers go with their segments; a crash keeps it all.
		if _, err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		before, _ := readRecords(t, f)
		if st := mustCompact(t, f, CompactOptions{}); !st.Cleaned {
			t.Fatalf("follower compaction: %+v", st)
		}
		after, _ := readRecords(t, f)
		equalMaps(t, latestByKey(after), latestByKey(before))
		checkIndexes(t, f)
		checkGapReads(t, f)
		start := after[len(after)/2].off
		if _, err := f.DeleteRecordsBefore(start); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		want := rawOf(gapRead(t, f))
		gapMarkers(t, m)
		_, c = reopenCrashed(t, m, 300)
		sameBatches(t, "after compaction, retention and a crash", rawOf(gapRead(t, c)), want)
		checkIndexes(t, c)
		c.Close()
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		f = memOpen(t, m, 300)
		sameBatches(t, "after compaction, retention and a clean reopen", rawOf(gapRead(t, f)), want)
		f.Close()
	}
}

// TestGapNeedsMarker: in one big segment (the active one, recovered from
// its batches after a crash), the copied gaps survive a crash because of
// the segment's gap marker; without the marker the same gap is corruption
// and recovery keeps only the contiguous prefix, as for any log that never
// received a gap.
func TestGapNeedsMarker(t *testing.T) {
	leader := compactedLeader(t)
	defer leader.Close()
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	f := memOpen(t, m, 1<<20)
	defer f.Close()
	bs := gapRead(t, leader)
	// Start at the leader's first batch, so that the log begins with
	// contiguous batches and the first gap comes later.
	if err := f.TruncateFullyAndStartAt(bs[0].base); err != nil {
		t.Fatal(err)
	}
	feed(t, rand.New(rand.NewPCG(1, 2)), leader, f)
	if got := gapMarkers(t, m); len(got) != 1 {
		t.Fatalf("gap markers %v, want the one segment's", got)
	}
	_, c := reopenCrashed(t, m, 1<<20)
	sameAsLeader(t, leader, c)
	c.Close()

	prefix := 1 // batches contiguous from the first
	for prefix < len(bs) && bs[prefix].base == bs[prefix-1].last+1 {
		prefix++
	}
	if err := m.Remove(filepath.Join(memDir, segmentName(bs[0].base, ".gaps"))); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir(memDir); err != nil {
		t.Fatal(err)
	}
	_, c = reopenCrashed(t, m, 1<<20)
	defer c.Close()
	sameBatches(t, "without the marker", rawOf(gapRead(t, c)), rawOf(bs[:prefix]))
	if prefix < 2 || prefix == len(bs) {
		t.Fatalf("contiguous prefix of %d batches of %d: not a test", prefix, len(bs))
	}
}

// TestAppendReplicatedGaps: forward gaps before and between batches are
// accepted; an overlap or a step back is refused, within a call too; a
// batch too far past its segment's base for the index is refused; refused
// appends change nothing.
func TestAppendReplicatedGaps(t *testing.T) {
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	l := memOpen(t, m, 1000)
	defer l.Close()
	mk := func(base int64, epoch int32) []byte { return asLeader(spec{records: 3}, base, epoch) }
	if _, err := l.AppendReplicated(concat([][]byte{mk(5, 1), mk(10, 1)})); err != nil {
		t.Fatal(err)
	}
	if leo := l.LogEndOffset(); leo != 13 {
		t.Fatalf("LEO %d, want 13", leo)
	}
	check := func(what string, b []byte, want error) {
		t.Helper()
		_, err := l.AppendReplicated(b)
		wantErr(t, err, want)
		if leo := l.LogEndOffset(); leo != 13 {
			t.Fatalf("%s: LEO %d after a refused append", what, leo)
		}
	}
	check("overlap", mk(12, 1), ErrOffsetMismatch)
	check("behind", mk(0, 1), ErrOffsetMismatch)
	check("overlap inside", concat([][]byte{mk(13, 1), mk(15, 1)}), ErrOffsetMismatch)
	check("step back inside", concat([][]byte{mk(20, 1), mk(14, 1)}), ErrOffsetMismatch)
	// After a roll the segment would start at 13.
	check("beyond the index", mk(13+math.MaxUint32+1, 1), ErrOffsetMismatch)
	if _, err := l.AppendReplicated(concat([][]byte{mk(13, 2), mk(100, 3)})); err != nil {
		t.Fatal(err)
	}
	got := gapRead(t, l)
	var bases []int64
	for _, b := range got {
		bases = append(bases, b.base)
	}
	if fmt.Sprint(bases) != "[5 10 13 100]" || l.LogEndOffset() != 103 {
		t.Fatalf("bases %v LEO %d", bases, l.LogEndOffset())
	}
	checkEpochs(t, l, got)
	for _, c := range []struct{ epoch int32 }{{1}, {2}, {3}} {
		if _, end := l.EndOffsetForEpoch(c.epoch); c.epoch == 1 && end != 13 || c.epoch == 2 && end != 100 || c.epoch == 3 && end != 103 {
			t.Fatalf("EndOffsetForEpoch(%d) = %d", c.epoch, end)
		}
	}
	// Reads inside a gap get the next batch.
	for off, want := range map[int64]int64{0: 5, 8: 10, 50: 100, 99: 100, 101: 100} {
		res, err := l.Read(off, 1, 103)
		if err != nil {
			t.Fatal(err)
		}
		if bs := splitBatches(t, res.Records); len(bs) != 1 || bs[0].base != want {
			t.Fatalf("Read(%d) = %v, want the batch at %d", off, bs, want)
		}
	}
}

// TestTruncateIntoCompactedSegment: truncating a compacted log inside one
// of its cleaned segments (trusted so far, with gaps, no marker) moves the
// recovery point into that segment; it gets a gap marker first, so a crash
// keeps everything below the cut.
func TestTruncateIntoCompactedSegment(t *testing.T) {
	m := vfs.NewCrashableMem()
	l := compactedLeaderOn(t, m)
	defer l.Close()
	if got := gapMarkers(t, m); len(got) != 0 {
		t.Fatalf("a leader's log has gap markers %v", got)
	}
	bs := gapRead(t, l)
	// The cut: at the last batch k of a cleaned segment (not the active
	// one) that has a gap before an earlier batch of that segment.
	segOf := func(off int64) *segment {
		var s *segment
		for _, x := range l.segs[:len(l.segs)-1] {
			if x.base <= off {
				s = x
			}
		}
		return s
	}
	k := -1
	for i := 1; i < len(bs); i++ {
		s := segOf(bs[i].base)
		if s == nil || segOf(bs[i-1].base) != s {
			continue
		}
		for j := 0; j < i; j++ {
			if bs[j].base >= s.base && bs[j].base > max(s.base, bs[max(j-1, 0)].last+1) {
				k = i
			}
		}
	}
	if k < 0 {
		t.Fatal("no cleaned segment with a gap before its second batch")
	}
	if err := l.TruncateTo(bs[k].base); err != nil {
		t.Fatal(err)
	}
	sameBatches(t, "after TruncateTo", rawOf(gapRead(t, l)), rawOf(bs[:k]))
	if got := gapMarkers(t, m); len(got) != 1 {
		t.Fatalf("gap markers %v, want the cut segment's", got)
	}
	_, c := reopenCrashed(t, m, 400)
	defer c.Close()
	sameBatches(t, "after TruncateTo and a crash", rawOf(gapRead(t, c)), rawOf(bs[:k]))
	checkIndexes(t, c)
}

// TestTruncateFullyRemovesMarkers: restarting a follower with gaps at a
// later offset removes every segment with its gap marker; a crash keeps
// the empty log at the new start, and the leader's next batches (with
// gaps) continue it.
func TestTruncateFullyRemovesMarkers(t *testing.T) {
	leader := compactedLeader(t)
	defer leader.Close()
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	f := memOpen(t, m, 300)
	defer f.Close()
	feed(t, rand.New(rand.NewPCG(3, 4)), leader, f)
	if len(gapMarkers(t, m)) == 0 {
		t.Fatal("no gap markers")
	}
	start := leader.LogEndOffset() + 10
	if err := f.TruncateFullyAndStartAt(start); err != nil {
		t.Fatal(err)
	}
	if got := gapMarkers(t, m); len(got) != 0 {
		t.Fatalf("gap markers %v after TruncateFullyAndStartAt", got)
	}
	_, c := reopenCrashed(t, m, 300)
	if c.LogStartOffset() != start || c.LogEndOffset() != start {
		t.Fatalf("after a crash: start %d end %d, want %d", c.LogStartOffset(), c.LogEndOffset(), start)
	}
	c.Close()
	more := moreBatches(t, start)
	if _, err := f.AppendReplicated(concat(more)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	_, c = reopenCrashed(t, m, 300)
	defer c.Close()
	sameBatches(t, "after a crash", rawOf(gapRead(t, c)), more)
	if got := gapMarkers(t, m); len(got) != 1 {
		t.Fatalf("gap markers %v, want the new segment's", got)
	}
}
