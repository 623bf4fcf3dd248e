package checker

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/samsa-io/samsa/chaos/history"
)

func (c *checker) example(at pos, note string, values []int64, ops ...int64) Example {
	return Example{Topic: c.topics[at.topic], Partition: at.part, Offsets: []int64{at.off}, Values: values, Ops: known(ops...), Note: note}
}

// judgeValues judges each value: its send against its reads.
func (c *checker) judgeValues() {
	s := &c.res.Stats
	for i := range c.vals {
		v := &c.vals[i]
		if v.read {
			s.ReadValues++
		}
		if v.final {
			s.FinalReadValues++
		}
		switch v.state {
		case sentOK:
			s.Acknowledged++
			c.judgeAcked(v)
		case sentFail:
			s.Failed++
			if v.read || v.audited {
				c.add(FailedButPresent, func() Example { return c.presence(v, fmt.Sprintf("whose send failed (entry %d)", v.doneOp)) })
			}
		case sentInfo, pending:
			s.Indeterminate++
			if v.read {
				s.IndeterminateRead++
			}
		case unsent:
			c.add(UnknownValue, func() Example { return c.presence(v, "which no send carried") })
		}
		if v.dups != 0 {
			d := c.dups[v.dups-1]
			c.add(Duplicate, func() Example {
				ex := Example{Topic: c.topics[d[0].at.topic], Partition: d[0].at.part, Values: []int64{v.v}}
				var where []string
				for _, s := range d {
					ex.Offsets = append(ex.Offsets, s.at.off)
					ex.Ops = append(ex.Ops, s.op)
					where = append(where, fmt.Sprintf("%s/%d@%d (entry %d)", c.topics[s.at.topic], s.at.part, s.at.off, s.op))
				}
				ex.Note = fmt.Sprintf("value %d read at %d positions: %s", v.v, len(d), strings.Join(where, ", "))
				return ex
			})
		}
	}
}

// presence describes where a value that should not exist was found; what
// says why it should not.
func (c *checker) presence(v *value, what string) Example {
	if v.read {
		return c.example(v.readAt, fmt.Sprintf("value %d, %s, read at offset %d by entry %d", v.v, what, v.readAt.off, v.readOp),
			[]int64{v.v}, v.doneOp, v.readOp)
	}
	return Example{Topic: c.topics[v.topic], Values: []int64{v.v}, Ops: known(v.doneOp),
		Note: fmt.Sprintf("value %d, %s, held by a replica below its high watermark", v.v, what)}
}

// known drops the entries that are not (noOp).
func known(ops ...int64) []int64 {
	return slices.DeleteFunc(ops, func(op int64) bool { return op < 0 })
}

// judgeAcked judges an acknowledged send: was it lost, unseen, or read
// elsewhere than acknowledged?
func (c *checker) judgeAcked(v *value) {
	ack := v.ack
	switch {
	case c.hasFinal[ack.topic] && !v.final:
		c.add(LostWrite, func() Example {
			note := fmt.Sprintf("value %d acknowledged at offset %d (entry %d), in no final read", v.v, ack.off, v.doneOp)
			if v.read {
				note += fmt.Sprintf(", though entry %d read it", v.readOp)
			}
			return c.example(ack, note, []int64{v.v}, v.doneOp)
		})
	case !v.read && v.ackAt:
		if m, ok := c.maxRead[ack.tp]; ok && m.at.off > ack.off {
			c.add(LostWrite, func() Example {
				return c.example(ack, fmt.Sprintf("value %d acknowledged at offset %d (entry %d), never read, though entry %d read offset %d",
					v.v, ack.off, v.doneOp, m.op, m.at.off), []int64{v.v}, v.doneOp, m.op)
			})
		}
	}
	if !v.read {
		c.add(Unseen, func() Example {
			return c.example(ack, fmt.Sprintf("value %d acknowledged at offset %d (entry %d), never read", v.v, ack.off, v.doneOp),
				[]int64{v.v}, v.doneOp)
		})
	}
	if !v.ackAt {
		return
	}
	// Read, but never where it was acknowledged?
	if v.read && v.readAt != ack && !c.readThere(v, ack) {
		c.add(AckMismatch, func() Example {
			return c.example(ack, fmt.Sprintf("value %d acknowledged at %s/%d@%d (entry %d), read only elsewhere: %s/%d@%d (entry %d)",
				v.v, c.topics[ack.topic], ack.part, ack.off, v.doneOp, c.topics[v.readAt.topic], v.readAt.part, v.readAt.off, v.readOp),
				[]int64{v.v}, v.doneOp, v.readOp)
		})
		return
	}
	// Another value read at its offset?
	i, _ := c.posIndex.get(ack)
	p := &c.posns[i]
	if p.readOp != noOp && (p.readVal != v.v || p.readMany) {
		c.add(AckMismatch, func() Example {
			return c.example(ack, fmt.Sprintf("value %d acknowledged at offset %d (entry %d), another value read there", v.v, ack.off, v.doneOp),
				[]int64{v.v, p.readVal}, v.doneOp, p.readOp)
		})
	}
}

