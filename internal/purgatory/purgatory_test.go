package purgatory

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	for i := 0; i < 200; i++ {
		op := NewOp(nil, func(bool) {})
		op.ForceComplete()
		l.Watch(op)
	}
	if l.Len() >= 200 {
		t.Fatalf("completed ops not compacted: %d entries", l.Len())
	}
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
