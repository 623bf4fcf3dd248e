package client

import (
	"fmt"

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
	in     mailbox[*recBatch]
	bridge chan *produceSet // unbuffered: the bridge takes one set at a time
	stop   chan struct{}
}

// produceSet is the content of one Produce request.
type produceSet struct {
	batches []*recBatch
	bytes   int
}

// brokerFor returns the goroutine of broker id, starting it (and its
// bridge) on first use. The Producer owns them and stops them on Close.
func (p *Producer) brokerFor(id int32) *brokerProducer {
	p.brokersMu.Lock()
	defer p.brokersMu.Unlock()
	if bp := p.brokers[id]; bp != nil {
		return bp
	}
	bp := &brokerProducer{p: p, id: id, in: newMailbox[*recBatch](), bridge: make(chan *produceSet), stop: make(chan struct{})}
	p.brokers[id] = bp
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
		seen     = map[*partitionProducer]struct{}{}
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
		if flushing == nil && len(pending) > 0 {
			flushing, pending = bp.fill(pending, seen)
		}
	}
}

// fill moves batches from pending into a new set: the oldest batch of each
// partition, up to MaxRequestBytes. The rest stay pending, in order.
func (bp *brokerProducer) fill(pending []*recBatch, seen map[*partitionProducer]struct{}) (*produceSet, []*recBatch) {
	set := &produceSet{batches: make([]*recBatch, 0, len(pending))}
	rest := pending[:0]
	for _, b := range pending {
		_, dup := seen[b.pp]
		if dup || (len(set.batches) > 0 && set.bytes+len(b.buf) > bp.p.cfg.maxRequestBytes) {
			rest = append(rest, b)
			continue
		}
		seen[b.pp] = struct{}{}
		set.batches = append(set.batches, b)
		set.bytes += len(b.buf)
	}
	clear(seen)
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
	c, err := p.cl.brokerConn(p.ctx, bp.id)
	if err != nil {
		bp.route(set, nil, err)
		return
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = int16(p.cfg.acks)
	req.TimeoutMillis = int32(p.cfg.produceTimeout.Milliseconds())
	var last *kmsg.ProduceRequestTopic
	for _, b := range set.batches {
		if last == nil || last.Topic != b.pp.topic {
			req.Topics = append(req.Topics, kmsg.ProduceRequestTopic{Topic: b.pp.topic})
			last = &req.Topics[len(req.Topics)-1]
		}
		last.Partitions = append(last.Partitions, kmsg.ProduceRequestTopicPartition{Partition: b.pp.partition, Records: b.buf})
	}
	// v13 names topics by id; v12 is the last by name, and what we need.
	if err := c.setVersion(req, 12); err != nil {
		bp.route(set, nil, err)
		return
	}
	noResp := p.cfg.acks == AcksNone
	err = c.send(p.ctx, req, noResp, p.cfg.produceTimeout, func(resp kmsg.Response, err error) {
		bp.route(set, resp, err)
	})
	if err != nil {
		bp.route(set, nil, fmt.Errorf("%w: %v", ErrConnDead, err))
	}
}

// route hands each batch's outcome to its partition goroutine. It runs on
// the connection's reader goroutine and never blocks.
func (bp *brokerProducer) route(set *produceSet, kresp kmsg.Response, err error) {
	if err != nil || kresp == nil {
		for _, b := range set.batches {
			b.pp.resps.put(batchResult{b: b, err: err, baseOffset: -1, appendTime: -1})
		}
		return
	}
	resp := kresp.(*kmsg.ProduceResponse)
	for _, b := range set.batches {
		r := batchResult{b: b, err: fmt.Errorf("%w: partition missing from produce response", ErrConnDead), baseOffset: -1, appendTime: -1}
	find:
		for ti := range resp.Topics {
			t := &resp.Topics[ti]
			if t.Topic != b.pp.topic {
				continue
			}
			for pi := range t.Partitions {
				rp := &t.Partitions[pi]
				if rp.Partition == b.pp.partition {
					r.err = errorWithMessage(rp.ErrorCode, rp.ErrorMessage)
					r.baseOffset, r.appendTime = rp.BaseOffset, rp.LogAppendTime
					break find
				}
			}
		}
		b.pp.resps.put(r)
	}
}
