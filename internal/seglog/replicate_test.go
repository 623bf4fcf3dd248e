package seglog

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/replica"
	"github.com/samsa-io/samsa/internal/vfs"
)

// asLeader returns s's batch as a leader stores it: at base, in epoch.
func asLeader(s spec, base int64, epoch int32) []byte {
	b := buildBatch(s)
	batch.SetBaseOffset(b, base)
	batch.SetPartitionLeaderEpoch(b, epoch)
	return b
}

// chain builds leader batches from specs, contiguous from base, the epoch of
// batch i being epochOf(i).
func chain(base int64, n int, specOf func(i int) spec, epochOf func(i int) int32) (raw [][]byte, end []int64) {
	next := base
	for i := range n {
		s := specOf(i)
		b := asLeader(s, next, epochOf(i))
		h, _ := batch.ParseHeader(b)
		next = h.LastOffset() + 1
		raw = append(raw, b)
		end = append(end, next)
	}
	return raw, end
}

func concat(bs [][]byte) []byte { return bytes.Join(bs, nil) }

// replicateEach appends the batches one AppendReplicated each, so segments
// roll between them (one call writes into one segment, as Append does).
func replicateEach(t testing.TB, l *Log, raw [][]byte) {
	t.Helper()
	for i, b := range raw {
		if _, err := l.AppendReplicated(b); err != nil {
			t.Fatalf("AppendReplicated of batch %d: %v", i, err)
		}
	}
}

func rawOf(bs []batchInfo) [][]byte {
	var out [][]byte
	for _, b := range bs {
		out = append(out, b.raw)
	}
	return out
}

func sameBatches(t testing.TB, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d batches, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: batch %d differs", what, i)
		}
	}
}

func memOpen(t testing.TB, m *vfs.Mem, segBytes int64) *Log {
	t.Helper()
	l, err := memLog(m, segBytes)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// replicate copies the leader's log to the follower as a replica fetcher
// does: reads from the follower's end in chunks of random size, appends
// them, syncs now and then. It returns the follower's LEO.
func replicate(t testing.TB, rng *rand.Rand, leader, follower *Log) int64 {
	t.Helper()
	for {
		off, leo := follower.LogEndOffset(), leader.LogEndOffset()
		if off >= leo {
			return off
		}
		res, err := leader.Read(off, 1+rng.IntN(3000), leo)
		if err != nil {
			t.Fatalf("leader Read(%d): %v", off, err)
		}
		ar, err := follower.AppendReplicated(res.Records)
		if err != nil {
			t.Fatalf("AppendReplicated at %d: %v", off, err)
		}
		if ar.BaseOffset != off || ar.LastOffset+1 != res.NextOffset {
			t.Fatalf("AppendReplicated = %+v, want %d..%d", ar, off, res.NextOffset-1)
		}
		if rng.IntN(3) == 0 {
			to, err := follower.Sync()
			if err != nil || to != follower.LogEndOffset() || follower.SyncedOffset() != to {
				t.Fatalf("Sync = %d %v, LEO %d, SyncedOffset %d", to, err, follower.LogEndOffset(), follower.SyncedOffset())
			}
		}
	}
}

// sameLogs checks that two logs hold the same batches byte for byte, and the
// same leader epochs.
func sameLogs(t testing.TB, leader, follower *Log) {
	t.Helper()
	if a, b := leader.LogEndOffset(), follower.LogEndOffset(); a != b {
		t.Fatalf("LEO leader %d, follower %d", a, b)
	}
	lb, fb := readAll(t, leader), readAll(t, follower)
	sameBatches(t, "follower vs leader", rawOf(fb), rawOf(lb))
	if a, b := leader.LatestEpoch(), follower.LatestEpoch(); a != b {
		t.Fatalf("LatestEpoch leader %d, follower %d", a, b)
	}
	for e := int32(-1); e <= leader.LatestEpoch()+1; e++ {
		le, lo := leader.EndOffsetForEpoch(e)
		fe, fo := follower.EndOffsetForEpoch(e)
		if le != fe || lo != fo {
			t.Fatalf("EndOffsetForEpoch(%d): leader %d %d, follower %d %d", e, le, lo, fe, fo)
		}
	}
	checkEpochs(t, follower, fb)
	checkIndexes(t, follower)
}

// TestReplicatedLogIsIdentical: a follower fed the leader's batches through
// AppendReplicated, in random chunks with random syncs, holds exactly the
// leader's bytes, epochs and producer state; also after reopening it.
func TestReplicatedLogIsIdentical(t *testing.T) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 7))
		m := vfs.NewCrashableMem()
		memSetup(t, m)
		leader, err := Open("/data/leader", Options{FS: m, SegmentBytes: 600 + int64(rng.IntN(2000)), IndexIntervalBytes: 100})
		if err != nil {
			t.Fatal(err)
		}
		follower := memOpen(t, m, 500+int64(rng.IntN(1500)))
		epoch := int32(0)
		seqs := map[int64]int32{}
		for round := range 6 {
			for range 5 + rng.IntN(20) {
				s := spec{records: 1 + rng.IntN(5), valueSize: rng.IntN(150), baseTs: int64(1000 + round)}
				if pid := int64(rng.IntN(4)); pid > 0 {
					s.pid, s.epoch, s.seq = pid, 0, seqs[pid]
					seqs[pid] += int32(s.records)
				}
				if _, err := leader.Append(buildBatch(s), epoch, 0, false); err != nil {
					t.Fatal(err)
				}
			}
			if rng.IntN(2) == 0 {
				epoch += 1 + int32(rng.IntN(2))
			}
			replicate(t, rng, leader, follower)
			sameLogs(t, leader, follower)
		}
		if err := follower.Close(); err != nil {
			t.Fatal(err)
		}
		follower = memOpen(t, m, 700)
		sameLogs(t, leader, follower)
		// The follower, now leader, knows every producer's last batches.
		for pid, next := range seqs {
			_, err := follower.Append(buildBatch(spec{records: 1, pid: pid, seq: next}), epoch+1, 0, false)
			if err != nil {
				t.Fatalf("seed %d: producer %d's next batch refused: %v", seed, pid, err)
			}
		}
		leader.Close()
		follower.Close()
	}
}

