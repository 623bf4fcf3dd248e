package client

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// This file holds the first two layers of the pipeline (the dispatcher and
// the topic goroutines) and the last one (the result goroutine). The
// partition goroutines are in partition.go, the broker goroutines and their
// bridges in broker.go. DESIGN-producer.md draws the whole pipeline.

// dispatch is the dispatcher goroutine: it takes the slice of records
// Produce buffered, cuts it into runs of one topic and hands each run to
// that topic's goroutine, creating the goroutine on first use. It owns the
// topic goroutines and stops them when it stops.
func (p *Producer) dispatch() {
	defer close(p.dispatchDone)
	topics := make(map[string]*topicProducer)
	var wg sync.WaitGroup
	get := func(name string) *topicProducer {
		t := topics[name]
		if t == nil {
			t = newTopicProducer(p, name)
			topics[name] = t
			p.cl.AddTopics(name)
			wg.Add(1)
			go func() { defer wg.Done(); t.run() }()
		}
		return t
	}
	for {
		select {
		case <-p.in.wake:
		case <-p.stopDispatch:
			for _, t := range topics {
				close(t.stop)
			}
			wg.Wait()
			if recs := p.in.take(); len(recs) > 0 { // only after an abort
				p.results.failRecs(recs, ErrClosed)
			}
			return
		}
		recs := p.in.take()
		if p.aborting.Load() {
			p.results.failRecs(recs, ErrClosed)
			p.in.recycle(recs)
			continue
		}
		// One clock read per slice, not per record: records produced
		// without a timestamp get the time they reach the dispatcher
		// (microseconds after Produce; Kafka timestamps are in ms).
		var now time.Time
		var last *topicProducer
		start := 0
		for i := range recs {
			if recs[i].stampNow {
				if now.IsZero() {
					now = time.Now()
				}
				recs[i].r.Timestamp = now
			}
			if i+1 == len(recs) || recs[i+1].r.Topic != recs[i].r.Topic {
				if last == nil || last.topic != recs[i].r.Topic {
					last = get(recs[i].r.Topic)
				}
				if start == 0 && i+1 == len(recs) {
					// The whole slice is one topic's: hand it over.
					recs = last.in.give(recs)
				} else {
					last.in.putAll(recs[start : i+1])
				}
				start = i + 1
			}
		}
		p.in.recycle(recs)
	}
}

// topicProducer is the goroutine for one topic: it waits for the topic's
// metadata, runs the partitioner over each slice of records and hands one
// sub-slice per partition to the partition goroutines, which it owns.
type topicProducer struct {
	p     *Producer
	topic string
	in    mailbox[pendingRec]
	stop  chan struct{}

	// Owned by run.
	partitioner TopicPartitioner
	tm          *TopicMetadata  // what route last partitioned with
	metaCh      <-chan struct{} // closed by the metadata change after the snapshot records began waiting on
	routed      []int64         // record bytes handed to each partition (see partitionProducer.done)
	parts       []*partitionProducer
	buckets     [][]pendingRec
	touched     []int       // partitions given records by this route
	counts      []int       // records per partition in this route
	picks       []int32     // scratch: each record's partition
	waiting     []waitChunk // no usable metadata yet, oldest first
	partsWG     sync.WaitGroup
}

func newTopicProducer(p *Producer, topic string) *topicProducer {
	t := &topicProducer{
		p: p, topic: topic, in: newMailbox[pendingRec](), stop: make(chan struct{}),
		partitioner: p.cfg.partitioner.ForTopic(topic),
	}
	if la, ok := t.partitioner.(loadAware); ok {
		la.setLoad(t.partitionLoad)
	}
	return t
}

// partitionLoad is partition k's backlog for the adaptive sticky
// partitioner: record bytes routed to it and not yet finished (including
// those routed a moment ago in the slice being partitioned), or -1 if it
// has no leader. Called by the partitioner, on the topic goroutine.
func (t *topicProducer) partitionLoad(k int) int64 {
	if t.tm == nil || k >= len(t.tm.Partitions) || t.tm.Partitions[k].Leader < 0 {
		return -1
	}
	var n int64
	if k < len(t.routed) {
		n = t.routed[k]
	}
	if k < len(t.parts) && t.parts[k] != nil {
		n -= t.parts[k].done.Load()
	}
	return n
}

