package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestProduceThroughLeaderKills is Kafka's own replication test's hard
// bounce, with samsa's producer, on each three-node cluster with node
// control (nodeClusters: the reference Apache Kafka, samsa): a topic with
// replication factor 3 and min.insync.replicas=2 is produced to
// continuously (acks=all, idempotent: the defaults) while the leader of a
// partition is killed with SIGKILL, started again and let back into the
// ISR, three times over. Every record is acknowledged, and each key's
// records are stored once, in order.
func TestProduceThroughLeaderKills(t *testing.T) {
	ran := false
	for _, c := range nodeClusters() {
		if c.dir == "" {
			continue
		}
		ran = true
		t.Run(c.name, func(t *testing.T) { produceThroughLeaderKills(t, c) })
	}
	if !ran {
		t.Log("no cluster with node control (KAFKA_REFERENCE_DIR, SAMSA_CLUSTER_DIR): leader kills are tested by scripts/test's three-node passes")
	}
}

func produceThroughLeaderKills(t *testing.T, c nodeCluster) {
	b := c.backend
	const partitions, keys = 3, 8
	minISR := "2"
	adm, topic := replicatedTopic(t, b, partitions, map[string]*string{"min.insync.replicas": &minISR})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	p := newTestProducer(t, b, Linger(time.Millisecond))
	var (
		acked, failed atomic.Int64
		partAcked     [partitions]atomic.Int64
		firstErr      atomic.Value
		produced      int
		wg            sync.WaitGroup
		stop          atomic.Bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Whole rounds of keys, so that every key ends on the same count.
		for !stop.Load() {
			for k := range keys {
				r := &Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Appendf(nil, "k%d/%d", k, produced/keys)}
				if err := p.Produce(ctx, r, func(r *Record, err error) {
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
						return
					}
					partAcked[r.Partition].Add(1)
					acked.Add(1)
				}); err != nil {
					firstErr.CompareAndSwap(nil, err)
					failed.Add(1)
					return
				}
				produced++
			}
			time.Sleep(time.Millisecond) // a few thousand records/s: the topic stays small

		}
	}()
	waitAcked := func(c *atomic.Int64, n int64, what string) {
		t.Helper()
		for c.Load() < n {
			if ctx.Err() != nil || failed.Load() > 0 {
				t.Fatalf("%s: %d acknowledged, %d failed (%v)", what, acked.Load(), failed.Load(), firstErr.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	partitionState := func(part int32) (leader int32, isr []int32) {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatalf("metadata: %v", err)
		}
		pd := md.Topics[topic].Partitions[part]
		return pd.Leader, pd.ISR
	}
	waitAcked(&acked, 2000, "before the first kill")
	for round := range 3 {
		part := int32(round % partitions)
		leader, _ := partitionState(part)
		before := partAcked[part].Load()
		c.node(t, "kill-node", leader)
		killedAt := time.Now()
		// The cluster fences the dead broker after its session timeout
		// and moves leadership; the producer retries until then.
		waitAcked(&partAcked[part], before+500, fmt.Sprintf("round %d, partition %d after killing node %d", round, part, leader))
		resumed := time.Since(killedAt)
		c.node(t, "start-node", leader)
		// Back in every partition's ISR before the next kill.
		for {
			all := true
			for pp := range int32(partitions) {
				if _, isr := partitionState(pp); len(isr) < 3 {
					all = false
				}
			}
			if all {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("round %d: node %d did not rejoin the ISR", round, leader)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("round %d: killed node %d (leader of partition %d); production resumed after %v", round, leader, part, resumed.Round(100*time.Millisecond))
		waitAcked(&acked, acked.Load()+2000, fmt.Sprintf("round %d, after the restart", round))
	}
	stop.Store(true)
	wg.Wait()
	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer ccancel()
	if err := p.Flush(cctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d records failed, first: %v", n, firstErr.Load())
	}
	if int(acked.Load()) != produced {
		t.Fatalf("%d of %d records acknowledged", acked.Load(), produced)
	}
	checkOrdered(t, consume(t, b, topic, produced), keys, produced/keys, partitions)
	t.Logf("%d records through 3 leader kills, each once and in order", produced)
}