func TestAppendReplicatedRefusals(t *testing.T) {
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	l := memOpen(t, m, 1000)
	defer l.Close()
	raw, _ := chain(0, 4, func(int) spec { return spec{records: 3} }, func(int) int32 { return 2 })
	if _, err := l.AppendReplicated(concat(raw[:2])); err != nil {
		t.Fatal(err)
	}
	check := func(what string, b []byte, want error) {
		t.Helper()
		_, err := l.AppendReplicated(b)
		wantErr(t, err, want)
		if leo := l.LogEndOffset(); leo != 6 {
			t.Fatalf("%s: LEO %d after a refused append", what, leo)
		}
	}
	check("behind", raw[0], ErrOffsetMismatch)
	check("overlap", concat(raw[1:3]), ErrOffsetMismatch)
	check("step back inside", concat([][]byte{raw[2], raw[0]}), ErrOffsetMismatch)
	bad := bytes.Clone(raw[2])
	bad[len(bad)-1] ^= 1
	check("bad crc", bad, batch.ErrCorrupt)
	check("torn", raw[2][:len(raw[2])-3], batch.ErrShort)
	res, err := l.AppendReplicated(nil)
	if err != nil || res.BaseOffset != -1 {
		t.Fatalf("empty append: %+v %v", res, err)
	}
	// Nothing is rewritten: the leader's epoch, not any local one.
	if _, err := l.AppendReplicated(concat(raw[2:])); err != nil {
		t.Fatal(err)
	}
	sameBatches(t, "log", rawOf(readAll(t, l)), raw)
	if e := l.LatestEpoch(); e != 2 {
		t.Fatalf("LatestEpoch %d", e)
	}
}

