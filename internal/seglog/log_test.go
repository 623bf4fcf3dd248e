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

func TestAppendReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{IndexIntervalBytes: 256})
	var want [][]byte
	var next int64
	for i := 0; i < 200; i++ {
		b := buildBatch(spec{records: 1 + i%7, baseTs: int64(1000 + i), valueSize: i % 50})
		res := mustAppend(t, l, b)
		if res.BaseOffset != next || res.LastOffset != next+int64(i%7) || res.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v, want base %d", i, res, next)
		}
		next = res.LastOffset + 1
		want = append(want, b) // stamped in place by Append
	}
	if l.LogEndOffset() != next {
		t.Fatalf("LEO %d, want %d", l.LogEndOffset(), next)
	}
	got := readAll(t, l)
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].raw, want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
	checkIndexes(t, l)
	// A read at every offset starts with the batch containing it.
	for off := int64(0); off < next; off++ {
		res, err := l.Read(off, 1, next)
		if err != nil {
			t.Fatal(err)
		}
		bs := splitBatches(t, res.Records)
		if len(bs) != 1 || bs[0].base > off || bs[0].last < off {
			t.Fatalf("Read(%d) = %d batches starting %d", off, len(bs), bs[0].base)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A clean reopen serves the same bytes.
	l = openLog(t, dir, Options{IndexIntervalBytes: 256})
	defer l.Close()
	got2 := readAll(t, l)
	for i := range got2 {
		if !bytes.Equal(got2[i].raw, want[i]) {
			t.Fatalf("after reopen batch %d differs", i)
		}
	}
	checkIndexes(t, l)
}

func TestAppendStampsHeader(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	mustAppend(t, l, buildBatch(spec{records: 3}))
	b := append(buildBatch(spec{records: 2, baseTs: 5}), buildBatch(spec{records: 4, baseTs: 6})...)
	res, err := l.Append(b, 7, 123456, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 3 || res.LastOffset != 8 || res.LogAppendTime != 123456 {
		t.Fatalf("result %+v", res)
	}
	r, err := l.Read(3, 1<<20, 100)
	if err != nil {
		t.Fatal(err)
	}
	bs := splitBatches(t, r.Records) // checks CRCs too
	if len(bs) != 2 || bs[0].base != 3 || bs[1].base != 5 {
		t.Fatalf("batches %+v", bs)
	}
	for _, x := range bs {
		if x.h.PartitionLeaderEpoch != 7 || !x.h.LogAppendTime() || x.h.MaxTimestamp != 123456 {
			t.Fatalf("header not stamped: %+v", x.h)
		}
	}
	if r.NextOffset != 9 {
		t.Fatalf("NextOffset %d", r.NextOffset)
	}
}

func TestAppendRejects(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{MaxMessageBytes: 200})
	defer l.Close()
	_, err := l.Append(buildBatch(spec{valueSize: 300}), 0, 0, false)
	wantErr(t, err, ErrMessageTooLarge)
	b := buildBatch(spec{records: 2})
	_, err = l.Append(b[:len(b)-1], 0, 0, false)
	wantErr(t, err, batch.ErrShort)
	b[16] = 1
	_, err = l.Append(b, 0, 0, false)
	wantErr(t, err, batch.ErrMagic)
	res, err := l.Append(nil, 0, 0, false)
	if err != nil || res.BaseOffset != -1 {
		t.Fatalf("empty append: %+v %v", res, err)
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatal("a rejected append changed the log")
	}
}

func TestReadBounds(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{IndexIntervalBytes: 100})
	defer l.Close()
	var sizes []int
	for i := 0; i < 20; i++ {
		b := buildBatch(spec{records: 5, valueSize: 20})
		sizes = append(sizes, len(b))
		mustAppend(t, l, b)
	}
	// offsets 0..99, batches of 5
	t.Run("inside a batch", func(t *testing.T) {
		r, err := l.Read(12, 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		bs := splitBatches(t, r.Records)
		if len(bs) != 1 || bs[0].base != 10 || r.NextOffset != 15 {
			t.Fatalf("got %+v next %d", bs, r.NextOffset)
		}
	})
	t.Run("maxBytes whole batches", func(t *testing.T) {
		r, _ := l.Read(0, 3*sizes[0]+sizes[0]/2, 100)
		if bs := splitBatches(t, r.Records); len(bs) != 3 {
			t.Fatalf("%d batches, want 3", len(bs))
		}
		r, _ = l.Read(0, 0, 100) // KIP-74: at least one batch
		if bs := splitBatches(t, r.Records); len(bs) != 1 {
			t.Fatalf("%d batches, want 1", len(bs))
		}
	})
	t.Run("maxOffset", func(t *testing.T) {
		r, _ := l.Read(0, 1<<20, 23) // batch 20-24 reaches 23: excluded
		bs := splitBatches(t, r.Records)
		if len(bs) != 4 || bs[3].last != 19 || r.NextOffset != 20 {
			t.Fatalf("%d batches, next %d", len(bs), r.NextOffset)
		}
		r, _ = l.Read(25, 1<<20, 25)
		if len(r.Records) != 0 || r.NextOffset != 25 {
			t.Fatal("read at the high watermark returned data")
		}
	})
	t.Run("range", func(t *testing.T) {
		r, err := l.Read(100, 100, 100)
		if err != nil || len(r.Records) != 0 {
			t.Fatalf("read at LEO: %v %d bytes", err, len(r.Records))
		}
		_, err = l.Read(101, 100, 200)
		wantErr(t, err, ErrOffsetOutOfRange)
		_, err = l.Read(-1, 100, 200)
		wantErr(t, err, ErrOffsetOutOfRange)
	})
}

func TestRollBySizeAndReadAcross(t *testing.T) {
	dir := t.TempDir()
	b0 := buildBatch(spec{records: 2, valueSize: 100})
	l := openLog(t, dir, Options{SegmentBytes: int64(3 * len(b0)), IndexIntervalBytes: 1})
	for i := 0; i < 10; i++ {
		mustAppend(t, l, buildBatch(spec{records: 2, valueSize: 100}))
	}
	if n := len(segmentFiles(t, dir)); n != 4 {
		t.Fatalf("%d segments, want 4", n)
	}
	// One read crosses segment boundaries.
	r, err := l.Read(1, 1<<20, 20)
	if err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, splitBatches(t, r.Records), 0, 20)
	checkIndexes(t, l)
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	// The rolled segments got index files at Sync.
	for _, base := range []int64{0, 6, 12} {
		if _, err := os.Stat(filepath.Join(dir, segmentName(base, ".index"))); err != nil {
			t.Fatalf("index of segment %d: %v", base, err)
		}
	}
	l.Close()
	l = openLog(t, dir, Options{SegmentBytes: int64(3 * len(b0))})
	defer l.Close()
	checkContiguous(t, readAll(t, l), 0, 20)
	checkIndexes(t, l)
}

