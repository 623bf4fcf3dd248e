package checker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/samsa-io/samsa/chaos/history"
)

// simulate writes the history of a correct log under a random workload:
// producers send one value at a time (each send ok, info and written, info
// and not written, or fail; the write lands at the invocation or at the
// completion), consumers poll by assign (in order from offset 0) or by
// subscribe (rewound now and then, as a rebalance does), the nemesis starts
// and heals faults; then final reads of every partition and an audit of
// three replicas each, some behind. About steps entries before the end.
func simulate(r *rand.Rand, steps int) []history.Op {
	return simulateShape(r, steps, 1+r.IntN(2), 1+r.IntN(4))
}

// simulateShape is simulate with nTopics topics of nParts partitions.
func simulateShape(r *rand.Rand, steps, nTopics, nParts int) []history.Op {
	s := &sim{r: r}
	for t := 0; t < nTopics; t++ {
		s.logs = append(s.logs, make([][]int64, nParts))
	}
	nProd, nCons := 1+r.IntN(5), 1+r.IntN(4)
	for i := 0; i < nProd; i++ {
		s.procs = append(s.procs, &proc{id: i})
	}
	for i := 0; i < nCons; i++ {
		c := &proc{id: 100 + i, consumer: true, topic: r.IntN(nTopics), pos: make([]int64, nParts)}
		if r.IntN(2) == 0 {
			c.mode = history.Assign
			for p := 0; p < nParts; p++ {
				if r.IntN(3) > 0 || p == 0 {
					c.parts = append(c.parts, p)
				}
			}
		} else {
			c.mode = history.Subscribe
			for p := 0; p < nParts; p++ {
				c.parts = append(c.parts, p)
			}
		}
		s.procs = append(s.procs, c)
	}
	faulted := false
	for len(s.ops) < steps {
		if r.IntN(50) == 0 {
			if faulted {
				s.add(history.Op{Process: history.Nemesis, Type: history.OK, F: history.Fault})
			} else {
				kinds := []string{"partition-halves", "kill", "pause", "isolate-leader"}
				s.add(history.Op{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: kinds[r.IntN(len(kinds))]})
			}
			faulted = !faulted
			continue
		}
		s.step(s.procs[r.IntN(len(s.procs))])
	}
	for _, p := range s.procs {
		if p.busy && (p.consumer || r.IntN(5) > 0) { // a few sends never complete
			s.step(p)
		}
	}
	if faulted {
		s.add(history.Op{Process: history.Nemesis, Type: history.OK, F: history.Fault})
	}
	for t, parts := range s.logs {
		for p, log := range parts {
			s.add(history.Op{Process: 1000, Type: history.Invoke, F: history.FinalRead, Topic: topicName(t), Partition: int32(p)})
			s.add(history.Op{Process: 1000, Type: history.OK, F: history.FinalRead, Topic: topicName(t), Partition: int32(p), Records: records(p, log, 0, len(log))})
		}
	}
	for t, parts := range s.logs {
		for p, log := range parts {
			for node := int32(1); node <= 3; node++ {
				hw := max(0, len(log)-r.IntN(3))
				held := min(len(log), hw+r.IntN(2)) // a replica may hold more than its high watermark
				s.add(history.Op{Process: history.Nemesis, Type: history.OK, F: history.Audit, Topic: topicName(t), Partition: int32(p),
					Node: node, Offset: int64(hw), Records: records(p, log, 0, held)})
			}
		}
	}
	return s.ops
}

func topicName(t int) string { return fmt.Sprintf("topic-%d", t) }

func records(p int, log []int64, from, to int) []history.Record {
	var rs []history.Record
	for o := from; o < to; o++ {
		rs = append(rs, history.Record{Partition: int32(p), Offset: int64(o), Value: log[o]})
	}
	return rs
}

type sim struct {
	r     *rand.Rand
	ops   []history.Op
	t     int64
	logs  [][][]int64 // topic, partition → values
	procs []*proc
	next  int64
}

type proc struct {
	id       int
	consumer bool
	busy     bool

	// a producer's send in flight
	topic, part int
	value       int64
	outcome     history.Type
	write       bool // the send lands in the log
	written     bool
	off         int64

	// a consumer
	mode  history.Mode
	parts []int
	pos   []int64
}

func (s *sim) add(op history.Op) {
	op.Index = int64(len(s.ops))
	s.t += 1 + s.r.Int64N(2000)
	op.Time = s.t
	s.ops = append(s.ops, op)
}

func (s *sim) append(p *proc) {
	log := &s.logs[p.topic][p.part]
	p.off = int64(len(*log))
	*log = append(*log, p.value)
	p.written = true
}

