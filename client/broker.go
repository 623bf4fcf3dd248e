package client

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerProducer is the goroutine for one broker, sarama's brokerProducer
// with its bridge. run accumulates sealed batches from the partition
// goroutines into a produceSet (at most one batch per partition per
// request, as Kafka requires) and hands a full set to the bridge goroutine,
// which encodes the Produce request and pipelines it on the connection.
//
// run switches its send arm with the nil-channel idiom: output is bp.bridge
// while a set is ready and nil otherwise (a send on a nil channel never
// proceeds, so the arm is off) and the loop keeps taking batches meanwhile.
// Batching needs no timer here: while the bridge is blocked on the
// connection's in-flight limit, arriving batches join the next set.
//
// Responses do not come back through run: the connection's reader hands
// each batch's outcome straight to its partition goroutine, so neither
// responses nor callbacks ever wait on this loop.
type brokerProducer struct {
	p      *Producer
	id     int32
	lane   int // which of the broker's produce connections (Client.laneConn)
	in     mailbox[*recBatch]
	bridge chan *produceSet // unbuffered: the bridge takes one set at a time
	stop   chan struct{}
	mark   uint64 // fill's generation (partitionProducer.setMark); run only

	// saturated is set while the bridge waits for a free in-flight slot
	// on the connection. Partitions then put off sealing their open
	// batches (a batch sealed now would only wait, and stop growing) and
	// register in deferred; the bridge pokes them when the slot frees, so
	// batches are cut when a request can actually go out.
	saturated  atomic.Bool
	deferredMu sync.Mutex
	deferred   []*partitionProducer
	pokeList   []*partitionProducer // bridge only
}

// deferSeal registers pp to be poked when the bridge is no longer
// saturated; it reports whether it still is (else pp may seal now).
func (bp *brokerProducer) deferSeal(pp *partitionProducer) bool {
	if !bp.saturated.Load() {
		return false
	}
	if pp.deferred.CompareAndSwap(false, true) {
		bp.deferredMu.Lock()
		bp.deferred = append(bp.deferred, pp)
		bp.deferredMu.Unlock()
	}
	// Look again: the bridge clears saturated before it takes the list,
	// so either it sees pp there or we see it cleared.
	return bp.saturated.Load()
}

// pokeDeferred wakes the partitions that put off sealing.
func (bp *brokerProducer) pokeDeferred() {
	bp.deferredMu.Lock()
	bp.pokeList, bp.deferred = bp.deferred, bp.pokeList[:0]
	bp.deferredMu.Unlock()
	for _, pp := range bp.pokeList {
		pp.deferred.Store(false)
		pp.in.signal()
	}
	clear(bp.pokeList)
}

// produceSet is the content of one Produce request. Sets are pooled with
// their request and promise: sending a request allocates nothing.
type produceSet struct {
	bp      *brokerProducer
	batches []*recBatch
	bytes   int
	req     kmsg.ProduceRequest
	prom    promise
	refs    atomic.Int32 // writer + response; the last one dispatches
	err     error
	noResp  bool
}

var setPool = sync.Pool{New: func() any {
	s := new(produceSet)
	s.prom.raw = s
	return s
}}

func (set *produceSet) free() {
	clear(set.batches)
	set.batches = set.batches[:0]
	set.bytes = 0
	set.bp = nil
	set.err = nil
	set.noResp = false
	for i := range set.req.Topics {
		clear(set.req.Topics[i].Partitions)
	}
	set.prom = promise{raw: set}
	setPool.Put(set)
}

// brokerLane names one broker goroutine: a broker and one of its produce
// connections.
type brokerLane struct {
	id   int32
	lane int
}

// brokerFor returns a broker goroutine of broker id for a partition that
// starts sending there, starting it (and its bridge) on first use. The
// broker's partitions are dealt to its ProduceConnections lanes in turn,
// so each lane's connection carries an even share; a partition keeps its
// lane until its leader changes. The Producer owns the goroutines and
// stops them on Close.
func (p *Producer) brokerFor(id int32) *brokerProducer {
	p.brokersMu.Lock()
	defer p.brokersMu.Unlock()
	lane := p.laneNext[id] % p.cfg.produceConns
	p.laneNext[id]++
	key := brokerLane{id, lane}
	if bp := p.brokers[key]; bp != nil {
		return bp
	}
	bp := &brokerProducer{p: p, id: id, lane: lane, in: newMailbox[*recBatch](), bridge: make(chan *produceSet), stop: make(chan struct{})}
	p.brokers[key] = bp
	p.brokersWG.Add(2)
	go bp.run()
	go bp.runBridge()
	return bp
}

