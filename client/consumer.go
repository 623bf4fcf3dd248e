package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"sync"
	"time"
)

// The consumer (consumer*.go, group*.go, assign*.go, offsets*.go).
//
//	Poll(ctx) ◀── buf: ≤ maxBufferedSlices slices per partition ◀─┐
//	                                                             │
//	run(): starts a fetch loop per leader broker ──▶ fetchLoop(broker n):
//	       (on assignment, seek, resume, poll and       ListOffsets for
//	       metadata changes)                            unresolved starts, then
//	                                                    Fetch (full, no session)
//	group mode: the membership core (group.go) runs a protocol (classic:
//	Join/Sync/Heartbeat; or KIP-848 ConsumerGroupHeartbeat) and calls
//	Assign/Unassign; commits go straight to the coordinator.
//
// A partition keeps up to maxBufferedSlices fetched slices waiting for Poll:
// the next fetch goes out while the application works through the last
// one (without it, the broker and the application took turns). Two
// positions follow: ps.fetchAt, where the next fetch starts (after the
// last buffered slice), and ps.offset, the consumed position (after the
// last polled record), which commits and Position use. Seek, unassign and
// re-assign bump ps.seq and set both; a fetch or a buffered slice carrying
// an older seq is dropped, which is how a stale in-flight response can
// never move a position that was set later.
//
// Lock order: membership.commitMu → Consumer.mu → Client.mu /
// Client.metaMu; membership.commitMu → membership.mu. membership.mu is
// never held while calling into the Consumer; commitMu is the only lock
// held across a request (a commit), and none across a user callback.

// Consumer reads records from assigned partitions or as a member of a
// consumer group. It is safe for concurrent use, but Poll is meant to be
// called from one goroutine.
type Consumer struct {
	cfg     consumerConfig
	cl      *Client
	ownsCl  bool
	stop    chan struct{}
	wg      sync.WaitGroup
	grp     *membership // nil in assign mode
	closing sync.Once

	// mu guards the following.
	mu      sync.Mutex
	parts   map[TopicPartition]*partState
	loops   map[int32]bool // broker ids with a running fetch loop
	buf     []*fetchedPart
	changed chan struct{} // closed and replaced when fetchable state changes
	ready   chan struct{} // cap 1: buf gained an entry
	closed  bool
	// polled is the position of every partition as of the start of the
	// latest Poll: what auto-commit commits (records the caller finished).
	polled map[TopicPartition]int64
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s[%d]", tp.Topic, tp.Partition) }

// partState is one assigned partition. Consumer.mu guards it.
type partState struct {
	tp       TopicPartition
	seq      uint64  // bumped on seek, assign and unassign
	offset   int64   // the consumed position (after the last polled record); -1 until resolved
	fetchAt  int64   // where the next fetch starts: offset, or after the last buffered slice
	pending  *Offset // a start still to resolve with ListOffsets
	paused   bool
	nbuf     int       // slices of this partition waiting in buf (at most maxBufferedSlices)
	inflight bool      // in a Fetch or ListOffsets right now
	retryAt  time.Time // back off after an error until then
	// errHeld: an error of this partition waits in buf; it is not fetched
	// again until Poll delivered it (one error per partition per Poll).
	errHeld bool
}

// Offset is where to start consuming a partition: AtStart, AtEnd,
// AtTimestamp or AtOffset.
type Offset struct {
	kind offsetKind
	at   int64
}

type offsetKind int8

const (
	offsetExact offsetKind = iota
	offsetStart
	offsetEnd
	offsetTime
	offsetNone // no reset: report OFFSET_OUT_OF_RANGE
)

// AtStart is the earliest offset still in the log.
func AtStart() Offset { return Offset{kind: offsetStart, at: -2} }

// AtEnd is the offset the next produced record gets (the high watermark).
func AtEnd() Offset { return Offset{kind: offsetEnd, at: -1} }

// AtOffset is an exact offset.
func AtOffset(o int64) Offset { return Offset{kind: offsetExact, at: o} }

// AtTimestamp is the first record whose timestamp is at or after t (AtEnd
// if there is none).
func AtTimestamp(t time.Time) Offset { return Offset{kind: offsetTime, at: t.UnixMilli()} }

// NoReset, as a ResetOffset, makes an out-of-range position an error
// returned by Poll instead of a jump (auto.offset.reset=none).
func NoReset() Offset { return Offset{kind: offsetNone} }

func (o Offset) String() string {
	switch o.kind {
	case offsetStart:
		return "start"
	case offsetEnd:
		return "end"
	case offsetTime:
		return "time " + time.UnixMilli(o.at).UTC().Format(time.RFC3339Nano)
	case offsetNone:
		return "none"
	}
	return fmt.Sprint(o.at)
}

// FetchPartition is what one Poll returns for one partition: records in
// offset order, or an error. A group failure that retrying does not fix
// (e.g. GROUP_AUTHORIZATION_FAILED, UNSUPPORTED_VERSION) comes as
// Partition -1 with Topic set to the group; the consumer keeps retrying.
type FetchPartition struct {
	Topic         string
	Partition     int32
	Records       []*Record
	HighWatermark int64 // -1 if unknown
	Err           error
}

// Fetches is the result of a Poll.
type Fetches []FetchPartition

// Records returns every record, partition by partition.
func (fs Fetches) Records() []*Record {
	var n int
	for i := range fs {
		n += len(fs[i].Records)
	}
	out := make([]*Record, 0, n)
	for i := range fs {
		out = append(out, fs[i].Records...)
	}
	return out
}

// Errors returns the partitions that carry an error.
func (fs Fetches) Errors() []FetchPartition {
	var out []FetchPartition
	for _, f := range fs {
		if f.Err != nil {
			out = append(out, f)
		}
	}
	return out
}

// Err joins the partitions' errors (nil if none).
func (fs Fetches) Err() error {
	var errs []error
	for _, f := range fs {
		if f.Err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", f.Topic, f.Partition, f.Err))
		}
	}
	return errors.Join(errs...)
}

