package checker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/chaos/history"
)

// hist builds a history by hand: entries get consecutive indexes and times
// 1µs apart unless at sets the next time.
type hist struct {
	ops []history.Op
	t   int64
}

func (h *hist) add(op history.Op) {
	op.Index = int64(len(h.ops))
	op.Time = h.t
	h.t += 1000
	if op.Topic == "" && (op.F == history.Send || op.F == history.Poll) {
		op.Topic = "t"
	}
	h.ops = append(h.ops, op)
}

func (h *hist) at(t int64) *hist { h.t = t; return h }

// send is an invocation and an ok completion at (p, off).
func (h *hist) send(proc int, v int64, p int32, off int64) {
	h.add(history.Op{Process: proc, Type: history.Invoke, F: history.Send, Value: v})
	h.add(history.Op{Process: proc, Type: history.OK, F: history.Send, Value: v, Partition: p, Offset: off})
}

// sendAs is an invocation and a completion of type typ (fail or info).
func (h *hist) sendAs(proc int, v int64, typ history.Type) {
	h.add(history.Op{Process: proc, Type: history.Invoke, F: history.Send, Value: v})
	h.add(history.Op{Process: proc, Type: typ, F: history.Send, Value: v})
}

func (h *hist) poll(proc int, mode history.Mode, recs ...history.Record) {
	h.add(history.Op{Process: proc, Type: history.Invoke, F: history.Poll, Mode: mode})
	h.add(history.Op{Process: proc, Type: history.OK, F: history.Poll, Mode: mode, Records: recs})
}

func (h *hist) final(recs ...history.Record) {
	h.add(history.Op{Process: 100, Type: history.Invoke, F: history.FinalRead, Topic: "t"})
	h.add(history.Op{Process: 100, Type: history.OK, F: history.FinalRead, Topic: "t", Records: recs})
}

func (h *hist) audit(node int32, p int32, hw int64, recs ...history.Record) {
	h.add(history.Op{Process: history.Nemesis, Type: history.OK, F: history.Audit, Topic: "t", Node: node, Partition: p, Offset: hw, Records: recs})
}

func (h *hist) fault(kind string) {
	h.add(history.Op{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: kind})
}

func (h *hist) heal() {
	h.add(history.Op{Process: history.Nemesis, Type: history.OK, F: history.Fault})
}

func rec(p int32, off, v int64) history.Record {
	return history.Record{Partition: p, Offset: off, Value: v}
}

// counts is the non-zero anomaly counts of r.
func counts(r *Result) map[string]int {
	m := map[string]int{}
	for k, a := range r.Anomalies {
		if a.Count > 0 {
			m[k] = a.Count
		}
	}
	return m
}

func describe(r *Result) string {
	var b strings.Builder
	b.WriteString(r.Verdict())
	for _, k := range Kinds {
		for _, ex := range r.Anomalies[k].Examples {
			fmt.Fprintf(&b, "\n  %s: %s", k, ex.Note)
		}
	}
	for _, ex := range r.Malformed.Examples {
		fmt.Fprintf(&b, "\n  malformed: %s", ex.Note)
	}
	return b.String()
}

// cleanHistory has every kind of entry and no anomaly: info sends that
// were and were not written, a fail send, a send never completed, assign
// polls, subscribe polls that rewind after a rebalance, faults, final reads
// and an audit of three replicas (one behind).
func cleanHistory() *hist {
	h := &hist{}
	h.fault("partition-halves")
	h.send(0, 1, 0, 0)
	h.send(1, 2, 1, 0)
	h.sendAs(0, 3, history.Info) // written: at p0 o1
	h.send(0, 4, 0, 2)
	h.sendAs(1, 5, history.Info) // never written
	h.sendAs(1, 6, history.Fail) // never written
	h.poll(10, history.Assign, rec(0, 0, 1), rec(0, 1, 3), rec(1, 0, 2))
	h.poll(11, history.Subscribe, rec(0, 0, 1), rec(0, 1, 3))
	h.heal()
	h.fault("kill")
	h.send(1, 7, 1, 1)
	h.add(history.Op{Process: 2, Type: history.Invoke, F: history.Send, Value: 8}) // never completed, never written
	h.poll(10, history.Assign, rec(0, 2, 4))
	h.poll(11, history.Subscribe, rec(0, 0, 1), rec(0, 1, 3), rec(0, 2, 4)) // rebalanced: rewinds
	h.poll(10, history.Assign, rec(1, 1, 7))
	h.heal()
	h.final(rec(0, 0, 1), rec(0, 1, 3), rec(0, 2, 4), rec(1, 0, 2), rec(1, 1, 7))
	p0 := []history.Record{rec(0, 0, 1), rec(0, 1, 3), rec(0, 2, 4)}
	h.audit(1, 0, 3, p0...)
	h.audit(2, 0, 3, p0...)
	h.audit(3, 0, 2, p0...) // behind: holds offset 2 above its high watermark
	h.audit(1, 1, 2, rec(1, 0, 2), rec(1, 1, 7))
	h.audit(2, 1, 2, rec(1, 0, 2), rec(1, 1, 7))
	h.audit(3, 1, 1, rec(1, 0, 2))
	return h
}

