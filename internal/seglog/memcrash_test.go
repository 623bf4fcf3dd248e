package seglog

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/samsa-io/samsa/internal/vfs"
	"github.com/samsa-io/samsa/internal/vfs/vfstest"
)

// Crash tests on vfs's crashable twin: each workload is crashed at every
// sync point it reaches (vfstest.EverySyncPoint) and the log is recovered
// from what was durable. Invariants after every crash:
//   - recovery succeeds;
//   - every batch whose append was acknowledged as durable (a Sync that
//     returned an offset past it, or a successful Close) is there, at its
//     offset, byte for byte (unless a deletion that may have happened
//     removed it, or compaction superseded its records);
//   - every batch served is one that was written at that offset (nothing
//     invented), whole and CRC-checked (nothing torn).

const memDir = "/data/p-0"

// memSetup makes the log's parent directory durable: it exists before the
// crash window in every test.
func memSetup(t testing.TB, m *vfs.Mem) {
	t.Helper()
	if err := vfs.MkdirAllSync(m, "/data", 0o755); err != nil {
		t.Fatal(err)
	}
}

// memLog opens the log on m; every test uses the same small segments, so
// that workloads roll often.
func memLog(m *vfs.Mem, segBytes int64) (*Log, error) {
	return Open(memDir, Options{FS: m, SegmentBytes: segBytes, IndexIntervalBytes: 100})
}

// written records what a workload appended: batch i's bytes as stored
// (Append stamps offsets into them) and how many were acknowledged.
type written struct {
	raw   [][]byte
	end   []int64 // offset after batch i
	acked int
}

func (w *written) add(b []byte, res AppendResult) {
	w.raw = append(w.raw, b)
	w.end = append(w.end, res.LastOffset+1)
}

// ackTo acknowledges every batch below a synced offset.
func (w *written) ackTo(synced int64) {
	for w.acked < len(w.raw) && w.end[w.acked] <= synced {
		w.acked++
	}
}

// checkEpochs checks the leader-epoch cache against the recovered batches:
// every epoch present answers its exact end, and no other epoch is known.
func checkEpochs(t testing.TB, l *Log, got []batchInfo) {
	t.Helper()
	type span struct {
		epoch int32
		start int64
	}
	var spans []span
	for _, b := range got {
		if e := b.h.PartitionLeaderEpoch; len(spans) == 0 || e > spans[len(spans)-1].epoch {
			spans = append(spans, span{e, b.base})
		}
	}
	leo := l.LogEndOffset()
	for i, s := range spans {
		end := leo
		if i+1 < len(spans) {
			end = spans[i+1].start
		}
		if e, o := l.EndOffsetForEpoch(s.epoch); e != s.epoch || o != end {
			t.Fatalf("EndOffsetForEpoch(%d) = %d %d, want %d %d", s.epoch, e, o, s.epoch, end)
		}
	}
	top := int32(-1)
	if len(spans) > 0 {
		top = spans[len(spans)-1].epoch
	}
	if e, o := l.EndOffsetForEpoch(top + 1); e != -1 || o != -1 {
		t.Fatalf("epoch %d, never written or lost, is known: %d %d", top+1, e, o)
	}
}

