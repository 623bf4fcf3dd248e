package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Three-node KRaft clusters of real `samsa serve` processes, in Kafka's two
// layouts: three combined nodes configured by server.properties files and
// formatted with `samsa storage format`, as kafka-storage.sh and
// kafka-server-start.sh are used; and three controllers plus three brokers
// configured only by the apache/kafka image's KAFKA_* variables.

// combinedCluster writes each node's server.properties, formats its
// storage with one cluster id and returns the cluster, not started.
func combinedCluster(t *testing.T) *pcluster {
	c := newPCluster(t, "broker,controller", "broker,controller", "broker,controller")
	out, err := runSamsa(t, nil, "storage", "random-uuid")
	if err != nil {
		t.Fatalf("random-uuid: %v %s", err, out)
	}
	clusterID := strings.TrimSpace(out)
	for _, n := range c.nodes {
		listeners, advertised := n.listeners()
		file := filepath.Join(n.dir, "server.properties")
		writeProperties(t, file, [][2]string{
			{"node.id", fmt.Sprint(n.id)},
			{"process.roles", "broker,controller"},
			{"listeners", listeners},
			{"advertised.listeners", advertised},
			{"controller.listener.names", "CONTROLLER"},
			{"inter.broker.listener.name", "PLAINTEXT"},
			{"listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"},
			{"controller.quorum.voters", c.voters()},
			{"log.dirs", filepath.Join(n.dir, "data")},
			{"num.partitions", "3"},
			{"offsets.topic.replication.factor", "3"},
		})
		if out, err := runSamsa(t, nil, "storage", "format", "-t", clusterID, "-c", file); err != nil {
			t.Fatalf("format node %d: %v %s", n.id, err, out)
		}
		n.args = []string{"serve", file}
	}
	return c
}

// separateCluster configures controllers 1-3 and brokers 4-6 by KAFKA_*
// variables and CLUSTER_ID, the way a compose file for apache/kafka does.
func separateCluster(t *testing.T, extra ...string) *pcluster {
	c := newPCluster(t, "controller", "controller", "controller", "broker", "broker", "broker")
	out, err := runSamsa(t, nil, "storage", "random-uuid")
	if err != nil {
		t.Fatalf("random-uuid: %v %s", err, out)
	}
	clusterID := strings.TrimSpace(out)
	for _, n := range c.nodes {
		listeners, advertised := n.listeners()
		roles := "controller"
		if n.broker {
			roles = "broker"
		}
		n.args = []string{"serve"}
		n.env = append([]string{
			"KAFKA_NODE_ID=" + fmt.Sprint(n.id),
			"KAFKA_PROCESS_ROLES=" + roles,
			"KAFKA_LISTENERS=" + listeners,
			"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS=" + c.voters(),
			"KAFKA_LOG_DIRS=" + filepath.Join(n.dir, "data"),
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=3",
			"KAFKA_HEAP_OPTS=-Xmx512M",
			"CLUSTER_ID=" + clusterID,
		}, extra...)
		if n.broker {
			n.env = append(n.env,
				"KAFKA_ADVERTISED_LISTENERS="+advertised,
				"KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT")
		}
	}
	return c
}

// TestClusterCombinedProperties: three combined nodes from
// server.properties files.
func TestClusterCombinedProperties(t *testing.T) {
	t.Parallel()
	c := combinedCluster(t)
	began := time.Now()
	c.start(3, 2, 1) // a cold start in reverse order
	c.waitReady(60 * time.Second)
	t.Logf("cold start 3,2,1: ready after %v", time.Since(began).Round(time.Millisecond))

	checkQuorum(t, c, []int32{1, 2, 3}, nil)
	checkClusterCommand(t, c)
	ordersID := checkTopicAcrossNodes(t, c, c.node(3), c.node(1), "orders")
	checkControllerFailover(t, c)
	checkSigtermMovesLeaders(t, c, "orders")

	// A power cut: every node SIGKILLed, then all started again in a
	// random order. The metadata written before is there and the cluster
	// serves again.
	for _, n := range c.nodes {
		n.kill9()
	}
	order := []int32{1, 2, 3}
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	began = time.Now()
	c.start(order...)
	c.waitReady(60 * time.Second)
	t.Logf("cold restart %v: ready after %v", order, time.Since(began).Round(time.Millisecond))
	for _, n := range c.nodes {
		m, err := n.metadata("orders")
		if err != nil || len(m.Topics) != 1 || m.Topics[0].TopicID != ordersID || len(m.Topics[0].Partitions) != 6 {
			t.Fatalf("orders after the restart, node %d: %v %+v", n.id, err, m)
		}
	}
	checkProduceConsume(t, c, "after-restart")
}

