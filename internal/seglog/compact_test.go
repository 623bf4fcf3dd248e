package seglog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
)

// kv is one test record: an empty k is a null key, tomb a null value.
type kv struct {
	k, v string
	tomb bool
}

// kvSpec describes a keyed test batch.
type kvSpec struct {
	codec batch.Codec
	ts    int64 // record i gets ts + i
	pid   int64 // 0: not idempotent
	seq   int32
	recs  []kv
}

func kvBatch(t testing.TB, s kvSpec) []byte {
	t.Helper()
	spec := batch.BatchSpec{PartitionLeaderEpoch: batch.NoPartitionEpoch, Codec: s.codec, BaseTimestamp: s.ts,
		ProducerID: batch.NoProducerID, ProducerEpoch: -1, BaseSequence: batch.NoSequence}
	if s.pid != 0 {
		spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = s.pid, 0, s.seq
	}
	for i, r := range s.recs {
		rec := batch.Record{OffsetDelta: int32(i), TimestampDelta: int64(i)}
		if r.k != "" {
			rec.Key = []byte(r.k)
		}
		if !r.tomb {
			rec.Value = []byte(r.v)
		}
		spec.Records = append(spec.Records, rec)
	}
	b, err := batch.Build(nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rec is a record read back from the log.
type rec struct {
	off   int64
	ts    int64
	key   string
	value *string
}

// readRecords reads the whole log in small fetches, checking that every
// fetch starts with the first batch at or after its offset and that offsets
// increase.
func readRecords(t testing.TB, l *Log) ([]rec, []batch.Header) {
	t.Helper()
	var out []rec
	var hs []batch.Header
	off, leo := l.LogStartOffset(), l.LogEndOffset()
	last := int64(-1)
	for off < leo {
		res, err := l.Read(off, 200, leo)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(res.Records) == 0 {
			break // only a compacted tail gap is left
		}
		if res.NextOffset <= off {
			t.Fatalf("Read(%d) did not advance: next %d", off, res.NextOffset)
		}
		for _, b := range splitBatches(t, res.Records) {
			h := b.h
			if h.LastOffset() < off {
				t.Fatalf("Read(%d) returned batch %d-%d", off, h.BaseOffset, h.LastOffset())
			}
			hs = append(hs, h)
			err := batch.ReadRecords(&h, b.raw[batch.HeaderSize:], 1<<26, func(r batch.Record) error {
				o := h.BaseOffset + int64(r.OffsetDelta)
				if o <= last || o > h.LastOffset() {
					t.Fatalf("record offset %d after %d (batch %d-%d)", o, last, h.BaseOffset, h.LastOffset())
				}
				last = o
				x := rec{off: o, ts: h.BaseTimestamp + r.TimestampDelta, key: string(r.Key)}
				if r.Value != nil {
					v := string(r.Value)
					x.value = &v
				}
				out = append(out, x)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		off = res.NextOffset
	}
	return out, hs
}

// fmtRecs prints records for comparisons.
func fmtRecs(rs []rec) string {
	var b bytes.Buffer
	for _, r := range rs {
		v := "<nil>"
		if r.value != nil {
			v = *r.value
		}
		fmt.Fprintf(&b, "%d@%d %s=%s\n", r.off, r.ts, r.key, v)
	}
	return b.String()
}

// latestByKey is what a consumer from the beginning ends with.
func latestByKey(rs []rec) map[string]string {
	m := map[string]string{}
	for _, r := range rs {
		if r.value == nil {
			delete(m, r.key)
		} else {
			m[r.key] = *r.value
		}
	}
	return m
}

func equalMaps(t testing.TB, got, want map[string]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("latest values:\n got %v\nwant %v", got, want)
	}
}

// compactLog opens a log whose every batch is a segment (segment.bytes
// tiny), with an injected clock.
func compactLog(t testing.TB, dir string, c *clock, segBytes int64) *Log {
	return openLog(t, dir, Options{SegmentBytes: segBytes, IndexIntervalBytes: 1, Now: c.now})
}

func mustCompact(t testing.TB, l *Log, o CompactOptions) CompactStats {
	t.Helper()
	if _, err := l.Sync(); err != nil { // compaction only touches synced segments
		t.Fatal(err)
	}
	st, err := l.Compact(o)
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	return st
}

// writeKeys appends n batches of two records each over keys k0..k(keys-1).
func writeKeys(t testing.TB, l *Log, c *clock, from, n, keys int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{
			{k: fmt.Sprintf("k%d", (2*i)%keys), v: fmt.Sprintf("v%d", 2*i)},
			{k: fmt.Sprintf("k%d", (2*i+1)%keys), v: fmt.Sprintf("v%d", 2*i+1)},
		}}))
	}
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	dir := t.TempDir()
	c := &clock{ms: 1_000_000}
	l := compactLog(t, dir, c, 1)
	writeKeys(t, l, c, 0, 20, 5)
	before, _ := readRecords(t, l)
	want := latestByKey(before)
	leo := l.LogEndOffset()

	st := mustCompact(t, l, CompactOptions{})
	if !st.Cleaned || st.RecordsRemoved == 0 || st.SegmentsWritten == 0 {
		t.Fatalf("stats %+v", st)
	}
	after, _ := readRecords(t, l)
	equalMaps(t, latestByKey(after), want)
	if l.LogEndOffset() != leo || l.LogStartOffset() != 0 {
		t.Fatalf("offsets moved: start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	// Offsets unchanged: every surviving record has its original offset and value.
	orig := map[int64]rec{}
	for _, r := range before {
		orig[r.off] = r
	}
	seen := map[string]bool{}
	for _, r := range after {
		o := orig[r.off]
		if o.key != r.key || *o.value != *r.value || o.ts != r.ts {
			t.Fatalf("record at %d changed: %+v -> %+v", r.off, o, r)
		}
		if seen[r.key] && r.off < 38 { // the active segment (last batch) is not cleaned
			t.Fatalf("key %s twice in the cleaned part", r.key)
		}
		seen[r.key] = true
	}
	checkIndexes(t, l)
	checkReadsAcrossGaps(t, l)

	// A clean restart trusts the compacted segments; an unclean one
	// recovers them; both read the same.
	crash := t.TempDir()
	copyDir(t, dir, crash, nil, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, crash} {
		l2 := compactLog(t, d, c, 1)
		got, _ := readRecords(t, l2)
		if fmtRecs(got) != fmtRecs(after) {
			t.Fatalf("%s after reopen:\n got %v\nwant %v", d, got, after)
		}
		checkIndexes(t, l2)
		l2.Close()
	}
}

// checkReadsAcrossGaps reads at every offset: a removed offset gets the next
// batch.
func checkReadsAcrossGaps(t testing.TB, l *Log) {
	t.Helper()
	all, _ := readRecords(t, l)
	for off := l.LogStartOffset(); off < l.LogEndOffset(); off++ {
		res, err := l.Read(off, 1, l.LogEndOffset())
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		bs := splitBatches(t, res.Records)
		var next *rec
		for i := range all {
			if all[i].off >= off {
				next = &all[i]
				break
			}
		}
		if next == nil {
			if len(bs) != 0 {
				t.Fatalf("Read(%d) past the last record returned %d-%d", off, bs[0].base, bs[0].last)
			}
			continue
		}
		if len(bs) == 0 || bs[0].last < off || bs[0].last < next.off || bs[0].base > next.off {
			t.Fatalf("Read(%d) does not start with the batch of offset %d: %v", off, next.off, bs)
		}
	}
}

func TestCompactGroupsSegments(t *testing.T) {
	dir := t.TempDir()
	c := &clock{ms: 1_000_000}
	l := compactLog(t, dir, c, 400)
	defer l.Close()
	writeKeys(t, l, c, 0, 60, 3)
	want := latestByKey(first(readRecords(t, l)))
	mustCompact(t, l, CompactOptions{})
	equalMaps(t, latestByKey(first(readRecords(t, l))), want)
	checkIndexes(t, l)
	checkReadsAcrossGaps(t, l)
	// Cleaning again with nothing new to clean changes nothing.
	if st := mustCompact(t, l, CompactOptions{}); st.Cleaned {
		t.Fatalf("second run cleaned: %+v", st)
	}
	// Groups are formed by source size, as Kafka does: the segments the
	// first run shrank are merged by the next one.
	segsBefore := len(l.segs)
	writeKeys(t, l, c, 60, 5, 3)
	want = latestByKey(first(readRecords(t, l)))
	mustCompact(t, l, CompactOptions{})
	if len(l.segs) >= segsBefore {
		t.Fatalf("segments %d -> %d: cleaned segments were not merged", segsBefore, len(l.segs))
	}
	equalMaps(t, latestByKey(first(readRecords(t, l))), want)
	checkIndexes(t, l)
	checkReadsAcrossGaps(t, l)
}

func first[A, B any](a A, _ B) A { return a }

func TestCompactTombstones(t *testing.T) {
	dir := t.TempDir()
	c := &clock{ms: 1_000_000}
	l := compactLog(t, dir, c, 1)
	defer l.Close()
	mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "a", v: "1"}, {k: "b", v: "1"}}}))
	mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "a", tomb: true}}}))
	mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "c", v: "1"}}})) // active
	o := CompactOptions{DeleteRetentionMs: 1000}
	mustCompact(t, l, o)
	rs, hs := readRecords(t, l)
	if len(rs) != 3 || rs[0].key != "b" || rs[1].key != "a" || rs[1].value != nil {
		t.Fatalf("after the first cleaning: %+v", rs)
	}
	if hs[1].Attributes&batch.DeleteHorizonBit == 0 || hs[1].BaseTimestamp != c.ms+1000 {
		t.Fatalf("tombstone batch without its delete horizon: %+v", hs[1])
	}
	if rs[1].ts != 1_000_000 {
		t.Fatalf("tombstone timestamp changed to %d", rs[1].ts)
	}
	// Not yet past the horizon: the tombstone stays even with new data.
	c.ms += 500
	mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "d", v: "1"}}}))
	mustCompact(t, l, o)
	if rs, _ := readRecords(t, l); len(rs) != 4 || rs[1].value != nil {
		t.Fatalf("tombstone removed before delete.retention.ms: %+v", rs)
	}
	// Past the horizon: removed, even though nothing is dirty (the
	// remembered horizon makes the log due) and the ratio asks for 100%.
	c.ms += 600
	if st := mustCompact(t, l, CompactOptions{DeleteRetentionMs: 1000, MinCleanableRatio: 1}); !st.Cleaned {
		t.Fatalf("horizon did not trigger a cleaning: %+v", st)
	}
	rs, _ = readRecords(t, l)
	equalMaps(t, latestByKey(rs), map[string]string{"b": "1", "c": "1", "d": "1"})
	for _, r := range rs {
		if r.key == "a" {
			t.Fatalf("tombstone survived its horizon: %+v", rs)
		}
	}
	checkReadsAcrossGaps(t, l)
}