// fetchedPart is one partition's decoded slice waiting for Poll.
type fetchedPart struct {
	tp   TopicPartition
	seq  uint64
	recs []*Record
	next int64 // position after these records
	hwm  int64
	err  error
}

// NewConsumer creates a consumer. It takes client options (SeedBrokers,
// Dialer, ...) and consumer options (ConsumeTopics, ConsumePartitions,
// ConsumerGroup, ...). With ConsumerGroup it joins the group; otherwise it
// reads the partitions given by ConsumePartitions and the whole of the
// topics given by ConsumeTopics.
func NewConsumer(opts ...ConsumerOpt) (*Consumer, error) {
	cfg := defaultConsumerConfig()
	for _, o := range opts {
		o.applyConsumer(&cfg)
	}
	if err := cfg.client.validate(); err != nil {
		return nil, err
	}
	cl := newClient(cfg.client)
	c, err := newConsumer(cl, cfg)
	if err != nil {
		cl.Close()
		return nil, err
	}
	c.ownsCl = true
	return c, nil
}

// NewConsumerFromClient creates a consumer on an existing client (which it
// does not close). Client options among opts are ignored.
func NewConsumerFromClient(cl *Client, opts ...ConsumerOpt) (*Consumer, error) {
	cfg := defaultConsumerConfig()
	cfg.client = cl.cfg
	for _, o := range opts {
		if _, isClientOpt := o.(Option); isClientOpt {
			continue
		}
		o.applyConsumer(&cfg)
	}
	return newConsumer(cl, cfg)
}

