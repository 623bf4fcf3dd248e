package broker

// The group coordinator runtime: the I/O around package group's pure
// state machines.
//
//   - Groups and committed offsets live in memory under coordinator.mu.
//     Handlers call into a group with the broker's clock and carry out the
//     returned Effects: deferred JoinGroup/SyncGroup answers, group
//     snapshots to persist, the next deadline.
//   - Deadlines (session expiry, rebalance and initial-delay timeouts) are
//     purgatory ops on the broker's timer heap, one live op per group at
//     its earliest deadline; a firing op calls Group.Tick.
//   - State persists in __consumer_offsets: committed offsets, classic
//     group snapshots, and the records of KIP-848 groups (the diff
//     ConsumerGroup.Changes returns after each heartbeat or tick, written
//     before the heartbeat is answered; persistCGLocked). The topic is
//     created through the controller on first use with
//     offsets.topic.num.partitions and offsets.topic.replication.factor,
//     cleanup.policy=compact. A group
//     hashes to a partition like Kafka (group.PartitionFor); the leader of
//     that partition is the group's coordinator. Writes are appended to
//     that partition and acknowledged once the high watermark passes them,
//     as acks=all produce is (fsynced with samsa's default).
//   - Commits update the in-memory offsets only once durable; the log
//     offset of the record decides which of two racing commits wins, so
//     memory always matches what a reload would rebuild.
//   - The coordinator follows leadership (onImage, coordinator_load.go):
//     an offsets partition this node comes to lead is replayed to its log
//     end (latest value per key, tombstones delete) before its groups go
//     live; one it stops leading has its groups and offsets dropped.
//
// Lock order: coordinator.mu is taken before partition.appendMu (appends
// happen under it) and never while calling the controller; ensureMu
// serializes topic creation and is never held with mu. Replies and
// durability waits run after mu is released, since a durability op may
// complete synchronously and take mu again.

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/purgatory"
)

const (
	offsetsTopic = "__consumer_offsets"
	// offsetsCommitTimeout is offsets.commit.timeout.ms: how long a write
	// may wait to become durable.
	offsetsCommitTimeout = 5 * time.Second
	// offsetsRetentionCheck is offsets.retention.check.interval.ms.
	offsetsRetentionCheck = 10 * time.Minute
	offsetsSegmentBytes   = 100 << 20
)

type coordinator struct {
	b    *Broker
	cfg  group.Config
	ccfg group.ConsumerConfig

	ensureMu sync.Mutex // serializes creating __consumer_offsets; never held with mu

	mu      sync.Mutex
	groups  map[string]*groupEntry // mu guards the following
	offsets *group.Offsets
	// offsetPos is the log offset of the record behind each in-memory
	// committed offset.
	offsetPos map[string]map[group.TopicPartition]int64
	closed    bool
	// loaded: the offsets partitions this node leads, with the load
	// generation started for each; done: those whose state is live.
	// numParts is the topic's partition count (PartitionFor).
	loaded   map[int32]uint64
	done     map[int32]bool
	loadGen  uint64
	numParts int32

	// async runs durability completions of group writes: they fire on
	// flusher goroutines that outlive Broker.Close's other waits.
	async asyncGroup
}

// groupEntry is one group: classic (g) or KIP-848 consumer (cg), never both.
type groupEntry struct {
	g       *group.Group
	cg      *group.ConsumerGroup
	timerAt time.Time // deadline of the live timer op (zero: none)
}

func (e *groupEntry) deadline() time.Time {
	if e.cg != nil {
		return e.cg.Deadline()
	}
	return e.g.Deadline()
}

func (e *groupEntry) tick(now time.Time) group.Effects {
	if e.cg != nil {
		e.cg.Tick(now)
		return group.Effects{}
	}
	return e.g.Tick(now)
}

// hasMembers: offsets of a group with members never expire.
func (e *groupEntry) hasMembers() bool {
	if e.cg != nil {
		return !e.cg.Empty()
	}
	return e.g.State() != group.Empty && e.g.State() != group.Dead
}

func (e *groupEntry) emptySince() time.Time {
	if e.cg != nil {
		return e.cg.EmptySince()
	}
	return e.g.EmptySince()
}

