// Package checker judges the history of one fault-injection run (package
// chaos/history): it looks for the anomalies a Kafka-like log must never
// show, after the ideas of Jepsen's Kafka checker, and measures the run.
//
// The model: a send carries a value unique in the run; an ok send was
// acknowledged at a (topic, partition, offset); a fail send certainly did not
// happen; an info (or never completed) send may or may not have happened.
// Polls and final reads return records (partition, offset, value) of their
// topic. Every acknowledgement and every record read is an observation that
// a position holds a value; the checks compare those observations with one
// another, with the sends, and with the replica audit.
//
// Kinds of anomaly (the keys of Result.Anomalies):
//
//   - lost-write: an ok send whose value no final read returned (when the
//     history has final reads for its topic), or, in Jepsen's sense, whose
//     value nobody read although an offset above its acknowledged one on the
//     same partition was read.
//   - duplicate: one value read at two different positions.
//   - inconsistent-offset: one position observed (acknowledged or read) with
//     two different values.
//   - ack-mismatch: an ok send whose acknowledged position was read with a
//     different value, or whose value was read at another position.
//   - reorder: two ok sends of one process to one partition whose
//     acknowledged offsets do not increase in the order they completed
//     (Jepsen's nonmonotonic-send; a process's sends are sequential).
//   - poll-skip, nonmonotonic-poll: in assign mode, two consecutive records
//     of one partition read by one consumer process (within one poll or
//     across its ok polls) jump over an offset known to exist, or do not
//     advance. Subscribe mode is exempt: a rebalance may rewind a consumer.
//     A consumer process whose position is reset on purpose (a new consumer,
//     a seek) must take a new process number.
//   - unseen: ok sends whose value no read ever returned, by the end of the
//     history (Result.Unseen holds the series over time).
//   - failed-but-present: a fail send whose value was read or is held by a
//     replica.
//   - replica-divergence: a position below two replicas' high watermarks
//     where they differ (a value against another or against nothing), or a
//     position a consumer read, below a replica's high watermark, that the
//     replica does not hold with that value. Counted once per position.
//   - unknown-value: a value read (or held by a replica) that no send in the
//     history carried.
//
// Entries whose Topic is empty take the run's topic when the history names
// only one; with several topics, final reads and audits must name theirs.
package checker

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/samsa-io/samsa/chaos/history"
)

// The kinds of anomaly, the keys of Result.Anomalies.
const (
	LostWrite          = "lost-write"
	Duplicate          = "duplicate"
	InconsistentOffset = "inconsistent-offset"
	AckMismatch        = "ack-mismatch"
	Reorder            = "reorder"
	PollSkip           = "poll-skip"
	NonmonotonicPoll   = "nonmonotonic-poll"
	Unseen             = "unseen"
	FailedButPresent   = "failed-but-present"
	ReplicaDivergence  = "replica-divergence"
	UnknownValue       = "unknown-value"
)

// Kinds lists every kind of anomaly in the order verdicts name them.
var Kinds = []string{
	LostWrite, Duplicate, InconsistentOffset, AckMismatch, Reorder,
	PollSkip, NonmonotonicPoll, Unseen, FailedButPresent, ReplicaDivergence,
	UnknownValue,
}

// DefaultMaxExamples is the number of examples kept per kind when
// Options.MaxExamples is not positive.
const DefaultMaxExamples = 10

// Options tune a check.
type Options struct {
	// MaxExamples bounds the examples kept for each kind of anomaly (the
	// count is always exact).
	MaxExamples int
}

// Anomaly is how often one kind of anomaly occurred, with the first few
// occurrences in history order.
type Anomaly struct {
	Count    int       `json:"count"`
	Examples []Example `json:"examples,omitempty"`
}

// Example is one occurrence of an anomaly: the position, values and history
// entries involved, and a sentence saying what is wrong.
type Example struct {
	Topic     string  `json:"topic,omitempty"`
	Partition int32   `json:"partition"`
	Offsets   []int64 `json:"offsets,omitempty"`
	Values    []int64 `json:"values,omitempty"`
	Ops       []int64 `json:"ops,omitempty"` // history indexes
	Nodes     []int32 `json:"nodes,omitempty"`
	Note      string  `json:"note"`
}