func newConsumer(cl *Client, cfg consumerConfig) (*Consumer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg: cfg, cl: cl,
		stop:    make(chan struct{}),
		parts:   make(map[TopicPartition]*partState),
		loops:   make(map[int32]bool),
		changed: make(chan struct{}),
		ready:   make(chan struct{}, 1),
		polled:  make(map[TopicPartition]int64),
	}
	if cfg.group == "" {
		c.assignStatic()
	} else {
		cl.AddTopics(cfg.topics...)
		if cfg.protocol == GroupProtocolConsumer {
			c.grp = newGroup848(c)
		} else {
			c.grp = newClassicGroup(c)
		}
	}
	c.wg.Add(1)
	go c.run()
	if c.grp != nil {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.grp.run()
		}()
	}
	return c, nil
}

// assignStatic assigns ConsumePartitions and, once metadata names their
// partitions, every partition of ConsumeTopics.
func (c *Consumer) assignStatic() {
	var topics []string
	for t := range c.cfg.partitions {
		topics = append(topics, t)
	}
	c.cl.AddTopics(append(topics, c.cfg.topics...)...)
	assign := make(map[TopicPartition]Offset)
	for t, ps := range c.cfg.partitions {
		for p, o := range ps {
			assign[TopicPartition{t, p}] = o
		}
	}
	c.Assign(assign)
	if len(c.cfg.topics) > 0 {
		c.wg.Add(1)
		go c.watchTopics()
	}
}

// watchTopics adds the partitions of ConsumeTopics as metadata reveals
// them (also partitions added later).
func (c *Consumer) watchTopics() {
	defer c.wg.Done()
	for {
		meta, changed := c.cl.metadataWait()
		add := make(map[TopicPartition]Offset)
		missing := false
		c.mu.Lock()
		for _, t := range c.cfg.topics {
			tm := meta.Topics[t]
			if tm == nil || tm.Err != nil {
				missing = true
				continue
			}
			for p := range tm.Partitions {
				tp := TopicPartition{t, int32(p)}
				if _, ok := c.parts[tp]; !ok {
					add[tp] = c.cfg.startOffset
				}
			}
		}
		c.mu.Unlock()
		if len(add) > 0 {
			c.Assign(add)
		}
		wait := c.cfg.client.metadataMaxAge
		if missing { // a topic not created yet: look again soon
			c.cl.TriggerMetadataRefresh()
			wait = time.Second
		}
		select {
		case <-c.stop:
			return
		case <-changed:
		case <-time.After(wait):
		}
	}
}

// Assign adds partitions (or restarts them at the given offsets). In group
// mode the group owns the assignment; use Seek instead.
func (c *Consumer) Assign(parts map[TopicPartition]Offset) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.assignLocked(parts)
}

func (c *Consumer) assignLocked(parts map[TopicPartition]Offset) {
	var topics []string
	for tp, o := range parts {
		ps := c.parts[tp]
		if ps == nil {
			ps = &partState{tp: tp, offset: -1, fetchAt: -1}
			c.parts[tp] = ps
			topics = append(topics, tp.Topic)
		}
		c.setOffsetLocked(ps, o)
	}
	if len(topics) > 0 {
		c.cl.AddTopics(topics...)
	}
	c.changedLocked()
}

// Unassign removes partitions; their buffered records are dropped.
func (c *Consumer) Unassign(tps ...TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unassignLocked(tps)
}

// revokeParts unassigns tps and returns their positions, in one step so
// that no Poll can return records of theirs that the positions miss.
func (c *Consumer) revokeParts(tps []TopicPartition) map[TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos := map[TopicPartition]int64{}
	for _, tp := range tps {
		if ps := c.parts[tp]; ps != nil && ps.offset >= 0 {
			pos[tp] = ps.offset
		}
	}
	c.unassignLocked(tps)
	return pos
}

func (c *Consumer) unassignLocked(tps []TopicPartition) {
	for _, tp := range tps {
		delete(c.parts, tp)
		delete(c.polled, tp)
	}
	c.changedLocked()
}

