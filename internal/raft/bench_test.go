package raft

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// kafkaTimings are the defaults (a 100 ms tick, controller.quorum.
// election.timeout.ms 1000), as a deployment runs.
func kafkaTimings(c *Config) {
	c.TickInterval, c.ElectionTicks, c.HeartbeatTicks = 100*time.Millisecond, 10, 1
}

func reportPercentiles(b *testing.B, what string, d []time.Duration) {
	p50, p99 := percentile(d, 0.50), percentile(d, 0.99)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.Logf("%s over %d: p50 %v, p99 %v, max %v", what, len(d), p50, p99, percentile(d, 1))
}

// BenchmarkElectionAfterKill: each iteration stops the leader of three
// voters (as kill -9 does: no handover, its port refuses connections) and
// times until both others agree on a new leader; then the old one restarts
// and catches up. Kafka's default timings; the log is on disk with fsync.
//
//	go test -run '^$' -bench ElectionAfterKill -benchtime 20x ./internal/raft/
func BenchmarkElectionAfterKill(b *testing.B) {
	benchElection(b, func(c *cluster, lead int32) { c.stop(lead) }, func(c *cluster, lead int32) {
		c.nodes[lead].sm = &testSM{}
		c.start(lead)
	})
}

// BenchmarkElectionAfterCut: the same with the leader cut off from the
// network (no refused connection: raft's election timeout decides).
func BenchmarkElectionAfterCut(b *testing.B) {
	cut := func(on bool) func(c *cluster, lead int32) {
		return func(c *cluster, lead int32) {
			for id := range c.nodes {
				if id != lead {
					c.net.setCut(lead, id, on)
				}
			}
		}
	}
	benchElection(b, cut(true), cut(false))
}

func benchElection(b *testing.B, down, up func(c *cluster, lead int32)) {
	c := newCluster(b, 3, kafkaTimings)
	c.waitLeader(30 * time.Second)
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		c.propose(fmt.Sprint("before-", i))
		lead, _ := c.waitLeader(30 * time.Second)
		var others []int32
		for id := range c.nodes {
			if id != lead {
				others = append(others, id)
			}
		}
		down(c, lead)
		start := time.Now()
		c.waitLeader(30*time.Second, others...)
		took = append(took, time.Since(start))
		up(c, lead)
		idx := c.propose(fmt.Sprint("after-", i))
		c.waitApplied(idx, 30*time.Second)
		c.waitLeader(30 * time.Second)
	}
	reportPercentiles(b, "election", took)
}

// BenchmarkPropose3: Propose latency (committed on two of three voters,
// each fsyncing, and applied on the leader) on loopback, one proposal at a
// time; the Parallel variant runs 16 proposers (group commit).
//
//	go test -run '^$' -bench Propose3 -benchtime 2000x ./internal/raft/
func BenchmarkPropose3(b *testing.B) {
	c := newCluster(b, 3, kafkaTimings)
	lead, _ := c.waitLeader(30 * time.Second)
	n := c.nodes[lead].n
	data := make([]byte, 200)
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := n.Propose(context.Background(), data); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, "propose", lat)
}

func BenchmarkPropose3Parallel(b *testing.B) {
	c := newCluster(b, 3, kafkaTimings)
	lead, _ := c.waitLeader(30 * time.Second)
	n := c.nodes[lead].n
	data := make([]byte, 200)
	b.SetParallelism(8) // 16 proposers on two cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := n.Propose(context.Background(), data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkObserverLag: time from Propose returning on the leader
// (committed and applied there) to an observer having applied the entry.
//
//	go test -run '^$' -bench ObserverLag -benchtime 1000x ./internal/raft/
func BenchmarkObserverLag(b *testing.B) {
	c := newCluster(b, 3, kafkaTimings)
	lead, _ := c.waitLeader(30 * time.Second)
	n := c.nodes[lead].n
	o, err := StartObserver(ObserverConfig{NodeID: 100, Voters: c.voters, StateMachine: &testSM{}, Dial: c.net.dialer(100)})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	data := make([]byte, 200)
	var lat []time.Duration
	for b.Loop() {
		idx, err := n.Propose(context.Background(), data)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := o.WaitApplied(context.Background(), idx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, "observer lag", lat)
}