func TestCompactKeylessRecordsDropped(t *testing.T) {
	c := &clock{ms: 1_000_000}
	l := compactLog(t, t.TempDir(), c, 1)
	defer l.Close()
	mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{v: "x"}, {k: "a", v: "1"}}}))
	mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "b", v: "1"}}}))
	mustCompact(t, l, CompactOptions{})
	rs, _ := readRecords(t, l)
	if len(rs) != 2 || rs[0].key != "a" || rs[0].off != 1 {
		t.Fatalf("got %+v", rs)
	}
}

func TestCompactMinCompactionLag(t *testing.T) {
	c := &clock{ms: 1_000_000}
	l := compactLog(t, t.TempDir(), c, 1)
	defer l.Close()
	for i := 0; i < 6; i++ { // old: timestamps 1_000_000
		mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "a", v: fmt.Sprint(i)}}}))
	}
	c.ms += 10_000
	for i := 6; i < 12; i++ { // new
		mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "a", v: fmt.Sprint(i)}}}))
	}
	mustCompact(t, l, CompactOptions{MinCompactionLagMs: 5000})
	rs, _ := readRecords(t, l)
	// The old part keeps only its latest "a" (offset 5); the newer part is untouched.
	var offs []int64
	for _, r := range rs {
		offs = append(offs, r.off)
	}
	if fmt.Sprint(offs) != "[5 6 7 8 9 10 11]" {
		t.Fatalf("offsets after compaction with a lag: %v", offs)
	}
	c.ms += 10_000
	mustCompact(t, l, CompactOptions{MinCompactionLagMs: 5000})
	rs, _ = readRecords(t, l)
	if len(rs) != 2 || rs[0].off != 10 || rs[1].off != 11 { // 11 is in the active segment
		t.Fatalf("after the lag passed: %+v", rs)
	}
}

