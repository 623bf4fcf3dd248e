package client

import (
	"context"
	"errors"
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
	brokers   map[int32]*brokerProducer
	brokersWG sync.WaitGroup

	stopDispatch chan struct{}
	dispatchDone chan struct{}
	closeOnce    sync.Once
}

// pendingRec is a record travelling through the pipeline. Slices of these
// (values, not pointers) move between layers.
type pendingRec struct {
	r    *Record
	cb   func(*Record, error)
	size int32 // userSize, counted against the buffer budget
	sync bool  // from ProduceSync: do not linger
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
		brokers:      make(map[int32]*brokerProducer),
		stopDispatch: make(chan struct{}),
		dispatchDone: make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.budget.init(cfg.maxBufferedBytes, cfg.maxBufferedRecs)
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
	if r.Timestamp.IsZero() {
		r.Timestamp = time.Now()
	}
	p.in.mu.Lock()
	if p.inClosed {
		p.in.mu.Unlock()
		p.budget.release(int64(size), 1)
		cb(r, ErrClosed)
		return ErrClosed
	}
	p.in.items = append(p.in.items, pendingRec{r: r, cb: cb, size: int32(size), sync: sync})
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
		if b.conn != nil {
			go b.conn.kill(ErrClosed)
		}
		b.mu.Unlock()
	}
}

// ---- buffer budget ----

// budget bounds records produced and not yet completed, by bytes and count.
type budget struct {
	maxBytes, maxRecs int64

	// mu guards the following.
	mu      sync.Mutex
	bytes   int64
	recs    int64
	freed   chan struct{} // closed and replaced when room frees and someone waits
	waiting bool
	empty   chan struct{} // closed and replaced when recs drops to 0
}

func (b *budget) init(maxBytes, maxRecs int64) {
	b.maxBytes, b.maxRecs = maxBytes, maxRecs
	b.freed = make(chan struct{})
	b.empty = make(chan struct{})
}

func (b *budget) acquire(ctx context.Context, n int64, block bool) error {
	for {
		b.mu.Lock()
		// A record always fits in an empty buffer.
		if b.recs == 0 || (b.bytes+n <= b.maxBytes && b.recs < b.maxRecs) {
			b.bytes += n
			b.recs++
			b.mu.Unlock()
			return nil
		}
		if !block {
			b.mu.Unlock()
			return ErrBufferFull
		}
		b.waiting = true
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(bytes, recs int64) {
	b.mu.Lock()
	b.bytes -= bytes
	b.recs -= recs
	if b.waiting {
		b.waiting = false
		close(b.freed)
		b.freed = make(chan struct{})
	}
	if b.recs == 0 {
		close(b.empty)
		b.empty = make(chan struct{})
	}
	b.mu.Unlock()
}

func (b *budget) records() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recs
}

func (b *budget) waitEmpty(ctx context.Context) error {
	for {
		b.mu.Lock()
		if b.recs == 0 {
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

// get returns the current id, fetching the first one if needed.
func (m *idManager) get(ctx context.Context) (producerID, error) {
	return m.reset(ctx, 0)
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