func (s *sim) step(p *proc) {
	r := s.r
	if p.consumer {
		s.poll(p)
		return
	}
	if !p.busy {
		p.busy = true
		p.topic, p.part = r.IntN(len(s.logs)), r.IntN(len(s.logs[0]))
		s.next += 1 + r.Int64N(3)
		p.value, p.written = s.next, false
		switch n := r.IntN(10); {
		case n < 6:
			p.outcome, p.write = history.OK, true
		case n < 7:
			p.outcome, p.write = history.Info, true
		case n < 8:
			p.outcome, p.write = history.Info, false
		default:
			p.outcome, p.write = history.Fail, false
		}
		s.add(history.Op{Process: p.id, Type: history.Invoke, F: history.Send, Topic: topicName(p.topic), Value: p.value})
		if p.write && r.IntN(3) == 0 {
			s.append(p) // lands before the producer hears back
		}
		return
	}
	p.busy = false
	if p.write && !p.written {
		s.append(p)
	}
	op := history.Op{Process: p.id, Type: p.outcome, F: history.Send, Topic: topicName(p.topic), Value: p.value}
	if p.outcome == history.OK {
		op.Partition, op.Offset = int32(p.part), p.off
	}
	s.add(op)
}

func (s *sim) poll(p *proc) {
	r := s.r
	if !p.busy {
		p.busy = true
		s.add(history.Op{Process: p.id, Type: history.Invoke, F: history.Poll, Topic: topicName(p.topic), Mode: p.mode})
		return
	}
	p.busy = false
	if r.IntN(10) == 0 {
		s.add(history.Op{Process: p.id, Type: history.Info, F: history.Poll, Topic: topicName(p.topic), Mode: p.mode, Error: "timeout"})
		return
	}
	var rs []history.Record
	for _, part := range p.parts {
		if p.mode == history.Subscribe && r.IntN(8) == 0 {
			p.pos[part] = r.Int64N(p.pos[part] + 1) // rebalanced: back to an older commit
		}
		log := s.logs[p.topic][part]
		from := int(p.pos[part])
		to := min(len(log), from+r.IntN(6))
		rs = append(rs, records(part, log, from, to)...)
		p.pos[part] = int64(to)
	}
	s.add(history.Op{Process: p.id, Type: history.OK, F: history.Poll, Topic: topicName(p.topic), Mode: p.mode, Records: rs})
}

// inject plants one anomaly of kind k in a copy of ops; false if the history
// offers no place for it.
func inject(r *rand.Rand, ops []history.Op, k string) ([]history.Op, bool) {
	ops = slices.Clone(ops)
	for i := range ops {
		ops[i].Records = slices.Clone(ops[i].Records)
	}
	pick := func(ok func(op *history.Op) bool) int {
		var is []int
		for i := range ops {
			if ok(&ops[i]) {
				is = append(is, i)
			}
		}
		if len(is) == 0 {
			return -1
		}
		return is[r.IntN(len(is))]
	}
	okSend := func(op *history.Op) bool { return op.F == history.Send && op.Type == history.OK }
	withRecords := func(f history.F) func(op *history.Op) bool {
		return func(op *history.Op) bool { return op.F == f && op.Type == history.OK && len(op.Records) > 0 }
	}
	appendOp := func(op history.Op) {
		last := ops[len(ops)-1]
		op.Index, op.Time = last.Index+1, last.Time+1
		ops = append(ops, op)
	}
	drop := func(v int64, fs ...history.F) {
		for i := range ops {
			if slices.Contains(fs, ops[i].F) {
				ops[i].Records = slices.DeleteFunc(ops[i].Records, func(rc history.Record) bool { return rc.Value == v })
			}
		}
	}
	const fresh = 1 << 40 // no send carries it
	switch k {
	case LostWrite, Unseen:
		i := pick(okSend)
		if i < 0 {
			return nil, false
		}
		if k == LostWrite {
			drop(ops[i].Value, history.FinalRead)
		} else {
			drop(ops[i].Value, history.FinalRead, history.Poll)
		}
	case Duplicate:
		i := pick(withRecords(history.FinalRead))
		if i < 0 {
			return nil, false
		}
		op := &ops[i]
		rc := op.Records[r.IntN(len(op.Records))]
		op.Records = append(op.Records, history.Record{Partition: rc.Partition, Offset: op.Records[len(op.Records)-1].Offset + 1 + r.Int64N(5), Value: rc.Value})
	case InconsistentOffset, UnknownValue:
		i := pick(withRecords(history.FinalRead))
		if i < 0 {
			return nil, false
		}
		rc := ops[i].Records[r.IntN(len(ops[i].Records))]
		if k == UnknownValue {
			rc.Offset = ops[i].Records[len(ops[i].Records)-1].Offset + 1
		}
		rc.Value = fresh
		appendOp(history.Op{Process: 999, Type: history.OK, F: history.Poll, Topic: ops[i].Topic, Mode: history.Subscribe, Records: []history.Record{rc}})
	case AckMismatch:
		i := pick(okSend)
		if i < 0 {
			return nil, false
		}
		ops[i].Offset += 1000
	case FailedButPresent:
		i := pick(okSend)
		if i < 0 {
			return nil, false
		}
		ops[i].Type, ops[i].Offset, ops[i].Partition = history.Fail, 0, 0
	case Reorder:
		// Two consecutive ok sends of one process to one partition swap
		// their offsets.
		type key struct {
			proc  int
			topic string
			part  int32
		}
		prev := map[key]int{}
		var pairs [][2]int
		for i := range ops {
			if okSend(&ops[i]) {
				k := key{ops[i].Process, ops[i].Topic, ops[i].Partition}
				if j, ok := prev[k]; ok {
					pairs = append(pairs, [2]int{j, i})
				}
				prev[k] = i
			}
		}
		if len(pairs) == 0 {
			return nil, false
		}
		p := pairs[r.IntN(len(pairs))]
		ops[p[0]].Offset, ops[p[1]].Offset = ops[p[1]].Offset, ops[p[0]].Offset
	case PollSkip, NonmonotonicPoll:
		// Within one assign poll: a record after another of its partition
		// is removed (a skip), or one is repeated.
		i := pick(func(op *history.Op) bool {
			return withRecords(history.Poll)(op) && op.Mode == history.Assign && consecutive(op.Records) >= 0
		})
		if i < 0 {
			return nil, false
		}
		j := consecutive(ops[i].Records)
		if k == PollSkip {
			ops[i].Records = slices.Delete(ops[i].Records, j+1, j+2)
		} else {
			ops[i].Records = slices.Insert(ops[i].Records, j+1, ops[i].Records[j])
		}
	case ReplicaDivergence:
		i := pick(func(op *history.Op) bool { return withRecords(history.Audit)(op) && op.Records[0].Offset < op.Offset })
		if i < 0 {
			return nil, false
		}
		ops[i].Records[0].Value = fresh + 1
	default:
		panic(k)
	}
	return ops, true
}