func TestCleanHistoryIsValid(t *testing.T) {
	h := cleanHistory()
	r := Check(h.ops, Options{})
	if !r.Valid() {
		t.Fatalf("clean history judged invalid: %s", describe(r))
	}
	if !strings.HasPrefix(r.Verdict(), "valid: ") {
		t.Errorf("verdict %q", r.Verdict())
	}
	s := r.Stats
	if s.Acknowledged != 4 || s.Indeterminate != 3 || s.Failed != 1 || s.ReadValues != 5 || s.FinalReadValues != 5 || s.IndeterminateRead != 1 {
		t.Errorf("stats %+v", s)
	}
	if s.Ops != len(h.ops) || s.ByF["send"]["invoke"] != 8 || s.ByF["send"]["ok"] != 4 || s.ByF["poll"]["ok"] != 5 || s.ByF["audit"]["ok"] != 6 {
		t.Errorf("ops by f %v", s.ByF)
	}
	if !maps.Equal(s.Faults, map[string]int{"partition-halves": 1, "kill": 1}) || s.Replicas != 6 {
		t.Errorf("faults %v, replicas %d", s.Faults, s.Replicas)
	}
	if len(r.Anomalies) != len(Kinds) {
		t.Errorf("%d kinds in the result, want %d", len(r.Anomalies), len(Kinds))
	}
	if r.Unseen.Final != 0 || len(r.Unseen.Points) == 0 {
		t.Errorf("unseen %+v", r.Unseen)
	}
}

