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
//     walked, and compact themselves when completed entries dominate.
//   - Completion releases what the operation holds: it leaves the timer
//     heap at once (heap.Remove by its index, as Kafka's timing wheel
//     cancels a completed operation's timer task), and its check and
//     completion closures are dropped, so a list entry that still points
//     at a completed operation retains about a hundred bytes, not the request
//     and response the closures captured.
//
// Lock order: Op.mu, List.mu and Timers.mu are leaves; none is held while
// another is taken, and no check or completion runs under any of them.
package purgatory

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one waiting operation.
type Op struct {
	// mu guards check, complete and lists, which completion clears: a
	// check may be starting, or a Watch registering, on another goroutine
	// while the operation completes.
	mu sync.Mutex
	// check reports whether the operation can complete now. It is called
	// from the goroutine that reports progress on a watched key; it must be
	// quick and must not block.
	check func() bool
	// complete runs exactly once, with timedOut set when the deadline won.
	complete func(timedOut bool)
	// lists are the lists holding an entry for this operation; each is
	// told when it completes. list0 stores the first (most operations
	// watch one key) without an allocation.
	lists []*List
	list0 [1]*List

	done   atomic.Bool
	timers atomic.Pointer[Timers] // the heap Add put it on, if any

	deadline time.Time // Timers.mu
	index    int       // in the timer heap; -1 when not there (Timers.mu)
}

// NewOp returns an operation. check may be nil (complete only on
// ForceComplete or the deadline).
func NewOp(check func() bool, complete func(timedOut bool)) *Op {
	o := &Op{check: check, complete: complete, index: -1}
	o.lists = o.list0[:0]
	return o
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
	o.mu.Lock()
	check := o.check
	o.mu.Unlock()
	if check != nil && !check() {
		return o.done.Load()
	}
	return o.finish(false)
}

// ForceComplete completes the operation now, as if its check passed.
func (o *Op) ForceComplete() bool { return o.finish(false) }

// finish completes the operation if nobody did: it takes the operation
// off its timer heap, drops the closures, counts it completed in the lists
// that hold it, then runs the completion with no lock held.
func (o *Op) finish(timedOut bool) bool {
	if !o.done.CompareAndSwap(false, true) {
		return true
	}
	o.mu.Lock()
	complete, lists := o.complete, o.lists
	o.check, o.complete, o.lists = nil, nil, nil
	o.mu.Unlock()
	if t := o.timers.Load(); t != nil {
		t.remove(o)
	}
	for _, l := range lists {
		l.dead.Add(1)
	}
	clear(o.list0[:])
	complete(timedOut)
	return true
}

// watching registers l as holding an entry for o, unless o is done (then
// no entry is needed).
func (o *Op) watching(l *List) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done.Load() {
		return false
	}
	o.lists = append(o.lists, l)
	return true
}

// List is the FIFO of operations watching one key.
type List struct {
	mu  sync.Mutex
	ops []*Op // mu guards ops, walking and again
	// walking: a Progress has the list out; again: another Progress came
	// meanwhile, so the walker walks once more.
	walking, again bool
	// dead counts entries whose operation completed (each completion
	// adds one per entry; dropping an entry subtracts it). It can run
	// ahead of, or behind, ops for a moment while the two race.
	dead atomic.Int64
}

// minCompact is the length below which Watch does not compact a list.
const minCompact = 64

// Watch appends op to the list. Call op.TryComplete after watching every
// key, to close the race with progress reported between the caller's
// first check and Watch. When completed entries make up half the list
// (of at least minCompact entries), Watch drops them first: a key that
// sees no progress (an idle partition's long polls that time out) keeps
// at most about as many completed entries as live ones, and each entry is
// scanned a bounded number of times.
func (l *List) Watch(op *Op) {
	if !op.watching(l) {
		return
	}
	l.mu.Lock()
	if n := len(l.ops); n >= minCompact && 2*l.dead.Load() >= int64(n) {
		l.ops = compact(l.ops)
		l.dead.Add(-int64(n - len(l.ops)))
	}
	l.ops = append(l.ops, op)
	l.mu.Unlock()
}