func TestCompactDirtyRatio(t *testing.T) {
	c := &clock{ms: 1_000_000}
	l := compactLog(t, t.TempDir(), c, 1)
	defer l.Close()
	for i := 0; i < 20; i++ {
		mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: fmt.Sprint(i), v: "v"}}}))
	}
	if st := mustCompact(t, l, CompactOptions{MinCleanableRatio: 0.5}); !st.Cleaned || st.DirtyRatio != 1 {
		t.Fatalf("first run: %+v", st)
	}
	// Two new segments (and the active one) over 21 distinct keys: dirty
	// ratio about 0.1.
	for i := 0; i < 3; i++ {
		mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "x", v: fmt.Sprint(i)}}}))
	}
	st := mustCompact(t, l, CompactOptions{MinCleanableRatio: 0.5})
	if st.Cleaned || st.DirtyRatio <= 0 || st.DirtyRatio >= 0.5 {
		t.Fatalf("cleaned below the ratio: %+v", st)
	}
	if st := mustCompact(t, l, CompactOptions{MinCleanableRatio: 0.05}); !st.Cleaned || st.RecordsRemoved != 1 {
		t.Fatalf("lower ratio: %+v", st)
	}
}

func TestCompactCompressedBatches(t *testing.T) {
	for _, codec := range []batch.Codec{batch.CodecGzip, batch.CodecSnappy, batch.CodecLZ4, batch.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			c := &clock{ms: 1_000_000}
			l := compactLog(t, t.TempDir(), c, 1)
			defer l.Close()
			for i := 0; i < 5; i++ {
				var recs []kv
				for j := 0; j < 10; j++ {
					recs = append(recs, kv{k: fmt.Sprintf("k%d", (i*10+j)%7), v: string(bytes.Repeat([]byte{byte('a' + j)}, 100))})
				}
				mustAppend(t, l, kvBatch(t, kvSpec{codec: codec, ts: c.ms, recs: recs}))
			}
			want := latestByKey(first(readRecords(t, l)))
			mustCompact(t, l, CompactOptions{})
			rs, hs := readRecords(t, l)
			equalMaps(t, latestByKey(rs), want)
			for _, h := range hs {
				if h.Codec() != codec {
					t.Fatalf("batch %d has codec %v", h.BaseOffset, h.Codec())
				}
			}
			if len(rs) >= 50 {
				t.Fatalf("nothing removed: %d records", len(rs))
			}
		})
	}
}

