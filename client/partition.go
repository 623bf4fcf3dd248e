package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/batch"
)

// partitionProducer is the goroutine for one partition. It owns everything
// about the partition's order: it encodes records into the open batch,
// seals batches (full, linger elapsed, Flush or ProduceSync), stamps them
// with the producer id and sequence numbers, keeps up to
// MaxInFlightPerPartition batches in flight at the leader's broker
// goroutine, and retries.
//
// Retry rule (the batch is the unit of retry): when a batch comes back with
// a retriable error, the partition stops sending, waits until every batch in
// flight has come back (later ones fail too with an idempotent producer:
// the broker refuses the sequence gap), puts the failed batches back at the
// front of the queue in their original order, backs off, looks the leader
// up again and resends them with the same sequence numbers. Nothing newer
// can overtake them, so order holds, and the broker drops any duplicate.
type partitionProducer struct {
	p         *Producer
	topic     string
	partition int32
	in        mailbox[pendingRec]
	resps     mailbox[batchResult]
	stop      chan struct{}

	// Owned by run.
	open     *recBatch
	lingerAt time.Time   // when open must be sealed (zero: no open batch)
	queue    []*recBatch // sealed, not in flight, oldest first
	inflight []*recBatch // sent, awaiting results, oldest first
	retry    []*recBatch // came back retriable this round
	order    uint64      // seal order, to put retried batches back in place (steps of orderSpan)

	id         producerID // id the partition stamps with
	haveID     bool
	nextSeq    int32
	ackedSeq   int32 // next sequence the broker expects under id (after acks)
	acked      bool  // a batch stamped with ackedGen was acknowledged
	ackedGen   uint64
	ackedOrder uint64       // highest order acknowledged under ackedGen
	held       []completion // done, waiting for older batches (callback order)
	sizeHint   int          // encoded size recent batches reached (decaying max)
	countHint  int          // records recent batches held (decaying max)
	needReset  bool         // a stamped batch failed for good: renew the id
	badGen     uint64
	backoff    time.Duration
	backoffAt  time.Time // do not send before
	leader     int32
	bp         *brokerProducer
	metaWait   <-chan struct{}
	leaderLost bool

	// setMark belongs to the goroutine of the broker the partition sends
	// to (brokerProducer.fill); the partition never touches it.
	setMark uint64
	// deferred: registered in bp.deferred (see brokerProducer.deferSeal).
	deferred     atomic.Bool
	sealDeferred bool // step put off sealing until the bridge pokes

	// done counts the record bytes (pendingRec.size) the partition has
	// finished with, acknowledged or failed. The topic goroutine counts
	// what it routed here; the difference is the partition's backlog, for
	// the adaptive partitioner.
	done atomic.Int64
}

func recsSize(recs []pendingRec) int64 {
	var n int64
	for i := range recs {
		n += int64(recs[i].size)
	}
	return n
}

// batchResult is a produce outcome for one batch, from a bridge or a
// connection callback.
type batchResult struct {
	b          *recBatch
	err        error
	baseOffset int64
	appendTime int64
}

func newPartitionProducer(p *Producer, topic string, partition int32) *partitionProducer {
	return &partitionProducer{
		p: p, topic: topic, partition: partition,
		in: newMailbox[pendingRec](), resps: newMailbox[batchResult](),
		stop: make(chan struct{}), leader: -1,
	}
}

func (pp *partitionProducer) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var timerC <-chan time.Time
		if at := pp.nextWake(); !at.IsZero() {
			timer.Reset(time.Until(at))
			timerC = timer.C
		}
		select {
		case <-pp.in.wake:
			pp.absorb()
		case <-pp.resps.wake:
			pp.handleResults()
		case <-timerC:
		case <-pp.metaWait:
			pp.metaWait = nil
		case <-pp.stop:
			if pp.open != nil {
				pp.open.free()
			}
			return
		}
		pp.step()
		pp.releaseHeld()
	}
}