// TestReplicatedProducerState: idempotent producer state comes from the
// replicated batches, so the follower that becomes leader answers a
// producer's retry as a duplicate, and after a truncation accepts the retry
// of a batch the truncation removed.
func TestReplicatedProducerState(t *testing.T) {
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	l := memOpen(t, m, 400)
	specOf := func(i int) spec { return idem(9, 3, int32(2*i), 2) }
	raw, end := chain(0, 8, specOf, func(i int) int32 { return int32(i / 3) })
	if _, err := l.AppendReplicated(concat(raw)); err != nil {
		t.Fatal(err)
	}
	retry := func(i int) (AppendResult, error) { return l.Append(buildBatch(specOf(i)), 5, 0, false) }
	res, err := retry(7)
	if err != nil || !res.Duplicate || res.BaseOffset != end[6] || res.LastOffset != end[7]-1 {
		t.Fatalf("retry of the last batch: %+v %v", res, err)
	}
	if res, err := retry(3); err != nil || !res.Duplicate || res.BaseOffset != end[2] {
		t.Fatalf("retry of an older batch: %+v %v", res, err)
	}
	if _, err := l.Append(buildBatch(idem(9, 3, 40, 1)), 5, 0, false); err == nil {
		t.Fatal("a sequence gap was accepted")
	}
	if err := l.TruncateTo(end[5]); err != nil {
		t.Fatal(err)
	}
	if res, err := retry(5); err != nil || !res.Duplicate {
		t.Fatalf("retry of the last kept batch: %+v %v", res, err)
	}
	if res, err := retry(6); err != nil || res.Duplicate || res.BaseOffset != end[5] {
		t.Fatalf("retry of a truncated batch: %+v %v", res, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = memOpen(t, m, 400)
	defer l.Close()
	if res, err := retry(6); err != nil || !res.Duplicate || res.BaseOffset != end[5] {
		t.Fatalf("after reopen, retry: %+v %v", res, err)
	}
}

// TestTruncateTo cuts a replicated log in every kind of place and checks
// the log, its indexes, epochs and durability after each, then reopens.
func TestTruncateTo(t *testing.T) {
	specOf := func(i int) spec { return spec{records: 1 + i%3, valueSize: 50 + i%40, baseTs: int64(1000 + i)} }
	epochOf := func(i int) int32 { return int32(i / 6) }
	raw, end := chain(0, 40, specOf, epochOf)
	base := func(i int) int64 {
		if i == 0 {
			return 0
		}
		return end[i-1]
	}
	for _, tc := range []struct {
		name string
		to   func(l *Log) int64
		keep int // batches kept
	}{
		{"inside the active segment", func(*Log) int64 { return base(38) }, 38},
		{"mid-batch rounds down", func(*Log) int64 { return base(37) + 1 }, 37},
		{"into an older segment", func(*Log) int64 { return base(9) }, 9},
		{"at a segment base", func(l *Log) int64 { return l.segs[2].base }, -1},
		{"to the start", func(*Log) int64 { return 0 }, 0},
		{"epoch boundary", func(*Log) int64 { return base(12) }, 12},
		{"at the end", func(l *Log) int64 { return l.LogEndOffset() }, 40},
		{"past the end", func(l *Log) int64 { return l.LogEndOffset() + 5 }, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := vfs.NewCrashableMem()
			memSetup(t, m)
			l := memOpen(t, m, 500)
			half := 25
			replicateEach(t, l, raw[:half])
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			replicateEach(t, l, raw[half:]) // unsynced
			if len(l.segs) < 4 {
				t.Fatalf("only %d segments", len(l.segs))
			}
			to := tc.to(l)
			keep := tc.keep
			if keep < 0 {
				for keep = 0; keep < len(end) && end[keep] <= to; keep++ {
				}
			}
			if err := l.TruncateTo(to); err != nil {
				t.Fatal(err)
			}
			wantLEO := base(keep)
			if keep == len(raw) {
				wantLEO = end[len(end)-1]
			}
			if leo := l.LogEndOffset(); leo != wantLEO || keep < len(raw) && l.SyncedOffset() != leo {
				t.Fatalf("LEO %d SyncedOffset %d, want %d", leo, l.SyncedOffset(), wantLEO)
			}
			got := readAll(t, l)
			sameBatches(t, "after truncation", rawOf(got), raw[:keep])
			checkIndexes(t, l)
			checkEpochs(t, l, got)
			// Appending again reuses the removed segments' names.
			more, _ := chain(wantLEO, 15, func(i int) spec { return spec{records: 2, valueSize: 77} }, func(int) int32 { return 20 })
			replicateEach(t, l, more)
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			want := append(append([][]byte(nil), raw[:keep]...), more...)
			sameBatches(t, "after appending again", rawOf(readAll(t, l)), want)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			// A crash now, and a clean reopen, both find the same log.
			for _, crash := range []bool{true, false} {
				c := m
				if crash {
					c = m.CrashClone()
				}
				l := memOpen(t, c, 500)
				got := readAll(t, l)
				sameBatches(t, "reopened", rawOf(got), want)
				checkEpochs(t, l, got)
				checkIndexes(t, l)
				l.Close()
			}
		})
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	for _, start := range []int64{0, 7, 10_000} {
		m := vfs.NewCrashableMem()
		memSetup(t, m)
		l := memOpen(t, m, 500)
		raw, _ := chain(0, 30, func(i int) spec { return idem(4, 0, int32(i), 1) }, func(i int) int32 { return int32(i / 10) })
		replicateEach(t, l, raw)
		if err := l.TruncateFullyAndStartAt(start); err != nil {
			t.Fatal(err)
		}
		if l.LogStartOffset() != start || l.LogEndOffset() != start || l.SyncedOffset() != start || l.LatestEpoch() != -1 {
			t.Fatalf("start %d: log [%d, %d) synced %d epoch %d", start, l.LogStartOffset(), l.LogEndOffset(), l.SyncedOffset(), l.LatestEpoch())
		}
		if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
			t.Fatalf("epoch 0 still known: %d %d", e, o)
		}
		more, _ := chain(start, 12, func(i int) spec { return idem(4, 1, int32(i), 1) }, func(int) int32 { return 9 })
		if _, err := l.AppendReplicated(concat(more)); err != nil {
			t.Fatal(err)
		}
		// The producer's old batches are forgotten: a retry of one is new data.
		if res, err := l.Append(buildBatch(idem(4, 1, 11, 1)), 9, 0, false); err != nil || !res.Duplicate {
			t.Fatalf("retry of a new batch: %+v %v", res, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*vfs.Mem{m.CrashClone(), m} {
			l := memOpen(t, c, 500)
			got := readAll(t, l)
			sameBatches(t, "reopened", rawOf(got), more)
			checkEpochs(t, l, got)
			if l.LogStartOffset() != start {
				t.Fatalf("log start %d", l.LogStartOffset())
			}
			l.Close()
		}
	}
}

// TestTruncateBelowFirstSegment: a cut below the first segment (after
// retention) restarts the log there.
func TestTruncateBelowFirstSegment(t *testing.T) {
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	l := memOpen(t, m, 500)
	defer l.Close()
	raw, end := chain(0, 30, func(i int) spec { return spec{records: 2, valueSize: 60} }, func(int) int32 { return 1 })
	replicateEach(t, l, raw)
	if _, err := l.DeleteRecordsBefore(end[20]); err != nil {
		t.Fatal(err)
	}
	first := l.segs[0].base
	if first == 0 {
		t.Fatal("retention removed nothing")
	}
	if err := l.TruncateTo(first - 2); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != first-2 || l.LogEndOffset() != first-2 {
		t.Fatalf("log [%d, %d), want empty at %d", l.LogStartOffset(), l.LogEndOffset(), first-2)
	}
}

// TestOldLeaderRejoins is the classic divergence: the leader of epoch 1
// wrote a tail nobody replicated, the follower became leader of epoch 2 and
// wrote other batches at the same offsets. The old leader asks the new one
// for the end of its latest epoch, truncates to the divergence point
// (replica.TruncationOffset) and then replicates: both logs end identical.
func TestOldLeaderRejoins(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	a, err := Open("/data/a", Options{FS: m, SegmentBytes: 800, IndexIntervalBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open("/data/b", Options{FS: m, SegmentBytes: 600, IndexIntervalBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	appendN := func(l *Log, n int, epoch int32, size int) {
		for range n {
			if _, err := l.Append(buildBatch(spec{records: 2, valueSize: size}), epoch, 0, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(a, 10, 0, 40) // epoch 0: 0..19, replicated
	appendN(a, 5, 1, 40)  // epoch 1: 20..29, replicated
	replicate(t, rng, a, b)
	appendN(a, 6, 1, 41) // 30..41: a's unreplicated tail
	divergence := b.LogEndOffset()

	// b leads epoch 2: it records the epoch at its end, then takes writes.
	if err := b.AssignLeaderEpoch(2); err != nil {
		t.Fatal(err)
	}
	if e, o := b.EndOffsetForEpoch(1); e != 1 || o != divergence {
		t.Fatalf("new leader's end of epoch 1: %d %d", e, o)
	}
	appendN(b, 8, 2, 90)

	// a follows: OffsetForLeaderEpoch(a's latest epoch) against b.
	le, lend := b.EndOffsetForEpoch(a.LatestEpoch())
	to := replica.TruncationOffset(a.LogEndOffset(), a.EndOffsetForEpoch, a.LatestEpoch(), le, lend)
	if to != divergence {
		t.Fatalf("truncation offset %d, want %d", to, divergence)
	}
	if err := a.TruncateTo(to); err != nil {
		t.Fatal(err)
	}
	if a.LatestEpoch() != 1 || a.LogEndOffset() != divergence {
		t.Fatalf("after truncation: epoch %d LEO %d", a.LatestEpoch(), a.LogEndOffset())
	}
	replicate(t, rng, b, a)
	sameLogs(t, b, a)
}

// TestTruncateConcurrent runs truncations and replicated appends while
// readers read below a bound the truncations never cut (a follower's high
// watermark) and Sync and SyncedOffset run: the race detector watches, the
// readers must always get the bytes written there.
func TestTruncateConcurrent(t *testing.T) {
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	l := memOpen(t, m, 700)
	defer l.Close()
	base, baseEnd := chain(0, 20, func(i int) spec { return spec{records: 2, valueSize: 60} }, func(int) int32 { return 0 })
	replicateEach(t, l, base)
	hw := baseEnd[len(baseEnd)-1]
	done := make(chan struct{})
	errs := make(chan error, 2)
	go func() { // a consumer below the high watermark
		for {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			res, err := l.Read(0, 1<<20, hw)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(res.Records, concat(base)) {
				errs <- ErrCorrupt
				return
			}
		}
	}()
	go func() { // the flusher
		for {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			to, err := l.Sync()
			if err != nil || l.SyncedOffset() < hw || to < hw {
				errs <- err
				return
			}
		}
	}()
	for round := range 30 {
		tail, _ := chain(l.LogEndOffset(), 3+round%5, func(i int) spec { return spec{records: 1 + i%3, valueSize: 50 + round} }, func(int) int32 { return int32(1 + round) })
		replicateEach(t, l, tail)
		if err := l.TruncateTo(hw + int64(round%3)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	checkIndexes(t, l)
	checkEpochs(t, l, readAll(t, l))
}

// TestTruncateBelowLogStart: a cut inside the first segment but below the
// log start (DeleteRecords moved it) brings the log start down to the new
// end, durably.
func TestTruncateBelowLogStart(t *testing.T) {
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	l := memOpen(t, m, 100_000)
	raw, end := chain(0, 10, func(i int) spec { return spec{records: 2} }, func(int) int32 { return 3 })
	replicateEach(t, l, raw)
	if _, err := l.DeleteRecordsBefore(end[6]); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(end[3]); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != end[3] || l.LogEndOffset() != end[3] {
		t.Fatalf("log [%d, %d), want empty at %d", l.LogStartOffset(), l.LogEndOffset(), end[3])
	}
	more, _ := chain(end[3], 3, func(i int) spec { return spec{records: 1, valueSize: 9} }, func(int) int32 { return 4 })
	replicateEach(t, l, more)
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	c := m.CrashClone()
	l.Close()
	l = memOpen(t, c, 100_000)
	defer l.Close()
	if l.LogStartOffset() != end[3] {
		t.Fatalf("after a crash the log starts at %d", l.LogStartOffset())
	}
	sameBatches(t, "after a crash", rawOf(readAll(t, l)), more)
}

// TestBriefLeaderEmptyEpoch: a replica that led an epoch without writing
// in it (AssignLeaderEpoch only) follows again. Its latest epoch is unknown
// to the new leader; the truncation point is its own end, and TruncateTo
// there drops the empty epoch, so that its next fetch names the last epoch
// both logs share instead of diverging again and again.
func TestBriefLeaderEmptyEpoch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	a, err := Open("/data/a", Options{FS: m, SegmentBytes: 800})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open("/data/b", Options{FS: m, SegmentBytes: 800})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	for range 10 {
		if _, err := a.Append(buildBatch(spec{records: 2, valueSize: 30}), 1, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	replicate(t, rng, a, b)
	end := a.LogEndOffset()
	if err := a.AssignLeaderEpoch(2); err != nil { // a leads epoch 2, writes nothing
		t.Fatal(err)
	}
	if a.LatestEpoch() != 2 {
		t.Fatalf("LatestEpoch %d after AssignLeaderEpoch(2)", a.LatestEpoch())
	}
	if err := b.AssignLeaderEpoch(3); err != nil { // b leads epoch 3
		t.Fatal(err)
	}
	for range 4 {
		if _, err := b.Append(buildBatch(spec{records: 1, valueSize: 50}), 3, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; ; round++ {
		if round == 3 {
			t.Fatal("truncation does not converge")
		}
		le, lend := b.EndOffsetForEpoch(a.LatestEpoch())
		to, done := replica.TruncationState(a.LogEndOffset(), 0, a.EndOffsetForEpoch, a.LatestEpoch(), le, lend)
		if to != end {
			t.Fatalf("round %d: truncation to %d, want %d", round, to, end)
		}
		if err := a.TruncateTo(to); err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	if a.LatestEpoch() != 1 {
		t.Fatalf("the empty epoch survived the truncation: latest %d", a.LatestEpoch())
	}
	if e, o := a.EndOffsetForEpoch(2); e != -1 || o != -1 {
		t.Fatalf("EndOffsetForEpoch(2) = %d %d", e, o)
	}
	replicate(t, rng, b, a)
	if a.LatestEpoch() != 3 || a.LogEndOffset() != b.LogEndOffset() {
		t.Fatalf("after replication: epoch %d, LEO %d of %d", a.LatestEpoch(), a.LogEndOffset(), b.LogEndOffset())
	}
	sameBatches(t, "follower vs leader", rawOf(readAll(t, a)), rawOf(readAll(t, b)))
}