func TestCompactIdempotentProducer(t *testing.T) {
	dir := t.TempDir()
	c := &clock{ms: 1_000_000}
	l := compactLog(t, dir, c, 1)
	// Producer 7 overwrites "k" four times; then a plain producer
	// overwrites it, so all of producer 7's records become obsolete.
	var batches [][]byte
	for seq := int32(0); seq < 4; seq++ {
		b := kvBatch(t, kvSpec{ts: c.ms, pid: 7, seq: seq, recs: []kv{{k: "k", v: fmt.Sprint(seq)}}})
		batches = append(batches, append([]byte(nil), b...))
		mustAppend(t, l, b)
	}
	mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "k", v: "plain"}}}))
	mustAppend(t, l, kvBatch(t, kvSpec{ts: c.ms, recs: []kv{{k: "z", v: "active"}}}))
	mustCompact(t, l, CompactOptions{})
	check := func(l *Log) {
		t.Helper()
		rs, hs := readRecords(t, l)
		equalMaps(t, latestByKey(rs), map[string]string{"k": "plain", "z": "active"})
		var kept *batch.Header
		for i := range hs {
			if hs[i].ProducerID == 7 {
				kept = &hs[i]
			}
		}
		if kept == nil || kept.BaseOffset != 3 || kept.NumRecords != 0 || kept.LastOffset() != 3 || kept.BaseSequence != 3 {
			t.Fatalf("producer's last batch not retained as an empty batch: %+v", kept)
		}
		// The last batch is still a duplicate; the next sequence follows it.
		res, err := l.Append(append([]byte(nil), batches[3]...), 0, c.ms, false)
		if err != nil || !res.Duplicate || res.BaseOffset != 3 {
			t.Fatalf("retry of the last batch: %+v %v", res, err)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// After a restart the state is rebuilt from the retained header.
	l = compactLog(t, dir, c, 1)
	defer l.Close()
	check(l)
	res, err := l.Append(kvBatch(t, kvSpec{ts: c.ms, pid: 7, seq: 4, recs: []kv{{k: "k", v: "4"}}}), 0, c.ms, false)
	if err != nil || res.Duplicate {
		t.Fatalf("next sequence after compaction and restart: %+v %v", res, err)
	}
}

// TestCompactCrashDuringSwap copies the directory as a crash would leave it
// at each step of the swap and checks that Open recovers a consistent log
// with the same latest values, and leaves no temporary file.
func TestCompactCrashDuringSwap(t *testing.T) {
	dir := t.TempDir()
	c := &clock{ms: 1_000_000}
	l := compactLog(t, dir, c, 250)
	writeKeys(t, l, c, 0, 40, 4)
	before, _ := readRecords(t, l)
	want := latestByKey(before)
	copies := map[int]string{}
	l.swapHook = func(step int) {
		d := t.TempDir()
		copyDir(t, dir, d, nil, nil)
		copies[step] = d
	}
	mustCompact(t, l, CompactOptions{})
	after, _ := readRecords(t, l)
	l.Close()
	if len(copies) != 4 {
		t.Fatalf("hook ran at steps %v", copies)
	}
	leftovers, _ := filepath.Glob(filepath.Join(copies[1], "*.swap"))
	if len(leftovers) == 0 {
		t.Fatal("step 1 left no .swap file to recover")
	}
	for step, d := range copies {
		l2 := compactLog(t, d, c, 250)
		got, _ := readRecords(t, l2)
		equalMaps(t, latestByKey(got), want)
		if step == 0 && fmtRecs(got) != fmtRecs(before) {
			t.Fatalf("step 0 (not committed) did not roll back")
		}
		if step >= 1 && len(got) > len(before) || step == 3 && fmtRecs(got) != fmtRecs(after) {
			t.Fatalf("step %d: %d records, %d before, %d after", step, len(got), len(before), len(after))
		}
		checkIndexes(t, l2)
		checkReadsAcrossGaps(t, l2)
		for _, pat := range []string{"*.cleaned", "*.swap"} {
			if m, _ := filepath.Glob(filepath.Join(d, pat)); len(m) > 0 {
				t.Fatalf("step %d: leftovers %v", step, m)
			}
		}
		// Appends and a second compaction still work.
		writeKeys(t, l2, c, 40, 3, 4)
		mustCompact(t, l2, CompactOptions{})
		l2.Close()
	}
}

// TestCompactRecoversSwapAfterRetentionLike covers a ".swap" whose sources
// were already removed and an orphan ".cleaned" from an interrupted run.
func TestCompactOrphanCleanedFile(t *testing.T) {
	dir := t.TempDir()
	c := &clock{ms: 1_000_000}
	l := compactLog(t, dir, c, 1)
	writeKeys(t, l, c, 0, 5, 2)
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, segmentName(0, ".log.cleaned")), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = compactLog(t, dir, c, 1)
	defer l.Close()
	if rs, _ := readRecords(t, l); len(rs) != 10 {
		t.Fatalf("got %d records", len(rs))
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(0, ".log.cleaned"))); !os.IsNotExist(err) {
		t.Fatalf("orphan .cleaned file kept: %v", err)
	}
}