// nextWake is the earliest time the partition has something to do on its
// own: seal a lingering batch, end a backoff, or expire a queued batch.
func (pp *partitionProducer) nextWake() time.Time {
	var at time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if pp.open != nil && pp.sendable() && !pp.sealDeferred {
		earlier(pp.lingerAt)
	}
	if len(pp.queue) > 0 {
		earlier(pp.backoffAt)
		earlier(pp.queue[0].deadline)
	}
	return at
}

// absorb appends newly routed records to the open batch.
func (pp *partitionProducer) absorb() {
	recs := pp.in.take()
	if pp.p.aborting.Load() {
		pp.done.Add(recsSize(recs))
		pp.p.results.failRecs(recs, ErrClosed)
		pp.in.recycle(recs)
		return
	}
	cfg := &pp.p.cfg
	for i := range recs {
		pr := &recs[i]
		ts := pr.r.Timestamp.UnixMilli()
		b := pp.open
		if b == nil {
			b = pp.newBatch(ts)
		}
		// Encode once, straight into the batch buffer; undo if the
		// record does not fit (rare: then it is encoded again at the
		// new batch's deltas).
		start := len(b.buf)
		wr := wireRecord(pr.r, ts-b.firstTS, b.n)
		b.buf = growBuf(b.buf, maxRecordSize(pr.r))
		b.buf = batch.AppendRecord(b.buf, &wr)
		if len(b.buf) > cfg.batchBytes {
			b.buf = b.buf[:start]
			if b.n > 0 {
				pp.seal()
				b = pp.newBatch(ts)
				wr = wireRecord(pr.r, 0, 0)
				b.buf = growBuf(b.buf, maxRecordSize(pr.r))
				b.buf = batch.AppendRecord(b.buf, &wr)
			}
			if len(b.buf) > cfg.batchBytes {
				b.buf = b.buf[:batch.HeaderSize]
				pp.done.Add(int64(pr.size))
				pp.p.results.failRecs(recs[i:i+1], ErrRecordTooLarge)
				continue
			}
		}
		b.recs = append(b.recs, *pr)
		b.n++
		b.maxTS = max(b.maxTS, ts)
		if pr.sync {
			b.urgent = true
		}
	}
	pp.in.recycle(recs)
}

func (pp *partitionProducer) newBatch(ts int64) *recBatch {
	// Size the buffer for what recent batches needed, so that it does
	// not have to grow (growing copies it).
	b := getBatch(pp, min(pp.sizeHint+pp.sizeHint/4, pp.p.cfg.batchBytes))
	// The same for its records: a pooled batch keeps its slice, but the
	// pool is emptied by GC, and growing a fresh one by appends would
	// allocate and copy about log2(records) times.
	if want := pp.countHint + pp.countHint/4; cap(b.recs) < want {
		b.recs = make([]pendingRec, 0, want)
	}
	b.firstTS, b.maxTS = ts, ts
	b.created = time.Now()
	if d := pp.p.cfg.deliveryTimeout; d > 0 {
		b.deadline = b.created.Add(d)
	}
	pp.open = b
	pp.lingerAt = b.created.Add(pp.p.cfg.linger)
	return b
}

// seal closes the open batch: header, compression, into the queue.
func (pp *partitionProducer) seal() {
	b := pp.open
	pp.open = nil
	pp.lingerAt = time.Time{}
	if b == nil || b.n == 0 {
		if b != nil {
			b.free()
		}
		return
	}
	pp.order += orderSpan
	b.order, b.span = pp.order, orderSpan
	// A decaying maximum: one small batch does not shrink the next
	// buffer, a run of them does.
	pp.sizeHint = max(len(b.buf), pp.sizeHint-pp.sizeHint/8)
	pp.countHint = max(int(b.n), pp.countHint-pp.countHint/8)
	b.seal(pp.p.comp)
	pp.queue = append(pp.queue, b)
}