// readThere says whether v was read at position at (its other positions
// are a duplicate, not a mismatch).
func (c *checker) readThere(v *value, at pos) bool {
	if v.dups == 0 {
		return false
	}
	for _, s := range c.dups[v.dups-1] {
		if s.at == at {
			return true
		}
	}
	return false
}

// judgePositions reports every position observed with several values.
func (c *checker) judgePositions() {
	for _, cf := range c.conflicts {
		c.add(InconsistentOffset, func() Example {
			return c.example(cf.at, fmt.Sprintf("offset %d observed with %d values", cf.at.off, len(cf.values)), cf.values, cf.ops...)
		})
	}
}

// last is where a consumer process last read a partition.
type last struct {
	off, v, op int64
}

// judgePolls follows each assign-mode consumer process through its ok polls,
// partition by partition.
func (c *checker) judgePolls() {
	known := map[tp][]int64{}
	for _, at := range c.posAt {
		known[at.tp] = append(known[at.tp], at.off)
	}
	for _, offs := range known {
		slices.Sort(offs)
	}
	lastRead := map[procTP]last{}
	for _, ap := range c.assignPolls {
		op, topic := &c.ops[ap.op], ap.topic
		for _, r := range op.Records {
			k := procTP{op.Process, tp{topic, r.Partition}}
			prev, ok := lastRead[k]
			lastRead[k] = last{r.Offset, r.Value, op.Index}
			if !ok {
				continue
			}
			where := "in one poll"
			if prev.op != op.Index {
				where = fmt.Sprintf("from entry %d to entry %d", prev.op, op.Index)
			}
			if r.Offset <= prev.off {
				c.add(NonmonotonicPoll, func() Example {
					return Example{Topic: c.topics[topic], Partition: r.Partition, Offsets: []int64{prev.off, r.Offset},
						Values: []int64{prev.v, r.Value}, Ops: []int64{prev.op, op.Index},
						Note: fmt.Sprintf("process %d read offset %d after offset %d, %s", op.Process, r.Offset, prev.off, where)}
				})
				continue
			}
			offs := known[k.tp]
			j, _ := slices.BinarySearch(offs, prev.off+1)
			if j < len(offs) && offs[j] < r.Offset {
				c.add(PollSkip, func() Example {
					n := 0
					for j+n < len(offs) && offs[j+n] < r.Offset {
						n++
					}
					return Example{Topic: c.topics[topic], Partition: r.Partition, Offsets: []int64{prev.off, r.Offset},
						Values: []int64{prev.v, r.Value}, Ops: []int64{prev.op, op.Index},
						Note: fmt.Sprintf("process %d read offset %d after offset %d, %s, skipping %d known offsets from %d",
							op.Process, r.Offset, prev.off, where, n, offs[j])}
				})
			}
		}
	}
}

// held is one replica's records below its high watermark, by offset.
type held struct {
	node int32
	hw   int64
	recs []history.Record
	op   int64 // the audit entry
	next int   // where the last lookup ended: lookups mostly go up one by one
}

// at returns the value the replica holds at offset off.
func (h *held) at(off int64) (int64, bool) {
	i, ok := h.next, false
	if i < len(h.recs) && h.recs[i].Offset == off {
		ok = true
	} else {
		i, ok = slices.BinarySearchFunc(h.recs, off, func(r history.Record, o int64) int { return cmp.Compare(r.Offset, o) })
	}
	if !ok {
		return 0, false
	}
	h.next = i + 1
	return h.recs[i].Value, true
}

func (h *held) describe(off int64) string {
	if v, ok := h.at(off); ok {
		return fmt.Sprintf("node %d (hw %d) holds %d", h.node, h.hw, v)
	}
	return fmt.Sprintf("node %d (hw %d) holds nothing", h.node, h.hw)
}

