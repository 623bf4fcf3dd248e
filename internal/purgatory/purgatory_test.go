package purgatory

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"
)

func TestProgressWakesInArrivalOrder(t *testing.T) {
	var l List
	var level atomic.Int64
	var order []int
	var mu sync.Mutex
	for i := 0; i < 5; i++ {
		i := i
		need := int64(i%2 + 1) // ops 0,2,4 need 1; ops 1,3 need 2
		op := NewOp(func() bool { return level.Load() >= need }, func(timedOut bool) {
			if timedOut {
				t.Errorf("op %d timed out", i)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		l.Watch(op)
	}
	level.Store(1)
	if n := l.Progress(); n != 3 {
		t.Fatalf("completed %d, want 3", n)
	}
	level.Store(2)
	if n := l.Progress(); n != 2 {
		t.Fatalf("completed %d, want 2", n)
	}
	want := []int{0, 2, 4, 1, 3}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
	if l.Len() != 0 {
		t.Fatalf("list keeps %d entries", l.Len())
	}
}

func TestCompletesExactlyOnce(t *testing.T) {
	timers := NewTimers()
	defer timers.Close()
	var lists [4]List
	var calls atomic.Int64
	op := NewOp(func() bool { return true }, func(bool) { calls.Add(1) })
	for i := range lists {
		lists[i].Watch(op)
	}
	timers.Add(op, time.Now())
	var wg sync.WaitGroup
	for i := range lists {
		wg.Add(1)
		go func(l *List) { defer wg.Done(); l.Progress() }(&lists[i])
	}
	wg.Wait()
	time.Sleep(20 * time.Millisecond)
	if c := calls.Load(); c != 1 {
		t.Fatalf("completed %d times", c)
	}
}

func TestTimersExpireInDeadlineOrder(t *testing.T) {
	timers := NewTimers()
	defer timers.Close()
	done := make(chan int, 3)
	now := time.Now()
	for i, d := range []time.Duration{30, 10, 20} {
		i := i
		op := NewOp(func() bool { return false }, func(timedOut bool) {
			if !timedOut {
				t.Errorf("op %d not timed out", i)
			}
			done <- i
		})
		timers.Add(op, now.Add(d*time.Millisecond))
	}
	var got []int
	for len(got) < 3 {
		select {
		case i := <-done:
			got = append(got, i)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v expired", got)
		}
	}
	if got[0] != 1 || got[1] != 2 || got[2] != 0 {
		t.Fatalf("expiry order %v, want [1 2 0]", got)
	}
}

func TestCloseTimesOutPending(t *testing.T) {
	timers := NewTimers()
	var timedOut atomic.Bool
	op := NewOp(nil, func(to bool) { timedOut.Store(to) })
	timers.Add(op, time.Now().Add(time.Hour))
	timers.Close()
	if !op.Done() || !timedOut.Load() {
		t.Fatal("Close did not time out the pending op")
	}
}

func TestCompactDropsDoneOps(t *testing.T) {
	var l List
	var ops []*Op
	for i := 0; i < 200; i++ {
		op := NewOp(nil, func(bool) {})
		l.Watch(op)
		ops = append(ops, op)
	}
	// They complete elsewhere (deadline, another key): this list is never
	// walked, so only Watch can drop them.
	for _, op := range ops {
		op.ForceComplete()
	}
	live := NewOp(nil, func(bool) {})
	l.Watch(live)
	if n := l.Len(); n != 1 {
		t.Fatalf("list holds %d entries after its 200 completed ones, want 1 (the live op)", n)
	}
	if d := l.dead.Load(); d != 0 {
		t.Fatalf("dead count %d after compaction, want 0", d)
	}
	// A done op is not watched at all.
	l.Watch(ops[0])
	if n := l.Len(); n != 1 {
		t.Fatalf("watching a completed op added an entry: %d", n)
	}
}

// TestListBoundsCompletedEntries: on a key that never sees progress, ops
// keep arriving and timing out (long polls on an idle partition). The list
// holds at most about as many completed entries as live ones, never all of
// them.
func TestListBoundsCompletedEntries(t *testing.T) {
	var l List
	const live = 100
	var ready atomic.Bool
	var order []int
	var window []*Op
	var ids []int
	maxLen := 0
	for i := 0; i < 20000; i++ {
		op := NewOp(ready.Load, func(timedOut bool) {
			if !timedOut {
				order = append(order, i)
			}
		})
		l.Watch(op)
		window, ids = append(window, op), append(ids, i)
		if len(window) > live {
			window[0].finish(true) // its deadline
			window, ids = window[1:], ids[1:]
		}
		maxLen = max(maxLen, l.Len())
	}
	if bound := 2*live + 2; maxLen > bound {
		t.Fatalf("list reached %d entries for %d live ops (bound %d)", maxLen, live, bound)
	}
	// Compaction kept FIFO order: a walk wakes the live ones in arrival
	// order.
	ready.Store(true)
	if n := l.Progress(); n != live {
		t.Fatalf("walk completed %d, want %d", n, live)
	}
	if len(order) != live {
		t.Fatalf("woke %d, want %d", len(order), live)
	}
	for k := range order {
		if order[k] != ids[k] {
			t.Fatalf("wake order %v, want %v", order[:k+1], ids[:k+1])
		}
	}
	if l.Len() != 0 || l.dead.Load() != 0 {
		t.Fatalf("after the walk: %d entries, dead count %d", l.Len(), l.dead.Load())
	}
}

// TestCompletedOpsLeaveTimerHeap is the test: after many ops with
// long deadlines complete (woken by progress, or forced), the heap holds
// none of them. Before the fix each stayed until its deadline.
func TestCompletedOpsLeaveTimerHeap(t *testing.T) {
	timers := NewTimers()
	defer timers.Close()
	var l List
	var ready atomic.Bool
	const n = 5000
	var completed, expired atomic.Int64
	for i := 0; i < n; i++ {
		op := NewOp(ready.Load, func(timedOut bool) {
			if timedOut {
				expired.Add(1)
			}
			completed.Add(1)
		})
		l.Watch(op)
		if op.TryComplete() {
			t.Fatal("op completed before it was ready")
		}
		timers.Add(op, time.Now().Add(time.Hour))
		if i%2 == 1 {
			op.ForceComplete()
		}
	}
	if got := timers.Len(); got != n/2 {
		t.Fatalf("heap holds %d ops, want the %d not yet completed", got, n/2)
	}
	if got := timers.Scheduled(); got != n {
		t.Fatalf("scheduled %d, want %d", got, n)
	}
	ready.Store(true)
	l.Progress()
	if c, e := completed.Load(), expired.Load(); c != n || e != 0 {
		t.Fatalf("%d completed (%d timed out), want %d (none timed out)", c, e, n)
	}
	if got := timers.Len(); got != 0 {
		t.Fatalf("heap still holds %d completed ops", got)
	}
	if got := l.Len(); got != 0 {
		t.Fatalf("list still holds %d entries", got)
	}
}

// TestHeapRemoveKeepsDeadlineOrder completes a random half of many ops
// out of the middle of the heap; the rest still time out, in deadline
// order, and no completed op fires again. The clock is the test's.
func TestHeapRemoveKeepsDeadlineOrder(t *testing.T) {
	now := time.Unix(1000, 0)
	timers := newTimers(func() time.Time { return now })
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 2000
	var fired []int
	timedOut := map[int]bool{}
	deadlines := make([]time.Time, n)
	ops := make([]*Op, n)
	for i := range ops {
		deadlines[i] = now.Add(time.Duration(1+rng.IntN(500)) * time.Millisecond)
		ops[i] = NewOp(nil, func(to bool) {
			fired = append(fired, i)
			timedOut[i] = to
		})
		timers.Add(ops[i], deadlines[i])
	}
	forced := map[int]bool{}
	for _, i := range rng.Perm(n)[:n/2] {
		ops[i].ForceComplete()
		forced[i] = true
	}
	if got := timers.Len(); got != n/2 {
		t.Fatalf("heap holds %d, want %d", got, n/2)
	}
	fired = fired[:0]
	var last time.Time
	for step := 0; step <= 500; step++ {
		now = now.Add(time.Millisecond)
		timers.expire()
		for _, i := range fired {
			switch {
			case forced[i]:
				t.Fatalf("forced op %d completed again", i)
			case !timedOut[i]:
				t.Fatalf("op %d completed without timing out", i)
			case deadlines[i].After(now):
				t.Fatalf("op %d expired before its deadline", i)
			case deadlines[i].Before(last):
				t.Fatalf("op %d (deadline %v) expired after one due at %v", i, deadlines[i], last)
			}
			last = deadlines[i]
			forced[i] = true // completed: must not fire again
		}
		fired = fired[:0]
	}
	if len(forced) != n {
		t.Fatalf("%d of %d ops completed", len(forced), n)
	}
	if got := timers.Len(); got != 0 {
		t.Fatalf("heap holds %d after every op completed", got)
	}
}

// TestConcurrentCompletionLeavesNothing races everything a broker does at
// once: ops watching several lists are parked, woken by progress on any of
// them, forced, or timed out. Each completes exactly once, and afterwards
// no heap slot or list entry (nor a dead count) is left behind.
func TestConcurrentCompletionLeavesNothing(t *testing.T) {
	timers := NewTimers()
	defer timers.Close()
	var lists [4]List
	var level atomic.Int64
	const workers, per = 4, 2000
	var calls [workers * per]atomic.Int32
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var walkers sync.WaitGroup
	for i := range lists {
		walkers.Add(1)
		go func(l *List) {
			defer walkers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				level.Add(1)
				l.Progress()
				runtime.Gosched()
			}
		}(&lists[i])
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for k := 0; k < per; k++ {
				id := w*per + k
				need := level.Load() + int64(rng.IntN(50))
				op := NewOp(func() bool { return level.Load() >= need }, func(bool) { calls[id].Add(1) })
				for _, i := range rng.Perm(len(lists))[:1+rng.IntN(len(lists))] {
					lists[i].Watch(op)
				}
				if op.TryComplete() {
					continue
				}
				switch rng.IntN(3) {
				case 0: // a deadline that passes now
					timers.Add(op, time.Now())
				case 1: // forced
					timers.Add(op, time.Now().Add(time.Hour))
					op.ForceComplete()
				default: // woken by progress, long before its deadline
					timers.Add(op, time.Now().Add(time.Hour))
				}
			}
		}(w)
	}
	wg.Wait()
	// Let progress finish the rest.
	deadline := time.Now().Add(10 * time.Second)
	for timers.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	walkers.Wait()
	level.Store(1 << 62)
	for i := range lists {
		lists[i].Progress()
	}
	for id := range calls {
		if c := calls[id].Load(); c != 1 {
			t.Fatalf("op %d completed %d times", id, c)
		}
	}
	if n := timers.Len(); n != 0 {
		t.Fatalf("heap holds %d completed ops", n)
	}
	for i := range lists {
		if n, d := lists[i].Len(), lists[i].dead.Load(); n != 0 || d != 0 {
			t.Fatalf("list %d: %d entries, dead count %d after every op completed", i, n, d)
		}
	}
}

// bigOp returns an op whose closures hold 1 MiB, and a weak pointer to it.
func bigOp() (*Op, weak.Pointer[[1 << 20]byte]) {
	big := new([1 << 20]byte)
	big[0] = 1
	op := NewOp(func() bool { return big[0] == 2 }, func(bool) { big[1] = 1 })
	return op, weak.Make(big)
}

// TestCompletedOpReleasesClosures: a list (never walked) and the heap
// still point at ops that completed elsewhere; what their closures
// captured (a request and its response, in the broker) must be garbage.
func TestCompletedOpReleasesClosures(t *testing.T) {
	timers := NewTimers()
	defer timers.Close()
	var l List
	forced, wf := bigOp()
	expired, we := bigOp()
	l.Watch(forced)
	l.Watch(expired)
	timers.Add(forced, time.Now().Add(time.Hour))
	timers.Add(expired, time.Now())
	forced.ForceComplete()
	deadline := time.Now().Add(5 * time.Second)
	for !expired.Done() {
		if time.Now().After(deadline) {
			t.Fatal("op did not expire")
		}
		time.Sleep(time.Millisecond)
	}
	if l.Len() != 2 {
		t.Fatalf("list holds %d entries; the test wants both completed ops still in it", l.Len())
	}
	runtime.GC()
	if wf.Value() != nil {
		t.Error("a force-completed op still holds its closures' memory")
	}
	if we.Value() != nil {
		t.Error("an expired op still holds its closures' memory")
	}
	runtime.KeepAlive(forced)
	runtime.KeepAlive(expired)
}

// BenchmarkWatchProgress measures parking and waking one op.
func BenchmarkWatchProgress(b *testing.B) {
	var l List
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		op := NewOp(nil, func(bool) {})
		l.Watch(op)
		l.Progress()
	}
}