// sendable reports whether a batch sealed now could be sent at once. If
// not (batches are queued, or the in-flight limit is reached), the open
// batch stays open and keeps growing until it is full: sealing it early
// would only make it smaller. The next result makes room and runs step.
func (pp *partitionProducer) sendable() bool {
	return len(pp.queue) == 0 && len(pp.retry) == 0 && len(pp.inflight) < pp.maxInFlight()
}

// sealable reports whether the open batch should be sealed now that
// linger, Flush, ProduceSync or a blocked Produce asks for it: only if it
// could be sent, and not while the broker's connection is saturated (the
// bridge pokes the partition when it no longer is).
func (pp *partitionProducer) sealable() bool {
	if !pp.sendable() {
		return false
	}
	// While deferred, the linger timer is off (nextWake): the poke comes.
	pp.sealDeferred = pp.bp != nil && pp.bp.deferSeal(pp)
	return !pp.sealDeferred
}

// maxInFlight is the partition's current in-flight limit.
func (pp *partitionProducer) maxInFlight() int {
	if pp.p.cfg.idempotent && (!pp.acked || pp.ackedGen != pp.id.gen) {
		// Until the broker has acknowledged a batch of this producer id
		// on this partition, it has no state for us and accepts any
		// first sequence (Kafka ≥2.5): a second batch in flight could
		// be appended before a failed first one. So: one at a time.
		return 1
	}
	return pp.p.cfg.maxInFlightPart
}

// step does whatever the partition can do now: seal, expire, renew the
// producer id, find the leader, send.
func (pp *partitionProducer) step() {
	p := pp.p
	now := time.Now()
	pp.sealDeferred = false
	if b := pp.open; b != nil &&
		(b.urgent || p.flushing.Load() > 0 || p.budget.blocked.Load() > 0 || !now.Before(pp.lingerAt)) && pp.sealable() {
		pp.seal()
	}
	if p.aborting.Load() {
		for _, b := range pp.queue {
			pp.fail(b, ErrClosed)
		}
		clear(pp.queue)
		pp.queue = pp.queue[:0]
		return
	}
	if len(pp.queue) == 0 {
		return
	}
	// Expire queued batches. One already sent once may have been written,
	// so failing it leaves a gap in the sequence: renew the id.
	for len(pp.queue) > 0 && !pp.queue[0].deadline.IsZero() && !now.Before(pp.queue[0].deadline) {
		b := pp.queue[0]
		pp.dequeue(1)
		err := ErrDeliveryTimeout
		if b.lastErr != nil {
			err = fmt.Errorf("%w (last error: %w)", ErrDeliveryTimeout, b.lastErr)
		}
		pp.fail(b, err)
	}
	if len(pp.queue) == 0 || len(pp.retry) > 0 || now.Before(pp.backoffAt) {
		return
	}
	if !pp.ensureID() {
		return
	}
	if !pp.ensureLeader() {
		return
	}
	max := pp.maxInFlight()
	first := len(pp.inflight)
	k := 0
	for len(pp.inflight) < max && k < len(pp.queue) {
		b := pp.queue[k]
		k++
		if !b.stamped || b.gen != pp.id.gen {
			b.stamp(pp.id, pp.nextSeq)
			pp.nextSeq = addSeq(pp.nextSeq, b.n)
		}
		b.attempts++
		pp.inflight = append(pp.inflight, b)
	}
	pp.dequeue(k)
	pp.bp.in.putAll(pp.inflight[first:])
}

// dequeue drops the first k queued batches, keeping the queue's array.
func (pp *partitionProducer) dequeue(k int) {
	if k == 0 {
		return
	}
	n := copy(pp.queue, pp.queue[k:])
	clear(pp.queue[n:])
	pp.queue = pp.queue[:n]
}

