package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Producer produces records. It is safe for concurrent use. See
// DESIGN-producer.md for the goroutine pipeline behind it.
type Producer struct {
	cl         *Client
	ownsClient bool
	cfg        config
	comp       *compressor

	budget  budget
	ids     idManager
	results resultQueue

	// in is the dispatcher's mailbox: Produce appends here. inClosed is
	// guarded by in.mu: once set, no record enters the pipeline.
	in       mailbox[pendingRec]
	inClosed bool
	flushing atomic.Int32 // > 0 while Flush or Close wait: linger is off
	closed   atomic.Bool  // no new records
	aborting atomic.Bool  // Close's ctx ended: fail instead of retry

	// ctx is cancelled when the producer is torn down; blocking network
	// calls inside the pipeline use it.
	ctx    context.Context
	cancel context.CancelFunc

	// partsMu guards parts, the registry used to poke every partition
	// (Flush, abort). Partitions are owned by their topic goroutine.
	partsMu sync.Mutex
	parts   []*partitionProducer

	// brokersMu guards brokers; broker goroutines are owned by the
	// Producer and stopped last.
	brokersMu sync.Mutex
	brokers   map[brokerLane]*brokerProducer
	laneNext  map[int32]int // next lane to deal per broker
	brokersWG sync.WaitGroup

	stopDispatch chan struct{}
	dispatchDone chan struct{}
	closeOnce    sync.Once
}

// pendingRec is a record travelling through the pipeline. Slices of these
// (values, not pointers) move between layers.
type pendingRec struct {
	r        *Record
	cb       func(*Record, error)
	size     int32 // userSize, counted against the buffer budget
	sync     bool  // from ProduceSync: do not linger
	stampNow bool  // zero Timestamp: the dispatcher sets it
}

// NewProducer creates a producer with its own Client (closed by Close).
func NewProducer(opts ...Option) (*Producer, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newProducer(newClient(cfg), true, cfg)
}

// NewProducerFromClient creates a producer on an existing client; only the
// producer options in opts apply. Close leaves the client open.
func NewProducerFromClient(cl *Client, opts ...Option) (*Producer, error) {
	cfg := cl.cfg
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newProducer(cl, false, cfg)
}

