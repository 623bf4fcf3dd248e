package samsatest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/seglog"
	"github.com/samsa-io/samsa/samsatest"
)

// Replication tests: partitions with replicas on several brokers of a real
// in-process cluster. Fencing is quick (1.5 s sessions) and so is the
// leader's ISR shrink (replica.lag.time.max.ms 2 s), so a dead replica
// leaves the ISR within seconds whichever of the two removes it.

func replicationCluster(t *testing.T, n int, opts ...samsatest.ClusterOption) *samsatest.Cluster {
	t.Helper()
	opts = append([]samsatest.ClusterOption{
		samsatest.ClusterConfig("broker.session.timeout.ms", "1500"),
		samsatest.ClusterConfig("broker.heartbeat.interval.ms", "300"),
		samsatest.ClusterConfig("replica.lag.time.max.ms", "2000"),
		samsatest.ClusterConfig("replica.fetch.backoff.ms", "200"),
	}, opts...)
	return samsatest.StartCluster(t, n, opts...)
}

func createReplicated(t *testing.T, seed, topic string, partitions int32, rf int16) {
	t.Helper()
	minISR := "2"
	res, err := admin(t, seed).CreateTopic(ctx(t), partitions, rf, map[string]*string{"min.insync.replicas": &minISR}, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, res.Err)
	}
}

// partitionState is one partition as a node's Metadata shows it.
type partitionState struct {
	leader int32
	isr    []int32
}

// waitPartitions waits until every partition of topic, as seen through
// seed, satisfies ok.
func waitPartitions(t *testing.T, seed, topic string, ok func(p int32, s partitionState) bool) map[int32]partitionState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last map[int32]partitionState
	for {
		m, err := admin(t, seed).Metadata(ctx(t), topic)
		if err == nil {
			last = map[int32]partitionState{}
			all := true
			for _, p := range m.Topics[topic].Partitions {
				s := partitionState{leader: p.Leader, isr: slices.Sorted(slices.Values(p.ISR))}
				last[p.Partition] = s
				if !ok(p.Partition, s) {
					all = false
				}
			}
			if all && len(last) > 0 {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions of %s never reached the wanted state: %v (err %v)", topic, last, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func producer(t *testing.T, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceN produces n records (values prefix-i) to partition p and returns
// their values in order; every one must be acknowledged.
func produceN(t *testing.T, cl *kgo.Client, topic string, p int32, prefix string, n int) []string {
	t.Helper()
	var recs []*kgo.Record
	var vals []string
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		vals = append(vals, v)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(strconv.Itoa(i)), Value: []byte(v)})
	}
	c, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := cl.ProduceSync(c, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %s to %s/%d: %v", prefix, topic, p, err)
	}
	return vals
}