// ensureID makes sure the partition stamps with a current producer id:
// renewed after a sequence gap, once nothing is in flight.
func (pp *partitionProducer) ensureID() bool {
	if !pp.p.cfg.idempotent {
		pp.id = producerID{id: -1, epoch: -1}
		return true
	}
	if pp.haveID && !pp.needReset {
		return true
	}
	if len(pp.inflight) > 0 {
		return false // wait: results of the old id still come back
	}
	bad := uint64(0)
	if pp.needReset {
		bad = pp.badGen
	}
	id, err := pp.p.ids.reset(pp.p.ctx, bad)
	if err != nil {
		if pp.p.ctx.Err() == nil {
			// InitProducerId failed for good (e.g. authorization):
			// every queued batch fails with it.
			for _, b := range pp.queue {
				pp.fail(b, fmt.Errorf("samsa/client: InitProducerId: %w", err))
			}
			clear(pp.queue)
			pp.queue = pp.queue[:0]
		}
		return false
	}
	if !pp.haveID || id.gen != pp.id.gen {
		pp.nextSeq, pp.ackedSeq = 0, 0
	}
	pp.id, pp.haveID, pp.needReset = id, true, false
	return true
}

// ensureLeader finds the partition's leader and its broker goroutine. A new
// leader is used only once nothing is in flight to the old one, so one
// partition's requests always travel on one connection, in order.
func (pp *partitionProducer) ensureLeader() bool {
	if pp.metaWait != nil {
		return false
	}
	meta, changed := pp.p.cl.metadataWait()
	leader := int32(-1)
	if tm := meta.Topics[pp.topic]; tm != nil && tm.Err == nil && int(pp.partition) < len(tm.Partitions) {
		leader = tm.Partitions[pp.partition].Leader
	}
	if leader < 0 || pp.leaderLost {
		pp.leaderLost = false
		pp.p.cl.TriggerMetadataRefresh()
		if leader < 0 {
			pp.metaWait = changed
			return false
		}
	}
	if leader != pp.leader {
		if len(pp.inflight) > 0 {
			return false
		}
		pp.leader = leader
		pp.bp = pp.p.brokerFor(leader)
	}
	return true
}

// handleResults processes produce outcomes.
func (pp *partitionProducer) handleResults() {
	rs := pp.resps.take()
	for i := range rs {
		pp.handleResult(&rs[i])
	}
	pp.resps.recycle(rs)
	if len(pp.inflight) == 0 && len(pp.retry) > 0 {
		// The round is over: failed batches go back to the front, in
		// their original order, after a backoff.
		slices.SortFunc(pp.retry, func(a, b *recBatch) int { return cmpOrder(a.order, b.order) })
		split := slices.ContainsFunc(pp.retry, func(b *recBatch) bool { return b.split })
		pp.queue = append(pp.splitRetries(), pp.queue...)
		pp.retry = nil
		if split {
			// A split is progress, not a transient failure (the
			// batches behind it only echo it): the halves go out at
			// once. Halving ends, so this cannot spin.
			pp.backoffAt = time.Time{}
			return
		}
		if pp.backoff == 0 {
			pp.backoff = pp.p.cfg.retryBackoff
		} else {
			pp.backoff = min(2*pp.backoff, pp.p.cfg.retryBackoffMax)
		}
		pp.backoffAt = time.Now().Add(jitter(pp.backoff))
	}
}

