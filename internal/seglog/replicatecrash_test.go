package seglog

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/vfs"
	"github.com/samsa-io/samsa/internal/vfs/vfstest"
)

// Crash tests of the follower's writes, on the crashable twin, at every
// sync point (and with random unsynced state surviving, and recovery
// crashed in turn). After every crash the recovered log is a prefix of
// what was written (nothing invented), holds everything a Sync or a
// finished truncation made durable (nothing synced lost), and its
// leader-epoch cache agrees with its batches.

const replSegBytes = 600

// history is what a follower workload wrote: the batches the log should
// now hold, how many of them are durable, and while a truncation runs the
// longer log it started from (a crash then may leave a prefix of either).
type history struct {
	start   int64    // offset of raw[0]
	raw     [][]byte // the batches, contiguous from start
	durable int      // raw[:durable] survive any crash
	before  [][]byte // non-nil while a truncation is in progress
	bStart  int64
	// minDuring: while a truncation is in progress, how many of before
	// survive any crash.
	minDuring int
}

// checkRecovered opens the crashed log and checks it against h.
func (h *history) checkRecovered(t testing.TB, m *vfs.Mem) {
	t.Helper()
	l, err := memLog(m, replSegBytes)
	if err != nil {
		t.Fatalf("recovery failed: %v", err)
	}
	got := readAll(t, l)
	match := func(start int64, want [][]byte) bool {
		if len(got) > len(want) {
			return false
		}
		if len(got) > 0 && got[0].base != start {
			return false
		}
		for i := range got {
			if !bytes.Equal(got[i].raw, want[i]) {
				return false
			}
		}
		return true
	}
	if h.before != nil {
		// A crash inside a truncation: a prefix of the old log, at least
		// what stays durable whatever happens.
		if !match(h.bStart, h.before) || len(got) < h.minDuring {
			t.Fatalf("crash inside a truncation: recovered %d batches from %d, want a prefix of the old %d of at least %d", len(got), l.LogStartOffset(), len(h.before), h.minDuring)
		}
	} else if !match(h.start, h.raw) || len(got) < h.durable {
		t.Fatalf("recovered %d batches from %d, want a prefix of the %d written from %d of at least %d", len(got), l.LogStartOffset(), len(h.raw), h.start, h.durable)
	}
	checkIndexes(t, l)
	checkEpochs(t, l, got)
	if l.SyncedOffset() != l.LogEndOffset() {
		t.Fatalf("after recovery SyncedOffset %d, LEO %d", l.SyncedOffset(), l.LogEndOffset())
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
	checkEpochs(t, l, readAll(t, l))
}

func (h *history) end() int64 {
	if len(h.raw) == 0 {
		return h.start
	}
	return batchEnd(h.raw[len(h.raw)-1])
}

// batchEnd is the offset after the batch b.
func batchEnd(b []byte) int64 {
	h, err := batch.ParseHeader(b)
	if err != nil {
		panic(err)
	}
	return h.LastOffset() + 1
}

// replicated appends the batches one call each, syncing after every
// syncEvery, recording them in h. It stops at the first error.
func (h *history) replicated(l *Log, raw [][]byte, syncEvery int) error {
	for i, b := range raw {
		if _, err := l.AppendReplicated(b); err != nil {
			return err
		}
		h.raw = append(h.raw, b)
		if (i+1)%syncEvery == 0 || i == len(raw)-1 {
			to, err := l.Sync()
			if err != nil {
				return err
			}
			for h.durable < len(h.raw) && batchEnd(h.raw[h.durable]) <= to {
				h.durable++
			}
		}
	}
	return nil
}

// truncate runs TruncateTo(to), recording its effect on h.
func (h *history) truncate(l *Log, to int64) error {
	keep := 0
	for keep < len(h.raw) && batchEnd(h.raw[keep]) <= to {
		keep++
	}
	h.before, h.bStart, h.minDuring = h.raw, h.start, min(keep, h.durable)
	noop := to >= h.end()
	if err := l.TruncateTo(to); err != nil {
		return err
	}
	h.raw = h.raw[:keep:keep]
	if !noop { // a real cut makes everything below it durable
		h.durable = keep
	}
	h.before = nil
	return nil
}

// truncateFully runs TruncateFullyAndStartAt(off), recording it.
func (h *history) truncateFully(l *Log, off int64) error {
	h.before, h.bStart, h.minDuring = h.raw, h.start, 0
	if err := l.TruncateFullyAndStartAt(off); err != nil {
		return err
	}
	h.start, h.raw, h.durable, h.before = off, nil, 0, nil
	return nil
}

// followerSpec is batch i of a leader's log: idempotent producer 5 on two of
// three, sizes varying so that segments roll every few batches.
func followerSpec(i int) spec { return crashSpec(i) }

// replicateTrial: a follower appends the leader's batches (a new leader
// epoch every 7) and syncs after every syncEvery, then closes.
func replicateTrial(n, syncEvery int) vfstest.Trial {
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		memSetup(t, m)
		arm()
		h := &history{}
		raw, _ := chain(0, n, followerSpec, func(i int) int32 { return int32(i / 7) })
		if l, err := memLog(m, replSegBytes); err == nil {
			if h.replicated(l, raw, syncEvery) == nil && l.Close() == nil {
				h.durable = len(h.raw)
			}
		}
		return vfstest.Recovery{Recover: reopenRepl, Check: func(m *vfs.Mem) {
			h.checkRecovered(t, m)
			l, err := memLog(m, replSegBytes)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// Producer state was rebuilt from the replicated batches.
			checkProducerRecovered(t, l, len(readAll(t, l)))
		}}
	}
}

