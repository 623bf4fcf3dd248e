// Package purgatory parks operations that wait for something to happen in
// the broker (a Fetch waiting for min_bytes, an acks=all Produce waiting for
// the high watermark) and completes each exactly once: when a watched key
// reports progress and the operation's check passes, or when its deadline
// passes.
//
// Design, after Kafka's DelayedOperationPurgatory but with Go's tools:
//   - Each watched key (a partition) has a List: a FIFO of waiting
//     operations. Progress on the key walks the list in arrival order, so
//     waiters are woken first-come first-served, never by polling.
//   - All deadlines share one timer heap (container/heap) served by one
//     goroutine, instead of one runtime timer per operation.
//   - An operation may sit in several lists (a Fetch over many partitions).
//     The first of {check passes, deadline} wins a CAS; the others see it
//     done and drop it. Lists drop completed entries lazily as they are
//     walked or grow.
package purgatory

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one waiting operation.
type Op struct {
	// Check reports whether the operation can complete now. It is called
	// from the goroutine that reports progress on a watched key; it must be
	// quick and must not block.
	check func() bool
	// complete runs exactly once, with timedOut set when the deadline won.
	complete func(timedOut bool)

	done     atomic.Bool
	deadline time.Time
	index    int // in the timer heap; -1 when not there
}

// NewOp returns an operation. check may be nil (complete only on Wake or
// deadline).
func NewOp(check func() bool, complete func(timedOut bool)) *Op {
	return &Op{check: check, complete: complete, index: -1}
}

// Done reports whether the operation has completed.
func (o *Op) Done() bool { return o.done.Load() }

// TryComplete runs check and, if it passes and nobody completed the
// operation first, completes it. It reports whether the operation is done
// (by this call or before).
func (o *Op) TryComplete() bool {
	if o.done.Load() {
		return true
	}
	if o.check != nil && !o.check() {
		return false
	}
	return o.finish(false)
}

// ForceComplete completes the operation now, as if its check passed.
func (o *Op) ForceComplete() bool { return o.finish(false) }

func (o *Op) finish(timedOut bool) bool {
	if !o.done.CompareAndSwap(false, true) {
		return true
	}
	o.complete(timedOut)
	return true
}

// List is the FIFO of operations watching one key.
type List struct {
	mu  sync.Mutex
	ops []*Op // mu guards ops
}

// Watch appends op to the list. Call op.TryComplete after watching every
// key, to close the race with progress reported between the caller's
// first check and Watch.
func (l *List) Watch(op *Op) {
	l.mu.Lock()
	if len(l.ops) >= 64 && len(l.ops) == cap(l.ops) {
		l.ops = compact(l.ops)
	}
	l.ops = append(l.ops, op)
	l.mu.Unlock()
}

// Progress walks the waiting operations in arrival order and completes
// those whose check now passes. It returns how many completed.
func (l *List) Progress() int {
	l.mu.Lock()
	ops := l.ops
	l.ops = nil
	l.mu.Unlock()
	if len(ops) == 0 {
		return 0
	}
	n := 0
	keep := ops[:0]
	for _, op := range ops {
		if op.Done() {
			continue
		}
		if op.TryComplete() {
			n++
			continue
		}
		keep = append(keep, op)
	}
	// Put the survivors back ahead of anything that arrived meanwhile,
	// keeping FIFO order.
	l.mu.Lock()
	if len(keep) > 0 {
		l.ops = append(keep, l.ops...)
	}
	l.mu.Unlock()
	return n
}

// CompleteAll completes every waiting operation (the key is going away).
func (l *List) CompleteAll() {
	l.mu.Lock()
	ops := l.ops
	l.ops = nil
	l.mu.Unlock()
	for _, op := range ops {
		op.ForceComplete()
	}
}

// Len is the number of entries, completed or not.
func (l *List) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ops)
}

func compact(ops []*Op) []*Op {
	keep := ops[:0]
	for _, op := range ops {
		if !op.Done() {
			keep = append(keep, op)
		}
	}
	for i := len(keep); i < len(ops); i++ {
		ops[i] = nil
	}
	return keep
}

// Timers completes operations whose deadline passes. One goroutine serves
// every deadline from a heap.
type Timers struct {
	mu    sync.Mutex
	heap  opHeap // mu guards heap
	wake  chan struct{}
	stop  chan struct{}
	doneC chan struct{}
	now   func() time.Time
}

// NewTimers starts the timer goroutine. Close stops it.
func NewTimers() *Timers {
	t := &Timers{
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		doneC: make(chan struct{}),
		now:   time.Now,
	}
	go t.run()
	return t
}

// Add schedules op to time out at deadline.
func (t *Timers) Add(op *Op, deadline time.Time) {
	t.mu.Lock()
	op.deadline = deadline
	heap.Push(&t.heap, op)
	first := op.index == 0
	t.mu.Unlock()
	if first {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// Close stops the goroutine and times out every pending operation.
func (t *Timers) Close() {
	close(t.stop)
	<-t.doneC
	t.mu.Lock()
	ops := t.heap
	t.heap = nil
	t.mu.Unlock()
	for _, op := range ops {
		op.finish(true)
	}
}

// Len is the number of scheduled deadlines (including completed operations
// not yet popped).
func (t *Timers) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.heap)
}

func (t *Timers) run() {
	defer close(t.doneC)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := t.expire()
		timer.Reset(next)
		select {
		case <-t.stop:
			return
		case <-t.wake:
		case <-timer.C:
		}
	}
}

// expire times out every due operation and returns the wait until the next.
func (t *Timers) expire() time.Duration {
	var due []*Op
	wait := time.Hour
	now := t.now()
	t.mu.Lock()
	for len(t.heap) > 0 {
		op := t.heap[0]
		if op.Done() {
			heap.Pop(&t.heap)
			continue
		}
		if d := op.deadline.Sub(now); d > 0 {
			wait = d
			break
		}
		heap.Pop(&t.heap)
		due = append(due, op)
	}
	t.mu.Unlock()
	for _, op := range due {
		op.finish(true)
	}
	return wait
}

type opHeap []*Op

func (h opHeap) Len() int           { return len(h) }
func (h opHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h opHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *opHeap) Push(x any) {
	op := x.(*Op)
	op.index = len(*h)
	*h = append(*h, op)
}
func (h *opHeap) Pop() any {
	old := *h
	n := len(old)
	op := old[n-1]
	old[n-1] = nil
	op.index = -1
	*h = old[:n-1]
	return op
}
