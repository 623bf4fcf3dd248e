package samsatest_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

// KIP-392, fetch from the closest replica: node n is on rack rn; nodes 1
// and 2 run Kafka's RackAwareReplicaSelector, node 3 none.

const rackAware = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// createAssigned creates topic with one partition on replicas (the first
// leads).
func createAssigned(t *testing.T, cl *kgo.Client, topic string, replicas ...int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	a.Partition, a.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// fetchOne sends a consumer Fetch of topic/0 from offset 0 to node.
func fetchOne(t *testing.T, c *samsatest.Cluster, cl *kgo.Client, node int32, version int16, topic, rack string) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	req.ReplicaID, req.ReplicaState.ID = -1, -1
	req.MaxBytes, req.MaxWaitMillis, req.SessionEpoch, req.Rack = 1<<20, 0, -1, rack
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range md.Topics {
		if mt.Topic != nil && *mt.Topic == topic {
			ft.TopicID = mt.TopicID
		}
	}
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 0, 0, 1<<20, -1
	fp.LogStartOffset = -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	fr := kmsg.NewPtrFetchResponse()
	versionedRoundTrip(t, c.Node(node).Addr(), req, fr)
	if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch v%d from node %d: error %d, %d topics", version, node, fr.ErrorCode, len(fr.Topics))
	}
	return fr.Topics[0].Partitions[0]
}

// versionedRoundTrip sends req at its own version on a fresh connection
// and decodes resp (response header v1 for flexible versions).
func versionedRoundTrip(t *testing.T, addr string, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	body := []byte{0, 0, 0, 0}
	body = binary.BigEndian.AppendUint16(body, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
	body = binary.BigEndian.AppendUint32(body, 9)
	body = binary.BigEndian.AppendUint16(body, uint16(len("samsatest")))
	body = append(body, "samsatest"...)
	if req.IsFlexible() {
		body = append(body, 0)
	}
	body = req.AppendTo(body)
	binary.BigEndian.PutUint32(body, uint32(len(body)-4))
	if _, err := nc.Write(body); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatal(err)
	}
	if corr := binary.BigEndian.Uint32(buf); corr != 9 {
		t.Fatalf("correlation id %d, want 9", corr)
	}
	buf = buf[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		buf = buf[1:] // no tagged fields in the response header
	}
	if err := resp.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
}

// waitFetchable polls node until a consumer Fetch v12 of topic/0 returns
// records up to want (the follower learned the high watermark).
func waitFetchable(t *testing.T, c *samsatest.Cluster, cl *kgo.Client, node int32, topic string, want int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sp := fetchOne(t, c, cl, node, 12, topic, "")
		if sp.ErrorCode == 0 && sp.HighWatermark == want && len(sp.RecordBatches) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d never served %s up to %d: error %v, hw %d", node, topic, want, kerr.ErrorForCode(sp.ErrorCode), sp.HighWatermark)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// batchCounter counts the fetched records per broker (a kgo hook).
type batchCounter struct {
	mu     sync.Mutex
	byNode map[int32]int
}

func (c *batchCounter) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	c.mu.Lock()
	c.byNode[meta.NodeID] += m.NumRecords
	c.mu.Unlock()
}

func (c *batchCounter) counts() map[int32]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byNode)
}