// TestCompactConcurrentReads reads the whole log over and over while
// appends and compactions run (meaningful under -race).
func TestCompactConcurrentReads(t *testing.T) {
	c := &clock{ms: 1_000_000}
	l := compactLog(t, t.TempDir(), c, 300)
	defer l.Close()
	writeKeys(t, l, c, 0, 30, 6)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := readConsistent(l); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 15; i++ {
		writeKeys(t, l, c, 30+i*5, 5, 6)
		if _, err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Compact(CompactOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkIndexes(t, l)
}

// readConsistent reads the log from the start without a testing.T (it runs
// in goroutines): every fetch must advance and offsets must increase.
func readConsistent(l *Log) error {
	off, leo := l.LogStartOffset(), l.LogEndOffset()
	last := int64(-1)
	for off < leo {
		res, err := l.Read(off, 500, leo)
		if err != nil {
			return fmt.Errorf("Read(%d): %w", off, err)
		}
		if len(res.Records) == 0 {
			return nil
		}
		err = batch.Iterate(res.Records, func(h batch.Header, b []byte) error {
			if h.LastOffset() < off || h.BaseOffset <= last {
				return fmt.Errorf("Read(%d): batch %d-%d after %d", off, h.BaseOffset, h.LastOffset(), last)
			}
			last = h.LastOffset()
			return batch.CheckCRC(b)
		})
		if err != nil {
			return err
		}
		off = res.NextOffset
	}
	return nil
}
