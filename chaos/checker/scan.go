package checker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/chaos/history"
)

// tp is a topic (interned) and partition.
type tp struct {
	topic int32
	part  int32
}

// pos is a position in the logs.
type pos struct {
	tp
	off int64
}

const noOp = -1

// posInfo is what was observed at one position.
type posInfo struct {
	first    int64 // the first value observed (acknowledged or read)
	firstOp  int64
	readVal  int64 // the first value read there
	readOp   int64 // the entry that first read it, noOp if none did
	readMany bool  // reads there returned more than one value
	conflict int32 // 1 + index in checker.conflicts, 0 if one value only
}

// conflict is a position observed with several values.
type conflict struct {
	at     pos
	values []int64 // distinct, in the order first observed
	ops    []int64 // the entry that first observed each
}

type sendState uint8

const (
	unsent  sendState = iota // no send carried the value
	pending                  // invoked, not (yet) completed
	sentOK
	sentFail
	sentInfo
)

// value is what is known of one value: its send and its reads.
type value struct {
	v        int64
	topic    int32
	state    sendState
	final    bool // a final read returned it
	audited  bool // a replica holds it
	read     bool // some read returned it
	invokeOp int64
	doneOp   int64
	ack      pos   // where an ok send was acknowledged
	ackAt    bool  // the acknowledgement gave an offset
	readAt   pos   // where it was first read
	readOp   int64 // by which entry
	dups     int32 // 1 + index in checker.dups, 0 if read at one position only
}

// seenAt is a position a value was read at, and the first entry that did.
type seenAt struct {
	at pos
	op int64
}

// ackRef is one ok send, for the order of a process's sends.
type ackRef struct {
	off int64
	v   int64
	op  int64
}

type procTP struct {
	proc int
	tp
}

type fault struct {
	op   int64
	time int64
	kind string
	// What the entry says it acts on (nil in older histories), and the
	// partitions' leaders before it (nil if not recorded).
	targets []int32
	leaders []int32
	// whose is the partition a leader fault's detail names ("leader of
	// partition N"), -1 if none.
	whose int32
	// healed is the time of the entry that ended the fault (its heal), -1
	// if none did.
	healed int64
	detail string
}

type replica struct {
	at   tp
	node int32
	hw   int64
	recs []history.Record
	op   int64
}

type checker struct {
	ops  []history.Op
	opts Options
	res  *Result
	anom map[string]*Anomaly

	topics    []string
	topicID   map[string]int32
	soleTopic string

	vals     []value
	valIndex valIndex
	posIndex posIndex
	posns    []posInfo
	posAt    []pos // posAt[i] is the position of posns[i]

	conflicts []conflict
	dups      [][]seenAt

	lastAck     map[procTP]ackRef
	maxRead     map[tp]seenAt // the highest offset read on each partition
	hasFinal    map[int32]bool
	okTimes     map[tp][]int64
	faults      []fault
	replicas    []replica
	readCalls   map[int]readCall
	assignPolls []assignPoll
	lastSend    int64 // time of the last send invocation
	unseen      int
	unseenCur   UnseenPoint
	t0          int64
	bucket      int64
	bucketLen   int64
	havePoint   bool
}

func newChecker(ops []history.Op, opts Options) *checker {
	c := &checker{
		ops:       ops,
		opts:      opts,
		res:       &Result{Anomalies: map[string]Anomaly{}},
		anom:      map[string]*Anomaly{},
		topicID:   map[string]int32{},
		valIndex:  valIndex{sparse: map[int64]int32{}},
		posIndex:  posIndex{parts: map[tp]*offIndex{}},
		lastAck:   map[procTP]ackRef{},
		maxRead:   map[tp]seenAt{},
		hasFinal:  map[int32]bool{},
		okTimes:   map[tp][]int64{},
		readCalls: map[int]readCall{},
	}
	for _, k := range Kinds {
		c.anom[k] = &Anomaly{}
	}
	c.res.Stats.Faults = map[string]int{}
	c.res.Unavailability.ByFault = map[string]Percentiles{}
	c.res.Stats.ByF = map[string]map[string]int{}
	return c
}

