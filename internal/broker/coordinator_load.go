package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/purgatory"
)

// onImage follows the leadership of __consumer_offsets partitions: a
// group's coordinator is the leader of the partition it hashes to
// (group.PartitionFor). When this node becomes a partition's leader, the
// partition is replayed (on its own goroutine: it reads the log) and its
// groups and offsets go live; until then the groups answer
// COORDINATOR_LOAD_IN_PROGRESS. When it stops leading, the partition's
// groups and offsets are dropped from memory (the new leader loads them).
// It is a metadata listener: it must not wait for the log.
func (c *coordinator) onImage(_, next *metadata.Image, _ []metadata.Record) {
	t := next.Topic(offsetsTopic)
	led := map[int32]bool{}
	if t != nil {
		for i, pm := range t.Partitions {
			if pm.Leader == c.b.opts.NodeID && c.b.parts.get(offsetsTopic, int32(i)) != nil {
				led[int32(i)] = true
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if t != nil && c.numParts != int32(len(t.Partitions)) {
		c.numParts = int32(len(t.Partitions))
	}
	for idx := range c.loaded {
		if !led[idx] {
			c.unloadLocked(idx)
		}
	}
	for idx := range led {
		if _, ok := c.loaded[idx]; ok {
			continue
		}
		c.loadGen++
		gen := c.loadGen
		c.loaded[idx] = gen // loading until done[idx]
		p := c.b.parts.get(offsetsTopic, idx)
		c.goAsync(func() { c.loadOne(idx, gen, p) })
	}
}

// loadOne replays one offsets partition and makes its groups live, unless
// leadership moved on meanwhile (gen no longer current).
func (c *coordinator) loadOne(idx int32, gen uint64, p *partition) {
	ld := &loaded{snaps: map[string]*group.Snapshot{}, cgs: map[string]*group.CGState{},
		snapPos: map[string]int64{}, cgPos: map[string]int64{}}
	err := c.loadPartition(p, ld)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.loaded[idx] != gen {
		return
	}
	if err != nil {
		c.b.log.Error("cannot load group coordinator state", "partition", fmt.Sprintf("%s-%d", offsetsTopic, idx), "err", err)
		delete(c.loaded, idx) // the next image retries
		return
	}
	for _, o := range ld.offs {
		if o.off == nil {
			c.deleteOffsetLocked(o.group, o.tp)
		} else {
			c.applyOffsetLocked(o.group, o.tp, *o.off, o.pos)
		}
	}
	now := c.b.opts.Now()
	for id, s := range ld.snaps {
		if s == nil {
			continue
		}
		if cs := ld.cgs[id]; cs != nil && cs.Live() && ld.cgPos[id] > ld.snapPos[id] {
			continue // converted to a consumer group later
		}
		e := &groupEntry{g: group.Restore(id, &c.cfg, *s, now)}
		c.groups[id] = e
		c.scheduleLocked(id, e)
	}
	for id, cs := range ld.cgs {
		if !cs.Live() || (ld.snaps[id] != nil && ld.snapPos[id] > ld.cgPos[id]) {
			continue
		}
		e := &groupEntry{cg: group.RestoreConsumerGroup(id, &c.ccfg, cs, now)}
		c.groups[id] = e
		c.scheduleLocked(id, e)
	}
	// Groups with offsets but no metadata (standalone commits) exist as
	// Empty classic groups, as Kafka's loader makes them.
	for _, id := range c.offsets.Groups() {
		if c.groups[id] == nil && c.partitionOfLocked(id) == idx {
			c.groups[id] = &groupEntry{g: group.New(id, &c.cfg, now)}
		}
	}
	c.done[idx] = true
}

// unloadLocked forgets the groups and offsets of partition idx.
func (c *coordinator) unloadLocked(idx int32) {
	delete(c.loaded, idx)
	delete(c.done, idx)
	for id := range c.groups {
		if c.partitionOfLocked(id) == idx {
			delete(c.groups, id) // its timer op finds no group and does nothing
		}
	}
	for _, id := range c.offsets.Groups() {
		if c.partitionOfLocked(id) == idx {
			c.offsets.DeleteGroup(id)
			delete(c.offsetPos, id)
		}
	}
}

func (c *coordinator) partitionOfLocked(id string) int32 {
	return group.PartitionFor(id, max(c.numParts, 1))
}

// loadedLocked reports whether partition idx's state is live here.
func (c *coordinator) loadedLocked(idx int32) bool { return c.done[idx] }

// loaded collects what a partition's records say: the latest classic
// snapshot and consumer group records per group (with the log position
// of the last of each, which decides a group converted between the two
// kinds) and the offset records in log order, applied under mu in one
// step.
type loaded struct {
	snaps   map[string]*group.Snapshot
	snapPos map[string]int64
	cgs     map[string]*group.CGState
	cgPos   map[string]int64
	offs    []loadedOffset
}

type loadedOffset struct {
	group string
	tp    group.TopicPartition
	off   *group.Offset
	pos   int64
}

// loadPartition replays one partition up to its log end, as Kafka's
// loader reads to the log end offset. Not to the high watermark: a
// follower that has just become the leader knows its old leader's high
// watermark only as of its previous fetch, so the last commits its old
// leader acknowledged (every in-sync replica had them) may lie above its
// own; they are the leader's log now and become committed when the
// followers fetch them.
func (c *coordinator) loadPartition(p *partition, ld *loaded) error {
	offset, end := p.log.LogStartOffset(), p.log.LogEndOffset()
	for offset < end {
		rr, err := p.log.Read(offset, 1<<20, end)
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
				return replay(r, h.BaseOffset+int64(r.OffsetDelta), ld)
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
func replay(r batch.Record, pos int64, ld *loaded) error {
	rec, err := group.Decode(r.Key, r.Value)
	if errors.Is(err, group.ErrUnknownRecord) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case rec.CG != nil:
		cs := ld.cgs[rec.Group]
		if cs == nil {
			cs = &group.CGState{}
			ld.cgs[rec.Group] = cs
		}
		cs.Apply(rec.CG)
		ld.cgPos[rec.Group] = pos
		return nil
	case !rec.IsOffset:
		ld.snaps[rec.Group] = rec.Snapshot
		ld.snapPos[rec.Group] = pos
		return nil
	}
	tp := group.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
	ld.offs = append(ld.offs, loadedOffset{group: rec.Group, tp: tp, off: rec.Offset, pos: pos})
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
				recs = append(recs, groupTombstonesLocked(id, e)...)
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