func (t *topicProducer) run() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var metaCh <-chan struct{}
		var timerC <-chan time.Time
		if len(t.waiting) > 0 {
			// The change after the snapshot routeSince judged by: a
			// change in between must not be missed (records would sit
			// until the delivery timeout).
			metaCh = t.metaCh
			if t.p.cfg.deliveryTimeout > 0 {
				timer.Reset(time.Until(t.waiting[0].since.Add(t.p.cfg.deliveryTimeout)))
				timerC = timer.C
			}
		}
		select {
		case <-t.in.wake:
			recs := t.in.take()
			t.route(recs)
			t.in.recycle(recs)
		case <-metaCh:
			t.retryWaiting()
		case <-timerC:
			t.retryWaiting()
		case <-t.stop:
			for _, pp := range t.parts {
				if pp != nil {
					close(pp.stop)
				}
			}
			t.partsWG.Wait()
			for _, w := range t.waiting {
				t.p.results.failRecs(w.recs, ErrClosed)
			}
			return
		}
	}
}

// waitChunk is records waiting for metadata since one time.
type waitChunk struct {
	since time.Time
	recs  []pendingRec
}

// retryWaiting routes the waiting records, oldest first; once a chunk has
// to wait again, the younger ones wait behind it (order).
func (t *topicProducer) retryWaiting() {
	ws := t.waiting
	t.waiting = nil
	for i, w := range ws {
		if !t.routeSince(w.recs, w.since) {
			t.waiting = append(t.waiting, ws[i+1:]...)
			return
		}
	}
}

// route partitions recs and hands them on; records for a topic without
// usable metadata wait (bounded by DeliveryTimeout). Records never overtake
// older ones that wait.
func (t *topicProducer) route(recs []pendingRec) {
	if len(t.waiting) > 0 {
		if len(recs) > 0 {
			t.waiting = append(t.waiting, waitChunk{since: time.Now(), recs: slices.Clone(recs)})
		}
		t.retryWaiting()
		return
	}
	t.routeSince(recs, time.Now())
}

// routeSince routes recs (or fails them); it reports false if they were
// put in t.waiting instead.
func (t *topicProducer) routeSince(recs []pendingRec, since time.Time) bool {
	if len(recs) == 0 {
		return true
	}
	if t.p.aborting.Load() {
		t.p.results.failRecs(recs, ErrClosed)
		return true
	}
	meta, changed := t.p.cl.metadataWait()
	tm := meta.Topics[t.topic]
	if tm == nil || tm.Err != nil || len(tm.Partitions) == 0 {
		var err error = ErrUnknownTopicOrPartition
		if tm != nil && tm.Err != nil {
			err = tm.Err
		}
		if !IsRetriable(err) {
			t.p.results.failRecs(recs, fmt.Errorf("topic %q: %w", t.topic, err))
			return true
		}
		if d := t.p.cfg.deliveryTimeout; d > 0 && time.Since(since) >= d {
			t.p.results.failRecs(recs, fmt.Errorf("%w: topic %q: %w", ErrDeliveryTimeout, t.topic, err))
			return true
		}
		t.waiting = append(t.waiting, waitChunk{since: since, recs: slices.Clone(recs)})
		t.metaCh = changed
		t.p.cl.AddTopics(t.topic)
		t.p.cl.TriggerMetadataRefresh()
		return false
	}
	t.tm = tm
	n := len(tm.Partitions)
	if len(t.buckets) < n {
		t.buckets = append(t.buckets, make([][]pendingRec, n-len(t.buckets))...)
	}
	if len(t.routed) < n {
		t.routed = append(t.routed, make([]int64, n-len(t.routed))...)
	}
	if len(t.counts) < n {
		t.counts = append(t.counts, make([]int, n-len(t.counts))...)
	}
	// Partition every record first, then grow each bucket once to what it
	// gets: appending would reallocate a bucket about log2(records) times
	// whenever a burst is larger than any before it.
	t.picks = slices.Grow(t.picks[:0], len(recs))[:len(recs)]
	for i := range recs {
		k := t.partitioner.Partition(recs[i].r, n)
		if k < 0 || k >= n {
			t.picks[i] = -1 // not int32(k): a custom partitioner's 1<<32+1 must not pass as 1
			continue
		}
		t.picks[i] = int32(k)
		if t.counts[k] == 0 {
			t.touched = append(t.touched, k)
		}
		t.counts[k]++
		t.routed[k] += int64(recs[i].size)
	}
	for _, k := range t.touched {
		t.buckets[k] = slices.Grow(t.buckets[k], t.counts[k])
		t.counts[k] = 0
	}
	for i, pr := range recs {
		k := int(t.picks[i])
		if k < 0 {
			t.p.results.failRecs([]pendingRec{pr}, ErrInvalidPartition)
			continue
		}
		t.buckets[k] = append(t.buckets[k], pr)
	}
	for _, k := range t.touched {
		t.buckets[k] = t.partition(k).in.give(t.buckets[k])
	}
	t.touched = t.touched[:0]
	return true
}