// add counts one anomaly of kind k, keeping its example if there is room;
// mk builds the example only then.
func (c *checker) add(k string, mk func() Example) {
	a := c.anom[k]
	a.Count++
	if len(a.Examples) < c.opts.MaxExamples {
		a.Examples = append(a.Examples, mk())
	}
}

func (c *checker) malformed(op *history.Op, format string, args ...any) {
	a := &c.res.Malformed
	a.Count++
	if len(a.Examples) < c.opts.MaxExamples {
		ex := Example{Topic: op.Topic, Partition: op.Partition, Note: fmt.Sprintf(format, args...)}
		if op.Index >= 0 {
			ex.Ops = []int64{op.Index}
		}
		a.Examples = append(a.Examples, ex)
	}
}

func (c *checker) result() *Result {
	for k, a := range c.anom {
		c.res.Anomalies[k] = *a
	}
	return c.res
}

func (c *checker) topic(name string) int32 {
	if name == "" {
		name = c.soleTopic
	}
	if id, ok := c.topicID[name]; ok {
		return id
	}
	id := int32(len(c.topics))
	c.topics = append(c.topics, name)
	c.topicID[name] = id
	return id
}

func (c *checker) value(v int64, topic int32) *value {
	i, ok := c.valIndex.get(v)
	if !ok {
		i = int32(len(c.vals))
		c.valIndex.put(v, i)
		c.vals = append(c.vals, value{v: v, topic: topic, invokeOp: noOp, doneOp: noOp, readOp: noOp})
	}
	return &c.vals[i]
}

// observe records that position at held v, seen by entry op.
func (c *checker) observe(at pos, v, op int64, read bool) {
	i, ok := c.posIndex.get(at)
	if !ok {
		i = int32(len(c.posns))
		c.posIndex.put(at, i)
		c.posns = append(c.posns, posInfo{first: v, firstOp: op, readOp: noOp})
		c.posAt = append(c.posAt, at)
	}
	p := &c.posns[i]
	if read {
		if p.readOp == noOp {
			p.readVal, p.readOp = v, op
		} else if p.readVal != v {
			p.readMany = true
		}
	}
	if p.conflict == 0 {
		if p.first == v {
			return
		}
		c.conflicts = append(c.conflicts, conflict{at: at, values: []int64{p.first}, ops: []int64{p.firstOp}})
		p.conflict = int32(len(c.conflicts))
	}
	cf := &c.conflicts[p.conflict-1]
	for _, x := range cf.values {
		if x == v {
			return
		}
	}
	cf.values = append(cf.values, v)
	cf.ops = append(cf.ops, op)
}