func TestAnomalies(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    func(h *hist)
		want map[string]int
	}{{
		name: "lost-write: read by a poll, in no final read",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.send(0, 2, 0, 1)
			h.send(0, 3, 0, 2)
			h.poll(10, history.Assign, rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3))
			h.final(rec(0, 0, 1), rec(0, 2, 3))
		},
		want: map[string]int{LostWrite: 1},
	}, {
		name: "lost-write: no final reads, unread below an offset read",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.send(0, 2, 0, 1) // lost: offset 2 was read, 1 never
			h.send(0, 3, 0, 2)
			h.send(0, 4, 0, 3) // unseen but above every read offset: not provably lost
			h.send(1, 5, 1, 0) // unseen, nothing read on partition 1
			h.poll(11, history.Subscribe, rec(0, 2, 3))
			h.poll(12, history.Subscribe, rec(0, 0, 1))
		},
		want: map[string]int{LostWrite: 1, Unseen: 3},
	}, {
		name: "duplicate",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.send(0, 2, 0, 1)
			h.send(0, 3, 1, 0)
			h.poll(11, history.Subscribe, rec(1, 0, 3))
			h.final(rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 2), rec(1, 0, 3), rec(1, 1, 3), rec(1, 2, 3))
		},
		want: map[string]int{Duplicate: 2},
	}, {
		name: "inconsistent-offset between two reads",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.sendAs(0, 2, history.Info)
			h.sendAs(0, 3, history.Info)
			h.poll(11, history.Subscribe, rec(0, 0, 1), rec(0, 1, 2))
			h.final(rec(0, 0, 1), rec(0, 1, 3))
		},
		want: map[string]int{InconsistentOffset: 1},
	}, {
		name: "ack-mismatch: another value read at the acknowledged offset",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.send(0, 2, 0, 1)
			h.sendAs(0, 3, history.Info)
			h.final(rec(0, 0, 1), rec(0, 1, 3))
		},
		want: map[string]int{AckMismatch: 1, InconsistentOffset: 1, LostWrite: 1, Unseen: 1},
	}, {
		name: "ack-mismatch: the value read only at another offset",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.send(0, 2, 0, 5)
			h.final(rec(0, 0, 1), rec(0, 1, 2))
		},
		want: map[string]int{AckMismatch: 1},
	}, {
		name: "reorder",
		h: func(h *hist) {
			h.send(0, 1, 0, 1)
			h.send(1, 9, 0, 2) // another process: no order with process 0
			h.send(0, 2, 0, 0) // process 0 went backwards on partition 0
			h.send(0, 3, 1, 0) // another partition: fine
			h.send(0, 4, 0, 3)
			h.final(rec(0, 0, 2), rec(0, 1, 1), rec(0, 2, 9), rec(0, 3, 4), rec(1, 0, 3))
		},
		want: map[string]int{Reorder: 1},
	}, {
		name: "poll-skip, across polls and within one",
		h: func(h *hist) {
			for i := int64(0); i < 4; i++ {
				h.send(0, i+1, 0, i)
			}
			h.poll(10, history.Assign, rec(0, 0, 1), rec(0, 1, 2))
			h.poll(10, history.Assign, rec(0, 3, 4)) // skips offset 2
			h.poll(11, history.Assign, rec(0, 0, 1), rec(0, 2, 3))
			h.poll(12, history.Subscribe, rec(0, 0, 1), rec(0, 3, 4)) // subscribe: not judged
			h.final(rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3), rec(0, 3, 4))
		},
		want: map[string]int{PollSkip: 2},
	}, {
		name: "poll-skip needs a known offset in the gap",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.send(0, 2, 0, 5) // offsets 1-4 hold nothing anyone saw (say, control records)
			h.poll(10, history.Assign, rec(0, 0, 1))
			h.poll(10, history.Assign, rec(0, 5, 2))
			h.final(rec(0, 0, 1), rec(0, 5, 2))
		},
		want: map[string]int{},
	}, {
		name: "nonmonotonic-poll",
		h: func(h *hist) {
			for i := int64(0); i < 3; i++ {
				h.send(0, i+1, 0, i)
			}
			h.poll(10, history.Assign, rec(0, 0, 1), rec(0, 1, 2))
			h.poll(10, history.Assign, rec(0, 1, 2), rec(0, 2, 3)) // reads offset 1 again
			h.poll(12, history.Subscribe, rec(0, 0, 1), rec(0, 1, 2))
			h.poll(12, history.Subscribe, rec(0, 0, 1)) // subscribe: a rebalance may rewind
			h.final(rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3))
		},
		want: map[string]int{NonmonotonicPoll: 1},
	}, {
		name: "unseen",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.send(0, 2, 0, 1)
			h.poll(11, history.Subscribe, rec(0, 0, 1))
		},
		want: map[string]int{Unseen: 1},
	}, {
		name: "failed-but-present, read and in a replica",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.sendAs(0, 2, history.Fail)
			h.sendAs(0, 3, history.Fail)
			h.final(rec(0, 0, 1), rec(0, 1, 2))
			h.audit(1, 0, 3, rec(0, 0, 1), rec(0, 1, 2))
			h.audit(2, 0, 1, rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3)) // offset 1 above its hw
			h.audit(3, 0, 3, rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3)) // offset 2 unread, below hw
		},
		want: map[string]int{FailedButPresent: 2, ReplicaDivergence: 1},
	}, {
		name: "replica-divergence",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.send(0, 2, 0, 1)
			h.send(0, 3, 0, 2)
			h.send(0, 5, 1, 0)
			h.send(0, 6, 2, 0)
			h.final(rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3), rec(1, 0, 5), rec(2, 0, 6))
			h.audit(1, 0, 3, rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3))
			h.audit(2, 0, 3, rec(0, 0, 1), rec(0, 1, 2)) // misses offset 2
			h.audit(3, 0, 2, rec(0, 0, 1), rec(0, 1, 2))
			h.audit(1, 1, 1, rec(1, 0, 5))
			h.audit(2, 1, 1, rec(1, 0, 5))
			h.audit(3, 1, 0)
			for n := int32(1); n <= 3; n++ {
				h.audit(n, 2, 1) // all agree, but offset 0 was read
			}
		},
		want: map[string]int{ReplicaDivergence: 2},
	}, {
		name: "unknown-value",
		h: func(h *hist) {
			h.send(0, 1, 0, 0)
			h.final(rec(0, 0, 1), rec(0, 1, 99))
			h.audit(1, 0, 2, rec(0, 0, 1), rec(0, 1, 99))
			h.audit(2, 0, 2, rec(0, 0, 1), rec(0, 1, 99))
		},
		want: map[string]int{UnknownValue: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hist{}
			tc.h(h)
			r := Check(h.ops, Options{})
			if got := counts(r); !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v\n%s", got, tc.want, describe(r))
			}
			if r.Valid() != (len(tc.want) == 0) {
				t.Errorf("Valid() = %v", r.Valid())
			}
			for k, a := range r.Anomalies {
				if len(a.Examples) != min(a.Count, DefaultMaxExamples) {
					t.Errorf("%s: %d examples of %d", k, len(a.Examples), a.Count)
				}
				for _, ex := range a.Examples {
					if ex.Note == "" {
						t.Errorf("%s: example without a note: %+v", k, ex)
					}
				}
			}
			if len(tc.want) > 0 {
				v := r.Verdict()
				for k, n := range tc.want {
					if !strings.HasPrefix(v, "INVALID: ") || !strings.Contains(v, fmt.Sprintf("%s %d", k, n)) {
						t.Errorf("verdict %q does not say %s %d", v, k, n)
					}
				}
			}
		})
	}
}