// TestClusterSeparateEnv: three controllers and three brokers configured
// by environment variables only.
func TestClusterSeparateEnv(t *testing.T) {
	t.Parallel()
	c := separateCluster(t, "KAFKA_BROKER_SESSION_TIMEOUT_MS=3000", "KAFKA_BROKER_HEARTBEAT_INTERVAL_MS=500")
	began := time.Now()
	c.start(6, 5, 4, 3, 1, 2) // a cold start with the controllers last
	c.waitReady(60 * time.Second)
	t.Logf("cold start 6,5,4,3,1,2: ready after %v", time.Since(began).Round(time.Millisecond))

	checkQuorum(t, c, []int32{1, 2, 3}, []int32{4, 5, 6})
	checkTopicAcrossNodes(t, c, c.node(6), c.node(4), "orders")
	checkProduceConsume(t, c, "events")
	checkFencing(t, c, 5, 3*time.Second, "orders")
	checkControllerFailover(t, c)
	checkSigtermMovesLeaders(t, c, "orders")
}

// checkQuorum: DescribeQuorum through every broker names one leader among
// the voters, the same one, with every voter and observer listed and every
// voter's log caught up with the high watermark. A
// controller-only node, asked on its controller listener as
// kafka-metadata-quorum --bootstrap-controller does, names that leader as
// the active controller, which answers DescribeQuorum the same.
func checkQuorum(t *testing.T, c *pcluster, voters, observers []int32) {
	t.Helper()
	var leader int32 = -1
	check := func(through *pnode, q quorum) {
		t.Helper()
		if !slices.Equal(q.voters, voters) || !slices.Contains(voters, q.leader) || q.epoch < 1 {
			t.Fatalf("through node %d: quorum %+v, want voters %v and one of them leading", through.id, q, voters)
		}
		if leader >= 0 && q.leader != leader {
			t.Fatalf("through node %d: leader %d, another node said %d", through.id, q.leader, leader)
		}
		leader = q.leader
	}
	describe := func(n *pnode) quorum {
		t.Helper()
		var q quorum
		c.waitFor(fmt.Sprintf("quorum through node %d", n.id), 10*time.Second, func() error {
			var err error
			if q, err = n.describeQuorum(); err != nil {
				return err
			}
			if !slices.Equal(q.observers, observers) {
				return fmt.Errorf("observers %v, want %v", q.observers, observers)
			}
			for id, lag := range q.lag {
				if lag > 0 {
					return fmt.Errorf("voter %d is %d entries behind the high watermark %d", id, lag, q.hw)
				}
			}
			return nil
		})
		return q
	}
	for _, n := range c.nodes {
		if n.broker {
			check(n, describe(n))
		}
	}
	for _, n := range c.nodes {
		if n.broker {
			continue
		}
		active, vs, err := n.describeControllers()
		if err != nil || active != leader || !slices.Equal(vs, voters) {
			t.Fatalf("controller %d: DescribeCluster names active %d, voters %v (%v); want %d, %v", n.id, active, vs, err, leader, voters)
		}
		check(c.node(active), describe(c.node(active)))
		if n.id != active {
			// A voter that does not lead says so for the partition, as
			// Kafka's raft client does.
			if _, err := n.describeQuorum(); !errors.Is(err, kerr.NotLeaderForPartition) {
				t.Fatalf("DescribeQuorum on follower %d's controller listener: %v, want NOT_LEADER_OR_FOLLOWER", n.id, err)
			}
		}
	}
	t.Logf("quorum leader %d, voters %v, observers %v", leader, voters, observers)
}