func (c *Consumer) setOffsetLocked(ps *partState, o Offset) {
	ps.seq++
	ps.nbuf = 0
	ps.retryAt = time.Time{}
	ps.errHeld = false
	if o.kind == offsetExact && o.at >= 0 {
		ps.offset, ps.fetchAt, ps.pending = o.at, o.at, nil
		return
	}
	if o.kind == offsetExact || o.kind == offsetNone { // negative exact: the reset policy
		o = c.cfg.resetOffset
		if o.kind == offsetNone {
			o = AtStart()
		}
	}
	ps.offset, ps.fetchAt, ps.pending = -1, -1, &o
}

// Seek moves partitions to new start offsets; records of the old position
// that were fetched and not yet polled are dropped.
func (c *Consumer) Seek(parts map[TopicPartition]Offset) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for tp, o := range parts {
		if ps := c.parts[tp]; ps != nil {
			c.setOffsetLocked(ps, o)
		}
	}
	c.changedLocked()
}

// Pause stops fetching partitions and returning their records from Poll
// (what was fetched is held) until Resume. In group mode the partitions stay
// assigned.
func (c *Consumer) Pause(tps ...TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		if ps := c.parts[tp]; ps != nil {
			ps.paused = true
		}
	}
}

// Resume undoes Pause.
func (c *Consumer) Resume(tps ...TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		if ps := c.parts[tp]; ps != nil {
			ps.paused = false
		}
	}
	c.changedLocked()
	select { // held slices may be ready
	case c.ready <- struct{}{}:
	default:
	}
}

// Assignment returns the assigned partitions, sorted.
func (c *Consumer) Assignment() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TopicPartition, 0, len(c.parts))
	for tp := range c.parts {
		out = append(out, tp)
	}
	sortTPs(out)
	return out
}

// Position returns the offset after the last record Poll returned for tp
// (-1 if not yet known, false if not assigned).
func (c *Consumer) Position(tp TopicPartition) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.parts[tp]
	if ps == nil {
		return 0, false
	}
	return ps.offset, true
}

func sortTPs(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// changedLocked wakes the fetch loops and the supervisor.
func (c *Consumer) changedLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Poll waits until records (or partition errors) are available, ctx ends
// or the consumer is closed (ErrClosed), and returns every partition's
// buffered slice. Calling Poll also tells auto-commit that the records of
// the previous Poll are done.
func (c *Consumer) Poll(ctx context.Context) (Fetches, error) {
	c.mu.Lock()
	for tp, ps := range c.parts {
		if ps.offset >= 0 {
			c.polled[tp] = ps.offset
		}
	}
	c.mu.Unlock()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		fs := c.takeLocked()
		c.mu.Unlock()
		if len(fs) > 0 {
			return fs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.stop:
			return nil, ErrClosed
		case <-c.ready:
		}
	}
}

// takeLocked drains buf, dropping stale slices and advancing positions.
func (c *Consumer) takeLocked() Fetches {
	if len(c.buf) == 0 {
		return nil
	}
	var fs Fetches
	held := c.buf[:0]
	for _, f := range c.buf {
		if f.tp.Partition < 0 { // a group error
			fs = append(fs, FetchPartition{Topic: f.tp.Topic, Partition: -1, HighWatermark: -1, Err: f.err})
			continue
		}
		ps := c.parts[f.tp]
		if ps == nil || ps.seq != f.seq {
			continue
		}
		if ps.paused {
			held = append(held, f)
			continue
		}
		ps.nbuf = max(ps.nbuf-1, 0)
		if f.err != nil {
			ps.errHeld = false
		}
		if f.err == nil {
			ps.offset = f.next
			if ps.nbuf == 0 {
				ps.offset = ps.fetchAt // also past control batches read since
			}
		}
		if n := len(fs) - 1; n >= 0 && f.err == nil && fs[n].Err == nil && fs[n].Topic == f.tp.Topic && fs[n].Partition == f.tp.Partition {
			// The partition's next slice: one FetchPartition per partition.
			fs[n].Records = append(fs[n].Records, f.recs...)
			fs[n].HighWatermark = f.hwm
			continue
		}
		fs = append(fs, FetchPartition{Topic: f.tp.Topic, Partition: f.tp.Partition, Records: f.recs, HighWatermark: f.hwm, Err: f.err})
	}
	clear(c.buf[len(held):])
	c.buf = held
	c.changedLocked()
	return fs
}