// scan is the one pass over the history that gathers every observation.
func (c *checker) scan() {
	ops := c.ops
	if len(ops) == 0 {
		c.malformed(&history.Op{Index: noOp}, "the history has no entries")
		return
	}
	c.prescan()
	c.res.Stats.Ops = len(ops)
	c.t0 = ops[0].Time
	// Times should not go backwards, but a bad history must not crash us.
	c.res.Stats.DurationNanos = max(0, ops[len(ops)-1].Time-c.t0)
	c.bucketLen = max(1, c.res.Stats.DurationNanos/1000+1)
	var byF [5][4]int
	for i := range ops {
		op := &ops[i]
		byF[fIndex(op.F)][typeIndex(op.Type)]++
		switch op.F {
		case history.Send:
			c.send(op)
		case history.Poll, history.FinalRead:
			c.read(i, op)
		case history.Fault:
			if op.Type == history.Invoke {
				kind := op.Fault
				if kind == "" {
					kind = "unnamed"
				}
				c.faults = append(c.faults, fault{op: op.Index, time: op.Time, kind: kind,
					targets: op.Targets, leaders: op.Leaders, whose: whoseLeader(op.Detail), healed: -1, detail: op.Detail})
				c.res.Stats.Faults[kind]++
			} else if f := c.healedBy(op); f != nil {
				f.healed = op.Time
			}
		case history.Audit:
			switch op.Type {
			case history.OK:
				c.replicas = append(c.replicas, replica{
					at: tp{c.topic(op.Topic), op.Partition}, node: op.Node, hw: op.Offset, recs: op.Records, op: op.Index,
				})
			case history.Fail, history.Info:
				c.res.Stats.AuditsFailed++
			}
		}
		c.unseenAt(op.Time)
	}
	c.unseenFlush()
	c.res.Unseen.Final = c.unseen
	c.res.Stats.Replicas = len(c.replicas)
	for fi, f := range []history.F{history.Send, history.Poll, history.FinalRead, history.Fault, history.Audit} {
		for ti, t := range []history.Type{history.Invoke, history.OK, history.Fail, history.Info} {
			if n := byF[fi][ti]; n > 0 {
				if c.res.Stats.ByF[string(f)] == nil {
					c.res.Stats.ByF[string(f)] = map[string]int{}
				}
				c.res.Stats.ByF[string(f)][string(t)] = n
			}
		}
	}
}

// prescan sets the topic of entries that name none, when the history
// names exactly one, and sizes the value index.
func (c *checker) prescan() {
	sole, many := "", false
	vmin, vmax, sends := int64(0), int64(0), int64(0)
	for i := range c.ops {
		op := &c.ops[i]
		if op.F == history.Send && op.Type == history.Invoke {
			if sends == 0 || op.Value < vmin {
				vmin = op.Value
			}
			if sends == 0 || op.Value > vmax {
				vmax = op.Value
			}
			sends++
		}
		t := op.Topic
		if t == "" || t == sole || many {
			continue
		}
		if sole != "" {
			many = true
			continue
		}
		sole = t
	}
	if !many {
		c.soleTopic = sole
	}
	// Values are usually a counter: then a slice indexes them.
	if sends > 0 && vmax-vmin >= 0 && vmax-vmin < 4*sends+1024 {
		c.valIndex.base = vmin
		c.valIndex.dense = make([]int32, vmax-vmin+1)
	}
}

// valIndex maps values to their slot in checker.vals: through a slice over
// the range of the values sent when they are dense enough, else (and for
// values outside that range) through a map.
type valIndex struct {
	base   int64
	dense  []int32 // 1 + slot, 0 if none
	sparse map[int64]int32
}

func (x *valIndex) get(v int64) (int32, bool) {
	if d := uint64(v - x.base); d < uint64(len(x.dense)) && v >= x.base {
		i := x.dense[d]
		return i - 1, i != 0
	}
	i, ok := x.sparse[v]
	return i, ok
}

func (x *valIndex) put(v int64, i int32) {
	if d := uint64(v - x.base); d < uint64(len(x.dense)) && v >= x.base {
		x.dense[d] = i + 1
		return
	}
	x.sparse[v] = i
}

// posIndex maps positions to their slot in checker.posns, partition by
// partition (remembering the last partition: records come in runs of one).
type posIndex struct {
	parts  map[tp]*offIndex
	lastTP tp
	last   *offIndex
}

// offIndex maps one partition's offsets to slots: through a slice while
// offsets stay dense from 0, through a map for the others.
type offIndex struct {
	dense  []int32 // 1 + slot, 0 if none
	sparse map[int64]int32
	n      int64 // positions held: dense grows only while offsets stay near n
}

func (x *posIndex) part(t tp, create bool) *offIndex {
	if x.last != nil && x.lastTP == t {
		return x.last
	}
	p := x.parts[t]
	if p == nil {
		if !create {
			return nil
		}
		p = &offIndex{sparse: map[int64]int32{}}
		x.parts[t] = p
	}
	x.lastTP, x.last = t, p
	return p
}