// checkClusterCommand: `samsa cluster -json` shows the same quorum and
// every broker unfenced.
func checkClusterCommand(t *testing.T, c *pcluster) {
	t.Helper()
	var bootstrap []string
	for _, id := range c.brokers() {
		bootstrap = append(bootstrap, c.node(id).addr())
	}
	out, err := runSamsa(t, nil, "cluster", "-json", "-brokers", strings.Join(bootstrap, ","))
	if err != nil {
		t.Fatalf("samsa cluster: %v\n%s", err, out)
	}
	var st struct {
		ControllerID int32 `json:"controller_id"`
		Quorum       struct {
			LeaderID int32 `json:"leader_id"`
			Voters   []struct {
				ID int32 `json:"id"`
			} `json:"voters"`
		} `json:"quorum"`
		Brokers []struct {
			ID     int32 `json:"id"`
			Fenced bool  `json:"fenced"`
		} `json:"brokers"`
		Offline []json.RawMessage `json:"offline_partitions"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("samsa cluster -json: %v\n%s", err, out)
	}
	var voters, brokers []int32
	for _, v := range st.Quorum.Voters {
		voters = append(voters, v.ID)
	}
	for _, b := range st.Brokers {
		if !b.Fenced {
			brokers = append(brokers, b.ID)
		}
	}
	slices.Sort(voters)
	slices.Sort(brokers)
	if !slices.Equal(voters, []int32{1, 2, 3}) || !slices.Contains(voters, st.Quorum.LeaderID) ||
		st.ControllerID != st.Quorum.LeaderID || !slices.Equal(brokers, c.brokers()) || len(st.Offline) != 0 {
		t.Fatalf("samsa cluster -json:\n%s", out)
	}
}

// checkTopicAcrossNodes: a topic created through one node with RF 3 is in
// another node's Metadata with the same id and replica sets.
func checkTopicAcrossNodes(t *testing.T, c *pcluster, through, other *pnode, topic string) [16]byte {
	t.Helper()
	id, err := through.createTopic(topic, 6, 3)
	if err != nil {
		t.Fatalf("create %s through node %d: %v", topic, through.id, err)
	}
	if id == [16]byte{} {
		t.Fatalf("create %s: no topic id", topic)
	}
	// Both nodes apply the topic once the controller committed it,
	// each at its own pace: wait until both list it, identically.
	c.waitFor(fmt.Sprintf("%s in the metadata of nodes %d and %d", topic, through.id, other.id), 10*time.Second, func() error {
		want, err := through.metadata(topic)
		if err != nil {
			return err
		}
		got, err := other.metadata(topic)
		if err != nil {
			return err
		}
		for _, m := range []*kmsg.MetadataResponse{want, got} {
			if len(m.Topics) != 1 || m.Topics[0].TopicID != id || len(m.Topics[0].Partitions) != 6 {
				return fmt.Errorf("topics %+v", m.Topics)
			}
		}
		for i, p := range got.Topics[0].Partitions {
			w := want.Topics[0].Partitions[i]
			if p.Partition != w.Partition || !slices.Equal(p.Replicas, w.Replicas) || len(p.Replicas) != 3 || p.Leader != w.Leader {
				return fmt.Errorf("partition %d: node %d says replicas %v leader %d, node %d replicas %v leader %d",
					p.Partition, other.id, p.Replicas, p.Leader, through.id, w.Replicas, w.Leader)
			}
		}
		return nil
	})
	return id
}

// checkProduceConsume: a new topic takes records through every broker and
// gives them back in order.
func checkProduceConsume(t *testing.T, c *pcluster, topic string) {
	t.Helper()
	first := c.anyBroker()
	if _, err := first.createTopic(topic, 3, 3); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	var seeds []string
	for _, n := range c.running() {
		if n.broker {
			seeds = append(seeds, n.addr())
		}
	}
	ctx := ctxT(t, 30*time.Second)
	pr := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	const n = 30
	for i := 0; i < n; i++ {
		if err := pr.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d to %s: %v", i, topic, err)
		}
	}
	co := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	last := map[int32]int64{}
	for len(seen) < n {
		fs := co.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s", len(seen), n, topic)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if o, ok := last[r.Partition]; ok && r.Offset != o+1 {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, o)
			}
			last[r.Partition] = r.Offset
			seen[string(r.Value)] = true
		})
	}
	if len(last) != 3 {
		t.Fatalf("records of %s on partitions %v, want all three", topic, last)
	}
}

// checkControllerFailover: SIGKILL of the active controller makes
// another voter leader, metadata writes go on through a surviving broker,
// and the killed node comes back.
func checkControllerFailover(t *testing.T, c *pcluster) {
	t.Helper()
	before := c.activeController()
	victim := c.node(before.leader)
	killed := time.Now()
	victim.kill9()
	after := c.activeController(before.leader)
	if after.epoch <= before.epoch {
		t.Fatalf("new leader %d in epoch %d, was %d in %d", after.leader, after.epoch, before.leader, before.epoch)
	}
	elected := time.Since(killed)
	through := c.anyBroker(victim.id)
	topic := fmt.Sprintf("after-failover-%d", victim.id)
	c.waitFor("CreateTopics after the failover", 15*time.Second, func() error {
		_, err := through.createTopic(topic, 3, 2)
		return err
	})
	t.Logf("controller %d killed: %d leads after %v, CreateTopics through node %d after %v",
		victim.id, after.leader, elected.Round(time.Millisecond), through.id, time.Since(killed).Round(time.Millisecond))
	c.waitFor(topic+" in Metadata", 10*time.Second, func() error {
		l, err := through.leaders(topic)
		if err == nil && len(l) != 3 {
			err = fmt.Errorf("leaders %v", l)
		}
		return err
	})
	victim.launch()
	c.waitReady(30 * time.Second)
}

// checkFencing: a SIGKILLed broker stays unfenced well within the
// session timeout, is fenced after it (out of Metadata, leading nothing),
// and is unfenced again after a restart.
func checkFencing(t *testing.T, c *pcluster, id int32, session time.Duration, topic string) {
	t.Helper()
	victim := c.node(id)
	other := c.anyBroker(id)
	var led []int32
	l, err := other.leaders(topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, leader := range l {
		if leader == id {
			led = append(led, p)
		}
	}
	if len(led) == 0 {
		t.Fatalf("broker %d leads no partition of %s: %v", id, topic, l)
	}
	killed := time.Now()
	victim.kill9()
	var fencedAfter time.Duration
	c.waitFor(fmt.Sprintf("broker %d fenced", id), session+5*time.Second, func() error {
		st, err := other.describeCluster()
		if err != nil {
			return err
		}
		fenced, ok := st[id]
		if !ok {
			return fmt.Errorf("broker %d not described at all: %v", id, st)
		}
		if !fenced {
			return fmt.Errorf("broker %d unfenced", id)
		}
		fencedAfter = time.Since(killed)
		return nil
	})
	// Every poll until then saw it unfenced: not fenced well before the
	// session timeout (the last heartbeat was about one interval before
	// the kill).
	if fencedAfter < session/2 {
		t.Fatalf("broker %d fenced %v after its kill, session timeout %v", id, fencedAfter, session)
	}
	t.Logf("broker %d (leading %v) fenced %v after SIGKILL (session timeout %v)", id, led, fencedAfter.Round(time.Millisecond), session)
	if got, err := other.listedBrokers(); err != nil || slices.Contains(got, id) {
		t.Fatalf("node %d lists brokers %v (%v) after %d was fenced", other.id, got, err, id)
	}
	c.waitFor(fmt.Sprintf("leaderships of fenced broker %d moved", id), 5*time.Second, func() error {
		l, err := other.leaders(topic)
		if err != nil {
			return err
		}
		for p, leader := range l {
			if leader == id {
				return fmt.Errorf("partition %d led by %d", p, id)
			}
		}
		return nil
	})
	victim.launch()
	c.waitReady(30 * time.Second)
	if st, err := other.describeCluster(); err != nil || st[id] {
		t.Fatalf("after restart broker %d: %v %v", id, st, err)
	}
}

// checkSigtermMovesLeaders: SIGTERM of a broker that leads partitions is
// a controlled shutdown: right after it exited (code 0), well within the
// session timeout, Metadata shows its leaderships on other replicas and
// the broker itself gone.
func checkSigtermMovesLeaders(t *testing.T, c *pcluster, topic string) {
	t.Helper()
	var victim *pnode
	var led []int32
	for _, n := range c.running() {
		if !n.broker {
			continue
		}
		l, err := n.leaders(topic)
		if err != nil {
			t.Fatal(err)
		}
		for p, leader := range l {
			if leader == n.id {
				led = append(led, p)
			}
		}
		if len(led) > 0 {
			victim = n
			break
		}
	}
	if victim == nil {
		t.Fatalf("no broker leads a partition of %s", topic)
	}
	other := c.anyBroker(victim.id)
	stopped := time.Now()
	if code := victim.sigterm(); code != 0 {
		t.Fatalf("node %d exited with %d on SIGTERM:\n%s", victim.id, code, victim.log.String())
	}
	took := time.Since(stopped)
	log := victim.log.String()
	if !strings.Contains(log, "shutting down") || strings.Contains(log, "controlled shutdown incomplete") {
		t.Fatalf("node %d's log shows no complete controlled shutdown:\n%s", victim.id, log)
	}
	l, err := other.leaders(topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, leader := range l {
		if leader == victim.id || leader < 0 {
			t.Fatalf("after node %d's controlled shutdown, partition %d has leader %d", victim.id, p, leader)
		}
	}
	// Fenced once it was told to shut down; the other node applies that
	// a moment later.
	c.waitFor(fmt.Sprintf("node %d out of Metadata after its shutdown", victim.id), 2*time.Second, func() error {
		got, err := other.listedBrokers()
		if err == nil && slices.Contains(got, victim.id) {
			err = fmt.Errorf("node %d lists brokers %v", other.id, got)
		}
		return err
	})
	t.Logf("node %d led partitions %v; SIGTERM to exit %v, all led elsewhere", victim.id, led, took.Round(time.Millisecond))
	victim.launch()
	c.waitReady(30 * time.Second)
}