// Records iterates over records until ctx ends or the consumer closes; a
// partition error is yielded as (nil, err) and iteration goes on unless
// the loop breaks. The end of ctx or Close ends the iteration silently.
func (c *Consumer) Records(ctx context.Context) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		for {
			fs, err := c.Poll(ctx)
			if err != nil {
				return
			}
			for _, f := range fs {
				if f.Err != nil && !yield(nil, fmt.Errorf("%s[%d]: %w", f.Topic, f.Partition, f.Err)) {
					return
				}
				for _, r := range f.Records {
					if !yield(r, nil) {
						return
					}
				}
			}
		}
	}
}

// Close leaves the group (committing first if auto-commit is on), stops
// every goroutine and closes the client if the consumer created it.
func (c *Consumer) Close(ctx context.Context) error {
	var err error
	c.closing.Do(func() {
		if c.grp != nil {
			err = c.grp.leave(ctx)
		}
		c.shutdown()
	})
	return err
}

// CloseWithoutLeaving stops the consumer as a crash would: no commit, no
// LeaveGroup; the coordinator notices when the session times out.
func (c *Consumer) CloseWithoutLeaving() {
	c.closing.Do(c.shutdown)
}

func (c *Consumer) shutdown() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()
	if c.ownsCl {
		c.cl.Close()
	}
}

// Client returns the consumer's client.
func (c *Consumer) Client() *Client { return c.cl }

// run starts a fetch loop for each broker that leads an assigned partition,
// whenever the assignment or metadata changes.
func (c *Consumer) run() {
	defer c.wg.Done()
	for {
		meta, metaChanged := c.cl.metadataWait()
		c.mu.Lock()
		changed := c.changed
		missing := false
		for tp := range c.parts {
			leader := leaderOf(meta, tp)
			if leader < 0 {
				missing = true
				continue
			}
			if !c.loops[leader] {
				c.loops[leader] = true
				c.wg.Add(1)
				go c.fetchLoop(leader)
			}
		}
		c.mu.Unlock()
		if missing {
			c.cl.TriggerMetadataRefresh()
		}
		select {
		case <-c.stop:
			return
		case <-changed:
		case <-metaChanged:
		case <-time.After(time.Second):
		}
	}
}

// leaderOf returns tp's leader in meta, -1 if unknown.
func leaderOf(meta *Metadata, tp TopicPartition) int32 {
	tm := meta.Topics[tp.Topic]
	if tm == nil || tm.Err != nil || int(tp.Partition) >= len(tm.Partitions) || tp.Partition < 0 {
		return -1
	}
	pm := tm.Partitions[tp.Partition]
	if pm.Err != nil && !errors.Is(pm.Err, ErrReplicaNotAvailable) {
		return -1
	}
	return pm.Leader
}

// pushGroupErr makes a group failure that retrying will not fix by itself
// (authorization, unsupported protocol, bad group id) visible to Poll, as
// a FetchPartition with partition -1; at most one is waiting at a time.
func (c *Consumer) pushGroupErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.buf {
		if f.tp.Partition < 0 {
			return
		}
	}
	c.pushLocked(&fetchedPart{tp: TopicPartition{c.cfg.group, -1}, err: fmt.Errorf("group %s: %w", c.cfg.group, err), hwm: -1})
}

// push buffers a fetched slice for Poll.
func (c *Consumer) pushLocked(f *fetchedPart) {
	c.buf = append(c.buf, f)
	select {
	case c.ready <- struct{}{}:
	default:
	}
}