func TestLostWriteExample(t *testing.T) {
	h := &hist{}
	h.send(0, 1, 0, 0)
	h.send(0, 2, 0, 1)
	h.final(rec(0, 0, 1))
	a := Check(h.ops, Options{}).Anomalies[LostWrite]
	if a.Count != 1 || len(a.Examples) != 1 {
		t.Fatalf("lost writes %+v", a)
	}
	ex := a.Examples[0]
	if ex.Topic != "t" || ex.Partition != 0 || !slices.Equal(ex.Offsets, []int64{1}) || !slices.Equal(ex.Values, []int64{2}) || !slices.Equal(ex.Ops, []int64{3}) {
		t.Errorf("example %+v", ex)
	}
}

func TestMaxExamples(t *testing.T) {
	h := &hist{}
	for i := int64(0); i < 20; i++ {
		h.send(0, i, 0, i)
	}
	h.final()
	r := Check(h.ops, Options{MaxExamples: 3})
	if a := r.Anomalies[LostWrite]; a.Count != 20 || len(a.Examples) != 3 {
		t.Errorf("lost writes: count %d, %d examples", a.Count, len(a.Examples))
	}
}

func TestMalformed(t *testing.T) {
	for name, ops := range map[string][]history.Op{
		"empty": nil,
		"completion without invocation": {
			{Index: 0, Type: history.OK, F: history.Send, Topic: "t", Value: 1},
		},
		"value sent twice": {
			{Index: 0, Type: history.Invoke, F: history.Send, Topic: "t", Value: 1},
			{Index: 1, Type: history.Invoke, F: history.Send, Topic: "t", Value: 1},
		},
		"completed twice": {
			{Index: 0, Type: history.Invoke, F: history.Send, Topic: "t", Value: 1},
			{Index: 1, Type: history.Info, F: history.Send, Topic: "t", Value: 1},
			{Index: 2, Type: history.OK, F: history.Send, Topic: "t", Value: 1},
		},
	} {
		r := Check(ops, Options{})
		if r.Malformed.Count != 1 || r.Valid() || !strings.Contains(r.Verdict(), "malformed-history 1") {
			t.Errorf("%s: malformed %+v, verdict %q", name, r.Malformed, r.Verdict())
		}
	}
}

// A consumer in a group may be rewound by a rebalance: in subscribe mode,
// re-reading and jumping is no poll anomaly.
func TestSubscribeRewindIsNoAnomaly(t *testing.T) {
	h := &hist{}
	for i := int64(0); i < 6; i++ {
		h.send(0, i+1, 0, i)
	}
	h.poll(11, history.Subscribe, rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3))
	h.poll(11, history.Subscribe, rec(0, 1, 2), rec(0, 2, 3)) // rewound to the committed offset
	h.poll(11, history.Subscribe, rec(0, 5, 6))               // jumped
	h.poll(11, history.Subscribe, rec(0, 3, 4), rec(0, 4, 5))
	h.final(rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3), rec(0, 3, 4), rec(0, 4, 5), rec(0, 5, 6))
	if r := Check(h.ops, Options{}); !r.Valid() {
		t.Fatalf("subscribe rewind judged invalid: %s", describe(r))
	}
	// The same polls in assign mode are anomalies.
	for i := range h.ops {
		if h.ops[i].F == history.Poll {
			h.ops[i].Mode = history.Assign
		}
	}
	r := Check(h.ops, Options{})
	if got := counts(r); !maps.Equal(got, map[string]int{NonmonotonicPoll: 2, PollSkip: 1}) {
		t.Fatalf("assign mode: %v\n%s", got, describe(r))
	}
}