func (bp *brokerProducer) run() {
	defer bp.p.brokersWG.Done()
	var (
		pending  []*recBatch // waiting for a set, oldest first
		flushing *produceSet // ready for the bridge
	)
	for {
		var output chan<- *produceSet
		if flushing != nil {
			output = bp.bridge
		}
		select {
		case <-bp.in.wake:
			bs := bp.in.take()
			pending = append(pending, bs...)
			bp.in.recycle(bs)
		case output <- flushing:
			flushing = nil
		case <-bp.stop:
			close(bp.bridge)
			return
		}
		if len(pending) > 0 {
			// Batches that arrive while the bridge is busy join the
			// set it will take next, so requests grow with the load.
			flushing, pending = bp.fill(flushing, pending)
		}
	}
}

// fill moves batches from pending into set (a new one if nil): the oldest
// batch of each partition not in the set yet, up to MaxRequestBytes. The
// rest stay pending, in order; a partition whose oldest pending batch
// stays behind keeps all its later ones behind too.
func (bp *brokerProducer) fill(set *produceSet, pending []*recBatch) (*produceSet, []*recBatch) {
	if set == nil {
		set = setPool.Get().(*produceSet)
		set.bp = bp
	}
	bp.mark++
	mark := bp.mark
	for _, b := range set.batches {
		b.pp.setMark = mark
	}
	rest := pending[:0]
	for _, b := range pending {
		if b.pp.setMark == mark || (len(set.batches) > 0 && set.bytes+len(b.buf) > bp.p.cfg.maxRequestBytes) {
			b.pp.setMark = mark
			rest = append(rest, b)
			continue
		}
		b.pp.setMark = mark
		set.batches = append(set.batches, b)
		set.bytes += len(b.buf)
	}
	clear(pending[len(rest):])
	return set, rest
}

// runBridge builds and sends Produce requests, one set at a time. The send
// blocks while the connection has MaxInFlightRequestsPerConn requests
// unanswered; that is the backpressure that makes run batch.
func (bp *brokerProducer) runBridge() {
	defer bp.p.brokersWG.Done()
	for set := range bp.bridge {
		bp.send(set)
	}
}

func (bp *brokerProducer) send(set *produceSet) {
	p := bp.p
	set.refs.Store(2) // this writer, and the response
	defer set.unref()
	c, err := p.cl.laneConn(p.ctx, bp.id, bp.lane)
	if err != nil {
		set.onResponse(nil, err)
		return
	}
	// One entry per topic: group the batches by topic, then partition.
	slices.SortFunc(set.batches, func(a, b *recBatch) int {
		if c := strings.Compare(a.pp.topic, b.pp.topic); c != 0 {
			return c
		}
		return int(a.pp.partition - b.pp.partition)
	})
	req := &set.req
	req.Acks = int16(p.cfg.acks)
	req.TimeoutMillis = int32(p.cfg.produceTimeout.Milliseconds())
	topics := req.Topics[:0]
	var last *kmsg.ProduceRequestTopic
	for _, b := range set.batches {
		if last == nil || last.Topic != b.pp.topic {
			if len(topics) < cap(topics) {
				topics = topics[:len(topics)+1]
			} else {
				topics = append(topics, kmsg.ProduceRequestTopic{})
			}
			last = &topics[len(topics)-1]
			last.Topic = b.pp.topic
			last.Partitions = last.Partitions[:0]
		}
		last.Partitions = append(last.Partitions, kmsg.ProduceRequestTopicPartition{Partition: b.pp.partition, Records: b.buf})
	}
	req.Topics = topics
	// v13 names topics by id; v12 is the last by name, and what we need.
	if err := c.setVersion(req, 12); err != nil {
		set.onResponse(nil, err)
		return
	}
	noResp := p.cfg.acks == AcksNone
	if c.inFlightFull() {
		bp.saturated.Store(true)
	}
	err = c.sendPromise(p.ctx, req, noResp, p.cfg.produceTimeout, &set.prom)
	if bp.saturated.Load() {
		bp.saturated.Store(false)
		bp.pokeDeferred()
	}
	if err != nil {
		set.onResponse(nil, fmt.Errorf("%w: %v", ErrConnDead, err))
	}
}