func (x *posIndex) get(at pos) (int32, bool) {
	p := x.part(at.tp, false)
	if p == nil {
		return 0, false
	}
	if at.off >= 0 && at.off < int64(len(p.dense)) {
		if i := p.dense[at.off]; i != 0 || len(p.sparse) == 0 {
			return i - 1, i != 0
		}
	}
	i, ok := p.sparse[at.off]
	return i, ok
}

func (x *posIndex) put(at pos, i int32) {
	p := x.part(at.tp, true)
	p.n++
	if at.off >= 0 && at.off >= int64(len(p.dense)) && at.off < 2*p.n+1024 {
		p.dense = slices.Grow(p.dense, int(at.off)+1-len(p.dense))
		p.dense = p.dense[:cap(p.dense)]
	}
	if at.off >= 0 && at.off < int64(len(p.dense)) {
		p.dense[at.off] = i + 1
		return
	}
	p.sparse[at.off] = i
}

func fIndex(f history.F) int {
	switch f {
	case history.Send:
		return 0
	case history.Poll:
		return 1
	case history.FinalRead:
		return 2
	case history.Fault:
		return 3
	}
	return 4
}

func typeIndex(t history.Type) int {
	switch t {
	case history.Invoke:
		return 0
	case history.OK:
		return 1
	case history.Fail:
		return 2
	}
	return 3
}

func (c *checker) send(op *history.Op) {
	if op.Type == history.Invoke {
		c.lastSend = op.Time
		v := c.value(op.Value, c.topic(op.Topic))
		if v.state != unsent {
			c.malformed(op, "value %d sent again (first by entry %d)", op.Value, v.invokeOp)
			return
		}
		v.state, v.invokeOp, v.topic = pending, op.Index, c.topic(op.Topic)
		return
	}
	i, ok := c.valIndex.get(op.Value)
	if !ok || c.vals[i].state == unsent {
		c.malformed(op, "send of value %d completed without an invocation", op.Value)
		return
	}
	v := &c.vals[i]
	if v.state != pending {
		c.malformed(op, "send of value %d completed twice (first by entry %d)", op.Value, v.doneOp)
		return
	}
	v.doneOp = op.Index
	switch op.Type {
	case history.Fail:
		v.state = sentFail
	case history.Info:
		v.state = sentInfo
	case history.OK:
		v.state = sentOK
		topic := v.topic
		if op.Topic != "" {
			topic = c.topic(op.Topic)
		}
		at := pos{tp{topic, op.Partition}, op.Offset}
		v.ack = at
		c.okTimes[at.tp] = append(c.okTimes[at.tp], op.Time)
		if !v.read {
			c.unseen++
		}
		if op.Offset >= 0 { // else the client did not learn the offset
			v.ackAt = true
			c.observe(at, op.Value, op.Index, false)
			c.checkOrder(op, at)
		}
	}
}

// checkOrder compares an ok send with the process's previous ok send to the
// same partition: its offset must be higher.
func (c *checker) checkOrder(op *history.Op, at pos) {
	k := procTP{op.Process, at.tp}
	prev, ok := c.lastAck[k]
	c.lastAck[k] = ackRef{off: at.off, v: op.Value, op: op.Index}
	if !ok || at.off > prev.off {
		return
	}
	c.add(Reorder, func() Example {
		return Example{
			Topic: c.topics[at.topic], Partition: at.part,
			Offsets: []int64{prev.off, at.off}, Values: []int64{prev.v, op.Value}, Ops: []int64{prev.op, op.Index},
			Note: fmt.Sprintf("process %d: value %d acknowledged at offset %d after its value %d at offset %d",
				op.Process, op.Value, at.off, prev.v, prev.off),
		}
	})
}

// readCall is what a read's invocation said, for a completion that does
// not repeat it.
type readCall struct {
	topic string
	mode  history.Mode
}

// assignPoll is an ok assign-mode poll, for judgePolls.
type assignPoll struct {
	op    int
	topic int32
}