func TestUnseenSeries(t *testing.T) {
	h := &hist{}
	h.send(0, 1, 0, 0)
	h.send(0, 2, 0, 1)
	h.poll(11, history.Subscribe, rec(0, 0, 1))
	h.poll(11, history.Subscribe, rec(0, 1, 2))
	r := Check(h.ops, Options{})
	var ns []int
	for _, p := range r.Unseen.Points {
		ns = append(ns, p.Count)
	}
	// One point per entry here (a short history): after each send ok the
	// count grows, after each poll ok it falls.
	if want := []int{0, 1, 1, 2, 2, 1, 1, 0}; !slices.Equal(ns, want) {
		t.Errorf("unseen series %v, want %v", ns, want)
	}
	if r.Unseen.Final != 0 || !r.Valid() {
		t.Errorf("final %d, %s", r.Unseen.Final, r.Verdict())
	}
}

func TestUnavailability(t *testing.T) {
	h := &hist{}
	h.send(0, 1, 0, 0)
	h.send(1, 2, 1, 0)
	h.at(1_000_000).fault("kill") // 1ms
	h.at(6_000_000).send(0, 3, 0, 1)
	h.at(10_000_000).send(1, 4, 1, 1)
	h.at(20_000_000).fault("partition-halves")
	h.at(23_000_000).send(1, 5, 1, 2)
	h.send(1, 6, 1, 3) // p0 acknowledges nothing after this fault
	h.at(50_000_000).fault("pause")
	h.final(rec(0, 0, 1), rec(0, 1, 3), rec(1, 0, 2), rec(1, 1, 4), rec(1, 2, 5), rec(1, 3, 6))
	r := Check(h.ops, Options{})
	if !r.Valid() {
		t.Fatalf("invalid: %s", describe(r))
	}
	u := r.Unavailability
	var got []string
	for _, g := range u.Samples {
		got = append(got, fmt.Sprintf("%s p%d %d", g.Fault, g.Partition, g.Nanos))
	}
	// The send to p0 is acknowledged 1µs after its invocation at 6ms.
	want := []string{"kill p0 5001000", "kill p1 9001000", "partition-halves p1 3001000"}
	if !slices.Equal(got, want) {
		t.Errorf("samples %v, want %v", got, want)
	}
	if u.Unrecovered != 1 || u.P50Nanos != 5001000 || u.P99Nanos != 9001000 || u.MaxNanos != 9001000 {
		t.Errorf("unavailability %+v", u)
	}
	if k := u.ByFault["kill"]; k.N != 2 || k.P50Nanos != 5001000 || k.P99Nanos != 9001000 {
		t.Errorf("kill %+v", k)
	}
}

func TestPercentiles(t *testing.T) {
	var ns []int64
	for i := int64(1); i <= 200; i++ {
		ns = append(ns, 201-i)
	}
	if p := percentiles(ns); p != (Percentiles{N: 200, P50Nanos: 100, P99Nanos: 198, MaxNanos: 200}) {
		t.Errorf("percentiles %+v", p)
	}
	if p := percentiles([]int64{7}); p != (Percentiles{N: 1, P50Nanos: 7, P99Nanos: 7, MaxNanos: 7}) {
		t.Errorf("percentiles of one %+v", p)
	}
}

func TestTopicOfFinalReadsAndAudits(t *testing.T) {
	// With one topic, entries that name none are of that topic.
	h := &hist{}
	h.send(0, 1, 0, 0)
	h.add(history.Op{Process: 100, Type: history.OK, F: history.FinalRead, Records: []history.Record{rec(0, 0, 1)}})
	h.add(history.Op{Type: history.OK, F: history.Audit, Node: 1, Partition: 0, Offset: 1, Records: []history.Record{rec(0, 0, 1)}})
	h.add(history.Op{Type: history.OK, F: history.Audit, Node: 2, Partition: 0, Offset: 1, Records: []history.Record{rec(0, 0, 1)}})
	if r := Check(h.ops, Options{}); !r.Valid() || r.Stats.FinalReadValues != 1 {
		t.Fatalf("%s", describe(r))
	}
	// Two topics: the same partition and offset in each are different positions.
	h = &hist{}
	h.send(0, 1, 0, 0)
	h.add(history.Op{Process: 1, Type: history.Invoke, F: history.Send, Topic: "u", Value: 2})
	h.add(history.Op{Process: 1, Type: history.OK, F: history.Send, Topic: "u", Value: 2, Partition: 0, Offset: 0})
	h.final(rec(0, 0, 1))
	h.add(history.Op{Process: 100, Type: history.OK, F: history.FinalRead, Topic: "u", Records: []history.Record{rec(0, 0, 2)}})
	if r := Check(h.ops, Options{}); !r.Valid() {
		t.Fatalf("two topics: %s", describe(r))
	}
}

