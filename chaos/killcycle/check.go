package killcycle

import (
	"fmt"
	"sort"

	"github.com/samsa-io/samsa/chaos/history"
)

// Checker judges a kill-cycle history as it is written, one entry at a
// time. It knows only what this harness needs: sends of unique values that
// end ok (with the acknowledged partition and offset), fail or info, and
// read rounds, each a set of final-read entries of one process that reads
// every partition from its start to its end.
//
// Each read round is judged against the sends acknowledged before the
// round began:
//   - lost: an acknowledged value not read;
//   - misplaced: an acknowledged value read, but not at the acknowledged
//     partition and offset;
//   - duplicate: a value read at more than one offset;
//   - inconsistent: one offset holding two values (in one round, across
//     rounds, or in two acknowledgements);
//   - failed-present: a value whose send failed definitely, read;
//   - phantom: a value read that no send carried.
//
// Anomalies are counted once per value (or offset), however many rounds
// see them.
type Checker struct {
	sends map[int64]*send
	acked map[pos]int64 // acknowledged offset → value
	seen  map[pos]int64 // offset → value, over every round

	round    *round
	rounds   int
	anomaly  map[string]map[string]bool // kind → key → seen
	examples []string
}

type pos struct {
	p int32
	o int64
}

type send struct {
	t     history.Type // Invoke while pending
	p     int32
	o     int64
	okIdx int64 // index of the ok entry
}

type round struct {
	process int
	start   int64
	recs    []history.Record
}

// Anomaly kinds.
const (
	Lost          = "lost"
	Misplaced     = "misplaced"
	Duplicate     = "duplicate"
	Inconsistent  = "inconsistent"
	FailedPresent = "failed-present"
	Phantom       = "phantom"
)

var kinds = []string{Lost, Misplaced, Duplicate, Inconsistent, FailedPresent, Phantom}

// maxExamples bounds the anomalies the verdict describes one by one.
const maxExamples = 20

// NewChecker returns an empty checker.
func NewChecker() *Checker {
	return &Checker{sends: map[int64]*send{}, acked: map[pos]int64{}, seen: map[pos]int64{}, anomaly: map[string]map[string]bool{}}
}

func (c *Checker) flag(kind, key, format string, args ...any) {
	m := c.anomaly[kind]
	if m == nil {
		m = map[string]bool{}
		c.anomaly[kind] = m
	}
	if m[key] {
		return
	}
	m[key] = true
	if len(c.examples) < maxExamples {
		c.examples = append(c.examples, kind+": "+fmt.Sprintf(format, args...))
	}
}

// Add takes the next entry of the history, in index order.
func (c *Checker) Add(op history.Op) {
	if c.round != nil && (op.F != history.FinalRead || op.Process != c.round.process) {
		c.endRound()
	}
	switch op.F {
	case history.Send:
		c.addSend(op)
	case history.FinalRead:
		if c.round == nil {
			c.round = &round{process: op.Process, start: op.Index}
		}
		if op.Type == history.OK {
			c.round.recs = append(c.round.recs, op.Records...)
		}
	}
}

func (c *Checker) addSend(op history.Op) {
	s := c.sends[op.Value]
	if op.Type == history.Invoke {
		if s != nil {
			c.flag(Duplicate, fmt.Sprint(op.Value), "value %d sent twice (index %d)", op.Value, op.Index)
			return
		}
		c.sends[op.Value] = &send{t: history.Invoke}
		return
	}
	if s == nil || s.t != history.Invoke {
		// A completion without its invocation: the history is
		// malformed; treat it as sent so that it is judged.
		s = &send{}
		c.sends[op.Value] = s
	}
	s.t = op.Type
	if op.Type != history.OK {
		return
	}
	s.p, s.o, s.okIdx = op.Partition, op.Offset, op.Index
	if op.Offset < 0 {
		return // acknowledged without an offset (a duplicate the broker only reported)
	}
	at := pos{op.Partition, op.Offset}
	if v, ok := c.acked[at]; ok && v != op.Value {
		c.flag(Inconsistent, fmt.Sprintf("%d/%d", at.p, at.o), "partition %d offset %d acknowledged for %d and %d", at.p, at.o, v, op.Value)
		return
	}
	c.acked[at] = op.Value
}