func TestRollByTime(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentMs: 1000})
	defer l.Close()
	now := int64(1_000_000)
	for i := 0; i < 6; i++ {
		if _, err := l.Append(buildBatch(spec{}), 0, now, false); err != nil {
			t.Fatal(err)
		}
		now += 600 // a new segment every second append
	}
	if n := len(segmentFiles(t, dir)); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
}

func TestRetentionBySize(t *testing.T) {
	dir := t.TempDir()
	b0 := buildBatch(spec{valueSize: 100})
	seg := int64(2 * len(b0))
	l := openLog(t, dir, Options{SegmentBytes: seg, RetentionBytes: 3 * seg, RetentionMs: -1})
	defer l.Close()
	for i := 0; i < 10; i++ { // 5 segments of 2 batches
		mustAppend(t, l, buildBatch(spec{valueSize: 100}))
	}
	n, err := l.ApplyRetention()
	if err != nil || n != 2 {
		t.Fatalf("deleted %d segments (%v), want 2", n, err)
	}
	if l.LogStartOffset() != 4 || len(segmentFiles(t, dir)) != 3 {
		t.Fatalf("log start %d, %d files", l.LogStartOffset(), len(segmentFiles(t, dir)))
	}
	_, err = l.Read(3, 100, 100)
	wantErr(t, err, ErrOffsetOutOfRange)
	checkContiguous(t, readAll(t, l), 4, 10)
	// Never the active segment, even if it alone is too big.
	l.SetOptions(Options{SegmentBytes: seg, RetentionBytes: 1, RetentionMs: -1})
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if len(segmentFiles(t, dir)) != 1 || l.LogStartOffset() != 8 {
		t.Fatalf("%d files, log start %d", len(segmentFiles(t, dir)), l.LogStartOffset())
	}
}

