package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/chaos/checker"
	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/chaos/killcycle"
)

// hist builds a history: every entry 1µs after the last unless at moves
// the clock.
type hist struct {
	ops []history.Op
	t   int64
}

func (h *hist) add(op history.Op) {
	op.Index, op.Time = int64(len(h.ops)), h.t
	h.t += 1000
	if op.F == history.Send || op.F == history.FinalRead {
		op.Topic = "chaos"
	}
	h.ops = append(h.ops, op)
}

func (h *hist) at(ms int64) *hist { h.t = ms * 1_000_000; return h }

func (h *hist) send(proc int, v int64, p int32, off int64) {
	h.add(history.Op{Process: proc, Type: history.Invoke, F: history.Send, Value: v})
	h.add(history.Op{Process: proc, Type: history.OK, F: history.Send, Value: v, Partition: p, Offset: off})
}

func (h *hist) fault(kind string, targets, leaders []int32) {
	h.add(history.Op{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: kind, Targets: targets, Leaders: leaders})
}

func (h *hist) heal(kind string) {
	h.add(history.Op{Process: history.Nemesis, Type: history.OK, F: history.Fault, Fault: kind})
}

func (h *hist) final(recs ...history.Record) {
	h.add(history.Op{Process: 100, Type: history.Invoke, F: history.FinalRead})
	h.add(history.Op{Process: 100, Type: history.OK, F: history.FinalRead, Records: recs})
}

func rec(p int32, off, v int64) history.Record {
	return history.Record{Partition: p, Offset: off, Value: v}
}

// goodHistory is a valid run: a kill of p0's leader answered after
// leaderMS, a kill-all whose heal is answered after 5 ms on p0 and 7 ms
// on p1.
func goodHistory(leaderMS int64) *hist {
	h := &hist{}
	h.send(0, 1, 0, 0)
	h.send(1, 2, 1, 0)
	h.at(10).fault("kill", []int32{1}, []int32{1, 2})
	h.at(11).send(1, 3, 1, 1)
	h.at(10+leaderMS).send(0, 4, 0, 1)
	h.heal("kill")
	h.at(20_000).fault("kill-all", []int32{1, 2, 3}, []int32{1, 2})
	h.at(25_000).heal("kill-all")
	h.at(25_005).send(0, 5, 0, 2)
	h.at(25_007).send(1, 6, 1, 2)
	h.at(26_000).fault("heal-all", nil, nil)
	h.heal("heal-all")
	h.at(26_001).send(0, 7, 0, 3)
	h.send(1, 8, 1, 3)
	h.final(rec(0, 0, 1), rec(0, 1, 4), rec(0, 2, 5), rec(0, 3, 7), rec(1, 0, 2), rec(1, 1, 3), rec(1, 2, 6), rec(1, 3, 8))
	return h
}

