package main

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	twenty := make([]float64, 20)
	for i := range twenty {
		twenty[i] = float64(20 - i) // 20, 19, ..., 1: unsorted on purpose
	}
	cases := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{twenty, 50, 10},
		{twenty, 99, 20}, // p99 of 20 is the largest
		{twenty, 95, 19},
		{twenty, 5, 1},
		{twenty, 100, 20},
		{[]float64{3, 1, 2}, 50, 2},
		{[]float64{3, 1, 2, 4, 5}, 99, 5},
		{[]float64{7}, 1, 7},
		{[]float64{1, 2}, 50, 1},
	}
	for _, c := range cases {
		got, ok := percentile(c.xs, c.p)
		if !ok || got != c.want {
			t.Errorf("percentile(%v, %v) = %v, %v; want %v", c.xs, c.p, got, ok, c.want)
		}
	}
	if twenty[0] != 20 {
		t.Errorf("percentile sorted its input in place")
	}
	for _, p := range []float64{0, -1, 101, math.NaN()} {
		if _, ok := percentile(twenty, p); ok {
			t.Errorf("percentile(p=%v) ok", p)
		}
	}
	if _, ok := percentile(nil, 50); ok {
		t.Errorf("percentile of no samples ok")
	}
}

func TestPercentile200(t *testing.T) {
	xs := make([]float64, 200)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	if v, _ := percentile(xs, 99); v != 198 {
		t.Errorf("p99 of 1..200 = %v, want 198", v)
	}
	if v, _ := percentile(xs, 50); v != 100 {
		t.Errorf("p50 of 1..200 = %v, want 100", v)
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{5, 1, 4, 2, 3})
	if s != (summary{N: 5, P50: 3, P99: 5, Min: 1, Max: 5}) {
		t.Errorf("summarize = %+v", s)
	}
	if (summarize(nil) != summary{}) {
		t.Errorf("summarize(nil) not zero")
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		total, n int
		want     []int
	}{
		{20, 5, []int{4, 4, 4, 4, 4}},
		{20, 3, []int{7, 7, 6}},
		{200, 3, []int{67, 67, 66}},
		{2, 5, []int{1, 1, 0, 0, 0}},
		{0, 2, []int{0, 0}},
	}
	for _, c := range cases {
		got := split(c.total, c.n)
		if !slices.Equal(got, c.want) {
			t.Errorf("split(%d, %d) = %v, want %v", c.total, c.n, got, c.want)
		}
		sum := 0
		for _, v := range got {
			sum += v
		}
		if sum != c.total {
			t.Errorf("split(%d, %d) sums to %d", c.total, c.n, sum)
		}
	}
	if split(5, 0) != nil {
		t.Errorf("split over no parts")
	}
}

func TestRatioAndVerdict(t *testing.T) {
	if r := ratio(1, 4, true, true); r != 0.25 {
		t.Errorf("ratio = %v", r)
	}
	for _, r := range []float64{ratio(1, 4, false, true), ratio(1, 4, true, false), ratio(1, 0, true, true)} {
		if !math.IsNaN(r) {
			t.Errorf("missing side gave %v", r)
		}
	}
	if v := verdict(0.5); v != "pass" {
		t.Errorf("verdict(0.5) = %q", v)
	}
	if v := verdict(0.75); v != "**fail** (1.5× away)" {
		t.Errorf("verdict(0.75) = %q", v)
	}
	if v := verdict(math.NaN()); v != "—" {
		t.Errorf("verdict(NaN) = %q", v)
	}
}