// Stats describe the run.
type Stats struct {
	Ops int `json:"ops"`
	// ByF counts entries by function and type: ByF["send"]["ok"].
	ByF           map[string]map[string]int `json:"by_f"`
	Acknowledged  int                       `json:"acknowledged"`  // ok sends
	Indeterminate int                       `json:"indeterminate"` // info sends, and sends never completed
	Failed        int                       `json:"failed"`        // fail sends
	// ReadValues is the number of distinct values any poll or final read
	// returned; FinalReadValues those the final reads returned.
	ReadValues      int   `json:"read_values"`
	FinalReadValues int   `json:"final_read_values"`
	RecordsRead     int64 `json:"records_read"`
	// IndeterminateRead is how many indeterminate sends were read anyway
	// (they happened).
	IndeterminateRead int `json:"indeterminate_read"`
	// Faults counts fault starts by kind.
	Faults map[string]int `json:"faults"`
	// FinalReadsFailed counts final reads that did not complete ok: the
	// lost-write check is then only as good as the other final reads.
	FinalReadsFailed int `json:"final_reads_failed"`
	// Replicas counts the audited replicas; AuditsFailed the audits that
	// did not complete ok.
	Replicas      int   `json:"replicas"`
	AuditsFailed  int   `json:"audits_failed"`
	DurationNanos int64 `json:"duration_ns"`
}

// Unavailability is how long produce stayed unavailable after faults.
//
// Leader is the figure to judge a run by: for each fault that started while
// the workload was still sending and removed a partition's leader, the time
// from the fault's start to the next ok send on that partition. A fault
// removes a leader when its targets (history.Op.Targets: the nodes killed,
// stopped, paused or cut off) include the node that led the partition just
// before it started (history.Op.Leaders). Histories that do not record
// leaders fall back on the partition a leader fault's detail names ("leader
// of partition N"); failing that, the fault is assumed to remove every
// partition's leader (counted in Leader.Assumed).
//
// A kill-all stops every node until its heal, by design, so nothing can
// acknowledge meanwhile: it is measured apart, in KillAll, from the heal
// (every node restarted) to each partition's next ok send — the recovery
// after kill-all.
//
// Samples, the percentiles, ByFault and Unrecovered are the older, cruder
// figure, kept for comparison: for every fault (kill-all and the final
// heal-all included) and every partition that ever acknowledged a send, the
// time from the fault's start to the next ok send on that partition. It
// charges a kill-all for the time its nodes are down on purpose, and a
// fault that touches no leader for the outage of a fault before it.
type Unavailability struct {
	Samples  []Gap `json:"samples"`
	P50Nanos int64 `json:"p50_ns"`
	P99Nanos int64 `json:"p99_ns"`
	MaxNanos int64 `json:"max_ns"`
	// ByFault has the same percentiles for each kind of fault.
	ByFault map[string]Percentiles `json:"by_fault"`
	// Unrecovered counts (fault, partition) pairs after which the partition
	// acknowledged no send before the end of the history.
	Unrecovered int `json:"unrecovered"`

	Leader  Measure `json:"leader"`
	KillAll Measure `json:"kill_all_recovery"`
}

// Measure is one figure of unavailability: its samples and their
// percentiles, overall and by kind of fault.
type Measure struct {
	Percentiles
	ByFault map[string]Percentiles `json:"by_fault"`
	Samples []Gap                  `json:"samples"`
	// Unrecovered counts (fault, partition) pairs after which the partition
	// acknowledged no send before the end of the history (or, for a
	// kill-all, that no heal ended).
	Unrecovered int `json:"unrecovered"`
	// Assumed counts the samples of faults whose history entries did not
	// say who led the partition, taken as if the fault removed its leader.
	Assumed int `json:"assumed"`
	// Overlapping counts the samples whose outage outlasted the start of
	// the next fault (Gap.Overlaps).
	Overlapping int `json:"overlapping"`
}

