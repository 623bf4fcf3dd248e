package report

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/samsa-io/samsa/chaos/checker"
	"github.com/samsa-io/samsa/chaos/killcycle"
)

// Goal is what the report judges the runs by: no anomaly of any kind in
// any run, every run complete, and produce unavailability after leader
// faults at most this at p99 (pooled over the runs).
const GoalP99 = 10 * time.Second

// healAll is the harness's closing heal, recorded as a fault entry; it is
// not a fault injected.
const healAll = "heal-all"

// Total is an anomaly kind summed over runs, with the seeds that had it.
type Total struct {
	Count int
	Seeds []uint64
}

// Pooled is one unavailability figure over every run: the percentiles of
// all runs' samples together, overall and by fault kind.
type Pooled struct {
	checker.Percentiles
	ByFault     map[string]checker.Percentiles
	Unrecovered int
	Assumed     int
	// Overlapping counts the samples whose outage outlasted the start of
	// the next fault (checker.Gap.Overlaps), overall and by fault kind.
	Overlapping    int
	OverlapByFault map[string]int
	// During counts the samples of faults that started while another was
	// active (checker.Gap.During), overall and by fault kind.
	During        int
	DuringByFault map[string]int
	// Alone is the percentiles of the samples that neither started during
	// another fault nor ran into the next one: outages that one fault
	// caused on its own (checker.Gap.Alone). Compound is the rest.
	Alone, Compound checker.Percentiles
}

// Aggregate is the runs summed up.
type Aggregate struct {
	Runs     int
	Seeds    []uint64
	ByStatus map[Status][]uint64
	// Settings seen, each with the number of runs: targets (with their
	// version), layouts, durations, quiet periods, fault kind sets.
	Targets, Layouts, Durations, Quiets, FaultSets, RequestTimeouts map[string]int
	// Faults are the faults injected by kind (the closing heal-all not
	// counted), FaultRuns the runs with at least one of each kind.
	Faults, FaultRuns map[string]int
	FaultsFailed      int
	Sends             struct{ OK, Fail, Info int }
	Polls             int   // ok polls
	RecordsRead       int64 // records returned by polls and final reads
	FinalValues       int   // distinct values of the final reads
	Crashes           int
	Anomalies         map[string]Total // every kind of checker.Kinds
	Malformed         Total
	// Leader is unavailability after leader faults, KillAll the recovery
	// after kill-all, FromStart the older figure (every fault from its
	// start, every partition).
	Leader, KillAll, FromStart Pooled
	// Rejudged are the seeds whose results.json says otherwise than the
	// checker now does.
	Rejudged []uint64
	// KillCycles are the single-node kill-cycle records of the inputs
	// (LoadKillCycles), in file name order.
	KillCycles []killcycle.Record
	// Kafka is the aggregate of the runs against the Kafka reference
	// among the inputs (nil if none), reported apart.
	Kafka *Aggregate
	// KafkaOnly says every run is against the Kafka reference: the report
	// is of Kafka's runs, with no comparison.
	KafkaOnly bool
	// FromRecord counts the runs judged by their recorded results.json
	// (Run.FromRecord).
	FromRecord int
	// Errors are the reasons of errored runs, by seed.
	Errors map[uint64]string
	// FirstDay and LastDay are the dates (UTC) the runs started, "" if
	// none recorded it.
	FirstDay, LastDay string
	// PerRun is a line for each run, in seed order.
	PerRun []RunLine
}

// RunLine is one run in brief. The p99s are -1 without samples.
type RunLine struct {
	Seed                         uint64
	Status                       Status
	Faults                       int // injected, the closing heal-all not counted
	Acked, Indeterminate, Failed int
	LeaderP99, KillAllP99        int64
}