func newProducer(cl *Client, owns bool, cfg config) (*Producer, error) {
	comp, err := newCompressor(cfg.codec, cfg.codecLevel)
	if err != nil {
		if owns {
			cl.Close()
		}
		return nil, err
	}
	p := &Producer{
		cl: cl, ownsClient: owns, cfg: cfg, comp: comp,
		in:           newMailbox[pendingRec](),
		brokers:      make(map[brokerLane]*brokerProducer),
		laneNext:     make(map[int32]int),
		stopDispatch: make(chan struct{}),
		dispatchDone: make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.budget.init(cfg.maxBufferedBytes, cfg.maxBufferedRecs)
	p.budget.onBlock = p.pokePartitions
	p.ids.init(p)
	p.results.init(p)
	go p.results.run()
	go p.dispatch()
	return p, nil
}

// Client returns the producer's client.
func (p *Producer) Client() *Client { return p.cl }

// Produce buffers r for sending and returns; cb (which may be nil) is called
// exactly once with the outcome, from the producer's result goroutine, in
// order per partition. Callbacks run one at a time: a slow callback delays
// other callbacks but never the sending of other partitions.
//
// Produce blocks while MaxBufferedBytes or MaxBufferedRecords are reached,
// until room frees up or ctx ends; then it returns ctx's error and cb is not
// called. Any other failure (closed producer, record too large) is given to
// cb, and also returned. ctx bounds only this wait: delivery is bounded by
// DeliveryTimeout. A callback must not block on Produce with a ctx that
// never ends (it would wait for itself): use TryProduce there.
func (p *Producer) Produce(ctx context.Context, r *Record, cb func(*Record, error)) error {
	return p.produce(ctx, r, cb, false, true)
}

// TryProduce is Produce without blocking: if the buffer is full it returns
// ErrBufferFull (cb is not called).
func (p *Producer) TryProduce(r *Record, cb func(*Record, error)) error {
	return p.produce(context.Background(), r, cb, false, false)
}

func (p *Producer) produce(ctx context.Context, r *Record, cb func(*Record, error), sync, block bool) error {
	if cb == nil {
		cb = noopCallback
	}
	if p.closed.Load() {
		cb(r, ErrClosed)
		return ErrClosed
	}
	if r.Topic == "" {
		cb(r, ErrNoTopic)
		return ErrNoTopic
	}
	size := userSize(r)
	if size > p.cfg.batchBytes || int64(size) > p.cfg.maxBufferedBytes {
		cb(r, ErrRecordTooLarge)
		return ErrRecordTooLarge
	}
	if err := p.budget.acquire(ctx, int64(size), block); err != nil {
		return err
	}
	p.in.mu.Lock()
	if p.inClosed {
		p.in.mu.Unlock()
		p.budget.release(int64(size), 1)
		cb(r, ErrClosed)
		return ErrClosed
	}
	p.in.items = append(p.in.items, pendingRec{r: r, cb: cb, size: int32(size), sync: sync, stampNow: r.Timestamp.IsZero()})
	p.in.mu.Unlock()
	p.in.signal()
	return nil
}

func noopCallback(*Record, error) {}

// ProduceSync produces records and waits for all of them; it does not wait
// for linger. It returns the first error (per-record errors are also in
// each failing record's... callback-less: use Produce for those). If ctx
// ends first it returns ctx's error; records already buffered still
// complete in the background.
func (p *Producer) ProduceSync(ctx context.Context, records ...*Record) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	cb := func(_ *Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		wg.Done()
	}
	for _, r := range records {
		wg.Add(1)
		if err := p.produce(ctx, r, cb, true, true); err != nil {
			if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
				wg.Done()
				return err
			}
			// cb was called with err
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return firstErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush sends every buffered record without waiting for linger and waits
// until all records produced before the call have their results, or ctx
// ends.
func (p *Producer) Flush(ctx context.Context) error {
	p.flushing.Add(1)
	defer p.flushing.Add(-1)
	p.pokePartitions()
	return p.budget.waitEmpty(ctx)
}

// BufferedRecords returns the records produced and not yet completed.
func (p *Producer) BufferedRecords() int64 { return p.budget.records() }

func (p *Producer) pokePartitions() {
	p.partsMu.Lock()
	for _, pp := range p.parts {
		pp.in.signal()
	}
	p.partsMu.Unlock()
}

// Close stops accepting records, flushes everything buffered and waits for
// the results, then stops every goroutine the producer started and closes
// its connections (and its client, if NewProducer made it). If ctx ends
// first, records not yet acknowledged fail with ErrClosed (a batch already
// on the wire may still have been written), and Close returns ctx's error
// once all callbacks have run.
func (p *Producer) Close(ctx context.Context) error {
	var err error
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.in.mu.Lock()
		p.inClosed = true
		p.in.mu.Unlock()
		p.flushing.Add(1)
		p.pokePartitions()
		err = p.budget.waitEmpty(ctx)
		if err != nil {
			// Give up: fail what is left. Killing the connections
			// makes in-flight requests come back at once.
			p.aborting.Store(true)
			p.cancel()
			p.killConns()
			p.pokePartitions()
			p.in.signal()
			_ = p.budget.waitEmpty(context.Background())
		}
		p.cancel()
		close(p.stopDispatch)
		<-p.dispatchDone // stops topics, which stop partitions
		p.brokersMu.Lock()
		for _, b := range p.brokers {
			close(b.stop)
		}
		p.brokersMu.Unlock()
		p.brokersWG.Wait()
		p.results.stop()
		if p.ownsClient {
			p.cl.Close()
		}
	})
	return err
}

func (p *Producer) killConns() {
	p.cl.mu.Lock()
	var bs []*brokerEntry
	for _, b := range p.cl.brokers {
		bs = append(bs, b)
	}
	p.cl.mu.Unlock()
	for _, b := range bs {
		b.mu.Lock()
		b.killConns(ErrClosed, true)
		b.mu.Unlock()
	}
}

// ---- buffer budget ----

// budget bounds records produced and not yet completed, by bytes and count.
// The counters are atomic: Produce takes room with two atomic adds and no
// lock; only a Produce that must wait takes mu, to register its wake
// channel.
type budget struct {
	maxBytes, maxRecs int64
	bytes, recs       atomic.Int64
	nwait             atomic.Int32 // registered waiters (waiters' length)
	// blocked counts Produce calls waiting for room. While it is above
	// zero partitions do not linger: waiting longer cannot make batches
	// bigger (nothing more can be buffered), it only delays the acks that
	// free room. onBlock pokes the partitions when it goes up.
	blocked atomic.Int32
	onBlock func()

	// mu guards the following.
	mu      sync.Mutex
	waiters []chan struct{} // blocked acquires, signalled on release
	spare   []chan struct{} // wake channels for reuse
	empty   chan struct{}   // closed and replaced when recs drops to 0
}

func (b *budget) init(maxBytes, maxRecs int64) {
	b.maxBytes, b.maxRecs = maxBytes, maxRecs
	b.empty = make(chan struct{})
}

// tryTake takes room for one record of n bytes if there is some. A record
// always fits in an empty buffer.
func (b *budget) tryTake(n int64) bool {
	r := b.recs.Add(1)
	by := b.bytes.Add(n)
	if r == 1 || (by <= b.maxBytes && r <= b.maxRecs) {
		return true
	}
	b.untake(n)
	return false
}

