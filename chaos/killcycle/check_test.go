package killcycle

import (
	"bytes"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/chaos/history"
)

// hist builds a history through a real history.Writer and reads it back.
type hist struct {
	t *testing.T
	b bytes.Buffer
	w *history.Writer
}

func newHist(t *testing.T) *hist {
	h := &hist{t: t}
	h.w = history.NewWriter(&h.b)
	return h
}

func (h *hist) send(v int64, typ history.Type, p int32, o int64) {
	h.w.Add(history.Op{Process: 1, Type: history.Invoke, F: history.Send, Value: v})
	h.w.Add(history.Op{Process: 1, Type: typ, F: history.Send, Value: v, Partition: p, Offset: o})
}

// read is one read round of process proc: records as (partition, offset,
// value) triples.
func (h *hist) read(proc int, recs ...[3]int64) {
	h.w.Add(history.Op{Process: proc, Type: history.Invoke, F: history.FinalRead})
	op := history.Op{Process: proc, Type: history.OK, F: history.FinalRead}
	for _, r := range recs {
		op.Records = append(op.Records, history.Record{Partition: int32(r[0]), Offset: r[1], Value: r[2]})
	}
	h.w.Add(op)
}

func (h *hist) check() Verdict {
	h.t.Helper()
	if err := h.w.Flush(); err != nil {
		h.t.Fatal(err)
	}
	ops, err := history.Read(&h.b)
	if err != nil {
		h.t.Fatal(err)
	}
	return Check(ops)
}

func TestCheckClean(t *testing.T) {
	h := newHist(t)
	h.send(1, history.OK, 0, 0)
	h.send(2, history.OK, 1, 0)
	h.send(3, history.Info, 0, 0) // indeterminate, written
	h.send(4, history.Info, 0, 0) // indeterminate, not written
	h.send(5, history.Fail, 0, 0) // failed, not written
	h.send(6, history.OK, 0, -1)  // acknowledged without an offset
	h.read(100, [3]int64{0, 0, 1}, [3]int64{0, 1, 3}, [3]int64{0, 2, 6}, [3]int64{1, 0, 2})
	h.send(7, history.OK, 1, 1) // after the first round: judged by the second
	h.read(101, [3]int64{0, 0, 1}, [3]int64{0, 1, 3}, [3]int64{0, 2, 6}, [3]int64{1, 0, 2}, [3]int64{1, 1, 7})
	v := h.check()
	if !v.OK() {
		t.Fatalf("clean history judged bad: %s %v", v.Summary(), v.Examples)
	}
	if v.Acked != 4 || v.Indeterminate != 2 || v.Failed != 1 || v.Rounds != 2 || v.Sends != 7 {
		t.Fatalf("counts: %+v", v)
	}
}

func TestCheckNoRoundIsNotOK(t *testing.T) {
	h := newHist(t)
	h.send(1, history.OK, 0, 0)
	if v := h.check(); v.OK() {
		t.Fatal("a history without a read round judged OK")
	}
}

func TestCheckFindsAnomalies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(h *hist)
		kind  string
	}{
		{"lost", func(h *hist) {
			h.send(1, history.OK, 0, 0)
			h.send(2, history.OK, 0, 1)
			h.read(100, [3]int64{0, 0, 1})
		}, Lost},
		{"lost in a later round", func(h *hist) {
			h.send(1, history.OK, 0, 0)
			h.read(100, [3]int64{0, 0, 1})
			h.read(101)
		}, Lost},
		{"lost without offset", func(h *hist) {
			h.send(1, history.OK, 0, -1)
			h.read(100)
		}, Lost},
		{"duplicate", func(h *hist) {
			h.send(1, history.OK, 0, 0)
			h.read(100, [3]int64{0, 0, 1}, [3]int64{0, 1, 1})
		}, Duplicate},
		{"duplicate of an indeterminate send", func(h *hist) {
			h.send(1, history.Info, 0, 0)
			h.read(100, [3]int64{0, 0, 1}, [3]int64{2, 5, 1})
		}, Duplicate},
		{"value sent twice", func(h *hist) {
			h.send(1, history.OK, 0, 0)
			h.send(1, history.Info, 0, 0)
			h.read(100, [3]int64{0, 0, 1})
		}, Duplicate},
		{"misplaced", func(h *hist) {
			h.send(1, history.OK, 0, 3)
			h.read(100, [3]int64{0, 0, 1})
		}, Misplaced},
		{"two values at one offset in a read", func(h *hist) {
			h.send(1, history.Info, 0, 0)
			h.send(2, history.Info, 0, 0)
			h.read(100, [3]int64{0, 0, 1}, [3]int64{0, 0, 2})
		}, Inconsistent},
		{"offset changed between rounds", func(h *hist) {
			h.send(1, history.Info, 0, 0)
			h.send(2, history.Info, 0, 0)
			h.read(100, [3]int64{0, 0, 1})
			h.read(101, [3]int64{0, 0, 2})
		}, Inconsistent},
		{"one offset acknowledged twice", func(h *hist) {
			h.send(1, history.OK, 0, 0)
			h.send(2, history.OK, 0, 0)
			h.read(100, [3]int64{0, 0, 1})
		}, Inconsistent},
		{"failed present", func(h *hist) {
			h.send(1, history.Fail, 0, 0)
			h.read(100, [3]int64{0, 0, 1})
		}, FailedPresent},
		{"phantom", func(h *hist) {
			h.read(100, [3]int64{0, 0, 42})
		}, Phantom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHist(t)
			tc.build(h)
			v := h.check()
			if v.OK() || v.Anomalies[tc.kind] == 0 {
				t.Fatalf("want %s, got %s", tc.kind, v.Summary())
			}
			if len(v.Examples) == 0 || !strings.HasPrefix(strings.Join(v.Examples, "\n"), tc.kind) && !strings.Contains(strings.Join(v.Examples, "\n"), "\n"+tc.kind) {
				t.Fatalf("no %s example in %q", tc.kind, v.Examples)
			}
		})
	}
}

// A value acknowledged after a round began is not expected in that round.
func TestCheckAckAfterRoundStart(t *testing.T) {
	h := newHist(t)
	h.w.Add(history.Op{Process: 1, Type: history.Invoke, F: history.Send, Value: 1})
	h.read(100)
	h.w.Add(history.Op{Process: 1, Type: history.OK, F: history.Send, Value: 1})
	h.read(101, [3]int64{0, 0, 1})
	if v := h.check(); !v.OK() {
		t.Fatalf("%s %v", v.Summary(), v.Examples)
	}
}

// An anomaly seen by several rounds counts once.
func TestCheckCountsOnce(t *testing.T) {
	h := newHist(t)
	h.send(1, history.OK, 0, 0)
	h.read(100)
	h.read(101)
	h.read(102)
	if v := h.check(); v.Anomalies[Lost] != 1 {
		t.Fatalf("lost = %d, want 1", v.Anomalies[Lost])
	}
}