// appendTrial appends n batches of crashSpec (rolls every few batches, a
// new leader epoch every 7, producer 5 on two of three), syncing after
// every syncEvery appends, then closes the log. Open's own sync points are
// crash points too.
func appendTrial(n, syncEvery int) vfstest.Trial {
	const segBytes = 700
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		memSetup(t, m)
		arm()
		var w written
		if l, err := memLog(m, segBytes); err == nil {
			for i := 0; i < n; i++ {
				b := buildBatch(crashSpec(i))
				res, err := l.Append(b, int32(i/7), 0, false)
				if err != nil {
					break
				}
				w.add(b, res)
				if (i+1)%syncEvery == 0 {
					to, err := l.Sync()
					if err != nil {
						break
					}
					w.ackTo(to)
				}
			}
			if l.Close() == nil {
				w.acked = len(w.raw)
			}
		}
		return vfstest.Recovery{Recover: reopen(segBytes), Check: func(m *vfs.Mem) {
			l, err := memLog(m, segBytes)
			if err != nil {
				t.Fatalf("recovery failed: %v", err)
			}
			got := readAll(t, l)
			if len(got) < w.acked || len(got) > len(w.raw) {
				t.Fatalf("recovered %d batches; %d acknowledged, %d written", len(got), w.acked, len(w.raw))
			}
			for i := range got {
				if !bytes.Equal(got[i].raw, w.raw[i]) {
					t.Fatalf("recovered batch %d differs from the one written", i)
				}
			}
			checkIndexes(t, l)
			checkEpochs(t, l, got)
			checkProducerRecovered(t, l, len(got))
			leo := l.LogEndOffset()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err = memLog(m, segBytes)
			if err != nil {
				t.Fatal(err)
			}
			checkContiguous(t, readAll(t, l), 0, leo)
			checkIndexes(t, l)
			l.Close()
		}}
	}
}

// reopen is the recovery step of the trials: Open recovers, Close makes
// the recovered log clean.
func reopen(segBytes int64) func(m *vfs.Mem) error {
	return func(m *vfs.Mem) error {
		l, err := memLog(m, segBytes)
		if err != nil {
			return err
		}
		return l.Close()
	}
}

// TestMemCrashAppendSyncEach: fsync per append (samsa's default), with rolls,
// leader epochs, and the clean close.
func TestMemCrashAppendSyncEach(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: true}, appendTrial(30, 1))
	t.Logf("append, sync after each: %d crash points", n)
}

// TestMemCrashAppendGroupCommit: a Sync every 4 appends (group commit, or
// Kafka's flush.messages), so crashes lose unsynced appends.
func TestMemCrashAppendGroupCommit(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: true}, appendTrial(40, 4))
	t.Logf("append, sync every 4: %d crash points", n)
}

// The tests with random surviving state run randomRounds seeds, each
// crashing the workload at every sync point with its own random choices,
// and recoveryRounds more that also crash each recovery at every one of its
// sync points.
const (
	randomRounds   = 8
	recoveryRounds = 2
)

// runRandom runs trial in every random round and returns the crash points.
func runRandom(t *testing.T, trial vfstest.Trial) int {
	n := 0
	for seed := range uint64(randomRounds + recoveryRounds) {
		n += vfstest.Run(t, vfstest.Mode{Random: true, Seed: seed, CrashRecovery: seed >= randomRounds}, trial)
	}
	return n
}

// TestMemCrashAppendRandom: as group commit, with random unsynced state
// surviving each crash: a prefix of every file's unsynced bytes (torn
// batches, torn index and checkpoint temp files) and any of the namespace
// operations not yet synced (segment creates, renames of checkpoints).
func TestMemCrashAppendRandom(t *testing.T) {
	n := runRandom(t, appendTrial(40, 4))
	t.Logf("append, sync every 4, random unsynced state survives (%d rounds, %d crashing recovery): %d crash points", randomRounds+recoveryRounds, recoveryRounds, n)
}