// consumePartition reads partition p from the start until it has want
// records (or fails), and returns the values.
func consumePartition(t *testing.T, seeds []string, topic string, p int32, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {p: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(c)
		if c.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s/%d: %v", len(got), want, topic, p, c.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// partitionLog reads a stopped node's log of topic/p whole.
func partitionLog(t *testing.T, nd *samsatest.ClusterNode, topic string, p int32) []byte {
	t.Helper()
	l, err := seglog.Open(filepath.Join(nd.Dir(), fmt.Sprintf("%s-%d", topic, p)), seglog.Options{})
	if err != nil {
		t.Fatalf("node %d: %v", nd.ID, err)
	}
	defer l.Close()
	var out []byte
	off := l.LogStartOffset()
	for off < l.LogEndOffset() {
		res, err := l.Read(off, 8<<20, l.LogEndOffset())
		if err != nil {
			t.Fatalf("node %d read %s-%d at %d: %v", nd.ID, topic, p, off, err)
		}
		if res.NextOffset <= off {
			break
		}
		out = append(out, res.Records...)
		off = res.NextOffset
	}
	return out
}

// sameLogs stops every node and checks that each replica's log of topic's
// partitions holds the same batches, byte for byte, and returns them.
func sameLogs(t *testing.T, c *samsatest.Cluster, topic string, partitions int32, replicas []int32) {
	t.Helper()
	for _, nd := range c.Nodes() {
		nd.Kill()
	}
	for p := range partitions {
		var first []byte
		for i, id := range replicas {
			got := partitionLog(t, c.Node(id), topic, p)
			if len(got) == 0 {
				t.Fatalf("node %d holds nothing of %s-%d", id, topic, p)
			}
			if i == 0 {
				first = got
			} else if !bytes.Equal(got, first) {
				t.Fatalf("%s-%d: node %d's log (%d bytes) differs from node %d's (%d bytes)", topic, p, id, len(got), replicas[0], len(first))
			}
		}
	}
}

// Every replica of an RF 3 topic ends with the same batches as its leader
// after idempotent acks=all produces.
func TestReplicationLogsIdentical(t *testing.T) {
	c := replicationCluster(t, 3)
	createReplicated(t, c.Node(1).Addr(), "rep", 3, 3)
	waitPartitions(t, c.Node(1).Addr(), "rep", func(_ int32, s partitionState) bool { return s.leader >= 0 && len(s.isr) == 3 })
	cl := producer(t, c.Bootstrap())
	for p := range int32(3) {
		for round := range 5 {
			produceN(t, cl, "rep", p, fmt.Sprintf("p%d-r%d", p, round), 200)
		}
	}
	cl.Close()
	sameLogs(t, c, "rep", 3, []int32{1, 2, 3})
}

// Killing the leader loses no acknowledged record: the new leader has them
// all, consumers read each once in order, producing goes on with two
// replicas, and the old leader, restarted, catches up to the same log.
func TestReplicationLeaderFailover(t *testing.T) {
	c := replicationCluster(t, 3)
	seed := c.Node(1).Addr()
	createReplicated(t, seed, "fo", 1, 3)
	st := waitPartitions(t, seed, "fo", func(_ int32, s partitionState) bool { return s.leader >= 0 && len(s.isr) == 3 })
	old := st[0].leader
	cl := producer(t, c.Bootstrap())
	acked := produceN(t, cl, "fo", 0, "before", 500)

	c.Node(old).Kill()
	var alive []string
	for _, nd := range c.Nodes() {
		if nd.ID != old {
			alive = append(alive, nd.Addr())
		}
	}
	waitPartitions(t, alive[0], "fo", func(_ int32, s partitionState) bool { return s.leader >= 0 && s.leader != old })
	if got := consumePartition(t, alive, "fo", 0, len(acked)); !slices.Equal(got, acked) {
		t.Fatalf("after the failover consumers read %d records, want the %d acknowledged in order", len(got), len(acked))
	}
	// min.insync.replicas=2 holds with the two left.
	acked = append(acked, produceN(t, cl, "fo", 0, "after", 300)...)
	if got := consumePartition(t, alive, "fo", 0, len(acked)); !slices.Equal(got, acked) {
		t.Fatalf("consumers read %d records, want the %d acknowledged in order", len(got), len(acked))
	}

	if err := c.Node(old).Restart(); err != nil {
		t.Fatal(err)
	}
	// Back in the ISR once caught up (or at once, when the controller
	// takes live replicas as in sync); a last acks=all write then waits for
	// it.
	waitPartitions(t, seed, "fo", func(_ int32, s partitionState) bool { return len(s.isr) == 3 })
	acked = append(acked, produceN(t, cl, "fo", 0, "rejoined", 50)...)
	cl.Close()
	sameLogs(t, c, "fo", 1, []int32{1, 2, 3})
}

// With min.insync.replicas=2 an RF 3 partition takes acks=all writes with
// one follower dead and refuses them (NOT_ENOUGH_REPLICAS) with two dead.
// The controller runs on a node of its own so that the quorum survives.
func TestReplicationMinInsyncReplicas(t *testing.T) {
	c := replicationCluster(t, 4, samsatest.Separate(1))
	seed := c.Node(2).Addr()
	createReplicated(t, seed, "mi", 1, 3)
	st := waitPartitions(t, seed, "mi", func(_ int32, s partitionState) bool { return s.leader >= 0 && len(s.isr) == 3 })
	leader := st[0].leader
	var followers []int32
	for _, id := range []int32{2, 3, 4} {
		if id != leader {
			followers = append(followers, id)
		}
	}
	cl := producer(t, []string{c.Node(leader).Addr()})
	produceN(t, cl, "mi", 0, "all", 100)

	c.Node(followers[0]).Kill()
	// Parked until the dead follower leaves the ISR, then acknowledged.
	produceN(t, cl, "mi", 0, "one-down", 100)
	waitPartitions(t, c.Node(leader).Addr(), "mi", func(_ int32, s partitionState) bool { return len(s.isr) == 2 })

	c.Node(followers[1]).Kill()
	waitPartitions(t, c.Node(leader).Addr(), "mi", func(_ int32, s partitionState) bool {
		return s.leader == leader && slices.Equal(s.isr, []int32{leader})
	})
	code := rawProduce(t, c.Node(leader).Addr(), "mi", -1)
	if code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with an ISR of one: error %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(code))
	}
	if code := rawProduce(t, c.Node(leader).Addr(), "mi", 1); code != 0 {
		t.Fatalf("acks=1 with an ISR of one: error %v", kerr.ErrorForCode(code))
	}
}

