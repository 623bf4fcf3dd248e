package seglog

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"

	"github.com/samsa-io/samsa/internal/vfs"
	"github.com/samsa-io/samsa/internal/vfs/vfstest"
)

// Crash tests of a follower copying a compacted leader's gaps, on the
// crashable twin, at every sync point (gap markers, rolls, epochs, data,
// a truncation into a gap and the appends after it), with random unsynced
// state surviving, and with recovery crashed in turn. The follower's log
// is always a prefix of the leader's batches (the truncation cuts to a
// prefix and the same batches are fetched again), so after every crash:
// the recovered log is a prefix of the leader's batches (nothing invented),
// at least the synced ones (nothing synced lost), its indexes and epochs
// agree with its batches, and it continues with the leader's next batch.

// gapLeader returns the compacted leader's batches (compactedLeader).
func gapLeader(t testing.TB) [][]byte {
	l := compactedLeader(t)
	defer l.Close()
	return rawOf(gapRead(t, l))
}

// gapHistory is what the follower workload made durable: raw[:durable]
// survive any crash.
type gapHistory struct {
	raw     [][]byte
	durable int
}

func (h *gapHistory) syncedTo(to int64) {
	for h.durable < len(h.raw) && batchEnd(h.raw[h.durable]) <= to {
		h.durable++
	}
}

// gapTrial: the follower appends the leader's batches one, two or three
// per call, syncing after every syncEvery calls; halfway it truncates into
// a gap of an earlier segment and fetches again from there; then it
// closes.
func gapTrial(raw [][]byte, syncEvery int) vfstest.Trial {
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		memSetup(t, m)
		arm()
		h := &gapHistory{raw: raw}
		run := func() error {
			l, err := memLog(m, replSegBytes)
			if err != nil {
				return err
			}
			appendFrom := func(i, to int) error {
				for calls := 0; i < to; calls++ {
					n := min(1+calls%3, to-i)
					if _, err := l.AppendReplicated(concat(raw[i : i+n])); err != nil {
						return err
					}
					i += n
					if (calls+1)%syncEvery == 0 || i == to {
						synced, err := l.Sync()
						if err != nil {
							return err
						}
						h.syncedTo(synced)
					}
				}
				return nil
			}
			half := 2 * len(raw) / 3
			if err := appendFrom(0, half); err != nil {
				return err
			}
			k := len(raw) / 3
			for batchEnd(raw[k-1]) == firstOffset(raw[k]) {
				k++
			}
			// A cut in the gap before raw[k]: raw[:k] stay, and are durable
			// once it returns.
			h.durable = min(h.durable, k)
			if err := l.TruncateTo(firstOffset(raw[k]) - 1); err != nil {
				return err
			}
			h.durable = k
			if err := appendFrom(k, len(raw)); err != nil {
				return err
			}
			if err := l.Close(); err != nil {
				return err
			}
			h.durable = len(raw)
			return nil
		}
		_ = run()
		return vfstest.Recovery{Recover: reopenRepl, Check: func(m *vfs.Mem) { h.check(t, m) }}
	}
}

// firstOffset is the base offset of batch b.
func firstOffset(b []byte) int64 {
	h, err := batch.ParseHeader(b)
	if err != nil {
		panic(err)
	}
	return h.BaseOffset
}

func (h *gapHistory) check(t testing.TB, m *vfs.Mem) {
	t.Helper()
	l, err := memLog(m, replSegBytes)
	if err != nil {
		t.Fatalf("recovery failed: %v", err)
	}
	defer l.Close()
	got := gapRead(t, l)
	if len(got) > len(h.raw) || len(got) < h.durable {
		t.Fatalf("recovered %d batches, want %d..%d", len(got), h.durable, len(h.raw))
	}
	for i := range got {
		if !bytes.Equal(got[i].raw, h.raw[i]) {
			t.Fatalf("recovered batch %d (%d-%d) is not the leader's", i, got[i].base, got[i].last)
		}
	}
	checkIndexes(t, l)
	checkEpochs(t, l, got)
	gapMarkers(t, m)
	if leo := l.LogEndOffset(); l.SyncedOffset() != leo || len(got) > 0 && leo != got[len(got)-1].last+1 {
		t.Fatalf("after recovery LEO %d, SyncedOffset %d", leo, l.SyncedOffset())
	}
	// The follower goes on fetching: the leader's next batch continues it,
	// and a clean reopen keeps it.
	if len(got) < len(h.raw) {
		if _, err := l.AppendReplicated(h.raw[len(got)]); err != nil {
			t.Fatalf("AppendReplicated of the leader's next batch after recovery: %v", err)
		}
		got = append(got, batchInfo{raw: h.raw[len(got)]})
	}
	leo := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = memLog(m, replSegBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LogEndOffset() != leo {
		t.Fatalf("clean reopen: LEO %d, was %d", l.LogEndOffset(), leo)
	}
	sameBatches(t, "clean reopen", rawOf(gapRead(t, l)), rawOf(got))
}

func TestMemCrashReplicateGapsSyncEach(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: !raceEnabled}, gapTrial(gapLeader(t), 1))
	t.Logf("AppendReplicated of a compacted leader, sync after each: %d crash points", n)
}

func TestMemCrashReplicateGapsRandom(t *testing.T) {
	n := runRandom(t, gapTrial(gapLeader(t), 3))
	t.Logf("AppendReplicated of a compacted leader, sync every 3, random unsynced state: %d crash points", n)
}