// retentionTrial deletes from the front in every way the log does it:
// DeleteRecordsBefore inside a segment, retention.bytes, and time retention
// that expires everything (rolling the active segment first), with appends
// in between.
func retentionTrial() vfstest.Trial {
	const segBytes = 500
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		memSetup(t, m)
		c := &clock{ms: 10_000}
		opts := Options{FS: m, SegmentBytes: segBytes, IndexIntervalBytes: 100, RetentionMs: -1, Now: c.now}
		l, err := memLog(m, segBytes)
		if err != nil {
			t.Fatal(err)
		}
		var w written
		add := func(k int) error {
			for range k {
				i := len(w.raw)
				b := buildBatch(spec{records: 1 + i%3, valueSize: 40, baseTs: int64(1000 + i)})
				res, err := l.Append(b, 0, 0, false)
				if err != nil {
					return err
				}
				w.add(b, res)
			}
			to, err := l.Sync()
			if err == nil {
				w.ackTo(to)
			}
			return err
		}
		if err := add(30); err != nil {
			t.Fatal(err)
		}
		arm()
		var ackedStart, maxStart int64
		deleted := func(err error) error {
			if err == nil {
				ackedStart = l.LogStartOffset()
			}
			return err
		}
		steps := []func() error{
			func() error {
				maxStart = w.end[9] - 1 // inside batch 9
				_, err := l.DeleteRecordsBefore(maxStart)
				return deleted(err)
			},
			func() error { return add(5) },
			func() error {
				o := opts
				o.RetentionBytes = 1200
				l.SetOptions(o)
				maxStart = l.LogEndOffset() // an upper bound of what retention may choose
				_, err := l.ApplyRetention()
				return deleted(err)
			},
			func() error { return add(5) },
			func() error {
				o := opts
				o.RetentionMs = 1000 // every batch is older
				l.SetOptions(o)
				maxStart = l.LogEndOffset()
				_, err := l.ApplyRetention()
				return deleted(err)
			},
			func() error { return add(3) },
			func() error {
				err := l.Close()
				if err == nil {
					w.acked = len(w.raw)
				}
				return err
			},
		}
		for _, step := range steps {
			if step() != nil {
				break
			}
		}
		l.Close()
		return vfstest.Recovery{Recover: reopen(segBytes), Check: func(m *vfs.Mem) {
			l, err := memLog(m, segBytes)
			if err != nil {
				t.Fatalf("recovery failed: %v", err)
			}
			defer l.Close()
			start, leo := l.LogStartOffset(), l.LogEndOffset()
			if start < ackedStart || start > maxStart {
				t.Fatalf("log start %d; acknowledged %d, highest requested %d", start, ackedStart, maxStart)
			}
			if w.acked > 0 && leo < w.end[w.acked-1] {
				t.Fatalf("log end %d below the acknowledged %d", leo, w.end[w.acked-1])
			}
			got := readAll(t, l)
			first := 0 // the first written batch that reaches start
			for first < len(w.raw) && w.end[first] <= start {
				first++
			}
			for i, b := range got {
				if first+i >= len(w.raw) || !bytes.Equal(b.raw, w.raw[first+i]) {
					t.Fatalf("batch %d after log start %d is not the one written", i, start)
				}
			}
			if first+len(got) < w.acked {
				t.Fatalf("recovered batches end at %d, acknowledged %d", first+len(got), w.acked)
			}
			checkIndexes(t, l)
		}}
	}
}

func TestMemCrashRetention(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: true}, retentionTrial())
	t.Logf("retention and DeleteRecords: %d crash points", n)
	n = runRandom(t, retentionTrial())
	t.Logf("retention and DeleteRecords, random unsynced state survives (%d rounds, %d crashing recovery): %d crash points", randomRounds+recoveryRounds, recoveryRounds, n)
}

