package metadata

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Publisher holds a node's current image and publishes every new one to
// its listeners, in log order. It is the state machine the metadata log
// (the Raft quorum on a controller, an observer on a broker-only node)
// applies committed entries to: Apply takes one entry (a batch of
// records, EncodeBatch's form), Restore a snapshot, Snapshot gives one.
//
// The log calls Apply, Restore and Snapshot from one goroutine, one call at
// a time. Listeners run on that goroutine, under mu, before the call
// returns: a controller whose proposal returns once it is applied knows
// that every listener (the partition manager among them) has acted on it.
// Listeners must not call back into the Publisher's writers or wait for
// the log.
type Publisher struct {
	image atomic.Pointer[Image]

	mu        sync.Mutex // serializes publishing; guards listeners
	listeners []Listener
	// wake is closed and replaced after each image is stored (so a
	// waiter that takes it and then reads an old image is woken).
	wake atomic.Pointer[chan struct{}]
}

// Listener receives every published image with the records that produced
// it. recs is nil when next comes from a snapshot (anything may have
// changed); prev is nil on the first call, from Subscribe.
type Listener func(prev, next *Image, recs []Record)

// NewPublisher returns a publisher of im (Empty() when nil).
func NewPublisher(im *Image) *Publisher {
	if im == nil {
		im = Empty()
	}
	p := &Publisher{}
	p.image.Store(im)
	w := make(chan struct{})
	p.wake.Store(&w)
	return p
}

// Image returns the current image.
func (p *Publisher) Image() *Image { return p.image.Load() }

// Subscribe adds a listener and calls it once with the current image (prev
// nil), so it starts from a known state.
func (p *Publisher) Subscribe(l Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listeners = append(p.listeners, l)
	l(nil, p.image.Load(), nil)
}

// Apply applies a committed entry: the batch in data at index.
func (p *Publisher) Apply(index uint64, data []byte) error {
	recs, err := DecodeBatch(data)
	if err != nil {
		return fmt.Errorf("metadata: entry %d: %w", index, err)
	}
	return p.ApplyRecords(int64(index), recs)
}

// ApplyRecords applies one entry's records at index.
func (p *Publisher) ApplyRecords(index int64, recs []Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.image.Load()
	next, err := prev.ApplyBatch(index, recs)
	if err != nil {
		return err
	}
	p.publishLocked(prev, next, recs)
	return nil
}

// Restore replaces the image with a snapshot taken at index (empty data:
// the empty image, the log's bootstrap snapshot).
func (p *Publisher) Restore(data []byte, index uint64) error {
	next := Empty()
	if len(data) > 0 {
		var err error
		if next, err = DecodeSnapshot(data); err != nil {
			return fmt.Errorf("metadata: snapshot at %d: %w", index, err)
		}
	}
	if next.Offset > int64(index) {
		return fmt.Errorf("metadata: snapshot at %d holds an image at %d", index, next.Offset)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.publishLocked(p.image.Load(), next, nil)
	return nil
}

// Snapshot returns the current image's snapshot and the index it is at.
func (p *Publisher) Snapshot() ([]byte, uint64, error) {
	im := p.image.Load()
	return im.Snapshot(), uint64(im.Offset), nil
}

func (p *Publisher) publishLocked(prev, next *Image, recs []Record) {
	p.image.Store(next)
	for _, l := range p.listeners {
		l(prev, next, recs)
	}
	w := make(chan struct{})
	close(*p.wake.Swap(&w))
}

// Changed returns a channel closed when the next image is published.
func (p *Publisher) Changed() <-chan struct{} { return *p.wake.Load() }

// WaitFor waits until the image's offset reaches index.
func (p *Publisher) WaitFor(ctx context.Context, index int64) error {
	for {
		wake := *p.wake.Load()
		if p.image.Load().Offset >= index {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