func TestRetentionByTime(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{ms: 10_000}
	b0 := buildBatch(spec{})
	l := openLog(t, dir, Options{SegmentBytes: int64(2 * len(b0)), RetentionMs: 5000, Now: clk.now})
	for i := 0; i < 6; i++ { // segments [0,1] ts 1000,1001; [2,3] 3000..; [4,5] 5000..
		mustAppend(t, l, buildBatch(spec{baseTs: int64(1000 + 1000*(i/2)*2 + i%2)}))
	}
	n, err := l.ApplyRetention() // limit 5000: segments with max ts < 5000 go
	if err != nil || n != 2 || l.LogStartOffset() != 4 {
		t.Fatalf("deleted %d (%v), log start %d", n, err, l.LogStartOffset())
	}
	// Everything expired: the active segment is rolled and deleted too.
	clk.ms = 100_000
	n, err = l.ApplyRetention()
	if err != nil || n != 1 || l.LogStartOffset() != 6 || l.LogEndOffset() != 6 || l.Size() != 0 {
		t.Fatalf("deleted %d (%v), start %d, end %d, size %d", n, err, l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	mustAppend(t, l, buildBatch(spec{}))
	l.Close()
	l = openLog(t, dir, Options{})
	defer l.Close()
	if l.LogStartOffset() != 6 || l.LogEndOffset() != 7 {
		t.Fatalf("after reopen start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	dir := t.TempDir()
	b0 := buildBatch(spec{records: 2})
	l := openLog(t, dir, Options{SegmentBytes: int64(2 * len(b0))})
	for i := 0; i < 6; i++ { // segments 0-3, 4-7, 8-11
		mustAppend(t, l, buildBatch(spec{records: 2}))
	}
	if _, err := l.DeleteRecordsBefore(13); err != ErrOffsetOutOfRange {
		t.Fatalf("beyond LEO: %v", err)
	}
	start, err := l.DeleteRecordsBefore(5)
	if err != nil || start != 5 {
		t.Fatal(start, err)
	}
	if len(segmentFiles(t, dir)) != 2 {
		t.Fatalf("%d segment files, want 2", len(segmentFiles(t, dir)))
	}
	_, err = l.Read(4, 100, 100)
	wantErr(t, err, ErrOffsetOutOfRange)
	r, err := l.Read(5, 1, 100) // the batch containing 5 starts at 4
	if bs := splitBatches(t, r.Records); err != nil || bs[0].base != 4 {
		t.Fatalf("read at log start: %v", err)
	}
	if s, _ := l.DeleteRecordsBefore(3); s != 5 {
		t.Fatal("log start moved back")
	}
	l.Close()
	l = openLog(t, dir, Options{})
	defer l.Close()
	if l.LogStartOffset() != 5 {
		t.Fatalf("log start %d after reopen", l.LogStartOffset())
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{IndexIntervalBytes: 50, SegmentBytes: 2000})
	// Batch i holds 4 records with timestamps 100i, 100i+10, +20, +30.
	for i := 1; i <= 30; i++ {
		mustAppend(t, l, buildBatch(spec{records: 4, baseTs: int64(100 * i), tsStep: 10}))
	}
	check := func(ts, wantOff, wantTs int64, wantOK bool) {
		t.Helper()
		off, got, ok := l.OffsetForTimestamp(ts)
		if ok != wantOK || ok && (off != wantOff || got != wantTs) {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d, %v", ts, off, got, ok, wantOff, wantTs, wantOK)
		}
	}
	check(0, 0, 100, true)
	check(100, 0, 100, true)
	check(101, 1, 110, true)
	check(1525, 59, 1530, true) // batch 15 = offsets 56-59
	check(1531, 60, 1600, true)
	check(3030, 119, 3030, true)
	check(3031, 0, 0, false)
	if off, ts := l.MaxTimestamp(); off != 119 || ts != 3030 {
		t.Fatalf("MaxTimestamp = %d, %d", off, ts)
	}
	// Below the log start the answer is clamped to it.
	if _, err := l.DeleteRecordsBefore(6); err != nil {
		t.Fatal(err)
	}
	check(0, 6, 220, true)
	l.Close()
	l = openLog(t, dir, Options{})
	defer l.Close()
	check(1525, 59, 1530, true)
	// A LogAppendTime batch answers at batch precision.
	if _, err := l.Append(buildBatch(spec{records: 3}), 0, 5000, true); err != nil {
		t.Fatal(err)
	}
	check(4000, 120, 5000, true)
	if off, ts := l.MaxTimestamp(); off != 120 || ts != 5000 {
		t.Fatalf("MaxTimestamp = %d, %d", off, ts)
	}
}

func TestMaxTimestampEmpty(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	if off, ts := l.MaxTimestamp(); off != -1 || ts != -1 {
		t.Fatal(off, ts)
	}
	if _, _, ok := l.OffsetForTimestamp(0); ok {
		t.Fatal("empty log found a timestamp")
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
		t.Fatal("empty cache", e, o)
	}
	appendEpoch := func(epoch int32, n int) {
		for i := 0; i < n; i++ {
			if _, err := l.Append(buildBatch(spec{records: 2}), epoch, 0, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendEpoch(2, 2) // 0-3
	appendEpoch(4, 1) // 4-5
	appendEpoch(7, 3) // 6-11
	cases := []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{-1, -1, -1},
		{1, 1, 0}, // below all: Kafka answers the first known start
		{2, 2, 4},
		{3, 2, 4},
		{4, 4, 6},
		{6, 4, 6},
		{7, 7, 12},
		{8, -1, -1},
	}
	check := func() {
		t.Helper()
		for _, c := range cases {
			e, o := l.EndOffsetForEpoch(c.epoch)
			if e != c.wantEpoch || o != c.wantEnd {
				t.Fatalf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", c.epoch, e, o, c.wantEpoch, c.wantEnd)
			}
		}
	}
	check()
	l.Close()
	l = openLog(t, dir, Options{})
	defer l.Close()
	check()
	// Moving the log start trims the cache but keeps the end offsets.
	if _, err := l.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	if e, o := l.EndOffsetForEpoch(4); e != 4 || o != 6 {
		t.Fatal(e, o)
	}
	if e, o := l.EndOffsetForEpoch(2); e != 2 || o != 5 { // below all: first known start, now 5
		t.Fatal(e, o)
	}
}

func TestConcurrentAppendReadSync(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 8 << 10, IndexIntervalBytes: 512})
	const appends = 400
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 10)
	wg.Add(3)
	go func() { // reader: always sees whole, contiguous, CRC-valid batches
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			leo := l.LogEndOffset()
			start := l.LogStartOffset()
			if leo == start {
				continue
			}
			r, err := l.Read(start+(leo-start)/2, 4096, leo)
			if err != nil && err != ErrOffsetOutOfRange {
				errs <- err
				return
			}
			var prev int64 = -1
			for b := r.Records; len(b) > 0; {
				h, err := batch.ParseHeader(b)
				if err != nil || batch.CheckCRC(b[:h.Size()]) != nil || prev >= 0 && h.BaseOffset != prev {
					errs <- fmt.Errorf("bad batch in concurrent read: %v", err)
					return
				}
				prev = h.LastOffset() + 1
				b = b[h.Size():]
			}
		}
	}()
	go func() { // syncer
		defer wg.Done()
		var last int64
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := l.Sync()
			if err != nil || n < last {
				errs <- fmt.Errorf("sync %d after %d: %v", n, last, err)
				return
			}
			last = n
		}
	}()
	go func() { // retention
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			l.SetOptions(Options{SegmentBytes: 8 << 10, IndexIntervalBytes: 512, RetentionBytes: 32 << 10})
			if _, err := l.ApplyRetention(); err != nil {
				errs <- err
				return
			}
		}
	}()
	for i := 0; i < appends; i++ {
		if _, err := l.Append(buildBatch(spec{records: 3, valueSize: 50}), 1, int64(i), false); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	checkContiguous(t, readAll(t, l), l.LogStartOffset(), 3*appends)
	checkIndexes(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := l.Read(0, 1, 1)
	wantErr(t, err, ErrClosed)
	_, err = l.Append(buildBatch(spec{}), 0, 0, false)
	wantErr(t, err, ErrClosed)
}

func TestDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	l := openLog(t, dir, Options{})
	mustAppend(t, l, buildBatch(spec{}))
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("directory still there")
	}
}
