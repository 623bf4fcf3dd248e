// Package vfstest runs crash tests on vfs's crashable in-memory filesystem:
// a workload is crashed at every sync point it reaches, and after each
// crash the test checks what recovery finds. Optionally the crash keeps
// random unsynced state, and recovery is itself crashed at every one of its
// sync points.
package vfstest

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/samsa-io/samsa/internal/vfs"
)

// A Trial runs one crash test on a fresh m: it sets up whatever must exist
// before the crash window (sync points there are not crash points), calls
// arm, runs the workload (which must stop, or at least change nothing, once
// an operation fails with vfs.ErrCrashed) and returns what to do after the
// crash. A Trial must reach the same sync points every time it runs.
type Trial func(t testing.TB, m *vfs.Mem, arm func()) Recovery

// Recovery is what a trial does on the crashed filesystem. Both functions
// take the filesystem as an argument: with Mode.CrashRecovery they run on
// clones of the crashed m.
type Recovery struct {
	// Recover reopens what the workload used and closes it again,
	// returning why that failed, if it did. With Mode.CrashRecovery its
	// sync points are crash points too, so it must stop (or change
	// nothing) once an operation fails with vfs.ErrCrashed.
	Recover func(m *vfs.Mem) error
	// Check reopens and asserts the invariants (nothing acknowledged lost,
	// nothing invented, nothing torn served) after Recover succeeded.
	Check func(m *vfs.Mem)
}

// Mode chooses how hard the crashes are.
type Mode struct {
	// Random makes each crash keep random unsynced state as well
	// (vfs.CrashMode: torn writes, namespace operations not yet synced),
	// drawn from Seed and the crash point, so that a failure repeats.
	Random bool
	Seed   uint64
	// CrashRecovery crashes recovery too: after every crash, Recover is
	// run once to count its sync points, then once crashed at each of
	// them, and recovered again before Check.
	CrashRecovery bool
}

// EverySyncPoint is Run with the default Mode: only durable state survives.
func EverySyncPoint(t testing.TB, trial Trial) int {
	t.Helper()
	return Run(t, Mode{}, trial)
}

// Run runs trial once to count the sync points its workload reaches (n),
// crashes it at its end and checks; then for every k in 1..n runs it again
// on a fresh Mem, freezing the filesystem at the workload's k-th sync point
// (before that sync takes effect), crashes and checks. It returns the
// number of crash points covered: n+1, plus those in recovery with
// CrashRecovery.
func Run(t testing.TB, mode Mode, trial Trial) int {
	t.Helper()
	m := vfs.NewCrashableMem()
	mode.set(m, 0, 0)
	start := -1
	rec := trial(t, m, func() { start = m.SyncCount() })
	if start < 0 {
		t.Fatal("vfstest: the trial never called arm")
	}
	n := m.SyncCount() - start
	m.Crash()
	points := 1 + mode.recover(t, m, rec, 0)
	for k := 1; k <= n; k++ {
		m := vfs.NewCrashableMem()
		mode.set(m, k, 0)
		var frozen atomic.Bool
		rec := trial(t, m, func() { frozen.Store(false); freezeAt(m, m.SyncCount()+k, &frozen) })
		m.OnSync(nil)
		if !frozen.Load() {
			t.Fatalf("vfstest: crash point %d never reached (the first run reached %d): the trial is not deterministic", k, n)
		}
		m.Crash()
		points += 1 + mode.recover(t, m, rec, k)
		if t.Failed() {
			t.FailNow()
		}
	}
	return points
}

// freezeAt freezes m when its sync count reaches point.
func freezeAt(m *vfs.Mem, point int, frozen *atomic.Bool) {
	m.OnSync(func(i int, _ string) {
		if i == point {
			frozen.Store(true)
			m.Freeze()
		}
	})
}

func (mode Mode) set(m *vfs.Mem, k, j int) {
	if mode.Random {
		m.SetCrashMode(vfs.CrashMode{Rand: rand.New(rand.NewPCG(mode.Seed, uint64(k)<<32|uint64(j))),
			TornWrites: true, UnsyncedNames: true})
	}
}

// recover recovers the crashed m and checks it. With CrashRecovery it
// first crashes recovery at each of its sync points (on clones of m) and
// returns how many it crashed.
func (mode Mode) recover(t testing.TB, m *vfs.Mem, rec Recovery, k int) int {
	t.Helper()
	points := 0
	if mode.CrashRecovery {
		c := m.CrashClone() // m was just crashed: the clone is exact
		start := c.SyncCount()
		if err := rec.Recover(c); err != nil {
			t.Fatalf("vfstest: recovery after crash point %d failed (mode %+v): %v", k, mode, err)
		}
		n := c.SyncCount() - start
		for j := 1; j <= n; j++ {
			c := m.CrashClone()
			mode.set(c, k, j)
			var frozen atomic.Bool
			freezeAt(c, c.SyncCount()+j, &frozen)
			rec.Recover(c) // fails: it is crashed at its j-th sync point
			c.OnSync(nil)
			if !frozen.Load() {
				t.Fatalf("vfstest: recovery crash point %d never reached (the first recovery reached %d)", j, n)
			}
			c.Crash()
			if err := rec.Recover(c); err != nil {
				t.Fatalf("vfstest: recovery after crash point %d and recovery crash point %d failed (mode %+v): %v", k, j, mode, err)
			}
			mode.check(t, rec, c, k, j)
		}
		points = n
	}
	if err := rec.Recover(m); err != nil {
		t.Fatalf("vfstest: recovery after crash point %d failed (mode %+v): %v", k, mode, err)
	}
	mode.check(t, rec, m, k, 0)
	return points
}

// check runs Check, naming the crash points if it fails (a t.Fatal in
// Check exits through the deferred call).
func (mode Mode) check(t testing.TB, rec Recovery, m *vfs.Mem, k, j int) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("vfstest: failed after a crash at workload sync point %d, recovery sync point %d (0: none); mode %+v", k, j, mode)
		}
	}()
	rec.Check(m)
}