func writeRun(t *testing.T, dir string, seed uint64, h *hist, summary string, recorded *bool) {
	t.Helper()
	d := filepath.Join(dir, fmt.Sprintf("seed-%d", seed))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Target: "samsa", Version: "abc123", Seed: seed, Layout: "combined", Duration: "30s", Quiet: "5s", Faults: []string{"kill", "kill-all"},
		Started: fmt.Sprintf("2026-12-%02dT10:00:00Z", seed)}
	b, _ := json.Marshal(&cfg)
	must(t, os.WriteFile(filepath.Join(d, "config.json"), b, 0o644))
	if summary != "" {
		must(t, os.WriteFile(filepath.Join(d, "summary.txt"), []byte(summary+"\n"), 0o644))
	}
	if h != nil {
		var hb bytes.Buffer
		enc := json.NewEncoder(&hb)
		for i := range h.ops {
			must(t, enc.Encode(&h.ops[i]))
		}
		must(t, os.WriteFile(filepath.Join(d, "history.jsonl"), hb.Bytes(), 0o644))
	}
	if recorded != nil {
		res := checker.Check(h.ops, checker.Options{})
		var rb bytes.Buffer
		must(t, res.WriteJSON(&rb))
		// Rewrite "valid" to what the test says was recorded.
		var m map[string]any
		must(t, json.Unmarshal(rb.Bytes(), &m))
		m["valid"] = *recorded
		b, _ := json.Marshal(m)
		must(t, os.WriteFile(filepath.Join(d, "results.json"), b, 0o644))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func complete(seed uint64) string {
	return fmt.Sprintf("seed=%d layout=combined elapsed=40s faults[kill=1 kill-all=1] fault-failures=0 sends ok=8 fail=0 info=0 polls=0 polled=0 final=8 audit=0 crashes=1 complete", seed)
}

func synthetic(t *testing.T) string {
	dir := t.TempDir()
	no := false
	writeRun(t, dir, 1, goodHistory(3), complete(1), &no) // recorded invalid by an older checker
	writeRun(t, dir, 2, goodHistory(9), complete(2), nil)
	// Seed 3 lost a write: value 8 acknowledged, not in the final read.
	bad := goodHistory(3)
	last := &bad.ops[len(bad.ops)-1]
	last.Records = last.Records[:len(last.Records)-1]
	writeRun(t, dir, 3, bad, complete(3), nil)
	// Seed 5 did not complete: no history.
	writeRun(t, dir, 5, nil, "seed=5 layout=combined elapsed=1s faults[] fault-failures=0 sends ok=0 fail=0 info=0 polls=0 polled=0 final=0 audit=0 crashes=0 error: cluster not ready", nil)
	must(t, os.MkdirAll(filepath.Join(dir, "seed-x"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "samsa"), []byte("binary"), 0o644))
	return dir
}

func TestAggregate(t *testing.T) {
	runs, err := Load(synthetic(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := Sum(runs)
	if a.Runs != 4 || Seeds(a.Seeds) != "1-3, 5" {
		t.Fatalf("runs %d seeds %v", a.Runs, a.Seeds)
	}
	if got := [3]string{Seeds(a.ByStatus[Valid]), Seeds(a.ByStatus[Invalid]), Seeds(a.ByStatus[Errored])}; got != [3]string{"1-2", "3", "5"} {
		t.Errorf("by status %v", got)
	}
	if !strings.Contains(a.Errors[5], "cluster not ready") || !strings.Contains(a.Errors[5], "no history.jsonl") {
		t.Errorf("seed 5 error %q", a.Errors[5])
	}
	if !slices.Equal(a.Rejudged, []uint64{1}) {
		t.Errorf("rejudged %v", a.Rejudged)
	}
	if a.Faults["kill"] != 3 || a.Faults["kill-all"] != 3 || a.Faults[healAll] != 0 || a.FaultRuns["kill"] != 3 {
		t.Errorf("faults %v in runs %v", a.Faults, a.FaultRuns)
	}
	if a.Sends.OK != 24 || a.Sends.Fail != 0 || a.FinalValues != 23 || a.Crashes != 3 {
		t.Errorf("sends %+v, final values %d, crashes %d", a.Sends, a.FinalValues, a.Crashes)
	}
	if lw := a.Anomalies[checker.LostWrite]; lw.Count != 1 || !slices.Equal(lw.Seeds, []uint64{3}) {
		t.Errorf("lost writes %+v", lw)
	}
	if n := a.Anomalies[checker.Duplicate].Count; n != 0 {
		t.Errorf("duplicates %d", n)
	}
	// Leader faults: the kill of node 1 took p0's leader only; answered
	// after 3, 9 and 3 ms (each send completes 1µs after its invocation).
	if l := a.Leader; l.N != 3 || l.P50Nanos != 3_001_000 || l.P99Nanos != 9_001_000 || l.ByFault["kill"].N != 3 || l.Assumed != 0 {
		t.Errorf("leader %+v", l)
	}
	if k := a.KillAll; k.N != 6 || k.P50Nanos != 5_001_000 || k.MaxNanos != 7_001_000 {
		t.Errorf("kill-all %+v", k)
	}
	// The older figure charges the kill-all its 5 s down.
	if a.FromStart.MaxNanos < int64(5*time.Second) {
		t.Errorf("from start %+v", a.FromStart)
	}
	met, why := a.Met()
	if met || len(why) != 2 || !strings.Contains(why[0], "seeds 3") || !strings.Contains(why[1], "seeds 5") {
		t.Errorf("met %v %q", met, why)
	}
}

func TestMarkdown(t *testing.T) {
	dir := synthetic(t)
	render := func() string {
		runs, err := Load(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		must(t, Markdown(&b, Sum(runs)))
		return b.String()
	}
	md := render()
	for _, want := range []string{
		"from the 4 runs of",
		"**Goal not met** over 4 runs: 1 of 4 runs show anomalies (seeds 3); 1 of 4 runs did not complete (seeds 5).",
		"| Runs | 4 (2 valid, 1 invalid, 1 errored) |",
		"| Seeds | 1-3, 5 |",
		"| Run on | 2026-12-01 to 2026-12-05 |\n| Target | samsa (abc123) |",
		"| Cluster | three combined broker and controller nodes,",
		"| 3 | invalid | 2 | 8 | 0 | 0 | 3ms | 7ms |\n| 5 | errored | 0 | 0 | 0 | 0 | – | – |",
		"| Duration under faults, per run | 30s |",
		"| kill | 3 | 3 |\n| kill-all | 3 | 3 |\n| **all** | 6 | |",
		"| lost-write | 1 | 3 |",
		"| duplicate | 0 | – |",
		"| after a leader fault | **alone** (the goal) | 3 | 3ms | 9ms | 9ms | 0 | 0 |",
		"| after a leader fault | all | 3 | 3ms | 9ms | 9ms | 0 | 0 |",
		"| recovery after kill-all | kill-all | 6 | 5ms | 7ms | 7ms | 0 |",
		"- seed 5: cluster not ready",
		"The checker now judges seeds 1 otherwise",
		"With fewer than 100 samples, as here (3 after leader faults), the nearest-rank p99 is the maximum.",
		"make chaos SEED=<first seed>", // seeds not contiguous
		"go run ./chaos/cmd/report -in OUT,docs/reliability-runs -out docs/reliability.md",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if again := render(); again != md {
		t.Error("two renderings of the same runs differ")
	}
}

func TestGoalMet(t *testing.T) {
	dir := t.TempDir()
	for s := uint64(7); s <= 9; s++ {
		writeRun(t, dir, s, goodHistory(int64(s)), complete(s), nil)
	}
	runs, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := Sum(runs)
	if met, why := a.Met(); !met {
		t.Fatalf("not met: %q", why)
	}
	var b bytes.Buffer
	must(t, Markdown(&b, a))
	lacks(t, b.String(),
		"**Goal met** over 3 runs: 0 anomalies; unavailability after leader faults alone p50 8ms, p99 9ms (3 samples).",
		"make chaos SEED=7 RUNS=3 LAYOUT=combined DURATION=30s QUIET=5s",
	)
	// A p99 over the goal fails it.
	writeRun(t, dir, 10, goodHistory(11_000), complete(10), nil)
	runs, _ = Load(dir, Options{})
	if met, why := Sum(runs).Met(); met || !strings.Contains(why[0], "p99 11s > 10s") {
		t.Errorf("met %v %q", met, why)
	}
}

func TestRecordedAndSeedFilter(t *testing.T) {
	dir := synthetic(t)
	runs, err := Load(dir, Options{Recorded: true, Seeds: []uint64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs", len(runs))
	}
	// Seed 1's results.json is used as recorded (its anomaly counts are
	// zero, but it says invalid: the counts decide); seed 2 has none.
	if runs[0].Result == nil || runs[0].Status() != Valid || *runs[0].Recorded {
		t.Errorf("seed 1: %+v", runs[0])
	}
	if runs[1].Result != nil || runs[1].Status() != Errored || !strings.Contains(runs[1].Err, "no results.json") {
		t.Errorf("seed 2: %+v", runs[1])
	}
	if _, err := Load(t.TempDir(), Options{}); err == nil {
		t.Error("an empty directory loaded")
	}
}

func TestSeeds(t *testing.T) {
	for _, c := range []struct {
		in   []uint64
		want string
	}{
		{nil, "none"},
		{[]uint64{5}, "5"},
		{[]uint64{3, 1, 2}, "1-3"},
		{[]uint64{1, 2, 3, 5, 7, 8, 8, 200}, "1-3, 5, 7-8, 200"},
	} {
		if got := Seeds(c.in); got != c.want {
			t.Errorf("Seeds(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzLoadRun: whatever a run directory's files hold, a report of it is
// written without crashing, and the run is classified.
func FuzzLoadRun(f *testing.F) {
	h := goodHistory(3)
	var hb bytes.Buffer
	enc := json.NewEncoder(&hb)
	for i := range h.ops {
		if err := enc.Encode(&h.ops[i]); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(hb.Bytes(), []byte(complete(1)), []byte(`{"valid":true,"anomalies":{}}`), []byte(`{"layout":"combined","duration":"30s"}`))
	f.Add([]byte("{"), []byte("error: x"), []byte("[]"), []byte("null"))
	f.Fuzz(func(t *testing.T, hist, summary, results, config []byte) {
		dir := t.TempDir()
		d := filepath.Join(dir, "seed-1")
		must(t, os.MkdirAll(d, 0o755))
		for name, b := range map[string][]byte{"history.jsonl": hist, "summary.txt": summary, "results.json": results, "config.json": config} {
			must(t, os.WriteFile(filepath.Join(d, name), b, 0o644))
		}
		for _, recorded := range []bool{false, true} {
			runs, err := Load(dir, Options{Recorded: recorded})
			if err != nil {
				t.Fatal(err)
			}
			if st := runs[0].Status(); st != Valid && st != Invalid && st != Errored {
				t.Fatalf("status %q", st)
			}
			var b bytes.Buffer
			if err := Markdown(&b, Sum(runs)); err != nil || !strings.Contains(b.String(), "| Runs | 1 (") {
				t.Fatalf("report %v:\n%s", err, b.String())
			}
		}
	})
}

func TestPoolingOverlaps(t *testing.T) {
	var p pooling
	p.add(checker.Measure{Samples: []checker.Gap{{Fault: "kill", Nanos: 5}, {Fault: "pause", Nanos: 9, Overlaps: true}}, Unrecovered: 1, Assumed: 2})
	p.add(checker.Measure{Samples: []checker.Gap{{Fault: "pause", Nanos: 1, Overlaps: true}}})
	got := p.done()
	if got.N != 3 || got.MaxNanos != 9 || got.Overlapping != 2 || got.OverlapByFault["pause"] != 2 || got.OverlapByFault["kill"] != 0 ||
		got.Unrecovered != 1 || got.Assumed != 2 || got.ByFault["pause"].N != 2 {
		t.Errorf("pooled %+v", got)
	}
	// Only the kill's sample cleared before the next fault.
	if got.Alone.N != 1 || got.Alone.MaxNanos != 5 {
		t.Errorf("samples that did not run into the next fault: %+v, want the one of 5ns", got.Alone)
	}
}

func TestParseSeeds(t *testing.T) {
	got, err := ParseSeeds("1-3, 5,7-8")
	if err != nil || !slices.Equal(got, []uint64{1, 2, 3, 5, 7, 8}) {
		t.Errorf("ParseSeeds = %v, %v", got, err)
	}
	if back := Seeds(got); back != "1-3, 5, 7-8" {
		t.Errorf("round trip %q", back)
	}
	if got, err := ParseSeeds(""); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"x", "3-1", "1-", "-2", "0-99999999999"} {
		if _, err := ParseSeeds(bad); err == nil {
			t.Errorf("ParseSeeds(%q) accepted", bad)
		}
	}
}

// TestKeptRuns checks runs kept without their histories (scripts/chaos-keep)
// added to a new batch: judged by their results.json, counted once, said
// so in the report; a seed in two inputs is refused.
func TestKeptRuns(t *testing.T) {
	batch, kept := t.TempDir(), t.TempDir()
	valid := true
	writeRun(t, batch, 1, goodHistory(5), complete(1), &valid)
	writeRun(t, kept, 2, goodHistory(6), complete(2), &valid)
	writeRun(t, kept, 3, goodHistory(7), complete(3), &valid)
	for _, s := range []int{2, 3} {
		must(t, os.Remove(filepath.Join(kept, fmt.Sprintf("seed-%d", s), "history.jsonl")))
	}
	runs, err := LoadAll([]string{batch, kept}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := Sum(runs)
	if a.Runs != 3 || a.FromRecord != 2 || len(a.ByStatus[Valid]) != 3 || a.Leader.N != 3 {
		t.Fatalf("runs %d, from record %d, valid %v, leader samples %d", a.Runs, a.FromRecord, a.ByStatus[Valid], a.Leader.N)
	}
	var b bytes.Buffer
	must(t, Markdown(&b, a))
	if want := "The histories of 1 runs are judged by chaos/checker; 2 runs kept without their histories"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q", want)
	}
	// A kept run that recorded no results stays errored.
	must(t, os.Remove(filepath.Join(kept, "seed-3", "results.json")))
	runs, _ = LoadAll([]string{batch, kept}, Options{})
	if a := Sum(runs); len(a.ByStatus[Errored]) != 1 || a.ByStatus[Errored][0] != 3 {
		t.Errorf("errored %v, want [3]", a.ByStatus[Errored])
	}
	writeRun(t, kept, 1, goodHistory(5), complete(1), &valid)
	if _, err := LoadAll([]string{batch, kept}, Options{}); err == nil || !strings.Contains(err.Error(), "seed 1 is in both") {
		t.Errorf("a seed in two inputs: %v", err)
	}
}

// TestKillCyclesAndShortfalls checks the kill-cycle section and what the
// verdict says the inputs lack.
func TestKillCyclesAndShortfalls(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, 1, goodHistory(5), complete(1), nil)
	a, err := Write(io.Discard, []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	short := strings.Join(a.Shortfalls(), "; ")
	if !strings.Contains(short, "1 of the 200 cluster runs") || !strings.Contains(short, "no single-node kill -9 cycles recorded") {
		t.Errorf("shortfalls %q", short)
	}
	write := func(name string, r killcycle.Record) {
		b, _ := json.Marshal(r)
		must(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	write("killcycle-seed-1.json", killcycle.Record{Target: "samsa", Seed: 1, Started: "2026-12-03T15:00:00Z", Cycles: 600, Acked: 5000, Rounds: 7, OK: true,
		Anomalies: map[string]int{"lost": 0}})
	a, _ = Write(io.Discard, []string{dir}, Options{})
	if short := strings.Join(a.Shortfalls(), "; "); !strings.Contains(short, "600 of the 1000 single-node kill -9 cycles") {
		t.Errorf("shortfalls %q", short)
	}
	write("killcycle-seed-2.json", killcycle.Record{Target: "samsa", Seed: 2, Started: "2026-12-03T16:00:00Z", Cycles: 500, Acked: 4000, Rounds: 6,
		Anomalies: map[string]int{"lost": 3}})
	write("killcycle-seed-3.json", killcycle.Record{Target: "kafka", Seed: 3, Cycles: 5000, Rounds: 1, OK: true})
	var b bytes.Buffer
	a, _ = Write(&b, []string{dir}, Options{})
	short = strings.Join(a.Shortfalls(), "; ")
	if strings.Contains(short, "kill -9 cycles asked for") || !strings.Contains(short, "anomalies or no read round (seeds 2)") {
		t.Errorf("shortfalls %q", short)
	}
	lacks(t, b.String(),
		"## Single node: kill -9 cycles",
		"| samsa | 2 | 2026-12-03 | 500 | 4000 | 0 | 0 | 6 | 0 | **lost 3** |",
		"samsa: 1100 cycles in 2 runs, 9000 acknowledged sends, 3 anomalies.",
		"kafka: 5000 cycles in 1 runs",
		"**Figures incomplete**",
	)
}

// TestCompoundOutagesNotJudged checks that a long outage of two faults at
// once (a kill of p0's leader during a partition) is reported as compound
// and leaves the goal to the outages of faults alone.
func TestCompoundOutagesNotJudged(t *testing.T) {
	dir := t.TempDir()
	h := &hist{}
	h.send(0, 1, 0, 0)
	h.at(10).fault("partition-one", []int32{3}, []int32{1})
	h.at(11).fault("kill", []int32{1}, []int32{1})
	h.at(5_000).heal("partition-one")
	h.at(15_011).send(0, 2, 0, 1) // 15 s after the kill
	h.heal("kill")
	h.at(20_000).fault("pause", []int32{1}, []int32{1})
	h.at(20_004).send(0, 3, 0, 2)
	h.heal("pause")
	h.final(rec(0, 0, 1), rec(0, 1, 2), rec(0, 2, 3))
	writeRun(t, dir, 1, h, complete(1), nil)
	var b bytes.Buffer
	a, err := Write(&b, []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if met, why := a.Met(); !met {
		t.Errorf("not met: %q", why)
	}
	if a.Leader.Alone.N != 1 || a.Leader.Compound.N != 1 || a.Leader.During != 1 || a.Leader.P99Nanos < 15e9 {
		t.Errorf("alone %+v, compound %+v, during %d, all p99 %d", a.Leader.Alone, a.Leader.Compound, a.Leader.During, a.Leader.P99Nanos)
	}
	lacks(t, b.String(),
		"| after a leader fault | compound | 1 | 15s | 15s | 15s | 0 | 1 |",
		"compound outages (two faults at once, not judged) p99 15s",
	)
}

// TestKafkaComparison checks that runs against the Kafka reference are
// set apart from samsa's, and are the subject when they are all there is.
func TestKafkaComparison(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, 1, goodHistory(5), complete(1), nil)
	writeRun(t, dir, 2, goodHistory(7000), complete(2), nil)
	asKafka(t, filepath.Join(dir, "seed-2"))
	var md bytes.Buffer
	a, err := Write(&md, []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Runs != 1 || a.Kafka == nil || a.Kafka.Runs != 1 || a.Leader.MaxNanos > 1e9 || a.Kafka.Leader.MaxNanos < 7e9 {
		t.Fatalf("samsa %d runs (max %d), kafka %+v", a.Runs, a.Leader.MaxNanos, a.Kafka)
	}
	lacks(t, md.String(),
		"## Comparison: the same harness against Apache Kafka",
		"| Runs (valid / invalid / errored) | 1 / 0 / 0 | 1 / 0 / 0 |",
		"| Unavailability after leader faults alone, p50 / p99 (samples) | 5ms / 5ms (1) | 7s / 7s (1) |",
	)
	// The same seed against Kafka, kept elsewhere or beside samsa's as
	// kafka-seed-N (scripts/chaos-keep), is another run.
	other := t.TempDir()
	writeRun(t, other, 1, goodHistory(6), complete(1), nil)
	asKafka(t, filepath.Join(other, "seed-1"))
	if runs, err := LoadAll([]string{dir, other}, Options{}); err != nil || len(runs) != 3 {
		t.Errorf("seed 1 of samsa and of kafka: %d runs, %v", len(runs), err)
	}
	must(t, os.Rename(filepath.Join(other, "seed-1"), filepath.Join(dir, "kafka-seed-1")))
	if runs, err := LoadAll([]string{dir}, Options{}); err != nil || len(runs) != 3 {
		t.Errorf("kafka-seed-1 beside seed-1: %d runs, %v", len(runs), err)
	}
	must(t, os.RemoveAll(filepath.Join(dir, "kafka-seed-1")))
	must(t, os.RemoveAll(filepath.Join(dir, "seed-1")))
	md.Reset()
	a, err = Write(&md, []string{dir}, Options{})
	if err != nil || a.Runs != 1 || !a.KafkaOnly || a.Kafka != nil || strings.Contains(md.String(), "## Comparison") {
		t.Errorf("kafka only: err %v, runs %d, kafka-only %v, comparison section %v", err, a.Runs, a.KafkaOnly, strings.Contains(md.String(), "## Comparison"))
	}
}

// lacks reports each of wants that the report md does not contain.
func lacks(t *testing.T, md string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// asKafka makes the run in dir (written by writeRun) a run against the
// Kafka reference.
func asKafka(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), bytes.Replace(b, []byte(`"target":"samsa"`), []byte(`"target":"kafka"`), 1), 0o644))
}
