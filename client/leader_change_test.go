package client

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/samsatest"
)

// Retries across a leader change (Apache Kafka, a cluster of three) and a
// broker restart (samsa, one node: every leader goes away and comes back)
// keep each key's records in order, once. kfake's leader moves are in
// TestLeaderMovesKeepOrder.

// TestProduceAcrossBrokerRestart restarts the samsa node (same port and
// data) twice while records are in flight. Batches whose acknowledgements
// were lost with the connection are resent with their sequence numbers, and
// the restarted broker, which rebuilt its producer state from the log,
// deduplicates them.
func TestProduceAcrossBrokerRestart(t *testing.T) {
	t.Parallel()
	n := samsatest.Start(t)
	b := backend{name: "samsa", addrs: []string{n.Addr()}}
	topic := newTopic(t, b, 4)
	p := newTestProducer(t, b, Linger(time.Millisecond))
	const keys, perKey = 16, 2000
	// A goroutine restarts the node when a third and two thirds of the
	// records are acknowledged, while production streams on: the restart
	// lands among batches written but not yet acknowledged.
	var produced atomic.Int64
	var unacked []int64
	restarted := make(chan error, 1)
	produceKeyedAcked(t, p, topic, keys, perKey, func(i int, acked *atomic.Int64) {
		produced.Store(int64((i + 1) * keys))
		if i != 0 {
			return
		}
		go func() {
			for _, at := range []int64{keys * perKey / 3, 2 * keys * perKey / 3} {
				for acked.Load() < at {
					time.Sleep(time.Millisecond)
				}
				unacked = append(unacked, produced.Load()-acked.Load())
				if err := n.Restart(); err != nil {
					restarted <- err
					return
				}
			}
			restarted <- nil
		}()
	})
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	t.Logf("records produced but not yet acknowledged at each restart: %v", unacked)
	checkOrdered(t, consume(t, b, topic, keys*perKey), keys, perKey, 4)
}

// TestProduceAcrossLeaderChange moves partition leaders of a replicated
// topic on each three-node cluster the environment names (nodeClusters:
// the reference Apache Kafka, samsa; scripts/test starts both) while
// records are in flight: each move rotates the partition's replica list and
// elects the new preferred leader, so the old leader answers
// NOT_LEADER_OR_FOLLOWER.
func TestProduceAcrossLeaderChange(t *testing.T) {
	cs := nodeClusters()
	if len(cs) == 0 {
		// Without a three-node cluster the leader change runs on kfake
		// (TestLeaderMovesKeepOrder); scripts/test always sets one.
		t.Log("KAFKA_REFERENCE_BOOTSTRAP and SAMSA_CLUSTER_BOOTSTRAP unset: only kfake's leader moves are tested (TestLeaderMovesKeepOrder)")
		return
	}
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) { produceAcrossLeaderChange(t, c.backend) })
	}
}

func produceAcrossLeaderChange(t *testing.T, b backend) {
	const partitions = 4
	adm, topic := replicatedTopic(t, b, partitions, nil)
	p := newTestProducer(t, b, Linger(time.Millisecond))
	moved := 0
	produceKeyed(t, p, topic, 16, 300, func(i int) {
		if i%50 == 25 {
			if moveLeader(t, adm, topic, int32(i/50)%partitions) {
				moved++
			}
		}
	})
	if moved < 3 {
		t.Fatalf("only %d of 6 leader moves took effect", moved)
	}
	t.Logf("%d leader moves during production", moved)
	checkOrdered(t, consume(t, b, topic, 16*300), 16, 300, partitions)
}

// moveLeader rotates partition's replicas (first becomes last) and
// elects the new first as leader. It reports whether the leader changed.
func moveLeader(t *testing.T, adm *kadm.Client, topic string, partition int32) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader := func() (int32, []int32) {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatalf("metadata: %v", err)
		}
		pd := md.Topics[topic].Partitions[partition]
		return pd.Leader, pd.Replicas
	}
	old, replicas := leader()
	if len(replicas) < 2 {
		t.Fatalf("partition %d has replicas %v", partition, replicas)
	}
	rotated := append(slices.Clone(replicas[1:]), replicas[0])
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, partition, rotated)
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("reassign: %v", err)
	}
	if err := res.Error(); err != nil {
		t.Fatalf("reassign: %v", err)
	}
	// The new preferred leader must be in the ISR: retry until it is.
	for ctx.Err() == nil {
		er, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {partition: {}}})
		if err != nil {
			t.Fatalf("elect leaders: %v", err)
		}
		if r := er[topic][partition]; r.Err == nil {
			break
		} else {
			t.Logf("elect partition %d: %v", partition, r.Err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for ctx.Err() == nil {
		if now, _ := leader(); now != old && now >= 0 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// replicatedTopic creates a fresh topic with replication factor 3 on the
// reference cluster b (which must have 3 brokers), deleted after the test,
// and returns an admin client whose metadata is never cached: kgo answers
// Metadata requests from its cache when younger than MetadataMinAge (5 s by
// default), and leader checks need fresh answers.
func replicatedTopic(t *testing.T, b backend, partitions int32, configs map[string]*string) (*kadm.Client, string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addrs...), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if bs, err := adm.ListBrokers(ctx); err != nil || len(bs) < 3 {
		t.Fatalf("the cluster at %v needs 3 brokers (scripts/test starts 3): %v %v", b.addrs, bs, err)
	}
	topic := newTopicName()
	resp, err := adm.CreateTopic(ctx, partitions, 3, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { adm.DeleteTopic(context.Background(), topic) })
	return adm, topic
}
