package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch: versions 4-18. v13+ names topics by id (Metadata v10+ gives the
// ids); without ids for every topic of a request we cap at v12. No fetch
// sessions (KIP-227): SessionID 0, SessionEpoch -1, a full fetch each time.
// CurrentLeaderEpoch is -1 (no fencing checks; OffsetForLeaderEpoch
// validation is not done).
//
// ListOffsets: versions 1-11; timestamp -2 earliest, -1 latest, else the
// first offset at or after a timestamp.

// requestCopy sends req to broker id and waits for the response; fix runs
// on the connection's reader goroutine before it reads the next response.
// kmsg decodes []byte fields (RecordBatches, group metadata) as slices of
// the buffer the response was read into; conn.readLoop gives each decoded
// response a buffer of its own, so they stay valid.
func (cl *Client) requestCopy(ctx context.Context, id int32, req kmsg.Request, maxVersion int16, extra time.Duration, fix func(kmsg.Response)) (kmsg.Response, error) {
	c, err := cl.brokerConn(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.requestCopy(ctx, req, maxVersion, extra, fix)
}

func (c *conn) requestCopy(ctx context.Context, req kmsg.Request, maxVersion int16, extra time.Duration, fix func(kmsg.Response)) (kmsg.Response, error) {
	if err := c.setVersion(req, maxVersion); err != nil {
		return nil, err
	}
	type result struct {
		resp kmsg.Response
		err  error
	}
	ch := make(chan result, 1)
	err := c.send(ctx, req, false, extra, func(r kmsg.Response, err error) {
		if err == nil && fix != nil {
			fix(r)
		}
		ch <- result{r, err}
	})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// maxBufferedSlices is how many fetched slices a partition may hold
// waiting for Poll: one being worked through, one fetched meanwhile.
const maxBufferedSlices = 2

// fetchLoop fetches the partitions led by broker id until none is left.
func (c *Consumer) fetchLoop(id int32) {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	idleSince := time.Now()
	for ctx.Err() == nil {
		toList, toFetch, wait, led := c.collect(id)
		if !led && time.Since(idleSince) > 5*time.Second {
			c.mu.Lock()
			// Re-check under the same lock as run() starting loops.
			if _, _, _, led = c.collectLocked(id, false); !led {
				delete(c.loops, id)
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
		}
		if led {
			idleSince = time.Now()
		}
		if len(toList) > 0 {
			c.listStarts(ctx, id, toList)
		}
		if len(toFetch) > 0 {
			c.fetch(ctx, id, toFetch)
		}
		if len(toList) == 0 && len(toFetch) == 0 {
			select {
			case <-ctx.Done():
			case <-wait:
			case <-time.After(200 * time.Millisecond): // retryAt, metadata changes
			}
		}
	}
}

// collect picks the partitions led by id that need a start offset or a
// fetch, marking them in flight.
func (c *Consumer) collect(id int32) (toList, toFetch []*partState, wait <-chan struct{}, led bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	toList, toFetch, wait, led = c.collectLocked(id, true)
	return
}

func (c *Consumer) collectLocked(id int32, mark bool) (toList, toFetch []*partState, wait <-chan struct{}, led bool) {
	meta := c.cl.Metadata()
	now := time.Now()
	for _, ps := range c.parts {
		if leaderOf(meta, ps.tp) != id {
			continue
		}
		led = true
		if !mark || ps.inflight || ps.errHeld || now.Before(ps.retryAt) {
			continue
		}
		switch {
		case ps.pending != nil:
			toList = append(toList, ps)
		case ps.fetchAt >= 0 && !ps.paused && ps.nbuf < maxBufferedSlices:
			toFetch = append(toFetch, ps)
		default:
			continue
		}
		ps.inflight = true
	}
	return toList, toFetch, c.changed, led
}

// partReq is a partition's state as sent, to match the answer against.
type partReq struct {
	ps     *partState
	seq    uint64
	offset int64
	start  Offset
}

func snapshot(pss []*partState) []partReq {
	out := make([]partReq, len(pss))
	for i, ps := range pss {
		out[i] = partReq{ps: ps, seq: ps.seq, offset: ps.fetchAt}
		if ps.pending != nil {
			out[i].start = *ps.pending
		}
	}
	return out
}

// doneLocked clears in-flight marks; ok false backs the partitions off.
func (c *Consumer) doneLocked(reqs []partReq, ok bool) {
	for _, r := range reqs {
		r.ps.inflight = false
		if !ok {
			r.ps.retryAt = time.Now().Add(c.cfg.client.retryBackoff)
		}
	}
	c.changedLocked()
}

// listStarts resolves start offsets with ListOffsets.
func (c *Consumer) listStarts(ctx context.Context, id int32, pss []*partState) {
	c.mu.Lock()
	reqs := snapshot(pss)
	c.mu.Unlock()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	if c.cfg.readCommitted {
		req.IsolationLevel = 1
	}
	byTopic := map[string]int{}
	for _, r := range reqs {
		i, ok := byTopic[r.ps.tp.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[r.ps.tp.Topic] = i
			t := kmsg.NewListOffsetsRequestTopic()
			t.Topic = r.ps.tp.Topic
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Partition = r.ps.tp.Partition
		p.CurrentLeaderEpoch = -1
		p.Timestamp = r.start.at
		p.MaxNumOffsets = 1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	kresp, err := c.cl.requestCopy(ctx, id, req, -1, 0, nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.doneLocked(reqs, false)
		c.cl.TriggerMetadataRefresh()
		return
	}
	got := map[TopicPartition]kmsg.ListOffsetsResponseTopicPartition{}
	for _, t := range kresp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			got[TopicPartition{t.Topic, p.Partition}] = p
		}
	}
	c.doneLocked(reqs, true)
	for _, r := range reqs {
		p, ok := got[r.ps.tp]
		if r.ps.seq != r.seq || c.parts[r.ps.tp] != r.ps {
			continue
		}
		if !ok {
			r.ps.retryAt = time.Now().Add(c.cfg.client.retryBackoff)
			continue
		}
		if err := ErrorForCode(p.ErrorCode); err != nil {
			r.ps.retryAt = time.Now().Add(c.cfg.client.retryBackoff)
			if isLeaderError(err) || IsRetriable(err) {
				c.cl.TriggerMetadataRefresh()
				continue
			}
			r.ps.errHeld = true
			r.ps.nbuf++
			c.pushLocked(&fetchedPart{tp: r.ps.tp, seq: r.ps.seq, err: fmt.Errorf("list offsets (%v): %w", r.start, err), hwm: -1})
			continue
		}
		off := p.Offset
		if req.Version == 0 && len(p.OldStyleOffsets) > 0 {
			off = p.OldStyleOffsets[0]
		}
		if off < 0 { // no record at or after the timestamp
			end := AtEnd()
			r.ps.pending = &end
			continue
		}
		r.ps.offset, r.ps.fetchAt, r.ps.pending = off, off, nil
	}
}

// fetch sends one Fetch for pss and buffers what comes back.
func (c *Consumer) fetch(ctx context.Context, id int32, pss []*partState) {
	c.mu.Lock()
	reqs := snapshot(pss)
	c.mu.Unlock()
	meta := c.cl.Metadata()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(c.cfg.fetchMaxWait / time.Millisecond)
	req.MinBytes = c.cfg.fetchMinBytes
	req.MaxBytes = c.cfg.fetchMaxBytes
	if c.cfg.readCommitted {
		req.IsolationLevel = 1
	}
	req.SessionID, req.SessionEpoch = 0, -1
	maxVersion := int16(-1)
	byTopic := map[string]int{}
	names := map[[16]byte]string{}
	for _, r := range reqs {
		i, ok := byTopic[r.ps.tp.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[r.ps.tp.Topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic = r.ps.tp.Topic
			if tm := meta.Topics[t.Topic]; tm != nil && tm.ID != ([16]byte{}) {
				t.TopicID = tm.ID
				names[tm.ID] = t.Topic
			} else {
				maxVersion = 12
			}
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = r.ps.tp.Partition
		p.CurrentLeaderEpoch = -1
		p.LastFetchedEpoch = -1
		p.LogStartOffset = -1
		p.FetchOffset = r.offset
		p.PartitionMaxBytes = c.cfg.partitionMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	// The record batches stay slices of the response's read buffer: the
	// connection gives every decoded response a buffer of its own (see
	// conn.readLoop), so records may point into it without a copy.
	kresp, err := c.cl.requestCopy(ctx, id, req, maxVersion, c.cfg.fetchMaxWait, nil)
	if err != nil {
		c.mu.Lock()
		c.doneLocked(reqs, false)
		c.mu.Unlock()
		if ctx.Err() == nil {
			c.logf("fetch from broker %d: %v", id, err)
			c.cl.TriggerMetadataRefresh()
		}
		return
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := ErrorForCode(resp.ErrorCode); err != nil {
		c.mu.Lock()
		c.doneLocked(reqs, false)
		c.mu.Unlock()
		c.logf("fetch from broker %d: %v", id, err)
		return
	}
	got := map[TopicPartition]*kmsg.FetchResponseTopicPartition{}
	for i := range resp.Topics {
		t := &resp.Topics[i]
		name := t.Topic
		if req.Version >= 13 {
			name = names[t.TopicID]
		}
		for j := range t.Partitions {
			got[TopicPartition{name, t.Partitions[j].Partition}] = &t.Partitions[j]
		}
	}
	// Decode outside the lock, then apply.
	type decoded struct {
		recs []*Record
		next int64
		err  error
		hwm  int64
	}
	dec := make([]decoded, len(reqs))
	for i, r := range reqs {
		p := got[r.ps.tp]
		if p == nil {
			dec[i].err = errFetchPartitionMissing
			continue
		}
		dec[i].hwm = p.HighWatermark
		if dec[i].err = ErrorForCode(p.ErrorCode); dec[i].err != nil {
			continue
		}
		dec[i].recs, dec[i].next, dec[i].err = decodeBatches(r.ps.tp, p, r.offset, c.cfg.maxDecompressed)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.doneLocked(reqs, true)
	refresh := false
	for i, r := range reqs {
		ps, d := r.ps, dec[i]
		if ps.seq != r.seq || c.parts[ps.tp] != ps {
			continue // sought, unassigned or reassigned meanwhile
		}
		switch {
		case d.err == nil:
			if len(d.recs) > 0 {
				ps.nbuf++
				ps.fetchAt = d.next
				c.pushLocked(&fetchedPart{tp: ps.tp, seq: ps.seq, recs: d.recs, next: d.next, hwm: d.hwm})
			} else if d.next > ps.fetchAt { // control batches only
				ps.fetchAt = d.next
				if ps.nbuf == 0 {
					ps.offset = d.next
				}
			}
		case errors.Is(d.err, ErrOffsetOutOfRange):
			if c.cfg.resetOffset.kind == offsetNone {
				ps.errHeld = true
				ps.nbuf++
				c.pushLocked(&fetchedPart{tp: ps.tp, seq: ps.seq, err: fmt.Errorf("offset %d: %w", r.offset, d.err), hwm: d.hwm})
				continue
			}
			reset := c.cfg.resetOffset
			ps.pending = &reset
			c.logf("%s: offset %d out of range, resetting to %v", ps.tp, r.offset, reset)
		case errors.Is(d.err, errFetchPartitionMissing) || isLeaderError(d.err) || IsRetriable(d.err):
			ps.retryAt = time.Now().Add(c.cfg.client.retryBackoff)
			refresh = true
		default:
			ps.retryAt = time.Now().Add(c.cfg.client.retryBackoffMax)
			ps.errHeld = true
			ps.nbuf++
			c.pushLocked(&fetchedPart{tp: ps.tp, seq: ps.seq, err: d.err, hwm: d.hwm})
		}
	}
	if refresh {
		c.cl.TriggerMetadataRefresh()
	}
}

var errFetchPartitionMissing = errors.New("samsa/client: partition missing from fetch response")

func (c *Consumer) logf(format string, args ...any) {
	if c.cfg.client.logf != nil {
		c.cfg.client.logf(format, args...)
	}
}

// decodeBatches turns a partition's record batches into records at or after
// from, and returns the next offset to fetch. Records of a compressed
// batch are copied out of the pooled decompression buffer; those of an
// uncompressed batch alias data (a private copy of the response). Control
// batches are skipped, and so are aborted transactions under
// read_committed.
func decodeBatches(tp TopicPartition, p *kmsg.FetchResponseTopicPartition, from int64, limit int) ([]*Record, int64, error) {
	next := from
	var recs []*Record
	aborted := abortedTxns(p.AbortedTransactions)
	err := batch.Iterate(p.RecordBatches, func(h batch.Header, b []byte) error {
		if h.LastOffset() < next {
			return nil
		}
		if err := batch.CheckCRC(b); err != nil {
			return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		if h.IsControl() {
			if h.IsTransactional() && aborted != nil {
				delete(aborted, h.ProducerID) // an abort marker ends the transaction
			}
			next = h.LastOffset() + 1
			return nil
		}
		if h.IsTransactional() && aborted != nil {
			if first, ok := aborted[h.ProducerID]; ok && h.BaseOffset >= first {
				next = h.LastOffset() + 1
				return nil
			}
		}
		compressed := h.Codec() != batch.CodecNone
		// One allocation for the batch's records, not one per record (a
		// record kept by the caller keeps its batch's slab, as it keeps
		// the response buffer its bytes point into).
		// The count comes off the wire: trust it only up to a bound.
		slab := make([]Record, 0, max(1, min(int(h.NumRecords), limit, 4096)))
		if recs == nil {
			recs = make([]*Record, 0, cap(slab))
		}
		err := batch.ReadRecords(&h, b[batch.HeaderSize:], limit, func(r batch.Record) error {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if off < from {
				return nil
			}
			ts := h.BaseTimestamp + r.TimestampDelta
			if h.LogAppendTime() {
				ts = h.MaxTimestamp
			}
			if len(slab) == cap(slab) { // more records than the slab holds
				slab = make([]Record, 0, 4096)
			}
			slab = append(slab, Record{Topic: tp.Topic, Partition: tp.Partition, Offset: off, Timestamp: time.UnixMilli(ts), Key: r.Key, Value: r.Value})
			rec := &slab[len(slab)-1]
			if compressed {
				rec.Key, rec.Value = cloneBytes(r.Key), cloneBytes(r.Value)
			}
			if len(r.Headers) > 0 {
				rec.Headers = make([]RecordHeader, len(r.Headers))
				for i, hd := range r.Headers {
					rec.Headers[i] = RecordHeader{Key: hd.Key, Value: hd.Value}
					if compressed {
						rec.Headers[i].Value = cloneBytes(hd.Value)
					}
				}
			}
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		next = h.LastOffset() + 1
		return nil
	})
	if errors.Is(err, batch.ErrShort) {
		err = nil // KIP-74: the broker may cut the last batch
	}
	if err != nil && len(recs) > 0 {
		// Deliver what decoded; the next fetch starts at the bad batch
		// and reports the error then.
		err = nil
	}
	return recs, next, err
}

// abortedTxns maps producer id → first offset of its aborted transaction
// (read_committed only; nil otherwise).
func abortedTxns(ats []kmsg.FetchResponseTopicPartitionAbortedTransaction) map[int64]int64 {
	if len(ats) == 0 {
		return nil
	}
	m := make(map[int64]int64, len(ats))
	for _, a := range ats {
		if first, ok := m[a.ProducerID]; !ok || a.FirstOffset < first {
			m[a.ProducerID] = a.FirstOffset
		}
	}
	return m
}