// gapCompactTrial: a follower holding the compacted leader's batches (set
// up durably before the crash window, so its segments with gap markers lie
// below the recovery point) cleans them, appends more of the leader's
// batches with gaps, cleans again and closes: the swap's removals of
// markers and the markers of new segments are crash points too. After a
// crash every record is the leader's at its offset, every synced record
// survives unless a later record of its key does, and the indexes and gap
// markers agree with the segments.
func gapCompactTrial(raw [][]byte) vfstest.Trial {
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		memSetup(t, m)
		l, err := memLog(m, replSegBytes)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range raw {
			if _, err := l.AppendReplicated(b); err != nil {
				t.Fatal(err)
			}
		}
		more := moreBatches(t, batchEnd(raw[len(raw)-1]))
		next := batchEnd(more[len(more)-1])
		if _, err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		written, _ := readRecords(t, l)
		for _, b := range more {
			written = append(written, recordsOf(t, b)...)
		}
		recs := map[int64]rec{}
		for _, r := range written {
			recs[r.off] = r
		}
		acked := l.LogEndOffset()
		// Compaction groups sources up to segment.bytes: bigger segments
		// from now on, so that segments with markers merge.
		l.SetOptions(compactGapOptions)
		arm()
		steps := []func() error{
			func() error { _, err := l.Compact(CompactOptions{}); return err },
			func() error {
				for _, b := range more {
					if _, err := l.AppendReplicated(b); err != nil {
						return err
					}
				}
				to, err := l.Sync()
				if err == nil {
					acked = to
				}
				return err
			},
			func() error { _, err := l.Compact(CompactOptions{}); return err },
			func() error {
				err := l.Close()
				if err == nil {
					acked = next
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
		return vfstest.Recovery{Recover: reopenRepl, Check: func(m *vfs.Mem) {
			l, err := memLog(m, replSegBytes)
			if err != nil {
				t.Fatalf("recovery failed: %v", err)
			}
			defer l.Close()
			if leo := l.LogEndOffset(); leo < acked {
				t.Fatalf("log end %d below the synced %d", leo, acked)
			}
			got, _ := readRecords(t, l)
			present := map[int64]bool{}
			latest := map[string]int64{}
			for _, r := range got {
				w, ok := recs[r.off]
				if !ok || w.key != r.key || (w.value == nil) != (r.value == nil) || w.value != nil && *w.value != *r.value {
					t.Fatalf("record at %d (%s) is not the leader's", r.off, r.key)
				}
				present[r.off] = true
				latest[r.key] = max(latest[r.key], r.off)
			}
			for off, w := range recs {
				if !present[off] && off < acked && latest[w.key] <= off {
					t.Fatalf("synced record %d (%s) lost without a later one of its key", off, w.key)
				}
			}
			checkIndexes(t, l)
			checkGapReads(t, l)
			gapMarkers(t, m)
		}}
	}
}

// compactGapOptions are the follower's options when it compacts: the
// segments of replSegBytes written so far merge into cleaned ones.
var compactGapOptions = Options{SegmentBytes: 8 * replSegBytes, IndexIntervalBytes: 100}

// moreBatches returns 12 more batches of the leader from offset from on:
// two records each (a hot key, a key written once), each after a gap of 5,
// in leader epoch 4.
func moreBatches(t testing.TB, from int64) [][]byte {
	var more [][]byte
	for i := range 12 {
		b := kvBatch(t, kvSpec{ts: 2_000_000 + int64(i), recs: []kv{
			{k: fmt.Sprintf("h%d", i%4), v: fmt.Sprintf("more%d", i)},
			{k: fmt.Sprintf("m%d", i), v: fmt.Sprintf("more%d", i)},
		}})
		batch.SetBaseOffset(b, from+5)
		batch.SetPartitionLeaderEpoch(b, 4)
		from = batchEnd(b)
		more = append(more, b)
	}
	return more
}

// recordsOf returns the records of batch b.
func recordsOf(t testing.TB, b []byte) []rec {
	t.Helper()
	h, err := batch.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []rec
	err = batch.ReadRecords(&h, b[batch.HeaderSize:], 1<<26, func(r batch.Record) error {
		x := rec{off: h.BaseOffset + int64(r.OffsetDelta), ts: h.BaseTimestamp + r.TimestampDelta, key: string(r.Key)}
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
	return out
}

func TestMemCrashFollowerCompactsGaps(t *testing.T) {
	raw := gapLeader(t)
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: !raceEnabled}, gapCompactTrial(raw))
	t.Logf("a follower with gaps compacts: %d crash points", n)
	n = runRandom(t, gapCompactTrial(raw))
	t.Logf("a follower with gaps compacts, random unsynced state: %d crash points", n)
}

// TestFollowerCompactsGapsCleans makes sure the workload above really
// swaps cleaned segments in over segments with gap markers.
func TestFollowerCompactsGapsCleans(t *testing.T) {
	m := vfs.NewCrashableMem()
	memSetup(t, m)
	l := memOpen(t, m, replSegBytes)
	for _, b := range gapLeader(t) {
		if _, err := l.AppendReplicated(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	markers := len(gapMarkers(t, m))
	l.SetOptions(compactGapOptions)
	st := mustCompact(t, l, CompactOptions{})
	if !st.Cleaned || st.SegmentsWritten == 0 || markers < 2 || len(gapMarkers(t, m)) >= markers {
		t.Fatalf("compaction %+v; gap markers %d before, %d after", st, markers, len(gapMarkers(t, m)))
	}
	l.Close()
}