// Sum aggregates runs.
func Sum(runs []*Run) *Aggregate {
	a := &Aggregate{
		Runs: len(runs), ByStatus: map[Status][]uint64{},
		Targets: map[string]int{}, Layouts: map[string]int{}, Durations: map[string]int{}, Quiets: map[string]int{}, FaultSets: map[string]int{}, RequestTimeouts: map[string]int{},
		Faults: map[string]int{}, FaultRuns: map[string]int{}, Anomalies: map[string]Total{}, Errors: map[uint64]string{},
	}
	var leader, killAll, fromStart pooling
	for _, r := range runs {
		a.Seeds = append(a.Seeds, r.Seed)
		st := r.Status()
		a.ByStatus[st] = append(a.ByStatus[st], r.Seed)
		if r.Err != "" {
			a.Errors[r.Seed] = r.Err
		}
		a.Crashes += r.Crashes
		if r.FromRecord {
			a.FromRecord++
		}
		if c := r.Config; c != nil {
			t := c.Target
			if c.Version != "" {
				t += " (" + c.Version + ")"
			}
			a.Targets[t]++
			a.Durations[c.Duration]++
			rt := c.RequestTimeout
			if rt == "" {
				rt = "client defaults (not recorded)"
			}
			a.RequestTimeouts[rt]++
			a.Quiets[c.Quiet]++
			a.FaultSets[strings.Join(c.Faults, ", ")]++
			if len(c.Started) >= 10 {
				day := c.Started[:10]
				if a.FirstDay == "" || day < a.FirstDay {
					a.FirstDay = day
				}
				if day > a.LastDay {
					a.LastDay = day
				}
			}
		} else {
			a.Targets["not recorded"]++
			a.Durations["not recorded"]++
			a.RequestTimeouts["not recorded"]++
			a.Quiets["not recorded"]++
			a.FaultSets["not recorded"]++
		}
		layout := r.Layout
		if layout == "" {
			layout = "not recorded"
		}
		a.Layouts[layout]++
		res := r.Result
		line := RunLine{Seed: r.Seed, Status: st, LeaderP99: -1, KillAllP99: -1}
		if res == nil {
			a.PerRun = append(a.PerRun, line)
			continue
		}
		line.Acked, line.Indeterminate, line.Failed = res.Stats.Acknowledged, res.Stats.Indeterminate, res.Stats.Failed
		for k, n := range res.Stats.Faults {
			if k != healAll {
				line.Faults += n
			}
		}
		if m := res.Unavailability.Leader; m.N > 0 {
			line.LeaderP99 = m.P99Nanos
		}
		if m := res.Unavailability.KillAll; m.N > 0 {
			line.KillAllP99 = m.P99Nanos
		}
		a.PerRun = append(a.PerRun, line)
		if r.Recorded != nil && *r.Recorded != res.Valid() {
			a.Rejudged = append(a.Rejudged, r.Seed)
		}
		for k, n := range res.Stats.Faults {
			if k == healAll || n == 0 {
				continue
			}
			a.Faults[k] += n
			a.FaultRuns[k]++
		}
		a.FaultsFailed += res.Stats.ByF["fault"]["fail"]
		a.Sends.OK += res.Stats.Acknowledged
		a.Sends.Fail += res.Stats.Failed
		a.Sends.Info += res.Stats.Indeterminate
		a.Polls += res.Stats.ByF["poll"]["ok"]
		a.RecordsRead += res.Stats.RecordsRead
		a.FinalValues += res.Stats.FinalReadValues
		for _, k := range checker.Kinds {
			if n := res.Anomalies[k].Count; n > 0 {
				t := a.Anomalies[k]
				t.Count += n
				t.Seeds = append(t.Seeds, r.Seed)
				a.Anomalies[k] = t
			}
		}
		if n := res.Malformed.Count; n > 0 {
			a.Malformed.Count += n
			a.Malformed.Seeds = append(a.Malformed.Seeds, r.Seed)
		}
		u := &res.Unavailability
		leader.add(u.Leader)
		killAll.add(u.KillAll)
		fromStart.addGaps(u.Samples, u.Unrecovered, 0)
	}
	a.Leader, a.KillAll, a.FromStart = leader.done(), killAll.done(), fromStart.done()
	return a
}