func (pp *partitionProducer) handleResult(r *batchResult) {
	b := r.b
	if i := slices.Index(pp.inflight, b); i >= 0 {
		pp.inflight = slices.Delete(pp.inflight, i, i+1)
	}
	err := r.err
	if errors.Is(err, ErrDuplicateSequenceNumber) {
		err = nil // already written: the broker reports the duplicate as done
		r.baseOffset = -1
	}
	if err == nil {
		pp.backoff = 0
		if b.gen == pp.id.gen && b.order > pp.ackedOrder {
			pp.ackedSeq = addSeq(b.seq, b.n)
			pp.acked, pp.ackedGen, pp.ackedOrder = true, b.gen, b.order
		}
		pp.complete(completion{b: b, baseOffset: r.baseOffset, appendTime: r.appendTime})
		return
	}
	b.lastErr = err
	if pp.p.cfg.idempotent && pp.acked && b.stamped && b.gen == pp.ackedGen && b.order < pp.ackedOrder {
		// A later batch of the same producer id was acknowledged, and the
		// broker accepts sequences only contiguously: this one was
		// written (its acknowledgement was lost, e.g. with a dropped
		// connection). Resending it could even fail for good once it
		// left the broker's 5-batch duplicate window.
		pp.complete(completion{b: b, baseOffset: -1, appendTime: -1})
		return
	}
	if pp.p.aborting.Load() {
		pp.fail(b, ErrClosed)
		return
	}
	idempotent := pp.p.cfg.idempotent
	retriable := IsRetriable(err)
	switch {
	case errors.Is(err, ErrMessageTooLarge) && b.n > 1 && b.span > 1 && (b.attempts == 1 || !idempotent):
		// The broker refused the batch as larger than the topic's
		// max.message.bytes (it wrote nothing: a first attempt, so no
		// earlier attempt of it can have been written either). Split it
		// in two and send the halves, as the Java producer does. See
		// splitRetries for the sequence numbers.
		b.split = true
		retriable = true
	case errors.Is(err, ErrOutOfOrderSequenceNumber):
		// Expected for batches behind one that failed; at the head of
		// the partition it means the broker lost our state: start a
		// new id and resend.
		if b.gen == pp.id.gen && b.seq == pp.ackedSeq && len(pp.retry) == 0 {
			pp.markReset(b.gen)
		}
		retriable = true
	case errors.Is(err, ErrUnknownProducerID), errors.Is(err, ErrInvalidProducerEpoch), errors.Is(err, ErrProducerFenced):
		if idempotent {
			pp.markReset(b.gen)
			retriable = true
		}
	}
	if retriable && !b.deadline.IsZero() && !time.Now().Before(b.deadline) {
		pp.fail(b, fmt.Errorf("%w (last error: %w)", ErrDeliveryTimeout, err))
		return
	}
	if !retriable {
		pp.fail(b, fmt.Errorf("produce to %s[%d]: %w", pp.topic, pp.partition, err))
		return
	}
	if isLeaderError(err) {
		pp.leaderLost = true
	}
	if pp.p.cfg.logf != nil {
		pp.p.cfg.logf("retrying batch of %d records to %s[%d] (attempt %d): %v", b.n, pp.topic, pp.partition, b.attempts, err)
	}
	pp.retry = append(pp.retry, b)
}

// orderSpan is the distance between the orders of two batches sealed one
// after the other: the orders in between are for the pieces a split batch
// becomes (halving 32 times reaches one record for any batch).
const orderSpan = 1 << 32

// splitRetries returns pp.retry (in order) with every batch marked split
// replaced by its two halves. Nothing after a refused batch was written
// (the broker takes a producer's sequences only contiguously), so with
// idempotence every batch of the current producer id from the first one on
// is stamped again in the next round, from the same first sequence: the
// batches before the split one keep their sequences, the halves and
// everything after get new ones.
func (pp *partitionProducer) splitRetries() []*recBatch {
	if !slices.ContainsFunc(pp.retry, func(b *recBatch) bool { return b.split }) {
		return pp.retry
	}
	var (
		restart int32
		found   bool
	)
	// The first batch of the current id in order holds the sequence the
	// broker expects next: retry is sorted and older than the queue.
	consider := func(b *recBatch) {
		if !found && b.stamped && b.gen == pp.id.gen {
			restart, found = b.seq, true
		}
	}
	out := make([]*recBatch, 0, len(pp.retry)+2)
	for _, b := range pp.retry {
		consider(b)
		if !b.split {
			out = append(out, b)
			continue
		}
		half := int(b.n / 2)
		first := pp.rebuild(b, b.recs[:half], b.order, b.span/2)
		second := pp.rebuild(b, b.recs[half:], b.order+b.span/2, b.span-b.span/2)
		if pp.p.cfg.logf != nil {
			pp.p.cfg.logf("batch of %d records (%d bytes) to %s[%d] is larger than the topic allows: split into %d + %d records",
				b.n, len(b.buf), pp.topic, pp.partition, first.n, second.n)
		}
		b.recs = b.recs[:0] // they moved to the halves
		b.free()
		out = append(out, first, second)
	}
	for _, b := range pp.queue {
		consider(b)
	}
	if pp.p.cfg.idempotent && found {
		pp.nextSeq = restart
		for _, q := range [][]*recBatch{out, pp.queue} {
			for _, b := range q {
				if b.stamped && b.gen == pp.id.gen {
					b.stamped = false
				}
			}
		}
	}
	return out
}