func (c *checker) read(i int, op *history.Op) {
	if op.Type == history.Invoke {
		c.readCalls[op.Process] = readCall{op.Topic, op.Mode}
		return
	}
	name, mode := op.Topic, op.Mode
	if call, ok := c.readCalls[op.Process]; ok {
		if name == "" {
			name = call.topic
		}
		if mode == "" {
			mode = call.mode
		}
	}
	topic := c.topic(name)
	final := op.F == history.FinalRead
	if final {
		if op.Type == history.OK {
			c.hasFinal[topic] = true
		} else {
			c.res.Stats.FinalReadsFailed++
		}
	}
	if len(op.Records) == 0 {
		return
	}
	if op.F == history.Poll && op.Type == history.OK && mode == history.Assign {
		c.assignPolls = append(c.assignPolls, assignPoll{i, topic})
	}
	// Polls that did not complete ok still returned what they returned:
	// a log must never show anything it does not hold.
	for _, r := range op.Records {
		c.res.Stats.RecordsRead++
		at := pos{tp{topic, r.Partition}, r.Offset}
		c.observe(at, r.Value, op.Index, true)
		v := c.value(r.Value, topic)
		if final {
			v.final = true
		}
		if !v.read {
			v.read, v.readAt, v.readOp = true, at, op.Index
			if v.state == sentOK {
				c.unseen--
			}
		} else if v.readAt != at {
			c.readAgain(v, at, op.Index)
		}
		if m, ok := c.maxRead[at.tp]; !ok || at.off > m.at.off {
			c.maxRead[at.tp] = seenAt{at, op.Index}
		}
	}
}

// readAgain records that v was read at a position other than its first.
func (c *checker) readAgain(v *value, at pos, op int64) {
	if v.dups == 0 {
		c.dups = append(c.dups, []seenAt{{v.readAt, v.readOp}})
		v.dups = int32(len(c.dups))
	}
	d := &c.dups[v.dups-1]
	for _, s := range *d {
		if s.at == at {
			return
		}
	}
	*d = append(*d, seenAt{at, op})
}

// unseenAt records the unseen count as of time t, keeping about a thousand
// points over the run: the last state of each time bucket.
func (c *checker) unseenAt(t int64) {
	b := (t - c.t0) / c.bucketLen
	if b != c.bucket {
		c.unseenFlush()
		c.bucket = b
	}
	c.unseenCur = UnseenPoint{Nanos: t, Count: c.unseen}
	c.havePoint = true
}

func (c *checker) unseenFlush() {
	if c.havePoint {
		c.res.Unseen.Points = append(c.res.Unseen.Points, c.unseenCur)
	}
}

// whoseLeader reads the partition a leader fault's detail names, as the
// harness writes it ("... (leader of partition 2)"), or -1.
func whoseLeader(detail string) int32 {
	const mark = "(leader of partition "
	i := strings.Index(detail, mark)
	if i < 0 {
		return -1
	}
	rest := detail[i+len(mark):]
	j := strings.IndexByte(rest, ')')
	if j <= 0 {
		return -1
	}
	n, err := strconv.ParseInt(rest[:j], 10, 32)
	if err != nil || n < 0 {
		return -1
	}
	return int32(n)
}

// healedBy is the fault a completion entry ends: two faults may be active
// at once, so it is the latest one not yet healed of the entry's kind
// whose detail the entry's starts with (a heal appends what it did),
// else the latest unhealed one of its kind, else (a completion that
// names no kind) the latest unhealed one.
func (c *checker) healedBy(op *history.Op) *fault {
	var kindOnly *fault
	for i := len(c.faults) - 1; i >= 0; i-- {
		f := &c.faults[i]
		if f.healed >= 0 || (op.Fault != "" && op.Fault != f.kind) {
			continue
		}
		if op.Fault == "" || strings.HasPrefix(op.Detail, f.detail) {
			return f
		}
		if kindOnly == nil {
			kindOnly = f
		}
	}
	return kindOnly
}