func newCoordinator(b *Broker) *coordinator {
	c := &coordinator{b: b, groups: map[string]*groupEntry{}, offsets: group.NewOffsets(),
		offsetPos: map[string]map[group.TopicPartition]int64{}, loaded: map[int32]uint64{}, done: map[int32]bool{}}
	c.ccfg = group.ConsumerConfig{
		SessionTimeout:    b.opts.GroupConsumerSessionTimeout,
		HeartbeatInterval: b.opts.GroupConsumerHeartbeatInterval,
		NewMemberID:       func() string { return newMemberID("")[1:] },
	}
	c.cfg = group.Config{
		InitialRebalanceDelay: b.opts.GroupInitialRebalanceDelay,
		MinSessionTimeout:     b.opts.GroupMinSessionTimeout,
		MaxSessionTimeout:     b.opts.GroupMaxSessionTimeout,
		MaxSize:               b.opts.GroupMaxSize,
		NewMemberID:           newMemberID,
	}
	return c
}

// newMemberID is Kafka's clientId + "-" + random UUID.
func newMemberID(clientID string) string {
	var u [16]byte
	rand.Read(u[:])
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", clientID, u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

func (c *coordinator) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// goAsync runs f on its own goroutine unless the coordinator has stopped
// (then the connection it would answer is closed anyway).
func (c *coordinator) goAsync(f func()) { c.async.Go(f) }

// stopAsync refuses new async work and waits for what runs.
func (c *coordinator) stopAsync() { c.async.Stop() }

// ensureTopic returns __consumer_offsets, creating it on first use.
func (c *coordinator) ensureTopic() (*metadata.Topic, error) {
	if t := c.b.image().Topic(offsetsTopic); t != nil {
		return t, nil
	}
	c.ensureMu.Lock()
	defer c.ensureMu.Unlock()
	if t := c.b.image().Topic(offsetsTopic); t != nil {
		return t, nil
	}
	segBytes := fmt.Sprint(offsetsSegmentBytes)
	compact, producer := "compact", "producer"
	t, err := c.b.createTopic(controller.TopicSpec{Name: offsetsTopic,
		NumPartitions: c.b.opts.OffsetsTopicNumPartitions, ReplicationFactor: c.b.opts.OffsetsTopicReplicationFactor,
		Configs: map[string]*string{"cleanup.policy": &compact, "segment.bytes": &segBytes, "compression.type": &producer}})
	if err != nil {
		c.b.log.Warn("cannot create "+offsetsTopic, "err", err)
		return nil, err
	}
	return t, nil
}

// coordinatorFor returns the offsets partition of groupID if this node
// coordinates it, else the error code to answer (NOT_COORDINATOR or
// COORDINATOR_NOT_AVAILABLE). create: make the topic if missing.
func (c *coordinator) coordinatorFor(groupID string, create bool) (*partition, int16) {
	p, idx, code := c.leads(groupID, create)
	if code != 0 {
		return nil, code
	}
	c.mu.Lock()
	loaded := c.loadedLocked(idx)
	c.mu.Unlock()
	if !loaded {
		return nil, kerr.CoordinatorLoadInProgress.Code
	}
	return p, 0
}

// coordinatesLocked is coordinatorFor's answer for a known group, with mu
// held.
func (c *coordinator) coordinatesLocked(groupID string) int16 {
	_, idx, code := c.leads(groupID, false)
	if code == 0 && !c.loadedLocked(idx) {
		code = kerr.CoordinatorLoadInProgress.Code
	}
	return code
}

// leads finds groupID's offsets partition and checks that this node leads
// and hosts it.
func (c *coordinator) leads(groupID string, create bool) (*partition, int32, int16) {
	var t *metadata.Topic
	if create {
		t, _ = c.ensureTopic()
	} else {
		t = c.b.image().Topic(offsetsTopic)
	}
	if t == nil || len(t.Partitions) == 0 {
		return nil, 0, kerr.CoordinatorNotAvailable.Code
	}
	idx := group.PartitionFor(groupID, int32(len(t.Partitions)))
	if t.Partitions[idx].Leader != c.b.opts.NodeID {
		return nil, 0, kerr.NotCoordinator.Code
	}
	p := c.b.parts.get(offsetsTopic, idx)
	if p == nil {
		return nil, 0, kerr.CoordinatorNotAvailable.Code
	}
	return p, idx, 0
}

// after is work to run once mu is released.
type after []func()

func (a after) run() {
	for _, f := range a {
		f()
	}
}

// withGroup runs fn on classic group id (created if create and missing)
// under mu and carries out its effects. It returns 0, or the error for a
// missing group (UNKNOWN_MEMBER_ID) or a KIP-848 group with members
// (INCONSISTENT_GROUP_PROTOCOL). An empty KIP-848 group becomes classic
// on a join, as Kafka converts empty groups.
func (c *coordinator) withGroup(id string, create bool, fn func(g *group.Group, now time.Time) group.Effects) int16 {
	c.mu.Lock()
	now := c.b.opts.Now()
	e := c.groups[id]
	switch {
	case e == nil && !create:
		c.mu.Unlock()
		return kerr.UnknownMemberID.Code
	case e != nil && e.cg != nil && (!create || !e.cg.Empty()):
		c.mu.Unlock()
		if create {
			return kerr.InconsistentGroupProtocol.Code
		}
		return kerr.UnknownMemberID.Code
	case e == nil || e.cg != nil:
		var post after
		if e != nil {
			// An empty consumer group becomes classic: its records are
			// deleted first.
			post = c.appendLocked(id, groupTombstonesLocked(id, e), now, func(err error) {
				if err != nil {
					c.b.log.Warn("writing consumer group tombstones", "group", id, "err", err)
				}
			})
		}
		e = &groupEntry{g: group.New(id, &c.cfg, now)}
		c.groups[id] = e
		post = append(post, c.effectsLocked(id, e, fn(e.g, now), now)...)
		c.mu.Unlock()
		post.run()
		return 0
	}
	post := c.effectsLocked(id, e, fn(e.g, now), now)
	c.mu.Unlock()
	post.run()
	return 0
}

// effectsLocked persists (if asked), schedules the group's next deadline
// and returns the delivery of its replies, to run after unlocking.
func (c *coordinator) effectsLocked(id string, e *groupEntry, eff group.Effects, now time.Time) after {
	c.scheduleLocked(id, e)
	deliver := func(err error) {
		for _, rep := range eff.Replies {
			if err != nil && rep.Sync != nil && rep.Sync.Err == 0 {
				rep.Sync = &group.SyncResult{Err: kerr.CoordinatorNotAvailable.Code}
			}
			if err != nil && rep.Join != nil && rep.Join.Err == 0 {
				rep.Join = &group.JoinResult{Err: kerr.CoordinatorNotAvailable.Code, Generation: -1, MemberID: rep.Join.MemberID}
			}
			rep.To.(func(group.Reply))(rep)
		}
	}
	if e.cg != nil {
		return c.persistCGLocked(id, e, nil, now, deliver)
	}
	if !eff.Persist {
		return after{func() { deliver(nil) }}
	}
	snap := e.g.Snapshot(now)
	return c.appendLocked(id, []batch.Record{{Key: group.GroupKey(id), Value: group.GroupValue(snap)}}, now, deliver)
}

// persistCGLocked appends pre and then the records of what changed in
// consumer group e (nothing to write: done(nil) at once) and returns the
// wait for their durability. On failure the group is told, so the next
// change writes them again.
func (c *coordinator) persistCGLocked(id string, e *groupEntry, pre []batch.Record, now time.Time, done func(err error)) after {
	kvs := e.cg.Changes()
	recs := pre
	for _, kv := range kvs {
		recs = append(recs, batch.Record{Key: kv.Key, Value: kv.Value})
	}
	if len(recs) == 0 {
		return after{func() { done(nil) }}
	}
	return c.appendLocked(id, recs, now, func(err error) {
		if err != nil {
			c.mu.Lock()
			if c.groups[id] == e {
				e.cg.WriteFailed(kvs)
			}
			c.mu.Unlock()
		}
		done(err)
	})
}

// groupTombstonesLocked returns the records that delete group e from the
// log: a classic group's metadata, or a consumer group's records.
func groupTombstonesLocked(id string, e *groupEntry) []batch.Record {
	if e == nil || e.cg == nil {
		return []batch.Record{{Key: group.GroupKey(id)}}
	}
	var recs []batch.Record
	for _, kv := range e.cg.Tombstones() {
		recs = append(recs, batch.Record{Key: kv.Key})
	}
	return recs
}

// appendLocked appends records to group id's offsets partition and
// returns the wait for their durability, which calls done(err).
func (c *coordinator) appendLocked(id string, recs []batch.Record, now time.Time, done func(err error)) after {
	var base int64
	return c.appendWithBaseLocked(id, recs, now, &base, done)
}

// appendInternal writes one batch of records to an internal partition and
// returns the offset after it.
func appendInternal(p *partition, recs []batch.Record, now time.Time) (int64, error) {
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
	}
	buf, err := batch.Build(nil, batch.BatchSpec{PartitionLeaderEpoch: batch.NoPartitionEpoch,
		BaseTimestamp: now.UnixMilli(), ProducerID: batch.NoProducerID, ProducerEpoch: -1,
		BaseSequence: batch.NoSequence, Records: recs})
	if err != nil {
		return 0, err
	}
	if err := p.storageError(); err != nil {
		return 0, err
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !p.leading.Load() {
		return 0, kerr.NotCoordinator // the leadership moved
	}
	res, err := p.log.Append(buf, p.leaderEpoch.Load(), now.UnixMilli(), false)
	if err != nil {
		return 0, err
	}
	p.appended(res.LastOffset+1, len(buf), int64(len(recs)))
	return res.LastOffset + 1, nil
}

// whenDurable calls done once p's high watermark reaches end, or with an
// error on timeout or storage failure.
func (c *coordinator) whenDurable(p *partition, end int64, done func(err error)) {
	// A leadership that ends first leaves the write's fate to the next
	// leader: the offsets below end may then be other records.
	epoch := p.leaderEpoch.Load()
	deposed := func() bool { return !p.leading.Load() || p.leaderEpoch.Load() != epoch }
	check := func() bool { return p.hw.Load() >= end || p.storageError() != nil || deposed() }
	op := purgatory.NewOp(check, func(timedOut bool) {
		var err error
		switch {
		case p.hw.Load() >= end && !deposed():
		case p.storageError() != nil:
			err = p.storageError()
		case timedOut:
			err = kerr.RequestTimedOut
		default:
			err = kerr.NotCoordinator // the partition went away
		}
		// done takes coordinator.mu, and this completion may run inside
		// an append made under it: without flush-on-ack the high
		// watermark moves, and waiters are woken, during the append
		// itself. So done runs on its own goroutine.
		c.goAsync(func() { done(err) })
	})
	p.waiters.Watch(op)
	if !op.TryComplete() {
		c.b.timers.Add(op, c.b.opts.Now().Add(offsetsCommitTimeout))
	}
}

// scheduleLocked makes sure a timer op fires at the group's next deadline.
func (c *coordinator) scheduleLocked(id string, e *groupEntry) {
	d := e.deadline()
	if d.IsZero() || (!e.timerAt.IsZero() && !d.Before(e.timerAt)) {
		return
	}
	e.timerAt = d
	op := purgatory.NewOp(nil, func(bool) { c.fire(id, d) })
	c.b.timers.Add(op, d)
}

// fire runs a group's timer: Tick, then reschedule. Superseded ops fire
// too; Tick with nothing due does nothing.
func (c *coordinator) fire(id string, at time.Time) {
	c.mu.Lock()
	e := c.groups[id]
	if c.closed || e == nil {
		c.mu.Unlock()
		return
	}
	if e.timerAt.Equal(at) {
		e.timerAt = time.Time{}
	}
	now := c.b.opts.Now()
	post := c.effectsLocked(id, e, e.tick(now), now)
	c.mu.Unlock()
	post.run()
}

// lookupLocked returns classic group id (nil if unknown or not classic).
func (c *coordinator) lookupLocked(id string) *group.Group {
	if e := c.groups[id]; e != nil {
		return e.g
	}
	return nil
}

// applyOffsetLocked applies a durable commit unless a later record for
// the same partition was applied already.
func (c *coordinator) applyOffsetLocked(groupID string, tp group.TopicPartition, off group.Offset, pos int64) {
	m := c.offsetPos[groupID]
	if m == nil {
		m = map[group.TopicPartition]int64{}
		c.offsetPos[groupID] = m
	}
	if prev, ok := m[tp]; ok && prev > pos {
		return
	}
	m[tp] = pos
	c.offsets.Put(groupID, tp, off)
}

// deleteOffsetLocked forgets an offset (tombstone written by the caller).
func (c *coordinator) deleteOffsetLocked(groupID string, tp group.TopicPartition) {
	c.offsets.Delete(groupID, tp)
	if m := c.offsetPos[groupID]; m != nil {
		delete(m, tp)
	}
}