func reopenRepl(m *vfs.Mem) error {
	l, err := memLog(m, replSegBytes)
	if err != nil {
		return err
	}
	return l.Close()
}

// truncateTrial: a follower holding a synced log of the old leader's
// batches truncates it (into an older segment, then mid-batch in the active
// one), appends the new leader's different batches after each cut, and
// closes. The setup before the crash window is durable.
func truncateTrial() vfstest.Trial {
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		memSetup(t, m)
		h := &history{}
		old, oldEnd := chain(0, 30, followerSpec, func(i int) int32 { return int32(i / 10) })
		l, err := memLog(m, replSegBytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.replicated(l, old[:24], 24); err != nil {
			t.Fatal(err)
		}
		if err := h.replicated(l, old[24:], 100); err != nil { // 24.. synced at the end
			t.Fatal(err)
		}
		arm()
		steps := []func() error{
			func() error { return h.truncate(l, oldEnd[8]) }, // removes later segments
			func() error {
				nw, _ := chain(oldEnd[8], 9, func(i int) spec { return spec{records: 2, valueSize: 70 + i} }, func(int) int32 { return 5 })
				return h.replicated(l, nw, 3)
			},
			func() error { return h.truncate(l, h.end()-3) }, // mid-batch or in the last batches
			func() error {
				nw, _ := chain(h.end(), 6, func(i int) spec { return idem(8, 0, int32(i), 1) }, func(int) int32 { return 7 })
				return h.replicated(l, nw, 2)
			},
			func() error {
				if err := l.Close(); err != nil {
					return err
				}
				h.durable = len(h.raw)
				return nil
			},
		}
		for _, step := range steps {
			if step() != nil {
				break
			}
		}
		l.Close()
		return vfstest.Recovery{Recover: reopenRepl, Check: func(m *vfs.Mem) { h.checkRecovered(t, m) }}
	}
}

// truncateFullyTrial: a follower with a synced log restarts it empty at an
// offset (past its end, then at 0 again, reusing a segment name), appending
// the leader's batches after each restart.
func truncateFullyTrial() vfstest.Trial {
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		memSetup(t, m)
		h := &history{}
		old, _ := chain(0, 20, followerSpec, func(i int) int32 { return int32(i / 6) })
		l, err := memLog(m, replSegBytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.replicated(l, old, 20); err != nil {
			t.Fatal(err)
		}
		arm()
		steps := []func() error{
			func() error { return h.truncateFully(l, 500) },
			func() error {
				nw, _ := chain(500, 8, func(i int) spec { return spec{records: 3, valueSize: 90} }, func(int) int32 { return 9 })
				return h.replicated(l, nw, 3)
			},
			func() error { return h.truncateFully(l, 0) },
			func() error {
				nw, _ := chain(0, 4, func(i int) spec { return spec{records: 1, valueSize: 200} }, func(int) int32 { return 11 })
				return h.replicated(l, nw, 2)
			},
			func() error {
				if err := l.Close(); err != nil {
					return err
				}
				h.durable = len(h.raw)
				return nil
			},
		}
		for _, step := range steps {
			if step() != nil {
				break
			}
		}
		l.Close()
		return vfstest.Recovery{Recover: reopenRepl, Check: func(m *vfs.Mem) { h.checkRecovered(t, m) }}
	}
}