func TestWriteJSON(t *testing.T) {
	h := &hist{}
	h.send(0, 1, 0, 0)
	h.send(0, 2, 0, 1)
	h.final(rec(0, 0, 1))
	r := Check(h.ops, Options{})
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Valid     bool               `json:"valid"`
		Verdict   string             `json:"verdict"`
		Anomalies map[string]Anomaly `json:"anomalies"`
		Stats     Stats              `json:"stats"`
		Unseen    UnseenSeries       `json:"unseen"`
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Valid || back.Verdict != r.Verdict() || back.Anomalies[LostWrite].Count != 1 || back.Stats.Acknowledged != 2 || back.Unseen.Final != 1 {
		t.Errorf("read back %+v", back)
	}
}

// A poll completion that does not repeat its invocation's mode and topic
// takes them from it.
func TestPollCompletionInheritsModeAndTopic(t *testing.T) {
	h := &hist{}
	for i := int64(0); i < 3; i++ {
		h.send(0, i+1, 0, i)
	}
	h.add(history.Op{Process: 10, Type: history.Invoke, F: history.Poll, Topic: "t", Mode: history.Assign})
	h.ops = append(h.ops, history.Op{Index: int64(len(h.ops)), Process: 10, Type: history.OK, F: history.Poll,
		Records: []history.Record{rec(0, 0, 1), rec(0, 2, 3)}})
	h.final(rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3))
	r := Check(h.ops, Options{})
	if got := counts(r); !maps.Equal(got, map[string]int{PollSkip: 1}) {
		t.Fatalf("got %v\n%s", got, describe(r))
	}
}

// An acknowledgement without an offset (-1: the client did not learn it)
// places nothing, but the send is still acknowledged and must be read.
func TestAckWithoutOffset(t *testing.T) {
	h := &hist{}
	h.send(0, 1, 0, -1)
	h.send(0, 2, 0, -1)
	h.send(0, 3, 0, 2)
	h.final(rec(0, 0, 1), rec(0, 2, 3))
	r := Check(h.ops, Options{})
	if got := counts(r); !maps.Equal(got, map[string]int{LostWrite: 1, Unseen: 1}) || r.Stats.Acknowledged != 3 {
		t.Fatalf("got %v\n%s", got, describe(r))
	}
}

