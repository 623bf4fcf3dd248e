package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAckWatch(t *testing.T) {
	w := &ackWatch{}
	t0 := time.Unix(100, 0)
	w.acked(t0.Add(-time.Second), t0, nil) // before any mark: ignored
	if at, _, _ := w.firstAck(); !at.IsZero() {
		t.Fatalf("an acknowledgement before the mark counted: %v", at)
	}
	w.arm(t0)
	w.acked(t0.Add(-time.Millisecond), t0.Add(time.Second), nil) // sent before the mark
	w.acked(t0.Add(time.Millisecond), t0.Add(3*time.Second), nil)
	w.acked(t0.Add(2*time.Millisecond), t0.Add(2*time.Second), nil) // earlier acknowledgement wins
	at, fails, _ := w.firstAck()
	if !at.Equal(t0.Add(2*time.Second)) || fails != 0 {
		t.Errorf("firstAck = %v, %d fails; want %v, 0", at, fails, t0.Add(2*time.Second))
	}
	got, err := w.waitAck(context.Background())
	if err != nil || !got.Equal(at) {
		t.Errorf("waitAck = %v, %v", got, err)
	}
	w.arm(t0.Add(time.Minute)) // a new mark forgets the old first acknowledgement
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := w.waitAck(ctx); err == nil {
		t.Error("waitAck without an acknowledgement since the mark returned no error")
	}
	w.acked(t0.Add(2*time.Minute), t0.Add(2*time.Minute), errors.New("boom"))
	if _, err := w.waitAck(context.Background()); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a failed record is not reported: %v", err)
	}
}

func TestReplTopicConfigs(t *testing.T) {
	p := replDefaults(false)
	for _, mode := range []string{modeKafka, modeSamsa, modeSamsaFs} {
		c := p.replTopicConfigs(mode)
		if v := c["min.insync.replicas"]; v == nil || *v != "2" {
			t.Errorf("%s: min.insync.replicas = %v", mode, v)
		}
		fm, ok := c["flush.messages"]
		if (mode == modeSamsa) != ok {
			t.Errorf("%s: flush.messages set = %v", mode, ok)
		}
		if ok && *fm != relaxedFlush {
			t.Errorf("%s: flush.messages = %s", mode, *fm)
		}
	}
	if q := replDefaults(true); q.MaxDur >= p.MaxDur || q.Kills >= p.Kills {
		t.Errorf("-quick plan %+v is not smaller than the full one", q)
	}
}

func TestServerPropertiesExtra(t *testing.T) {
	s := serverProperties(nodeConf{ID: 1, Port: 1, CtlPort: 2, Dir: "/d", Voters: "1@x:2", Nodes: 3, RF: 3, ISR: 2,
		Extra: []string{"broker.session.timeout.ms=3000"}})
	if !strings.HasSuffix(s, "\nbroker.session.timeout.ms=3000\n") {
		t.Errorf("extra property not appended:\n%s", s)
	}
}

func TestComputeUnavail(t *testing.T) {
	u := unavailRun{Kills: []leaderKill{
		{Unavail: 9 * time.Second, Rejoin: time.Second},
		{Unavail: 8 * time.Second, Rejoin: 2 * time.Second, Controller: true},
		{Error: "x"},
	}}
	f := computeUnavail(u)
	if f.Kills != 3 || f.Errors != 1 || f.Controller != 1 || f.Unavail.N != 2 || f.Unavail.P50 != 8 || f.Unavail.P99 != 9 || f.Rejoin.P50 != 1 {
		t.Errorf("computeUnavail = %+v", f)
	}
}

func TestRenderReplication(t *testing.T) {
	pl := replDefaults(false)
	pl.Sizes = []int{1024}
	run := func(mode string, rps, p99 float64) produceRun {
		return produceRun{Mode: mode, Size: 1024, Max: maxRun{RecPerSec: rps, MBPerSec: rps * 1024 / 1e6},
			Rate: rateRun{Target: 5000, Achieved: 5000, P50ms: 1, P99ms: p99}}
	}
	res := &ReplResults{KafkaVersion: "4.4.0", Systems: []string{"kafka", "samsa"}, Plan: pl,
		Produce: []produceRun{run(modeKafka, 10000, 10), run(modeSamsa, 20000, 4), run(modeSamsaFs, 12000, 8)},
		Unavail: []unavailRun{
			{Config: "kafka", System: "kafka", Session: 9 * time.Second, Kills: []leaderKill{{Unavail: 10 * time.Second}}},
			{Config: "samsa", System: "samsa", Session: 9 * time.Second, Kills: []leaderKill{{Unavail: 8 * time.Second}}},
		}}
	md := renderReplication(res)
	for _, want := range []string{
		"| 1 KiB, max throughput | 10.2 MB/s (10.0k rec/s) | 20.5 MB/s (20.0k rec/s) | 2.00× | ≥ 1.5× | pass | 12.3 MB/s (12.0k rec/s) | 1.20× |",
		"| 1.00 ms / 10.0 ms | 1.00 ms / 4.00 ms | 0.40× | ≤ 0.5× | pass | 1.00 ms / 8.00 ms | 0.80× |",
		"| samsa | 9000 | 1 | 8.00 s | 8.00 s | 8.00 s | 8.00 s | 0.80× | 0.80× |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	res.Produce[1].Max.RecPerSec = 12000 // 1.2×: short of the goal
	if md := renderReplication(res); !strings.Contains(md, "**fail** (1.25× short)") {
		t.Errorf("a throughput short of the goal is not a failure:\n%s", md)
	}
}

// With rounds, the p99 ratio is the median of the round-by-round ratios
// (kafka's round i against samsa's round i), each listed beside it, and
// every round has a row of its own.
func TestRenderReplicationRounds(t *testing.T) {
	pl := replDefaults(false)
	pl.Sizes = []int{100}
	run := func(mode string, p99s ...float64) produceRun {
		p := produceRun{Mode: mode, Size: 100, Max: maxRun{RecPerSec: 1000, MBPerSec: 0.1}}
		for _, v := range p99s {
			p.Rounds = append(p.Rounds, rateRun{Target: 500, Achieved: 500, P50ms: 1, P99ms: v, LoadBefore: "1 2 3"})
		}
		p.Rate = p.Rounds[0]
		return p
	}
	res := &ReplResults{KafkaVersion: "4.4.0", Plan: pl, Produce: []produceRun{
		run(modeKafka, 100, 10, 40), run(modeSamsa, 20, 8, 10), run(modeSamsaFs, 50, 5, 80)}}
	md := renderReplication(res)
	for _, want := range []string{
		"| 0.25× (0.20×, 0.80×, 0.25×) | ≤ 0.5× | pass |",
		"| 0.50× (0.50×, 0.50×, 2.00×) |",
		"| 100 B | 3 | samsa-fsync | 500 | 500 | 1.00 | 80.0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	rs := roundRatios(res.Produce[1], res.Produce[0])
	if len(rs) != 3 || rs[0] != 0.2 {
		t.Errorf("roundRatios = %v", rs)
	}
	lat := []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}
	p := pooled([]rateRun{{Target: 5, Achieved: 4, Records: 2}, {Target: 5, Achieved: 6, Records: 1}}, lat)
	if p.Records != 3 || p.Achieved != 5 || p.P50ms != 2 || p.MaxMs != 3 {
		t.Errorf("pooled = %+v", p)
	}
}