func TestFormat(t *testing.T) {
	cases := map[string]string{
		fmtSeconds(0.0123, 1):  "12.3 ms",
		fmtSeconds(2.5, 1):     "2.50 s",
		fmtSeconds(13.54, 1):   "13.5 s",
		fmtSeconds(0.00045, 1): "0.45 ms",
		fmtSeconds(1, 0):       "—",
		fmtBytes(396.7e6, 3):   "397 MB",
		fmtBytes(11.6e6, 3):    "11.6 MB",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// A run of both systems: the figures are the nearest-rank percentiles of
// every sample, failed kills are counted and left out, and the markdown
// carries the ratios and verdicts against the goal.
func TestComputeFiguresAndMarkdown(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	kill := func(elect, write, rejoin int) killResult {
		return killResult{Killed: 1, NewLeader: 2, Elect: ms(elect)[0], Write: ms(write)[0], Rejoin: ms(rejoin)[0]}
	}
	mem := func(mb ...int64) []memStatus {
		var out []memStatus
		for _, m := range mb {
			out = append(out, memStatus{RSS: m * 1e6, HWM: m*1e6 + 1e6})
		}
		return out
	}
	res := &Results{
		Started: time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC), Finished: time.Date(2026, 12, 2, 11, 30, 0, 0, time.UTC),
		Command: "scripts/bench-cluster", KafkaVersion: "4.4.0", Systems: []string{"kafka", "samsa"}, Reps: 2,
		Plan: plan{Nodes: 3, RF: 3, Idle: 30 * time.Second, Creates: 4, Kills: 4, Interval: 5 * time.Millisecond},
		Runs: []repResult{
			{System: "kafka", Rep: 0, LoadBefore: "1.50 2.00 2.10", ColdStart: 10 * time.Second,
				Phases: coldPhases{FirstMetadata: 7 * time.Second, AllBrokers: 9 * time.Second, Ready: 10 * time.Second}, Mem: mem(400, 410, 390), Creates: ms(60, 100),
				Kills: []killResult{kill(2000, 2100, 9000), kill(3000, 3100, 10000)}},
			{System: "samsa", Rep: 0, LoadBefore: "0.90 1 1", ColdStart: 200 * time.Millisecond, Mem: mem(20, 22, 21), Creates: ms(2, 4),
				Kills: []killResult{kill(10, 12, 50), {Killed: 3, Error: "no new leader: boom"}}},
			{System: "samsa", Rep: 1, ColdStart: 300 * time.Millisecond, Mem: mem(20, 24, 21), Creates: ms(3, 50),
				Kills: []killResult{kill(20, 25, 60)}},
			{System: "kafka", Rep: 1, LoadBefore: "2.25 2.00 2.10", ColdStart: 12 * time.Second,
				Phases: coldPhases{FirstMetadata: 8 * time.Second, AllBrokers: 11 * time.Second, Ready: 12 * time.Second}, Mem: mem(402, 408, 394), Creates: ms(70, 80),
				Kills: []killResult{kill(2500, 2600, 9500), kill(2200, 2300, 9100)}},
		},
	}
	k := computeFigures(res.Runs, "kafka")
	s := computeFigures(res.Runs, "samsa")
	if k.ColdStart.N != 2 || k.ColdStart.P50 != 10 || k.ColdStart.P99 != 12 {
		t.Errorf("kafka cold start %+v", k.ColdStart)
	}
	if k.Create.N != 4 || k.Create.P50 != 0.07 || k.Create.P99 != 0.1 {
		t.Errorf("kafka creates %+v", k.Create)
	}
	if s.Kills != 3 || s.KillErrors != 1 || s.Elect.N != 2 || s.Elect.P99 != 0.02 {
		t.Errorf("samsa kills %+v elect %+v", s, s.Elect)
	}
	if k.Elect.P50 != 2.2 || k.Elect.P99 != 3 {
		t.Errorf("kafka elect %+v", k.Elect)
	}
	if k.RSS.N != 6 || k.RSS.P50 != 400e6 {
		t.Errorf("kafka RSS %+v", k.RSS)
	}
	if !slices.Equal(s.NodeRSS, []float64{20e6, 22e6, 21e6}) {
		t.Errorf("samsa per-node RSS %v", s.NodeRSS)
	}
	md := renderMarkdown(res)
	for _, want := range []string{
		"| cold start to ready, p50 | 10.0 s | 200 ms | 0.02× | ≤ 0.5 | pass |",
		"| CreateTopics latency, p99 | 100 ms | 50.0 ms | 0.50× | ≤ 0.5 | pass |",
		"| new controller after kill -9, p99 | 3.00 s | 20.0 ms | 0.01× | ≤ 0.5 | pass |",
		"| idle RSS per node (VmRSS, median) | 400 MB | 21.0 MB | 0.05× | ≤ 0.5 | pass |",
		"| cold start: first Metadata answer, p50 | 7.00 s | — | — | (none) |  |", // samsa's runs carry no phases
		"| cold start: every broker in Metadata, p50 | 9.00 s |",
		"| killed node back in the quorum, p50 | 9.10 s | 50.0 ms | 0.01× | (none) |  |",
		"Furthest from the goal: **CreateTopics latency, p99**, samsa/Kafka 0.50×",
		"samsa 2 cold starts, 4 CreateTopics, 3 kills (1 failed)",
		"- samsa repetition 1 kill 2: no new leader: boom",
		"Reproduce: `scripts/bench-cluster`.",
		"| 2 | 408 MB | 409 MB | 22.0 MB | 23.0 MB |",
		"Load average (1 min) at the start of each repetition: kafka 1.50, 2.25; samsa 0.90, ?.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// A run of one system has no ratios.
	res.Systems = []string{"kafka"}
	res.Runs = res.Runs[:1]
	md = renderMarkdown(res)
	if !strings.Contains(md, "| cold start to ready, p50 | 10.0 s | — | — | ≤ 0.5 | — |") {
		t.Errorf("kafka-only markdown:\n%s", md)
	}
}