// compactTrial runs the log cleaner twice over keyed batches (some from an
// idempotent producer, some tombstones), with appends in between: every
// step of the swap (.cleaned written, renamed to .swap, sources removed,
// renamed into place, index files, cleaner checkpoint) is a crash point.
// wrote, if not nil, counts the segments the runs swapped in.
func compactTrial(wrote *int) vfstest.Trial {
	const segBytes = 1000
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		memSetup(t, m)
		c := &clock{ms: 1_000_000}
		l, err := memLog(m, segBytes)
		if err != nil {
			t.Fatal(err)
		}
		type wrec struct {
			key   string
			value *string
		}
		recs := map[int64]wrec{} // every record written, by offset
		batches := map[int64][]byte{}
		var ackedEnd int64
		seq := int32(0)
		add := func(from, k int) error {
			for i := from; i < from+k; i++ {
				// One record of a key that later batches overwrite (now and
				// then with a tombstone), one of a key never written again:
				// compaction must keep that one wherever it moves it.
				s := kvSpec{ts: c.ms, recs: []kv{
					{k: fmt.Sprintf("k%d", i%4), v: fmt.Sprintf("v%d.%0100d", i, 0), tomb: i%7 == 6},
					{k: fmt.Sprintf("u%d", i), v: fmt.Sprintf("u%d", i)},
				}}
				if i%3 == 1 {
					s.pid, s.seq = 7, seq
					seq += 2
				}
				b := kvBatch(t, s)
				res, err := l.Append(b, 0, 0, false)
				if err != nil {
					return err
				}
				batches[res.BaseOffset] = b
				for j, r := range s.recs {
					x := wrec{key: r.k}
					if !r.tomb {
						v := r.v
						x.value = &v
					}
					recs[res.BaseOffset+int64(j)] = x
				}
			}
			to, err := l.Sync()
			if err == nil {
				ackedEnd = to
			}
			return err
		}
		if err := add(0, 24); err != nil {
			t.Fatal(err)
		}
		copts := CompactOptions{DeleteRetentionMs: 1 << 40}
		arm()
		compact := func() error {
			st, err := l.Compact(copts)
			if wrote != nil {
				*wrote += st.SegmentsWritten
			}
			return err
		}
		steps := []func() error{
			compact,
			func() error { return add(24, 10) },
			compact,
			func() error {
				err := l.Close()
				if err == nil {
					ackedEnd = l.LogEndOffset()
				}
				return err
			},
		}
		for _, step := range steps {
			if step() != nil {
				break
			}
		}
		l.Close()
		return vfstest.Recovery{Recover: reopen(segBytes), Check: func(m *vfs.Mem) {
			l, err := memLog(m, segBytes)
			if err != nil {
				t.Fatalf("recovery failed: %v", err)
			}
			defer l.Close()
			if leo := l.LogEndOffset(); leo < ackedEnd {
				t.Fatalf("log end %d below the acknowledged %d", leo, ackedEnd)
			}
			got, hs := readRecords(t, l)
			present := map[int64]rec{}
			for _, r := range got {
				w, ok := recs[r.off]
				if !ok || w.key != r.key || (w.value == nil) != (r.value == nil) || w.value != nil && *w.value != *r.value {
					t.Fatalf("record at %d (%s) is not the one written", r.off, r.key)
				}
				present[r.off] = r
			}
			// An acknowledged record survives unless a later record of its
			// key does.
			latest := map[string]int64{}
			for _, r := range got {
				latest[r.key] = max(latest[r.key], r.off)
			}
			for off, w := range recs {
				if _, ok := present[off]; !ok && off < ackedEnd && latest[w.key] <= off {
					t.Fatalf("acknowledged record %d (%s) lost without a later one of its key", off, w.key)
				}
			}
			checkIndexes(t, l)
			// The producer's last surviving batch is still its last: a retry
			// is a duplicate.
			for i := len(hs) - 1; i >= 0; i-- {
				if hs[i].ProducerID == 7 {
					res, err := l.Append(batches[hs[i].BaseOffset], 0, 0, false)
					if err != nil || !res.Duplicate {
						t.Fatalf("retry of the producer's last batch %d: %+v %v", hs[i].BaseOffset, res, err)
					}
					break
				}
			}
		}}
	}
}

func TestMemCrashCompaction(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: true}, compactTrial(nil))
	t.Logf("compaction swap: %d crash points", n)
	n = runRandom(t, compactTrial(nil))
	t.Logf("compaction swap, random unsynced state survives (%d rounds, %d crashing recovery): %d crash points", randomRounds+recoveryRounds, recoveryRounds, n)
}

// TestMemCrashCompactionCleans makes sure the compaction workload really
// swaps cleaned segments in, so that its crash points cover the swap.
func TestMemCrashCompactionCleans(t *testing.T) {
	m := vfs.NewCrashableMem()
	wrote := 0
	rec := compactTrial(&wrote)(t, m, func() {})
	m.Crash()
	if err := rec.Recover(m); err != nil {
		t.Fatal(err)
	}
	rec.Check(m)
	if wrote < 2 {
		t.Fatalf("the two compaction runs swapped in %d segments", wrote)
	}
}