// partition returns the goroutine of partition k, starting it if needed.
func (t *topicProducer) partition(k int) *partitionProducer {
	for len(t.parts) <= k {
		t.parts = append(t.parts, nil)
	}
	pp := t.parts[k]
	if pp == nil {
		pp = newPartitionProducer(t.p, t.topic, int32(k))
		t.parts[k] = pp
		t.p.partsMu.Lock()
		t.p.parts = append(t.p.parts, pp)
		t.p.partsMu.Unlock()
		t.partsWG.Add(1)
		go func() { defer t.partsWG.Done(); pp.run() }()
	}
	return pp
}

// ---- results ----

// completion is one outcome to deliver: a whole batch, or loose records
// that failed before they reached a batch.
type completion struct {
	b          *recBatch
	recs       []pendingRec
	err        error
	baseOffset int64
	appendTime int64 // -1 unless the topic uses LogAppendTime
}

// resultQueue is the result goroutine: it runs callbacks, in order per
// partition, one at a time, and releases buffer budget after each
// completion. The broker and partition goroutines only append to its
// mailbox, so a slow callback never stalls sending.
type resultQueue struct {
	p    *Producer
	box  mailbox[completion]
	quit chan struct{}
	done chan struct{}
}

func (q *resultQueue) init(p *Producer) {
	q.p = p
	q.box = newMailbox[completion]()
	q.quit = make(chan struct{})
	q.done = make(chan struct{})
}

func (q *resultQueue) stop() {
	close(q.quit)
	<-q.done
}

func (q *resultQueue) failRecs(recs []pendingRec, err error) {
	cp := make([]pendingRec, len(recs))
	copy(cp, recs)
	q.box.put(completion{recs: cp, err: err, baseOffset: -1, appendTime: -1})
}

func (q *resultQueue) run() {
	defer close(q.done)
	for {
		select {
		case <-q.box.wake:
		case <-q.quit:
			q.deliverAll()
			return
		}
		q.deliverAll()
	}
}

func (q *resultQueue) deliverAll() {
	cs := q.box.take()
	for i := range cs {
		q.deliver(&cs[i])
	}
	q.box.recycle(cs)
}

func (q *resultQueue) deliver(c *completion) {
	recs := c.recs
	partition := int32(-1)
	if c.b != nil {
		recs = c.b.recs
		partition = c.b.pp.partition
	}
	var bytes int64
	for i := range recs {
		pr := &recs[i]
		bytes += int64(pr.size)
		r := pr.r
		if c.err == nil {
			r.Partition = partition
			r.Offset = -1
			if c.baseOffset >= 0 {
				r.Offset = c.baseOffset + int64(i)
			}
			if c.appendTime >= 0 {
				r.Timestamp = time.UnixMilli(c.appendTime)
			}
		} else if partition >= 0 {
			r.Partition = partition
		}
		pr.cb(r, c.err)
	}
	q.p.budget.release(bytes, int64(len(recs)))
	if c.b != nil {
		c.b.free()
	}
}

// jitter returns d ± 20%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*4/5 + time.Duration(rand.Int64N(int64(d)*2/5+1))
}