// Progress walks the waiting operations in arrival order and completes
// those whose check now passes. It returns how many completed.
//
// One walk at a time: a Progress that finds another walking (the list is
// out) marks it and returns 0, and the walker walks again before it
// returns, so the change that Progress reports is never lost. (Without
// that, an operation checked just before the change was put back and
// waited for the key's next progress or its deadline.)
func (l *List) Progress() int {
	l.mu.Lock()
	if l.walking || len(l.ops) == 0 {
		l.again = l.walking
		l.mu.Unlock()
		return 0
	}
	l.walking = true
	n := 0
	for {
		ops := l.ops
		l.ops, l.again = nil, false
		l.mu.Unlock()
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
		l.dead.Add(-int64(len(ops) - len(keep)))
		clear(ops[len(keep):]) // the dropped entries must not pin their ops
		keep = shrink(keep)
		// Put the survivors back ahead of anything that arrived meanwhile,
		// keeping FIFO order.
		l.mu.Lock()
		if len(keep) > 0 {
			l.ops = append(keep, l.ops...)
		}
		if !l.again {
			l.walking = false
			l.mu.Unlock()
			return n
		}
	}
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
	l.dead.Add(-int64(len(ops)))
}

// Len is the number of entries, completed or not.
func (l *List) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ops)
}

// compact drops completed entries, keeping order, and returns a smaller
// array when the old one would be mostly empty.
func compact(ops []*Op) []*Op {
	keep := ops[:0]
	for _, op := range ops {
		if !op.Done() {
			keep = append(keep, op)
		}
	}
	clear(ops[len(keep):])
	return shrink(keep)
}

// shrink copies ops into a right-sized array when it uses under a quarter
// of a large one, so one burst of waiters does not pin its array forever.
func shrink(ops []*Op) []*Op {
	if cap(ops) <= minCompact || len(ops) >= cap(ops)/4 {
		return ops
	}
	return append(make([]*Op, 0, max(minCompact, 2*len(ops))), ops...)
}

// Timers completes operations whose deadline passes. One goroutine serves
// every deadline from a heap; an operation that completes otherwise leaves
// the heap at once.
type Timers struct {
	mu        sync.Mutex
	heap      opHeap // mu guards heap and scheduled
	scheduled int64  // operations Add has put on the heap, ever
	wake      chan struct{}
	stop      chan struct{}
	doneC     chan struct{}
	now       func() time.Time
}

// NewTimers starts the timer goroutine. Close stops it.
func NewTimers() *Timers {
	t := newTimers(time.Now)
	go t.run()
	return t
}

// newTimers returns Timers without its goroutine (tests drive expire).
func newTimers(now func() time.Time) *Timers {
	return &Timers{
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		doneC: make(chan struct{}),
		now:   now,
	}
}

// Add schedules op to time out at deadline. An operation is added at most
// once; one that is already done is not scheduled.
func (t *Timers) Add(op *Op, deadline time.Time) {
	t.mu.Lock()
	// Publish the heap before looking at done: a finish that wins the
	// CAS after this load sees t and removes op (see finish).
	op.timers.Store(t)
	if op.done.Load() {
		t.mu.Unlock()
		return
	}
	op.deadline = deadline
	heap.Push(&t.heap, op)
	t.scheduled++
	first := op.index == 0
	t.mu.Unlock()
	if first {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// remove takes a completed op off the heap if it is still there.
func (t *Timers) remove(op *Op) {
	t.mu.Lock()
	if op.index >= 0 {
		heap.Remove(&t.heap, op.index)
		t.heap = t.heap.shrink()
	}
	t.mu.Unlock()
}

// Close stops the goroutine and times out every pending operation.
func (t *Timers) Close() {
	close(t.stop)
	<-t.doneC
	t.mu.Lock()
	ops := t.heap
	t.heap = nil
	for _, op := range ops {
		op.index = -1
	}
	t.mu.Unlock()
	for _, op := range ops {
		op.finish(true)
	}
}

// Len is the number of scheduled deadlines: operations neither completed
// nor timed out (a completing operation may count until its completion
// has taken it off).
func (t *Timers) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.heap)
}

// Scheduled is how many operations Add has put on the heap since
// NewTimers (already-completed ones are not put there).
func (t *Timers) Scheduled() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scheduled
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
		if op.Done() { // completing; its finish finds it gone
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
	t.heap = t.heap.shrink()
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

// shrink copies the heap into a right-sized array when it uses under a
// quarter of a large one (positions, and so indexes, are unchanged).
func (h opHeap) shrink() opHeap {
	if cap(h) <= 1024 || len(h) >= cap(h)/4 {
		return h
	}
	return append(make(opHeap, 0, 2*len(h)), h...)
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