// onResponse records the outcome of the request: body is the undecoded
// Produce response (nil: acks=0, or err). It runs on the connection's
// reader goroutine and never blocks. The outcome is handed on only once
// the writer is done with the set too (refs): a reader that fails a
// request whose write is still under way must not let its batches be
// retried or their buffers reused.
func (set *produceSet) onResponse(body []byte, err error) {
	set.noResp = body == nil && err == nil // acks=0: done once written
	if err == nil && body != nil {
		err = set.decode(body)
	}
	set.err = err
	set.unref()
}

func (set *produceSet) unref() {
	if set.refs.Add(-1) == 0 {
		set.dispatch()
	}
}

// dispatch hands each batch's outcome to its partition goroutine and frees
// the set.
func (set *produceSet) dispatch() {
	err := set.err
	for _, b := range set.batches {
		r := batchResult{b: b, err: err, baseOffset: -1, appendTime: -1}
		if err == nil && !set.noResp {
			if b.res.found {
				r.err, r.baseOffset, r.appendTime = b.res.err, b.res.baseOffset, b.res.appendTime
			} else {
				r.err = errProduceMissingPartition
			}
		}
		b.res = partResult{}
		b.pp.resps.put(r)
	}
	set.free()
}

var errProduceMissingPartition = fmt.Errorf("%w: partition missing from produce response", ErrConnDead)

// decode parses a Produce response (v3–v12) into the batches' res fields,
// without allocating unless a partition carries an error message.
func (set *produceSet) decode(body []byte) error {
	v := set.req.Version
	flex := v >= 9
	d := wireReader{b: body, flex: flex}
	bi := 0 // the broker answers in request order: try the next batch first
	for nt := d.arrayLen(); nt > 0 && !d.bad; nt-- {
		topic := d.str()
		for np := d.arrayLen(); np > 0 && !d.bad; np-- {
			part := d.i32()
			code := d.i16()
			base := d.i64()
			appendTime := d.i64()
			if v >= 5 {
				d.i64() // log start offset
			}
			var msg []byte
			if v >= 8 {
				for ne := d.arrayLen(); ne > 0 && !d.bad; ne-- {
					d.i32() // batch index
					d.str() // batch index error message
					d.tags()
				}
				msg = d.str()
			}
			d.tags()
			if d.bad {
				break
			}
			match := func(i int) bool {
				x := set.batches[i]
				return x.pp.partition == part && x.pp.topic == string(topic)
			}
			if bi >= len(set.batches) || !match(bi) {
				bi = 0
				for bi < len(set.batches) && !match(bi) {
					bi++
				}
				if bi == len(set.batches) {
					continue
				}
			}
			b := set.batches[bi]
			bi++
			b.res = partResult{found: true, baseOffset: base, appendTime: appendTime}
			if code != 0 {
				var m *string
				if len(msg) > 0 {
					ms := string(msg)
					m = &ms
				}
				b.res.err = errorWithMessage(code, m)
			}
		}
		d.tags()
	}
	if d.bad {
		return fmt.Errorf("%w: malformed produce response v%d", ErrConnDead, v)
	}
	return nil
}

// partResult is a batch's outcome as decoded from its response.
type partResult struct {
	found      bool
	err        error
	baseOffset int64
	appendTime int64
}

// wireReader reads Kafka protocol primitives; flex selects the compact
// (KIP-482) forms. Reading past the end sets bad.
type wireReader struct {
	b    []byte
	flex bool
	bad  bool
}

func (r *wireReader) take(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad = true
		r.b = nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *wireReader) i16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *wireReader) i32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *wireReader) i64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *wireReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// arrayLen reads an array length (null counts as empty).
func (r *wireReader) arrayLen() int {
	var n int
	if r.flex {
		n = int(r.uvarint()) - 1
	} else {
		n = int(r.i32())
	}
	if n > len(r.b) { // every element takes at least a byte
		r.bad = true
		return 0
	}
	return n
}

// str reads a (nullable) string; null and empty both return nil.
func (r *wireReader) str() []byte {
	var n int
	if r.flex {
		n = int(r.uvarint()) - 1
	} else {
		n = int(r.i16())
	}
	if n <= 0 {
		return nil
	}
	return r.take(n)
}

// tags skips a tagged-field section (flexible versions only).
func (r *wireReader) tags() {
	if !r.flex {
		return
	}
	for n := r.uvarint(); n > 0 && !r.bad; n-- {
		r.uvarint()
		r.take(int(r.uvarint()))
	}
}