// endRound judges the read round that is open.
func (c *Checker) endRound() {
	r := c.round
	c.round = nil
	c.rounds++
	at := map[int64][]pos{}
	here := map[pos]int64{}
	for _, rec := range r.recs {
		ps := pos{rec.Partition, rec.Offset}
		if v, ok := here[ps]; ok {
			if v != rec.Value {
				c.flag(Inconsistent, fmt.Sprintf("%d/%d", ps.p, ps.o), "partition %d offset %d read as %d and %d", ps.p, ps.o, v, rec.Value)
			}
			continue // the same record read twice is not a duplicate
		}
		here[ps] = rec.Value
		if v, ok := c.seen[ps]; ok && v != rec.Value {
			c.flag(Inconsistent, fmt.Sprintf("%d/%d", ps.p, ps.o), "partition %d offset %d read as %d, earlier as %d", ps.p, ps.o, rec.Value, v)
		}
		c.seen[ps] = rec.Value
		at[rec.Value] = append(at[rec.Value], ps)
	}
	for v, ps := range at {
		if len(ps) > 1 {
			c.flag(Duplicate, fmt.Sprint(v), "value %d at %s", v, fmtPos(ps))
		}
		s := c.sends[v]
		switch {
		case s == nil:
			c.flag(Phantom, fmt.Sprint(v), "value %d read at %s, never sent", v, fmtPos(ps))
		case s.t == history.Fail:
			c.flag(FailedPresent, fmt.Sprint(v), "value %d failed but read at %s", v, fmtPos(ps))
		}
	}
	for v, s := range c.sends {
		if s.t != history.OK || s.okIdx > r.start {
			continue
		}
		ps, ok := at[v]
		switch {
		case !ok:
			c.flag(Lost, fmt.Sprint(v), "value %d acknowledged at partition %d offset %d, not read by round %d", v, s.p, s.o, r.process)
		case s.o >= 0 && (len(ps) != 1 || ps[0] != pos{s.p, s.o}):
			c.flag(Misplaced, fmt.Sprint(v), "value %d acknowledged at partition %d offset %d, read at %s", v, s.p, s.o, fmtPos(ps))
		}
	}
}

func fmtPos(ps []pos) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d/%d", p.p, p.o)
	}
	return s
}

// Verdict is the judgement of a history so far.
type Verdict struct {
	Sends, Acked, Failed, Indeterminate, Pending int
	Rounds                                       int // read rounds judged
	Anomalies                                    map[string]int
	Examples                                     []string // the first anomalies, described
}

// OK reports that no anomaly was found and at least one read round judged
// the history.
func (v Verdict) OK() bool {
	for _, n := range v.Anomalies {
		if n > 0 {
			return false
		}
	}
	return v.Rounds > 0
}

// Summary is the anomaly counts in a fixed order, as key=value pairs.
func (v Verdict) Summary() string {
	s := ""
	for i, k := range kinds {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%d", k, v.Anomalies[k])
	}
	return s
}

// Verdict closes any open read round and returns the judgement so far.
// The checker may be given more entries afterwards.
func (c *Checker) Verdict() Verdict {
	if c.round != nil {
		c.endRound()
	}
	v := Verdict{Rounds: c.rounds, Anomalies: map[string]int{}}
	for _, s := range c.sends {
		v.Sends++
		switch s.t {
		case history.OK:
			v.Acked++
		case history.Fail:
			v.Failed++
		case history.Info:
			v.Indeterminate++
		default:
			v.Pending++
		}
	}
	for _, k := range kinds {
		v.Anomalies[k] = len(c.anomaly[k])
	}
	v.Examples = append([]string(nil), c.examples...)
	sort.Strings(v.Examples)
	return v
}

// Check judges a whole history.
func Check(ops []history.Op) Verdict {
	c := NewChecker()
	for _, op := range ops {
		c.Add(op)
	}
	return c.Verdict()
}