// untake gives back room taken by a failed tryTake; if that made recs 0
// (a racing release saw our transient count), it signals empty as release
// would. It wakes no waiter: a tryTake that failed only because of another
// one's transient count is followed by a release (the buffer holds real
// records, else the first of them would have succeeded: r == 1).
func (b *budget) untake(n int64) {
	b.bytes.Add(-n)
	if b.recs.Add(-1) == 0 {
		b.signalEmpty()
	}
}

func (b *budget) acquire(ctx context.Context, n int64, block bool) error {
	if b.tryTake(n) {
		return nil
	}
	if !block {
		return ErrBufferFull
	}
	var ch chan struct{}
	defer func() {
		b.mu.Lock()
		b.spare = append(b.spare, ch)
		b.mu.Unlock()
	}()
	b.mu.Lock()
	if k := len(b.spare); k > 0 {
		ch = b.spare[k-1]
		b.spare = b.spare[:k-1]
	} else {
		ch = make(chan struct{}, 1)
	}
	b.mu.Unlock()
	for {
		// Register, then look again: a release either sees the waiter
		// (and signals ch) or happened before the second look.
		b.mu.Lock()
		b.waiters = append(b.waiters, ch)
		b.nwait.Add(1)
		b.mu.Unlock()
		if b.tryTake(n) {
			b.unregister(ch)
			return nil
		}
		if b.blocked.Add(1) == 1 && b.onBlock != nil {
			b.onBlock()
		}
		select {
		case <-ch:
			b.blocked.Add(-1)
		case <-ctx.Done():
			b.blocked.Add(-1)
			b.unregister(ch)
			return ctx.Err()
		}
		if b.tryTake(n) {
			return nil
		}
	}
}

// unregister removes ch from the waiters (if a release has not already)
// and drops a signal that raced with the removal.
func (b *budget) unregister(ch chan struct{}) {
	b.mu.Lock()
	if i := slices.Index(b.waiters, ch); i >= 0 {
		b.waiters = slices.Delete(b.waiters, i, i+1)
		b.nwait.Add(-1)
	}
	b.mu.Unlock()
	select {
	case <-ch:
	default:
	}
}

func (b *budget) release(bytes, recs int64) {
	b.bytes.Add(-bytes)
	if b.recs.Add(-recs) == 0 {
		b.signalEmpty()
	}
	if b.nwait.Load() > 0 {
		b.wakeAll()
	}
}

func (b *budget) wakeAll() {
	b.mu.Lock()
	for _, ch := range b.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	b.nwait.Add(-int32(len(b.waiters)))
	clear(b.waiters)
	b.waiters = b.waiters[:0]
	b.mu.Unlock()
}

func (b *budget) signalEmpty() {
	b.mu.Lock()
	if b.recs.Load() == 0 {
		close(b.empty)
		b.empty = make(chan struct{})
	}
	b.mu.Unlock()
}

func (b *budget) records() int64 { return b.recs.Load() }

func (b *budget) waitEmpty(ctx context.Context) error {
	for {
		b.mu.Lock()
		if b.recs.Load() == 0 {
			b.mu.Unlock()
			return nil
		}
		ch := b.empty
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ---- producer id ----

// producerID is one (id, epoch) with the generation that numbers it
// locally; batches remember the generation they were stamped with.
type producerID struct {
	id    int64
	epoch int16
	gen   uint64
}

// idManager owns the producer id. Non-idempotent producers use id -1.
type idManager struct {
	p *Producer
	// mu guards cur (and serializes InitProducerId calls).
	mu  sync.Mutex
	cur producerID
}

func (m *idManager) init(p *Producer) {
	m.p = p
	m.cur = producerID{id: -1, epoch: -1}
}

// reset replaces the id if the current generation is still bad (a
// generation no later batch has seen yet); otherwise it returns the current
// one, which another partition already renewed. A new producer id (rather
// than an epoch bump) works on every broker version and makes every
// partition start again at sequence 0.
func (m *idManager) reset(ctx context.Context, bad uint64) (producerID, error) {
	if !m.p.cfg.idempotent {
		return producerID{id: -1, epoch: -1}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur.gen != bad {
		return m.cur, nil
	}
	backoff := m.p.cfg.retryBackoff
	for {
		id, err := m.fetch(ctx)
		if err == nil {
			m.cur = producerID{id: id.ProducerID, epoch: id.ProducerEpoch, gen: m.cur.gen + 1}
			return m.cur, nil
		}
		if !IsRetriable(err) && !errors.Is(err, ErrConnDead) {
			return producerID{}, err
		}
		select {
		case <-ctx.Done():
			return producerID{}, ctx.Err()
		case <-time.After(jitter(backoff)):
		}
		backoff = min(2*backoff, m.p.cfg.retryBackoffMax)
	}
}

func (m *idManager) fetch(ctx context.Context) (*kmsg.InitProducerIDResponse, error) {
	c, err := m.p.cl.anyConn(ctx)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	req.ProducerID = -1
	req.ProducerEpoch = -1
	kresp, err := c.request(ctx, req, false)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.InitProducerIDResponse)
	if err := ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	return resp, nil
}