// judgeAudit compares the replicas of each partition with one another and
// with what consumers read, below the high watermarks.
func (c *checker) judgeAudit() {
	if len(c.replicas) == 0 {
		return
	}
	byTP := map[tp][]*held{}
	var order []tp
	for _, r := range c.replicas {
		if _, ok := byTP[r.at]; !ok {
			order = append(order, r.at)
		}
		h := &held{node: r.node, hw: r.hw, op: r.op}
		for _, rec := range r.recs {
			if rec.Partition == r.at.part && rec.Offset < r.hw {
				h.recs = append(h.recs, rec)
				c.value(rec.Value, r.at.topic).audited = true
			}
		}
		byOffset := func(a, b history.Record) int { return cmp.Compare(a.Offset, b.Offset) }
		if !slices.IsSortedFunc(h.recs, byOffset) {
			slices.SortStableFunc(h.recs, byOffset)
		}
		// One offset twice in one replica's content: the first counts.
		h.recs = slices.CompactFunc(h.recs, func(a, b history.Record) bool { return a.Offset == b.Offset })
		byTP[r.at] = append(byTP[r.at], h)
	}
	readAt := map[tp][]int32{} // the read positions of audited partitions
	for i, at := range c.posAt {
		if _, ok := byTP[at.tp]; ok && c.posns[i].readOp != noOp {
			readAt[at.tp] = append(readAt[at.tp], int32(i))
		}
	}
	for _, t := range order {
		found := c.divergences(t, byTP[t])
		for _, i := range readAt[t] {
			p, o := &c.posns[i], c.posAt[i].off
			if _, ok := found[o]; ok {
				continue
			}
			for _, h := range byTP[t] {
				if o >= h.hw {
					continue
				}
				if v, ok := h.at(o); ok && v == p.readVal && !p.readMany {
					continue
				}
				found[o] = Example{Topic: c.topics[t.topic], Partition: t.part, Offsets: []int64{o},
					Values: []int64{p.readVal}, Ops: []int64{p.readOp, h.op}, Nodes: []int32{h.node},
					Note: fmt.Sprintf("entry %d read value %d at offset %d, but %s", p.readOp, p.readVal, o, h.describe(o))}
				break
			}
		}
		divergent := make([]int64, 0, len(found))
		for o := range found {
			divergent = append(divergent, o)
		}
		slices.Sort(divergent)
		for _, o := range divergent {
			c.add(ReplicaDivergence, func() Example { return found[o] })
		}
	}
}

// divergences walks the replicas of partition t together, offset by
// offset, and returns the offsets where two replicas below their high
// watermarks differ.
func (c *checker) divergences(t tp, reps []*held) map[int64]Example {
	found := map[int64]Example{}
	next := make([]int, len(reps)) // each replica's next record
	var below []*held
	var vals []int64
	var has []bool
	for {
		o, some := int64(0), false
		for i, h := range reps {
			if next[i] < len(h.recs) && (!some || h.recs[next[i]].Offset < o) {
				o, some = h.recs[next[i]].Offset, true
			}
		}
		if !some {
			return found
		}
		// The replicas below their high watermark at o, and what they hold.
		below, vals, has = below[:0], vals[:0], has[:0]
		for i, h := range reps {
			here := next[i] < len(h.recs) && h.recs[next[i]].Offset == o
			if o < h.hw {
				below = append(below, h)
				has = append(has, here)
				if here {
					vals = append(vals, h.recs[next[i]].Value)
				} else {
					vals = append(vals, 0)
				}
			}
			if here {
				next[i]++
			}
		}
		differ := false
		for i := 1; i < len(below); i++ {
			if has[i] != has[0] || vals[i] != vals[0] {
				differ = true
			}
		}
		if !differ {
			continue
		}
		ex := Example{Topic: c.topics[t.topic], Partition: t.part, Offsets: []int64{o}}
		var says []string
		for i, h := range below {
			ex.Nodes = append(ex.Nodes, h.node)
			ex.Ops = append(ex.Ops, h.op)
			if has[i] {
				ex.Values = append(ex.Values, vals[i])
			}
			says = append(says, h.describe(o))
		}
		ex.Note = fmt.Sprintf("replicas differ at offset %d: %s", o, strings.Join(says, ", "))
		found[o] = ex
	}
}