// rebuild encodes recs (a run of old's records) into a new sealed batch
// that takes old's place in the partition's order.
func (pp *partitionProducer) rebuild(old *recBatch, recs []pendingRec, order, span uint64) *recBatch {
	size := batch.HeaderSize
	for i := range recs {
		size += maxRecordSize(recs[i].r)
	}
	b := getBatch(pp, size)
	b.firstTS = recs[0].r.Timestamp.UnixMilli()
	b.maxTS = b.firstTS
	for i := range recs {
		ts := recs[i].r.Timestamp.UnixMilli()
		wr := wireRecord(recs[i].r, ts-b.firstTS, b.n)
		b.buf = batch.AppendRecord(b.buf, &wr)
		b.recs = append(b.recs, recs[i])
		b.n++
		b.maxTS = max(b.maxTS, ts)
	}
	b.order, b.span = order, span
	b.urgent, b.created, b.deadline, b.lastErr = old.urgent, old.created, old.deadline, old.lastErr
	b.seal(pp.p.comp)
	return b
}

func (pp *partitionProducer) markReset(gen uint64) {
	if !pp.p.cfg.idempotent {
		return
	}
	pp.needReset, pp.badGen = true, gen
}

// fail completes b with err. A stamped batch that fails leaves a gap in
// the partition's sequence, so the id must be renewed before the next send.
func (pp *partitionProducer) fail(b *recBatch, err error) {
	if b.stamped {
		pp.markReset(b.gen)
	}
	pp.complete(completion{b: b, err: err, baseOffset: -1, appendTime: -1})
}

// complete hands a finished batch to the result goroutine, keeping
// callbacks in partition order: a batch that finishes before an older one
// (possible only around retries) waits in held.
func (pp *partitionProducer) complete(c completion) {
	pp.done.Add(recsSize(c.b.recs))
	pp.held = append(pp.held, c)
}

// releaseHeld passes on every held completion older than all unfinished
// batches, oldest first.
func (pp *partitionProducer) releaseHeld() {
	if len(pp.held) == 0 {
		return
	}
	oldest := uint64(math.MaxUint64)
	for _, b := range pp.inflight {
		oldest = min(oldest, b.order)
	}
	for _, b := range pp.retry {
		oldest = min(oldest, b.order)
	}
	if len(pp.queue) > 0 {
		oldest = min(oldest, pp.queue[0].order)
	}
	if pp.open != nil {
		oldest = min(oldest, pp.order+orderSpan)
	}
	slices.SortFunc(pp.held, func(a, b completion) int { return cmpOrder(a.b.order, b.b.order) })
	n := 0
	for n < len(pp.held) && pp.held[n].b.order < oldest {
		pp.p.results.box.put(pp.held[n])
		n++
	}
	pp.held = slices.Delete(pp.held, 0, n)
}