// FuzzCheck: whatever history reads, the checker judges without crashing,
// and its verdict agrees with its counts.
func FuzzCheck(f *testing.F) {
	var buf bytes.Buffer
	w := history.NewWriter(&buf)
	for _, op := range cleanHistory().ops {
		w.Add(op)
	}
	if err := w.Flush(); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"index":0,"time":9,"type":"invoke","f":"send","value":-9223372036854775808}
{"index":1,"time":-9223372036854775808,"type":"ok","f":"send","value":-9223372036854775808,"offset":9223372036854775807}
{"index":2,"type":"invoke","f":"send","value":9223372036854775807}
{"index":3,"type":"ok","f":"poll","mode":"assign","records":[{"p":-1,"o":-5,"v":1},{"p":-1,"o":-9223372036854775808,"v":1}]}
{"index":4,"type":"ok","f":"audit","offset":9223372036854775807,"records":[{"o":3,"v":3},{"o":3,"v":4},{"o":1,"v":2}]}
{"index":5,"type":"ok","f":"final-read","records":[{"o":3,"v":3}]}
`))
	f.Add([]byte(`{"index":0,"time":1,"type":"invoke","f":"send","value":1}
{"index":1,"time":2,"type":"ok","f":"send","value":1,"partition":1}
{"index":2,"time":3,"process":-1,"type":"invoke","f":"fault","fault":"kill","targets":[2],"leaders":[-1,2,9]}
{"index":3,"time":4,"process":-1,"type":"ok","f":"fault","fault":"kill"}
{"index":4,"time":5,"process":-1,"type":"invoke","f":"fault","fault":"kill-all","targets":[1,2,3]}
{"index":5,"time":6,"process":-1,"type":"info","f":"fault","fault":"kill-all"}
{"index":6,"time":7,"process":-1,"type":"invoke","f":"fault","fault":"kill-leader","detail":"kill -9 [3] (leader of partition 1), restart at heal"}
{"index":7,"time":8,"type":"invoke","f":"send","value":2}
{"index":8,"time":9,"type":"ok","f":"send","value":2,"partition":1,"offset":1}
`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := history.Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		r := Check(ops, Options{MaxExamples: 2})
		bad := r.Malformed.Count > 0
		for _, a := range r.Anomalies {
			if a.Count > 0 {
				bad = true
			}
			if len(a.Examples) > 2 || len(a.Examples) > a.Count {
				t.Fatalf("%d examples of %d", len(a.Examples), a.Count)
			}
		}
		if r.Valid() == bad || strings.HasPrefix(r.Verdict(), "valid: ") == bad {
			t.Fatalf("verdict %q with anomalies %v", r.Verdict(), counts(r))
		}
		if err := r.WriteJSON(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnavailabilityAfterLeaderFaults(t *testing.T) {
	h := &hist{}
	h.send(0, 1, 0, 0)
	h.send(1, 2, 1, 0)
	// Node 2 leads p0, node 3 p1: killing node 2 removes p0's leader only.
	h.at(1_000_000).add(history.Op{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: "kill",
		Targets: []int32{2}, Leaders: []int32{2, 3}})
	h.at(2_000_000).send(1, 3, 1, 1) // p1 unaffected
	h.at(4_000_000).heal()
	h.at(7_000_000).send(0, 4, 0, 1) // p0 back 6ms after the kill
	// A kill-all: nodes down from 10ms to its heal at 30ms.
	h.at(10_000_000).add(history.Op{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: "kill-all",
		Targets: []int32{1, 2, 3}, Leaders: []int32{2, 3}})
	h.at(30_000_000).add(history.Op{Process: history.Nemesis, Type: history.OK, F: history.Fault, Fault: "kill-all"})
	h.at(32_000_000).send(0, 5, 0, 2)
	h.at(35_000_000).send(1, 6, 1, 2)
	// An older entry without leaders, naming its partition in the detail.
	h.at(40_000_000).add(history.Op{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: "kill-leader",
		Detail: "kill -9 [3] (leader of partition 1), restart at heal", Node: 3})
	h.at(41_000_000).heal()
	// An older entry that says nothing: assumed to remove every leader.
	// p1 is back only after it started.
	h.at(50_000_000).fault("pause")
	h.at(50_500_000).send(1, 7, 1, 3)
	h.at(51_000_000).heal()
	h.at(53_000_000).send(0, 8, 0, 3)
	h.at(54_000_000).send(1, 9, 1, 4)
	// The final heal-all is no leader fault.
	h.at(60_000_000).add(history.Op{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: "heal-all"})
	h.at(61_000_000).add(history.Op{Process: history.Nemesis, Type: history.OK, F: history.Fault, Fault: "heal-all"})
	h.at(62_000_000).send(0, 10, 0, 4)
	h.at(63_000_000).send(1, 11, 1, 5)
	h.final(rec(0, 0, 1), rec(0, 1, 4), rec(0, 2, 5), rec(0, 3, 8), rec(0, 4, 10),
		rec(1, 0, 2), rec(1, 1, 3), rec(1, 2, 6), rec(1, 3, 7), rec(1, 4, 9), rec(1, 5, 11))
	r := Check(h.ops, Options{})
	if !r.Valid() {
		t.Fatalf("invalid: %s", describe(r))
	}
	gaps := func(m Measure) []string {
		var out []string
		for _, g := range m.Samples {
			out = append(out, fmt.Sprintf("%s p%d %d", g.Fault, g.Partition, g.Nanos))
		}
		return out
	}
	u := r.Unavailability
	// Each ok send completes 1µs after its invocation.
	want := []string{"kill p0 6001000", "kill-leader p1 10501000", "pause p0 3001000", "pause p1 501000"}
	if got := gaps(u.Leader); !slices.Equal(got, want) {
		t.Errorf("leader samples %v, want %v", got, want)
	}
	// Only the kill-leader's p1 outlasted the start of the next fault.
	var over []string
	for _, g := range u.Leader.Samples {
		if g.Overlaps {
			over = append(over, fmt.Sprintf("%s p%d", g.Fault, g.Partition))
		}
	}
	if !slices.Equal(over, []string{"kill-leader p1"}) || u.Leader.Overlapping != 1 {
		t.Errorf("overlapping %v (%d)", over, u.Leader.Overlapping)
	}
	if u.Leader.Assumed != 2 || u.Leader.Unrecovered != 0 || u.Leader.N != 4 || u.Leader.P50Nanos != 3001000 || u.Leader.MaxNanos != 10501000 {
		t.Errorf("leader %+v", u.Leader.Percentiles)
	}
	if k := u.Leader.ByFault["pause"]; k.N != 2 || k.P99Nanos != 3001000 {
		t.Errorf("leader pause %+v", k)
	}
	want = []string{"kill-all p0 2001000", "kill-all p1 5001000"}
	if got := gaps(u.KillAll); !slices.Equal(got, want) {
		t.Errorf("kill-all samples %v, want %v", got, want)
	}
	if u.KillAll.P99Nanos != 5001000 || u.KillAll.Assumed != 0 {
		t.Errorf("kill-all %+v", u.KillAll)
	}
	// The old figure charges the kill-all from its start: 22ms and 25ms.
	if k := u.ByFault["kill-all"]; k.N != 2 || k.MaxNanos != 25001000 {
		t.Errorf("old kill-all %+v", k)
	}
	if !strings.Contains(r.Verdict(), "after leader faults p50 3ms p99 11ms (4 samples), recovery after kill-all p99 5ms") {
		t.Errorf("verdict %q", r.Verdict())
	}
}

func TestUnhealedKillAll(t *testing.T) {
	h := &hist{}
	h.send(0, 1, 0, 0)
	h.fault("kill-all")
	h.send(0, 2, 0, 1)
	h.final(rec(0, 0, 1), rec(0, 1, 2))
	u := Check(h.ops, Options{}).Unavailability
	if u.KillAll.Unrecovered != 1 || u.KillAll.N != 0 || u.Leader.N != 0 {
		t.Errorf("kill-all %+v, leader %+v", u.KillAll, u.Leader)
	}
}

func TestWhoseLeader(t *testing.T) {
	for detail, want := range map[string]int32{
		"kill -9 [3] (leader of partition 1), restart at heal":                    1,
		"SIGSTOP [2] for 9s (leader of partition 12)":                             12,
		"[1] | [2 3] (the active controller)":                                     -1,
		"kill -9 [1] (leader of partition 0 unknown: no leader), restart at heal": -1,
		"kill -9 [1] (leader of partition x)":                                     -1,
		"":                                                                        -1,
	} {
		if got := whoseLeader(detail); got != want {
			t.Errorf("whoseLeader(%q) = %d, want %d", detail, got, want)
		}
	}
}

// TestUnavailabilityOverlappingFaults checks the samples of two faults at
// once: the heal of the first ends the first (not the later one, as a
// one-at-a-time reading would), a fault started while another was active
// is During, and only a sample with neither flag is Alone.
func TestUnavailabilityOverlappingFaults(t *testing.T) {
	h := &hist{}
	nem := func(typ history.Type, kind, detail string, targets, leaders []int32) {
		h.add(history.Op{Process: history.Nemesis, Type: typ, F: history.Fault, Fault: kind, Detail: detail, Targets: targets, Leaders: leaders})
	}
	h.at(0).send(0, 1, 0, 0)
	// A pause of p0's leader, alone: back after 4 ms.
	h.at(10_000_000)
	nem(history.Invoke, "pause", "SIGSTOP [1] for 5s", []int32{1}, []int32{1})
	h.at(14_000_000).send(0, 2, 0, 1)
	nem(history.OK, "pause", "SIGSTOP [1] for 5s", nil, nil)
	// A ring partition, then a kill of the leader during it; the ring
	// heals first (its completion names it), then the kill.
	h.at(20_000_000)
	nem(history.Invoke, "partition-ring", "ring [1 2 3]", []int32{1, 2, 3}, []int32{2})
	h.at(21_000_000)
	nem(history.Invoke, "kill", "kill -9 [2], restart at heal (during another fault)", []int32{2}, []int32{2})
	h.at(23_000_000)
	nem(history.OK, "partition-ring", "ring [1 2 3]", nil, nil)
	h.at(29_000_000).send(0, 3, 0, 2)
	h.at(30_000_000)
	nem(history.OK, "kill", "kill -9 [2], restart at heal (during another fault); node 2 started", nil, nil)
	h.at(40_000_000).send(0, 4, 0, 3)
	h.final(rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3), rec(0, 3, 4))
	r := Check(h.ops, Options{})
	if !r.Valid() {
		t.Fatalf("invalid: %s", describe(r))
	}
	var got []string
	for _, g := range r.Unavailability.Leader.Samples {
		got = append(got, fmt.Sprintf("%s %d during=%v overlaps=%v alone=%v", g.Fault, g.Nanos/1_000_000, g.During, g.Overlaps, g.Alone()))
	}
	want := []string{
		"pause 4 during=false overlaps=false alone=true",
		// The ring removed p0's leader (2) and ran into the kill.
		"partition-ring 9 during=false overlaps=true alone=false",
		"kill 8 during=true overlaps=false alone=false",
	}
	if !slices.Equal(got, want) {
		t.Errorf("samples\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
