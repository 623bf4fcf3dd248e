package seglog

import (
	"bytes"
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