// A Progress that finds the list taken by another Progress's walk is not
// lost: the walker checks again after it, so an operation whose check
// failed just before the condition changed completes with no further
// progress. (Before, the second Progress saw an empty list and returned, the
// walker put the operation back, and it waited for the next progress on
// the key or its deadline: a follower's long poll or an acks=all produce
// stalled for an append's inter-arrival time or max_wait.)
func TestConcurrentProgressIsNotLost(t *testing.T) {
	var l List
	var level atomic.Int64
	inCheck := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	done := make(chan struct{})
	op := NewOp(func() bool {
		ok := level.Load() >= 1 // read before the change below
		if calls.Add(1) == 2 {  // the first walk (the first call is TryComplete)
			close(inCheck)
			<-release
		}
		return ok
	}, func(timedOut bool) { close(done) })
	l.Watch(op)
	if op.TryComplete() {
		t.Fatal("completed before any progress")
	}
	walker := make(chan int)
	go func() { walker <- l.Progress() }()
	<-inCheck
	level.Store(1)
	second := l.Progress() // the list is out for the walk
	close(release)
	first := <-walker
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the progress reported during a walk was lost (completed %d + %d)", first, second)
	}
	if first+second != 1 {
		t.Fatalf("completed %d + %d, want 1", first, second)
	}
}
