package client

import "sync"

// mailbox moves slices of items from any number of producers to the one
// goroutine that owns it. put appends under a mutex and signals wake (a
// channel with room for one signal, so signals coalesce); the owner selects
// on wake and takes the whole slice at once. Two slices alternate (items and
// spare), so steady state allocates nothing.
//
// Tried: a buffered channel of single items (sarama's design) costs a channel
// operation per record per layer; a channel of slices allocates a slice per
// send. The mailbox amortizes one lock and one signal over a whole slice.
type mailbox[T any] struct {
	wake chan struct{}

	// mu guards the following.
	mu    sync.Mutex
	items []T
	spare []T
}

func newMailbox[T any]() mailbox[T] { return mailbox[T]{wake: make(chan struct{}, 1)} }

func (m *mailbox[T]) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *mailbox[T]) put(v T) {
	m.mu.Lock()
	m.items = append(m.items, v)
	m.mu.Unlock()
	m.signal()
}

func (m *mailbox[T]) putAll(vs []T) {
	if len(vs) == 0 {
		return
	}
	m.mu.Lock()
	m.items = append(m.items, vs...)
	m.mu.Unlock()
	m.signal()
}

// give hands vs over: if the mailbox is empty, vs itself becomes its
// content (no copy) and give returns the mailbox's old, empty slice for
// the caller to reuse; otherwise vs is appended and returned. Either way
// the caller owns what give returns, and not vs.
func (m *mailbox[T]) give(vs []T) []T {
	if len(vs) == 0 {
		return vs
	}
	m.mu.Lock()
	if len(m.items) == 0 {
		vs, m.items = m.items[:0], vs
	} else {
		m.items = append(m.items, vs...)
		clear(vs)
		vs = vs[:0]
	}
	m.mu.Unlock()
	m.signal()
	return vs
}

// take returns everything queued. The caller gives the slice back with
// recycle once done with it.
func (m *mailbox[T]) take() []T {
	m.mu.Lock()
	s := m.items
	m.items = m.spare[:0]
	m.spare = nil
	m.mu.Unlock()
	return s
}

func (m *mailbox[T]) recycle(s []T) {
	if cap(s) > 1<<18 {
		return // let an outsized burst's slice go
	}
	clear(s)
	m.mu.Lock()
	if m.spare == nil {
		m.spare = s[:0]
	}
	m.mu.Unlock()
}
