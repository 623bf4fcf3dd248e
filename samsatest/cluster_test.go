package samsatest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/samsatest"
)

func admin(t *testing.T, seeds ...string) *kadm.Client { return adminB(t, seeds...) }

func adminB(t testing.TB, seeds ...string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func ctx(t *testing.T) context.Context { return ctxB(t) }

func ctxB(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// brokersSeen returns the unfenced brokers a node's Metadata lists.
func brokersSeen(t *testing.T, addr string) []int32 {
	t.Helper()
	m, err := admin(t, addr).Metadata(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	for _, b := range m.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids
}

// A topic created through node 3 is visible from node 1, with replicas
// on all three brokers and leaders spread over them.
func TestClusterOneMetadataLog(t *testing.T) {
	c := samsatest.StartCluster(t, 3)
	if got := brokersSeen(t, c.Node(1).Addr()); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("node 1 lists brokers %v", got)
	}
	res, err := admin(t, c.Node(3).Addr()).CreateTopic(ctx(t), 6, 3, nil, "orders")
	if err != nil || res.Err != nil {
		t.Fatalf("create through node 3: %v %v", err, res.Err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		td, err := admin(t, c.Node(1).Addr()).ListTopics(ctx(t), "orders")
		if err == nil && td["orders"].Err == nil && len(td["orders"].Partitions) == 6 {
			leaders := map[int32]int{}
			for _, p := range td["orders"].Partitions {
				if len(p.Replicas) != 3 {
					t.Fatalf("partition %d replicas %v", p.Partition, p.Replicas)
				}
				leaders[p.Leader]++
			}
			if len(leaders) != 3 {
				t.Fatalf("leaders not spread: %v", leaders)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 does not see the topic: %v %v", err, td)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Killing the active controller elects another; metadata writes continue
// through any broker.
func TestClusterControllerFailover(t *testing.T) {
	c := samsatest.StartCluster(t, 3)
	first, err := c.WaitActiveController(-1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Node(first).Kill()
	next, err := c.WaitActiveController(first, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("controller %d killed; %d active after %v", first, next, time.Since(start))
	var survivor string
	for _, nd := range c.Nodes() {
		if nd.ID != first {
			survivor = nd.Addr()
		}
	}
	res, err := admin(t, survivor).CreateTopic(ctx(t), 1, 2, nil, "after-failover")
	if err != nil || res.Err != nil {
		t.Fatalf("create after failover: %v %v", err, res.Err)
	}
	if err := c.Node(first).Restart(); err != nil {
		t.Fatal(err)
	}
	if got := brokersSeen(t, c.Node(first).Addr()); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("after restart node %d lists brokers %v", first, got)
	}
}

// A killed broker is fenced after broker.session.timeout.ms and leaves
// Metadata; its partitions get another leader; after a restart it is
// unfenced again.
func TestClusterFenceAndReturn(t *testing.T) {
	c := samsatest.StartCluster(t, 3, samsatest.ClusterConfig("broker.session.timeout.ms", "1500"),
		samsatest.ClusterConfig("broker.heartbeat.interval.ms", "300"))
	adm := admin(t, c.Bootstrap()...)
	if _, err := adm.CreateTopic(ctx(t), 3, 2, nil, "fenced"); err != nil {
		t.Fatal(err)
	}
	victim := c.ActiveController()%3 + 1 // a node that is not the controller
	c.Node(victim).Kill()
	other := c.Node(victim%3 + 1).Addr()
	deadline := time.Now().Add(15 * time.Second)
	for slices.Contains(brokersSeen(t, other), victim) {
		if time.Now().After(deadline) {
			t.Fatalf("broker %d still listed after its session timeout", victim)
		}
		time.Sleep(50 * time.Millisecond)
	}
	td, err := admin(t, other).ListTopics(ctx(t), "fenced")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range td["fenced"].Partitions {
		if p.Leader == victim {
			t.Fatalf("partition %d still led by fenced broker %d", p.Partition, victim)
		}
	}
	if err := c.Node(victim).Restart(); err != nil {
		t.Fatal(err)
	}
	// Unfenced in the log when Restart returns; the other node applies it
	// a moment later.
	for got := brokersSeen(t, other); !slices.Contains(got, victim); got = brokersSeen(t, other) {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("broker %d not back after restart: %v", victim, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A controlled shutdown of the active controller hands the quorum's
// leadership to another voter and its partitions' leadership to other
// replicas before it stops.
func TestClusterControlledShutdown(t *testing.T) {
	c := samsatest.StartCluster(t, 3)
	adm := admin(t, c.Bootstrap()...)
	if _, err := adm.CreateTopic(ctx(t), 6, 3, nil, "cs"); err != nil {
		t.Fatal(err)
	}
	active, err := c.WaitActiveController(-1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Node(active).Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if c.Node(active).Running() {
		t.Fatalf("node %d still running after Stop", active)
	}
	// Right after it went (its session has not expired, so nothing was
	// fenced): the others lead everything, and another node is the active
	// controller.
	other := c.Node(active%3 + 1)
	td, err := admin(t, other.Addr()).ListTopics(ctx(t), "cs")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range td["cs"].Partitions {
		if p.Leader == active {
			t.Fatalf("partition %d still led by %d after its controlled shutdown", p.Partition, active)
		}
	}
	if next, err := c.WaitActiveController(active, 5*time.Second); err != nil {
		t.Fatal(err)
	} else if next == active {
		t.Fatalf("controller role not handed over")
	}
}

// Kafka's isolated layout: three controllers, three brokers.
func TestClusterSeparateRoles(t *testing.T) {
	c := samsatest.StartCluster(t, 6, samsatest.Separate(3))
	if got := brokersSeen(t, c.Node(4).Addr()); !slices.Equal(got, []int32{4, 5, 6}) {
		t.Fatalf("brokers %v", got)
	}
	if _, err := admin(t, c.Node(6).Addr()).CreateTopic(ctx(t), 3, 3, nil, "iso"); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.DefaultProduceTopic("iso"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 30; i++ {
		if err := cl.ProduceSync(ctx(t), &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	active := c.ActiveController()
	if active < 1 || active > 3 {
		t.Fatalf("active controller %d is not a controller node", active)
	}
}

// A partition whose only replica is fenced goes offline (leader -1,
// LEADER_NOT_AVAILABLE in Metadata) and comes back with its broker.
func TestClusterOfflinePartition(t *testing.T) {
	c := samsatest.StartCluster(t, 3, samsatest.ClusterConfig("broker.session.timeout.ms", "1500"),
		samsatest.ClusterConfig("broker.heartbeat.interval.ms", "300"))
	adm := admin(t, c.Bootstrap()...)
	if _, err := adm.CreateTopic(ctx(t), 3, 1, nil, "rf1"); err != nil {
		t.Fatal(err)
	}
	td, err := adm.ListTopics(ctx(t), "rf1")
	if err != nil {
		t.Fatal(err)
	}
	victim := td["rf1"].Partitions[0].Leader
	c.Node(victim).Kill()
	other := c.Node(victim%3 + 1).Addr()
	deadline := time.Now().Add(15 * time.Second)
	for {
		td, err := admin(t, other).ListTopics(ctx(t), "rf1")
		if err == nil {
			p := td["rf1"].Partitions[0]
			if p.Leader == -1 && p.Err != nil {
				t.Logf("offline: %v", p.Err)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition 0 not offline after its only replica %d was fenced: %v", victim, td["rf1"].Partitions[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Node(victim).Restart(); err != nil {
		t.Fatal(err)
	}
	for {
		td, err := admin(t, other).ListTopics(ctx(t), "rf1")
		if err == nil && td["rf1"].Partitions[0].Leader == victim {
			break
		}
		if time.Now().After(deadline.Add(15 * time.Second)) {
			t.Fatalf("partition 0 not back on %d: %v", victim, td["rf1"].Partitions[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With auto.leader.rebalance.enable, leadership returns to the preferred
// replica once its broker is back in the ISR.
func TestClusterPreferredLeaderReturns(t *testing.T) {
	c := samsatest.StartCluster(t, 3, samsatest.ClusterConfig("broker.session.timeout.ms", "1500"),
		samsatest.ClusterConfig("broker.heartbeat.interval.ms", "300"),
		samsatest.ClusterConfig("auto.leader.rebalance.enable", "true"),
		samsatest.ClusterConfig("leader.imbalance.check.interval.seconds", "1"))
	adm := admin(t, c.Bootstrap()...)
	if _, err := adm.CreateTopic(ctx(t), 6, 3, nil, "pref"); err != nil {
		t.Fatal(err)
	}
	victim := c.ActiveController()%3 + 1
	c.Node(victim).Kill()
	other := c.Node(victim%3 + 1).Addr()
	ledBy := func(id int32) (led, preferred int) {
		td, err := admin(t, other).ListTopics(ctx(t), "pref")
		if err != nil {
			return -1, -1
		}
		for _, p := range td["pref"].Partitions {
			if p.Replicas[0] == id {
				preferred++
				if p.Leader == id {
					led++
				}
			}
		}
		return led, preferred
	}
	deadline := time.Now().Add(15 * time.Second)
	for led, _ := ledBy(victim); led != 0; led, _ = ledBy(victim) {
		if time.Now().After(deadline) {
			t.Fatalf("fenced broker %d still leads %d partitions", victim, led)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Node(victim).Restart(); err != nil {
		t.Fatal(err)
	}
	// Back outside the ISRs: its leaders add it once it has caught up,
	// and only then can it be the preferred leader again.
	rejoinISRs(t, c, victim, "pref")
	for {
		led, preferred := ledBy(victim)
		if preferred > 0 && led == preferred {
			break
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("broker %d leads %d of its %d preferred partitions after its return", victim, led, preferred)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An isolated active controller is replaced by the majority; when the
// network heals it rejoins as a follower without disturbing the new
// leader (raft's PreVote and CheckQuorum).
func TestClusterIsolatedController(t *testing.T) {
	c := samsatest.StartCluster(t, 3)
	first, err := c.WaitActiveController(-1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Isolate(first)
	next, err := c.WaitActiveController(first, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var survivor string
	for _, nd := range c.Nodes() {
		if nd.ID != first {
			survivor = nd.Addr()
		}
	}
	if _, err := admin(t, survivor).CreateTopic(ctx(t), 1, 1, nil, "during-partition"); err != nil {
		t.Fatalf("metadata write in the majority: %v", err)
	}
	c.Heal()
	time.Sleep(3 * time.Second) // several election timeouts
	if got, err := c.WaitActiveController(-1, 10*time.Second); err != nil || got != next {
		t.Fatalf("after healing the active controller is %d (%v), want %d undisturbed", got, err, next)
	}
	if c.Node(first).ActiveController() {
		t.Fatalf("the formerly isolated node %d still thinks it is active", first)
	}
}