// judgeUnavailability measures, after each fault that started while the
// workload was sending, how long each partition took to acknowledge a send
// (see Unavailability).
func (c *checker) judgeUnavailability() {
	u := &c.res.Unavailability
	parts := make([]tp, 0, len(c.okTimes))
	for t, times := range c.okTimes {
		parts = append(parts, t)
		if !slices.IsSorted(times) {
			slices.Sort(times)
		}
	}
	slices.SortFunc(parts, func(a, b tp) int {
		return cmp.Or(strings.Compare(c.topics[a.topic], c.topics[b.topic]), cmp.Compare(a.part, b.part))
	})
	// next is the first ok send on t at or after time at.
	next := func(t tp, at int64) (int64, bool) {
		times := c.okTimes[t]
		j, _ := slices.BinarySearch(times, at)
		if j == len(times) {
			return 0, false
		}
		return times[j], true
	}
	byKind := map[string][]int64{}
	var all []int64
	leader, killAll := newMeasuring(), newMeasuring()
	// nextStart[i] is when the fault after c.faults[i] started (the
	// closing heal-all not counted), -1 if none did.
	nextStart := make([]int64, len(c.faults))
	after := int64(-1)
	for i := len(c.faults) - 1; i >= 0; i-- {
		nextStart[i] = after
		if c.faults[i].kind != healAll {
			after = c.faults[i].time
		}
	}
	for fi, f := range c.faults {
		if f.time > c.lastSend {
			continue
		}
		overlaps := func(ack int64) bool { return nextStart[fi] >= 0 && ack > nextStart[fi] }
		during := false
		for _, g := range c.faults[:fi] {
			if g.kind != healAll && (g.healed < 0 || g.healed > f.time) {
				during = true
			}
		}
		for _, t := range parts {
			if ack, ok := next(t, f.time); !ok {
				u.Unrecovered++
			} else {
				g := Gap{FaultOp: f.op, Fault: f.kind, Topic: c.topics[t.topic], Partition: t.part, Nanos: ack - f.time}
				u.Samples = append(u.Samples, g)
				all = append(all, g.Nanos)
				byKind[f.kind] = append(byKind[f.kind], g.Nanos)
			}
			switch f.kind {
			case healAll:
				continue
			case killAllKind:
				if f.healed < 0 {
					killAll.m.Unrecovered++
				} else if f.healed <= c.lastSend {
					ack, ok := next(t, f.healed)
					killAll.add(Gap{FaultOp: f.op, Fault: f.kind, Topic: c.topics[t.topic], Partition: t.part, Nanos: ack - f.healed, Overlaps: overlaps(ack), During: during}, ok, false)
				}
				continue
			}
			removes, assumed := f.removesLeader(t.part)
			if !removes {
				continue
			}
			ack, ok := next(t, f.time)
			leader.add(Gap{FaultOp: f.op, Fault: f.kind, Topic: c.topics[t.topic], Partition: t.part, Nanos: ack - f.time, Overlaps: overlaps(ack), During: during}, ok, assumed)
		}
	}
	p := percentiles(all)
	u.P50Nanos, u.P99Nanos, u.MaxNanos = p.P50Nanos, p.P99Nanos, p.MaxNanos
	for k, ns := range byKind {
		u.ByFault[k] = percentiles(ns)
	}
	u.Leader, u.KillAll = leader.done(), killAll.done()
}

// The fault kinds the unavailability figures treat apart (as the harness
// names them).
const (
	killAllKind = "kill-all"
	healAll     = "heal-all"
)

// removesLeader says whether fault f removed partition part's leader, and
// whether that is assumed for want of knowing who led.
func (f *fault) removesLeader(part int32) (removes, assumed bool) {
	if part >= 0 && int(part) < len(f.leaders) && f.leaders[part] >= 0 {
		return slices.Contains(f.targets, f.leaders[part]), false
	}
	if f.whose >= 0 && f.leaders == nil {
		return part == f.whose, false
	}
	return true, true
}

// measuring gathers one Measure.
type measuring struct {
	m      Measure
	all    []int64
	byKind map[string][]int64
}

func newMeasuring() *measuring {
	return &measuring{byKind: map[string][]int64{}}
}

// add takes sample g, or counts an unrecovered pair when !ok.
func (mg *measuring) add(g Gap, ok, assumed bool) {
	if !ok {
		mg.m.Unrecovered++
		return
	}
	if assumed {
		mg.m.Assumed++
	}
	if g.Overlaps {
		mg.m.Overlapping++
	}
	mg.m.Samples = append(mg.m.Samples, g)
	mg.all = append(mg.all, g.Nanos)
	mg.byKind[g.Fault] = append(mg.byKind[g.Fault], g.Nanos)
}

func (mg *measuring) done() Measure {
	mg.m.Percentiles = percentiles(mg.all)
	mg.m.ByFault = map[string]Percentiles{}
	for k, ns := range mg.byKind {
		mg.m.ByFault[k] = percentiles(ns)
	}
	return mg.m
}

// PercentilesOf summarizes samples ns (nearest rank), sorting them in
// place: for pooling the samples of several runs.
func PercentilesOf(ns []int64) Percentiles { return percentiles(ns) }

// percentiles of ns by nearest rank; ns is sorted in place.
func percentiles(ns []int64) Percentiles {
	if len(ns) == 0 {
		return Percentiles{}
	}
	slices.Sort(ns)
	rank := func(q float64) int64 {
		i := int(math.Ceil(q*float64(len(ns)))) - 1
		return ns[max(0, min(i, len(ns)-1))]
	}
	return Percentiles{N: len(ns), P50Nanos: rank(0.50), P99Nanos: rank(0.99), MaxNanos: ns[len(ns)-1]}
}
