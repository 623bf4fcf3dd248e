package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/purgatory"
)

// load rebuilds groups and committed offsets from every hosted
// __consumer_offsets partition. It runs in Broker.New after the partition
// manager opened the logs and before any listener serves, so no request
// sees a half-loaded coordinator.
func (c *coordinator) load() error {
	t := c.b.ctl.Image().Topic(offsetsTopic)
	if t == nil {
		return nil
	}
	snaps := map[string]*group.Snapshot{}
	for i := range t.Partitions {
		p := c.b.parts.get(offsetsTopic, int32(i))
		if p == nil {
			continue
		}
		if err := c.loadPartition(p, snaps); err != nil {
			return fmt.Errorf("loading %s-%d: %w", offsetsTopic, i, err)
		}
	}
	now := c.b.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, s := range snaps {
		if s == nil {
			continue
		}
		e := &groupEntry{g: group.Restore(id, &c.cfg, *s, now)}
		c.groups[id] = e
		c.scheduleLocked(id, e)
	}
	// Groups with offsets but no metadata (standalone commits) exist as
	// Empty classic groups, as Kafka's loader makes them.
	for _, id := range c.offsets.Groups() {
		if c.groups[id] == nil {
			c.groups[id] = &groupEntry{g: group.New(id, &c.cfg, now)}
		}
	}
	return nil
}

// loadPartition replays one partition below its high watermark.
func (c *coordinator) loadPartition(p *partition, snaps map[string]*group.Snapshot) error {
	offset, hw := p.log.LogStartOffset(), p.hw.Load()
	for offset < hw {
		rr, err := p.log.Read(offset, 1<<20, hw)
		if err != nil {
			return err
		}
		if rr.NextOffset <= offset {
			break
		}
		err = batch.Iterate(rr.Records, func(h batch.Header, b []byte) error {
			if h.IsControl() {
				return nil
			}
			return batch.ReadRecords(&h, b[batch.HeaderSize:h.Size()], 64<<20, func(r batch.Record) error {
				return c.replay(r, h.BaseOffset+int64(r.OffsetDelta), snaps)
			})
		})
		if err != nil {
			return err
		}
		offset = rr.NextOffset
	}
	return nil
}

// replay applies one record: the latest value per key wins, a null value
// deletes.
func (c *coordinator) replay(r batch.Record, pos int64, snaps map[string]*group.Snapshot) error {
	rec, err := group.Decode(r.Key, r.Value)
	if errors.Is(err, group.ErrUnknownRecord) {
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !rec.IsOffset {
		snaps[rec.Group] = rec.Snapshot
		return nil
	}
	tp := group.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
	if rec.Offset == nil {
		c.deleteOffsetLocked(rec.Group, tp)
		return nil
	}
	c.applyOffsetLocked(rec.Group, tp, *rec.Offset, pos)
	return nil
}

// expireOffsets drops offsets older than offsets.retention.minutes from
// groups without members (KIP-211), writing tombstones; a group left
// with neither members nor offsets is forgotten. It reschedules itself.
func (c *coordinator) expireOffsets() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	now := c.b.opts.Now()
	var post after
	for _, id := range c.offsets.Groups() {
		var emptySince time.Time
		hasMembers := false
		if e := c.groups[id]; e != nil {
			hasMembers, emptySince = e.hasMembers(), e.emptySince()
		}
		expired := c.offsets.Expired(id, hasMembers, emptySince, now, c.b.opts.OffsetsRetention)
		if len(expired) == 0 {
			continue
		}
		var recs []batch.Record
		for _, tp := range expired {
			recs = append(recs, batch.Record{Key: group.OffsetKey(id, tp.Topic, tp.Partition)})
			c.deleteOffsetLocked(id, tp)
		}
		if !c.offsets.Has(id) {
			if e := c.groups[id]; e != nil && !e.hasMembers() {
				recs = append(recs, batch.Record{Key: group.GroupKey(id)})
				delete(c.groups, id)
			}
		}
		post = append(post, c.appendLocked(id, recs, now, func(error) {})...)
	}
	c.mu.Unlock()
	post.run()
	c.scheduleExpiry()
}

// scheduleExpiry arms the next offset-expiry pass on the timer heap.
func (c *coordinator) scheduleExpiry() {
	interval := min(offsetsRetentionCheck, max(c.b.opts.OffsetsRetention, time.Second))
	c.b.timers.Add(purgatory.NewOp(nil, func(bool) { c.expireOffsets() }), c.b.opts.Now().Add(interval))
}