func cmpOrder(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addSeq adds n to a sequence number, wrapping at MaxInt32 as Kafka does.
func addSeq(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// ---- record batches ----

// recBatch is one v2 record batch and the records it carries. It is the
// unit that moves from the partition goroutine to the broker goroutine and
// back, and the unit of retry.
type recBatch struct {
	pp      *partitionProducer
	buf     []byte // header (HeaderSize) + records; compressed once sealed
	recs    []pendingRec
	n       int32
	firstTS int64
	maxTS   int64
	urgent  bool // holds a ProduceSync record: seal without linger
	order   uint64
	span    uint64 // orders [order, order+span) are this batch's: its split pieces take them
	split   bool   // came back MESSAGE_TOO_LARGE: to be split before the next round
	created time.Time
	// deadline is the delivery timeout (zero: none).
	deadline time.Time

	stamped  bool
	gen      uint64
	seq      int32
	attempts int
	lastErr  error
	res      partResult // set by produceSet.decode, read right after
}

var batchPool = sync.Pool{New: func() any { return new(recBatch) }}

// getBatch returns an empty batch whose buffer holds at least size bytes.
func getBatch(pp *partitionProducer, size int) *recBatch {
	b := batchPool.Get().(*recBatch)
	b.pp = pp
	b.buf = getBuf(max(size, batch.HeaderSize))[:batch.HeaderSize]
	return b
}

// free returns b and its buffer to their pools, keeping its records slice.
func (b *recBatch) free() {
	putBuf(b.buf)
	clear(b.recs)
	recs := b.recs[:0]
	if cap(recs) > 1<<16 {
		recs = nil
	}
	*b = recBatch{recs: recs}
	batchPool.Put(b)
}

// maxRecordSize bounds the encoded size of r (every varint at its widest).
func maxRecordSize(r *Record) int {
	n := 41 + len(r.Key) + len(r.Value)
	for i := range r.Headers {
		n += 10 + len(r.Headers[i].Key) + len(r.Headers[i].Value)
	}
	return n
}

// seal writes the header fields known now and compresses the records.
func (b *recBatch) seal(c *compressor) {
	codec := CodecNone
	if c.codec != CodecNone {
		out := append(getBuf(len(b.buf)), b.buf[:batch.HeaderSize]...)
		out, err := c.compress(out, b.buf[batch.HeaderSize:])
		if err == nil && len(out) < len(b.buf) {
			putBuf(b.buf)
			b.buf = out
			codec = c.codec
		} else {
			putBuf(out)
		}
	}
	h := b.buf
	binary.BigEndian.PutUint64(h[0:], 0)                  // baseOffset
	binary.BigEndian.PutUint32(h[8:], uint32(len(h)-12))  // batchLength
	binary.BigEndian.PutUint32(h[12:], 0xffffffff)        // partitionLeaderEpoch -1
	h[16] = 2                                             // magic
	binary.BigEndian.PutUint16(h[21:], uint16(codec))     // attributes
	binary.BigEndian.PutUint32(h[23:], uint32(b.n-1))     // lastOffsetDelta
	binary.BigEndian.PutUint64(h[27:], uint64(b.firstTS)) // baseTimestamp
	binary.BigEndian.PutUint64(h[35:], uint64(b.maxTS))   // maxTimestamp
	binary.BigEndian.PutUint32(h[57:], uint32(b.n))       // recordsCount
	// The producer id, sequence and CRC are written by stamp, right
	// before the first send: one CRC pass per batch.
}

// stamp sets the producer id, epoch and base sequence, and the CRC.
func (b *recBatch) stamp(id producerID, seq int32) {
	h := b.buf
	if id.id < 0 {
		seq = -1
	}
	binary.BigEndian.PutUint64(h[43:], uint64(id.id))
	binary.BigEndian.PutUint16(h[51:], uint16(id.epoch))
	binary.BigEndian.PutUint32(h[53:], uint32(seq))
	binary.BigEndian.PutUint32(h[17:], batch.CRC32C(h[21:]))
	b.stamped, b.gen, b.seq = true, id.gen, seq
}