// Gap is one unavailability sample.
type Gap struct {
	FaultOp   int64  `json:"fault_op"` // history index of the fault's start
	Fault     string `json:"fault"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Nanos     int64  `json:"ns"`
	// Overlaps says the next fault (the closing heal-all not counted)
	// started before the partition acknowledged a send again: part of the
	// outage may be that fault's (set in Unavailability.Leader and
	// KillAll only).
	Overlaps bool `json:"overlaps,omitempty"`
	// During says the fault started while another was still active (set
	// where Overlaps is). A sample with neither is an outage its fault
	// caused alone.
	During bool `json:"during,omitempty"`
}

// Alone says no other fault was active at any time during the outage.
func (g Gap) Alone() bool { return !g.Overlaps && !g.During }

// Percentiles summarize a set of samples (nearest rank).
type Percentiles struct {
	N        int   `json:"n"`
	P50Nanos int64 `json:"p50_ns"`
	P99Nanos int64 `json:"p99_ns"`
	MaxNanos int64 `json:"max_ns"`
}

// UnseenSeries is the number of acknowledged values no read had yet
// returned, over time (at most about a thousand points), and at the end.
type UnseenSeries struct {
	Points []UnseenPoint `json:"points"`
	Final  int           `json:"final"`
}

// UnseenPoint is one point of UnseenSeries.
type UnseenPoint struct {
	Nanos int64 `json:"t"`
	Count int   `json:"n"`
}

// Result is the judgement of one history.
type Result struct {
	// Anomalies has an entry for every kind in Kinds, zero or not.
	Anomalies map[string]Anomaly `json:"anomalies"`
	// Malformed lists what makes the history itself unusable (a send
	// completed without an invocation, a value sent twice, no entries).
	Malformed      Anomaly        `json:"malformed"`
	Stats          Stats          `json:"stats"`
	Unavailability Unavailability `json:"unavailability"`
	Unseen         UnseenSeries   `json:"unseen"`
}

// Valid says the history is well formed and shows no anomaly of any kind.
func (r *Result) Valid() bool {
	if r.Malformed.Count > 0 {
		return false
	}
	for _, a := range r.Anomalies {
		if a.Count > 0 {
			return false
		}
	}
	return true
}

// Verdict is the judgement in one line.
func (r *Result) Verdict() string {
	s := &r.Stats
	summary := fmt.Sprintf("%d acked, %d indeterminate, %d failed, %d values read, %d faults",
		s.Acknowledged, s.Indeterminate, s.Failed, s.ReadValues, sum(s.Faults))
	if r.Valid() {
		u := &r.Unavailability
		line := fmt.Sprintf("valid: %s; 0 lost, 0 duplicate, 0 inconsistent-offset, 0 divergent; produce unavailability after leader faults p50 %s p99 %s (%d samples)",
			summary, ms(u.Leader.P50Nanos), ms(u.Leader.P99Nanos), u.Leader.N)
		if u.KillAll.N > 0 {
			line += fmt.Sprintf(", recovery after kill-all p99 %s", ms(u.KillAll.P99Nanos))
		}
		return line
	}
	var bad []string
	if r.Malformed.Count > 0 {
		bad = append(bad, fmt.Sprintf("malformed-history %d", r.Malformed.Count))
	}
	for _, k := range Kinds {
		if n := r.Anomalies[k].Count; n > 0 {
			bad = append(bad, fmt.Sprintf("%s %d", k, n))
		}
	}
	return fmt.Sprintf("INVALID: %s (%s)", strings.Join(bad, ", "), summary)
}

// WriteJSON writes the result, with its validity and verdict, as indented
// JSON: the results file of a run.
func (r *Result) WriteJSON(w io.Writer) error {
	out := struct {
		Valid   bool   `json:"valid"`
		Verdict string `json:"verdict"`
		*Result
	}{r.Valid(), r.Verdict(), r}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// ms formats a duration to the millisecond, or the microsecond below one.
func ms(ns int64) string {
	d := time.Duration(ns)
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// Check judges a history (entries in index order, as history.Read returns
// them).
func Check(ops []history.Op, opts Options) *Result {
	if opts.MaxExamples <= 0 {
		opts.MaxExamples = DefaultMaxExamples
	}
	c := newChecker(ops, opts)
	c.scan()
	c.judgeAudit() // marks the values replicas hold, for judgeValues
	c.judgeValues()
	c.judgePositions()
	c.judgePolls()
	c.judgeUnavailability()
	return c.result()
}