type pooling struct {
	all, alone, compound []int64
	byKind               map[string][]int64
	overlap, during      map[string]int
	overlaps, durings    int
	unrecovered          int
	assumed              int
}

func (p *pooling) add(m checker.Measure) { p.addGaps(m.Samples, m.Unrecovered, m.Assumed) }

func (p *pooling) addGaps(gs []checker.Gap, unrecovered, assumed int) {
	if p.byKind == nil {
		p.byKind, p.overlap, p.during = map[string][]int64{}, map[string]int{}, map[string]int{}
	}
	for _, g := range gs {
		p.all = append(p.all, g.Nanos)
		p.byKind[g.Fault] = append(p.byKind[g.Fault], g.Nanos)
		if g.Overlaps {
			p.overlaps++
			p.overlap[g.Fault]++
		}
		if g.During {
			p.durings++
			p.during[g.Fault]++
		}
		if g.Alone() {
			p.alone = append(p.alone, g.Nanos)
		} else {
			p.compound = append(p.compound, g.Nanos)
		}
	}
	p.unrecovered += unrecovered
	p.assumed += assumed
}

func (p *pooling) done() Pooled {
	out := Pooled{Percentiles: checker.PercentilesOf(p.all), ByFault: map[string]checker.Percentiles{},
		Unrecovered: p.unrecovered, Assumed: p.assumed, Overlapping: p.overlaps, OverlapByFault: map[string]int{},
		During: p.durings, DuringByFault: map[string]int{},
		Alone: checker.PercentilesOf(p.alone), Compound: checker.PercentilesOf(p.compound)}
	for k, n := range p.overlap {
		out.OverlapByFault[k] = n
	}
	for k, n := range p.during {
		out.DuringByFault[k] = n
	}
	for k, ns := range p.byKind {
		out.ByFault[k] = checker.PercentilesOf(ns)
	}
	return out
}

// Met says whether the runs meet the goal, and if not, why.
func (a *Aggregate) Met() (bool, []string) {
	var why []string
	if n := len(a.ByStatus[Invalid]); n > 0 {
		why = append(why, fmt.Sprintf("%d of %d runs show anomalies (seeds %s)", n, a.Runs, Seeds(a.ByStatus[Invalid])))
	}
	if n := len(a.ByStatus[Errored]); n > 0 {
		why = append(why, fmt.Sprintf("%d of %d runs did not complete (seeds %s)", n, a.Runs, Seeds(a.ByStatus[Errored])))
	}
	switch {
	case a.Leader.Alone.N == 0:
		why = append(why, "no unavailability sample of a leader fault alone")
	case time.Duration(a.Leader.Alone.P99Nanos) > GoalP99:
		why = append(why, fmt.Sprintf("unavailability after leader faults alone p99 %s > %s", Dur(a.Leader.Alone.P99Nanos), GoalP99))
	}
	if a.Leader.Unrecovered > 0 {
		why = append(why, fmt.Sprintf("%d (leader fault, partition) pairs never acknowledged a send again", a.Leader.Unrecovered))
	}
	return len(why) == 0, why
}

// Seeds writes seeds as ranges: "1-10, 12, 15-20".
func Seeds(seeds []uint64) string {
	s := slices.Clone(seeds)
	slices.Sort(s)
	s = slices.Compact(s)
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(s[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		}
		i = j + 1
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ParseSeeds reads a list of seeds as Seeds writes it ("1-10, 12"; commas
// with or without spaces); "" is none.
func ParseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad seed %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a || b-a >= 1<<20 {
				return nil, fmt.Errorf("bad seed range %q", part)
			}
		}
		for x := a; ; x++ {
			out = append(out, x)
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// Dur formats nanoseconds to the millisecond.
func Dur(ns int64) string {
	return time.Duration(ns).Round(time.Millisecond).String()
}

// sortedKeys of a map, in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