// rawProduce sends one single-record Produce to partition 0 of topic at
// addr and returns the partition's error code.
func rawProduce(t *testing.T, addr, topic string, acks int16) int16 {
	t.Helper()
	ack := kgo.AllISRAcks()
	if acks == 1 {
		ack = kgo.LeaderAck()
	}
	// kgo sends a Produce with the client's acks.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(ack), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rec := &kgo.Record{Value: []byte("raw"), Timestamp: time.Now()}
	batch := buildBatch(t, rec)
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = acks, 5000
	td, err := kadm.NewClient(cl).ListTopics(ctx(t), topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("metadata of %s: %v %v", topic, err, td[topic].Err)
	}
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, td[topic].ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(c, req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.(*kmsg.ProduceResponse)
	return r.Topics[0].Partitions[0].ErrorCode
}

// buildBatch encodes one record as a v2 record batch with no producer id.
func buildBatch(t *testing.T, r *kgo.Record) []byte {
	t.Helper()
	b, err := batch.Build(nil, batch.BatchSpec{PartitionLeaderEpoch: -1, BaseTimestamp: r.Timestamp.UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: []batch.Record{{Value: r.Value}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An old leader cut off from the cluster keeps taking acks=1 writes that
// never replicate; once healed and a follower of the new leader, it
// truncates them (DivergingEpoch) and ends with the new leader's log.
func TestReplicationDivergedLeaderTruncates(t *testing.T) {
	c := replicationCluster(t, 3)
	seed := c.Node(1).Addr()
	createReplicated(t, seed, "dv", 1, 3)
	st := waitPartitions(t, seed, "dv", func(_ int32, s partitionState) bool { return s.leader >= 0 && len(s.isr) == 3 })
	old := st[0].leader
	cl := producer(t, c.Bootstrap())
	acked := produceN(t, cl, "dv", 0, "committed", 200)

	c.Isolate(old)
	lone := producer(t, []string{c.Node(old).Addr()}, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordRetries(1))
	produceN(t, lone, "dv", 0, "lost", 50)
	lone.Close()

	var others []string
	for _, nd := range c.Nodes() {
		if nd.ID != old {
			others = append(others, nd.Addr())
		}
	}
	other := others[0]
	waitPartitions(t, other, "dv", func(_ int32, s partitionState) bool { return s.leader >= 0 && s.leader != old })
	// A client that knows only the old leader would wait on it (it still
	// believes it leads); this one asks the others.
	cl.Close()
	cl = producer(t, others)
	acked = append(acked, produceN(t, cl, "dv", 0, "new-epoch", 100)...)
	c.Heal()
	waitPartitions(t, other, "dv", func(_ int32, s partitionState) bool { return len(s.isr) == 3 })
	acked = append(acked, produceN(t, cl, "dv", 0, "healed", 20)...)
	if got := consumePartition(t, []string{other}, "dv", 0, len(acked)); !slices.Equal(got, acked) {
		t.Fatalf("consumers read %d records, want the %d acknowledged in order", len(got), len(acked))
	}
	cl.Close()
	sameLogs(t, c, "dv", 1, []int32{1, 2, 3})
}

// A follower that was down while the leader's log start moved past its log
// end (DeleteRecords) is answered OFFSET_OUT_OF_RANGE, restarts its log at
// the leader's log start and ends with the leader's batches from there.
func TestReplicationFollowerBelowLogStart(t *testing.T) {
	c := replicationCluster(t, 3)
	seed := c.Node(1).Addr()
	createReplicated(t, seed, "ls", 1, 3)
	st := waitPartitions(t, seed, "ls", func(_ int32, s partitionState) bool { return s.leader >= 0 && len(s.isr) == 3 })
	leader := st[0].leader
	follower := leader%3 + 1
	cl := producer(t, c.Bootstrap())
	produceN(t, cl, "ls", 0, "early", 100)
	c.Node(follower).Kill()
	var alive []string
	for _, nd := range c.Nodes() {
		if nd.ID != follower {
			alive = append(alive, nd.Addr())
		}
	}
	waitPartitions(t, alive[0], "ls", func(_ int32, s partitionState) bool { return len(s.isr) == 2 })
	produceN(t, cl, "ls", 0, "late", 100)
	adm := admin(t, alive...)
	offs, err := adm.ListEndOffsets(ctx(t), "ls")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := offs.Lookup("ls", 0)
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "ls", Partition: 0, At: end.Offset})
	res, err := adm.DeleteRecords(ctx(t), del)
	if err != nil || res.Error() != nil {
		t.Fatalf("delete records up to %d: %v %v", end.Offset, err, res.Error())
	}
	produceN(t, cl, "ls", 0, "after-delete", 30)
	if err := c.Node(follower).Restart(); err != nil {
		t.Fatal(err)
	}
	waitPartitions(t, seed, "ls", func(_ int32, s partitionState) bool { return len(s.isr) == 3 })
	produceN(t, cl, "ls", 0, "rejoined", 10)
	cl.Close()
	sameLogs(t, c, "ls", 1, []int32{1, 2, 3})
	for _, id := range []int32{1, 2, 3} {
		l, err := seglog.Open(filepath.Join(c.Node(id).Dir(), "ls-0"), seglog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		start := l.LogStartOffset()
		l.Close()
		if start != end.Offset {
			t.Errorf("node %d: log start %d, want %d", id, start, end.Offset)
		}
	}
}

// Records produced without pause while the leader is killed: every
// acknowledged one is read back once, in the order produced, and nothing
// is duplicated (the idempotent producer's retries land on the new leader,
// which rebuilt the producer state from the replicated batches).
func TestReplicationProduceThroughLeaderKill(t *testing.T) {
	c := replicationCluster(t, 3)
	seed := c.Node(1).Addr()
	createReplicated(t, seed, "pk", 1, 3)
	st := waitPartitions(t, seed, "pk", func(_ int32, s partitionState) bool { return s.leader >= 0 && len(s.isr) == 3 })
	old := st[0].leader
	var alive []string
	for _, nd := range c.Nodes() {
		if nd.ID != old {
			alive = append(alive, nd.Addr())
		}
	}
	cl := producer(t, c.Bootstrap(), kgo.RecordDeliveryTimeout(60*time.Second))
	var acked []string
	killed := false
	for i := 0; len(acked) < 3000; i++ {
		if i == 10 && !killed {
			killed = true
			go c.Node(old).Kill()
		}
		acked = append(acked, produceN(t, cl, "pk", 0, fmt.Sprintf("b%d", i), 100)...)
	}
	cl.Close()
	got := consumePartition(t, alive, "pk", 0, len(acked))
	seen := map[string]bool{}
	for _, v := range got {
		if seen[v] {
			t.Fatalf("record %s read twice", v)
		}
		seen[v] = true
	}
	if !slices.Equal(got[:len(acked)], acked) {
		t.Fatalf("read %d records; the acknowledged %d are not a prefix in order", len(got), len(acked))
	}
}

// A reassignment moves a partition to brokers that never held it: the new
// replicas copy the log from the leader, join the ISR through the leader's
// AlterPartition, the controller completes the move, and the records are
// all there on the new replicas.
func TestReplicationReassignment(t *testing.T) {
	c := replicationCluster(t, 3)
	seed := c.Node(1).Addr()
	one := "1"
	res, err := admin(t, seed).CreateTopic(ctx(t), 1, 1, map[string]*string{"min.insync.replicas": &one}, "ra")
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	st := waitPartitions(t, seed, "ra", func(_ int32, s partitionState) bool { return s.leader >= 0 })
	from := st[0].leader
	var to []int32
	var toAddrs []string
	for _, id := range []int32{1, 2, 3} {
		if id != from {
			to = append(to, id)
			toAddrs = append(toAddrs, c.Node(id).Addr())
		}
	}
	cl := producer(t, c.Bootstrap())
	acked := produceN(t, cl, "ra", 0, "moved", 500)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("ra", 0, to)
	ar, err := admin(t, seed).AlterPartitionAssignments(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := ar.Error(); err != nil {
		t.Fatalf("reassign to %v: %v", to, err)
	}
	waitPartitions(t, seed, "ra", func(_ int32, s partitionState) bool {
		return slices.Equal(s.isr, to) && slices.Contains(to, s.leader)
	})
	acked = append(acked, produceN(t, cl, "ra", 0, "after", 50)...)
	cl.Close()
	if got := consumePartition(t, toAddrs, "ra", 0, len(acked)); !slices.Equal(got, acked) {
		t.Fatalf("after the move consumers read %d records, want the %d acknowledged in order", len(got), len(acked))
	}
	// The old replica's log is gone once the image no longer assigns it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(c.Node(from).Dir(), "ra-0"))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d still holds ra-0 after the move: %v", from, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sameLogs(t, c, "ra", 1, to)
}