// Under the race detector the every-point variants do not crash recovery
// too (the random ones still do, in runRandom's last round), and the
// random ones run fewer batches: the race build is ten times slower.

func TestMemCrashReplicateSyncEach(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: !raceEnabled}, replicateTrial(25, 1))
	t.Logf("AppendReplicated, sync after each: %d crash points", n)
}

func TestMemCrashReplicateRandom(t *testing.T) {
	n := runRandom(t, replicateTrial(map[bool]int{false: 30, true: 16}[raceEnabled], 4))
	t.Logf("AppendReplicated, sync every 4, random unsynced state: %d crash points", n)
}

func TestMemCrashTruncateTo(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: !raceEnabled}, truncateTrial())
	t.Logf("TruncateTo + AppendReplicated: %d crash points", n)
}

func TestMemCrashTruncateToRandom(t *testing.T) {
	n := runRandom(t, truncateTrial())
	t.Logf("TruncateTo + AppendReplicated, random unsynced state: %d crash points", n)
}

func TestMemCrashTruncateFully(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: !raceEnabled}, truncateFullyTrial())
	t.Logf("TruncateFullyAndStartAt + AppendReplicated: %d crash points", n)
}

func TestMemCrashTruncateFullyRandom(t *testing.T) {
	n := runRandom(t, truncateFullyTrial())
	t.Logf("TruncateFullyAndStartAt + AppendReplicated, random unsynced state: %d crash points", n)
}

// randomFollowerTrial: a follower with synced and unsynced (rolled) data
// goes through a seeded random mix of truncations (anywhere, mid-batch,
// at or past the end), full restarts, appends with and without syncs, and
// closes. The choices depend on the seed only, so every run of the trial
// reaches the same sync points.
func randomFollowerTrial(seed uint64) vfstest.Trial {
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		rng := rand.New(rand.NewPCG(seed, 11))
		memSetup(t, m)
		h := &history{}
		epoch := int32(0)
		group := func(n int) [][]byte {
			raw, _ := chain(h.end(), n, func(i int) spec {
				s := spec{records: 1 + rng.IntN(3), valueSize: 20 + rng.IntN(120)}
				return s
			}, func(int) int32 { return epoch })
			return raw
		}
		l, err := memLog(m, replSegBytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.replicated(l, group(10+rng.IntN(10)), 5); err != nil {
			t.Fatal(err)
		}
		for _, b := range group(4 + rng.IntN(8)) { // unsynced, some rolled
			if _, err := l.AppendReplicated(b); err != nil {
				t.Fatal(err)
			}
			h.raw = append(h.raw, b)
		}
		arm()
		var steps []func() error
		for range 6 {
			switch rng.IntN(5) {
			case 0, 1:
				steps = append(steps, func() error {
					to := h.start + rng.Int64N(h.end()-h.start+3)
					epoch++
					return h.truncate(l, to)
				})
			case 2:
				steps = append(steps, func() error {
					epoch++
					return h.truncateFully(l, h.end()+rng.Int64N(50))
				})
			default:
				steps = append(steps, func() error {
					epoch += int32(rng.IntN(2))
					return h.replicated(l, group(1+rng.IntN(6)), 1+rng.IntN(4))
				})
			}
		}
		steps = append(steps, func() error {
			if err := l.Close(); err != nil {
				return err
			}
			h.durable = len(h.raw)
			return nil
		})
		for _, step := range steps {
			if step() != nil {
				break
			}
		}
		l.Close()
		return vfstest.Recovery{Recover: reopenRepl, Check: func(m *vfs.Mem) { h.checkRecovered(t, m) }}
	}
}

func TestMemCrashFollowerRandomOps(t *testing.T) {
	seeds := uint64(40)
	if raceEnabled {
		seeds = 6
	}
	n := 0
	for seed := range seeds {
		n += vfstest.Run(t, vfstest.Mode{Random: seed%2 == 1, Seed: seed}, randomFollowerTrial(seed))
	}
	t.Logf("random truncations, restarts and appends (%d seeds): %d crash points", seeds, n)
}