// sparse spreads a history's values and offsets far apart (keeping their
// order and distinctness).
func sparse(ops []history.Op) {
	for i := range ops {
		op := &ops[i]
		op.Value = op.Value<<33 + 7
		if op.F == history.Send && op.Type == history.OK || op.F == history.Audit {
			op.Offset = op.Offset<<20 + 1<<45
		}
		op.Records = slices.Clone(op.Records)
		for j := range op.Records {
			op.Records[j].Value = op.Records[j].Value<<33 + 7
			op.Records[j].Offset = op.Records[j].Offset<<20 + 1<<45
		}
	}
}

// consecutive returns j such that rs[j], rs[j+1], rs[j+2] are consecutive
// offsets of one partition, or -1.
func consecutive(rs []history.Record) int {
	for j := 0; j+2 < len(rs); j++ {
		if rs[j].Partition == rs[j+2].Partition && rs[j+1].Offset == rs[j].Offset+1 && rs[j+2].Offset == rs[j].Offset+2 {
			return j
		}
	}
	return -1
}

// TestRandomHistories checks random clean histories are valid, and that one
// anomaly planted in each is found.
func TestRandomHistories(t *testing.T) {
	const seeds = 250
	injected := map[string]int{}
	var indeterminateRead, gaps, rewinds int
	for seed := uint64(1); seed <= seeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 14))
		ops := simulate(r, 40+r.IntN(600))
		if seed%3 == 0 {
			sparse(ops) // through the checker's maps rather than its slices
		}
		res := Check(ops, Options{})
		if !res.Valid() {
			t.Fatalf("seed %d: clean history judged invalid: %s", seed, describe(res))
		}
		if res.Stats.Acknowledged == 0 || res.Stats.FinalReadValues == 0 {
			t.Fatalf("seed %d: a history of nothing: %s", seed, res.Verdict())
		}
		indeterminateRead += res.Stats.IndeterminateRead
		gaps += len(res.Unavailability.Samples)
		// The subscribe consumers' rewinds would be anomalies in assign mode.
		asAssign := slices.Clone(ops)
		for i := range asAssign {
			asAssign[i].Mode = history.Assign
		}
		rewinds += Check(asAssign, Options{}).Anomalies[NonmonotonicPoll].Count
		for _, k := range []string{Kinds[int(seed)%len(Kinds)], Kinds[r.IntN(len(Kinds))]} {
			bad, ok := inject(r, ops, k)
			if !ok {
				continue
			}
			injected[k]++
			res := Check(bad, Options{})
			if res.Anomalies[k].Count == 0 || res.Valid() {
				t.Fatalf("seed %d: planted %s not found: %s", seed, k, describe(res))
			}
		}
	}
	if indeterminateRead == 0 || gaps == 0 || rewinds == 0 {
		t.Errorf("the simulation lacks variety: %d indeterminate sends read, %d unavailability samples, %d rewinds",
			indeterminateRead, gaps, rewinds)
	}
	for _, k := range Kinds {
		if injected[k] < 10 {
			t.Errorf("%s planted only %d times", k, injected[k])
		}
	}
	t.Logf("planted %v; %d indeterminate sends read, %d unavailability samples, %d rewinds", injected, indeterminateRead, gaps, rewinds)
}

func BenchmarkCheck(b *testing.B) {
	ops := simulateShape(rand.New(rand.NewPCG(1, 2)), 1_000_000, 2, 6)
	var recs int
	for _, op := range ops {
		recs += len(op.Records)
	}
	for b.Loop() {
		if r := Check(ops, Options{}); !r.Valid() {
			b.Fatal(r.Verdict())
		}
	}
	b.ReportMetric(float64(len(ops)), "ops")
	b.ReportMetric(float64(recs), "records")
}