func TestFetchFromClosestReplica(t *testing.T) {
	c := replicationCluster(t, 3,
		samsatest.NodeConfig(1, "broker.rack", "r1"), samsatest.NodeConfig(2, "broker.rack", "r2"), samsatest.NodeConfig(3, "broker.rack", "r3"),
		samsatest.NodeConfig(1, "replica.selector.class", rackAware), samsatest.NodeConfig(2, "replica.selector.class", rackAware))
	seeds := c.Bootstrap()
	prod := producer(t, seeds)
	const n = 200
	createAssigned(t, prod, "near", 1, 2, 3)  // led by node 1, selector on
	createAssigned(t, prod, "plain", 3, 2, 1) // led by node 3, no selector
	full := func(_ int32, s partitionState) bool { return len(s.isr) == 3 }
	if s := waitPartitions(t, seeds[0], "near", full); s[0].leader != 1 {
		t.Fatalf("near led by %d, want 1", s[0].leader)
	}
	if s := waitPartitions(t, seeds[0], "plain", full); s[0].leader != 3 {
		t.Fatalf("plain led by %d, want 3", s[0].leader)
	}
	want := produceN(t, prod, "near", 0, "near", n)
	produceN(t, prod, "plain", 0, "plain", n)
	for _, node := range []int32{2, 3} {
		waitFetchable(t, c, prod, node, "near", n)
	}

	// The leader sends a client on r2 to node 2, without records; clients
	// on its own rack or on a rack without a replica read from it.
	if sp := fetchOne(t, c, prod, 1, 12, "near", "r2"); sp.ErrorCode != 0 || sp.PreferredReadReplica != 2 || len(sp.RecordBatches) != 0 || sp.HighWatermark != n {
		t.Fatalf("leader, client on r2: error %d, preferred %d, %d bytes, hw %d; want preferred 2, no records, hw %d",
			sp.ErrorCode, sp.PreferredReadReplica, len(sp.RecordBatches), sp.HighWatermark, n)
	}
	for _, rack := range []string{"r1", "r9", ""} {
		if sp := fetchOne(t, c, prod, 1, 12, "near", rack); sp.ErrorCode != 0 || sp.PreferredReadReplica != -1 || len(sp.RecordBatches) == 0 {
			t.Fatalf("leader, client on %q: error %d, preferred %d, %d bytes; want the leader's records", rack, sp.ErrorCode, sp.PreferredReadReplica, len(sp.RecordBatches))
		}
	}
	// Without a selector the leader always reads itself.
	if sp := fetchOne(t, c, prod, 3, 12, "plain", "r2"); sp.ErrorCode != 0 || sp.PreferredReadReplica != -1 || len(sp.RecordBatches) == 0 {
		t.Fatalf("leader without selector: error %d, preferred %d, %d bytes", sp.ErrorCode, sp.PreferredReadReplica, len(sp.RecordBatches))
	}
	// Followers serve consumers from Fetch v11 on, not before; ListOffsets
	// stays with the leader.
	if sp := fetchOne(t, c, prod, 3, 11, "near", "r3"); sp.ErrorCode != 0 || len(sp.RecordBatches) == 0 || sp.PreferredReadReplica != -1 {
		t.Fatalf("follower, Fetch v11: error %v, %d bytes, preferred %d", kerr.ErrorForCode(sp.ErrorCode), len(sp.RecordBatches), sp.PreferredReadReplica)
	}
	if sp := fetchOne(t, c, prod, 3, 10, "near", ""); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("follower, Fetch v10: error %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(sp.ErrorCode))
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "near"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp, lp.CurrentLeaderEpoch = -1, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	if resp, err := prod.Broker(3).Request(ctx(t), lo); err != nil {
		t.Fatal(err)
	} else if code := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("ListOffsets on a follower: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(code))
	}

	// franz-go on rack r2 reads every record of "near" once, in order, from
	// node 2; of "plain" (no selector) from the leader, node 3.
	consume := func(topic string, want []string) map[int32]int {
		counter := &batchCounter{byNode: map[int32]int{}}
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.Rack("r2"), kgo.WithHooks(counter),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var got []string
		for len(got) < len(want) {
			fs := cl.PollFetches(cctx)
			if cctx.Err() != nil {
				t.Fatalf("%s: consumed %d of %d records (by broker %v)", topic, len(got), len(want), counter.counts())
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Logf("%s: fetch error: %v", topic, err) })
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: consumed %d records, not the %d produced in order: first %v", topic, len(got), len(want), got[:min(5, len(got))])
		}
		return counter.counts()
	}
	if by := consume("near", want); by[2] != n || len(by) != 1 {
		t.Fatalf("near: records by broker %v, want all %d from node 2 (rack r2)", by, n)
	}
	plain := make([]string, n)
	for i := range plain {
		plain[i] = fmt.Sprintf("plain-%d", i)
	}
	if by := consume("plain", plain); by[3] != n || len(by) != 1 {
		t.Fatalf("plain: records by broker %v, want all %d from the leader, node 3", by, n)
	}
}
