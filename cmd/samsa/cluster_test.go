package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

// runClusterCmd runs samsa cluster against addr and returns its exit code
// and output.
func runClusterCmd(t *testing.T, addr string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = clusterMain(ctx, append(args, "-brokers", addr, "-timeout", "20s"), &out, &errb)
	return code, out.String(), errb.String()
}

// clusterJSON runs samsa cluster -json, which must succeed.
func clusterJSON(t *testing.T, addr string) jsonCluster {
	t.Helper()
	code, out, errs := runClusterCmd(t, addr, "-json")
	if code != 0 {
		t.Fatalf("samsa cluster -json: exit %d\n%s%s", code, out, errs)
	}
	var jc jsonCluster
	if err := json.Unmarshal([]byte(out), &jc); err != nil {
		t.Fatalf("-json output: %v\n%s", err, out)
	}
	return jc
}

// fakeQuorum makes kfake, which does not serve DescribeQuorum, advertise
// it (v0-2) and answer it with answer.
func fakeQuorum(t *testing.T, c *kfake.Cluster, answer func() *kmsg.DescribeQuorumResponse) {
	t.Helper()
	// kfake's own ApiVersions answer, to extend.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	c.ControlKey(18, func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := *base
		resp.Version = kreq.GetVersion()
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MaxVersion = 55, 2
		resp.ApiKeys = append(slices.Clone(base.ApiKeys), k)
		return &resp, nil, true
	})
	c.ControlKey(55, func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := answer()
		resp.Version = kreq.GetVersion()
		return resp, nil, true
	})
}

// fakeOffline makes kfake report topic orders with partition 2 without a
// leader to Metadata for every topic.
func fakeOffline(c *kfake.Cluster) {
	c.ControlKey(3, func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.MetadataRequest)
		if req.Topics != nil {
			return nil, nil, false
		}
		c.KeepControl()
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr("orders")
		for p := range int32(3) {
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Partition, rp.Leader, rp.Replicas, rp.ISR = p, p, []int32{p}, []int32{p}
			if p == 2 {
				rp.Leader, rp.ErrorCode, rp.ISR, rp.OfflineReplicas = -1, 5, nil, []int32{2} // LEADER_NOT_AVAILABLE
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})
}

func quorumResponse(fill func(*kmsg.DescribeQuorumResponseTopicPartition)) *kmsg.DescribeQuorumResponse {
	resp := kmsg.NewPtrDescribeQuorumResponse()
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = "__cluster_metadata"
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	if fill != nil {
		fill(&p)
	}
	rt.Partitions = append(rt.Partitions, p)
	resp.Topics = append(resp.Topics, rt)
	return resp
}

// TestClusterCommandFake: the quorum (a voter far behind, an observer),
// kfake's three brokers with their rack and an offline partition, as text
// and as JSON.
func TestClusterCommandFake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.ClusterID("fake-cluster"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var asked time.Time
	fakeQuorum(t, c, func() *kmsg.DescribeQuorumResponse {
		asked = time.Now()
		now := asked.UnixMilli()
		resp := quorumResponse(func(p *kmsg.DescribeQuorumResponseTopicPartition) {
			p.LeaderID, p.LeaderEpoch, p.HighWatermark = 1, 5, 200
			state := func(id int32, leo, fetchAgo, caughtUpAgo int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
				r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
				r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp = id, leo, now-fetchAgo, now-caughtUpAgo
				return r
			}
			p.CurrentVoters = append(p.CurrentVoters, state(2, 150, 12_000, 20_000), state(0, 200, 300, 300), state(1, 210, 0, 0))
			p.Observers = append(p.Observers, state(7, 205, 500, 500))
		})
		for id := int32(0); id < 3; id++ {
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = id
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = "CONTROLLER", "127.0.0.1", uint16(9093+id)
			n.Listeners = append(n.Listeners, l)
			resp.Nodes = append(resp.Nodes, n)
		}
		return resp
	})
	fakeOffline(c)
	addr := c.ListenAddrs()[0]

	code, out, errs := runClusterCmd(t, addr)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	lines := strings.Split(out, "\n")
	fields := func(prefix string) []string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(l, prefix) {
				return f
			}
		}
		t.Fatalf("no line starting %q in\n%s", prefix, out)
		return nil
	}
	if lines[0] != "cluster fake-cluster  controller 1  brokers 3" {
		t.Errorf("header %q", lines[0])
	}
	if lines[1] != "quorum: leader 1  epoch 5  high watermark 200  voters 3  observers 1" {
		t.Errorf("quorum line %q", lines[1])
	}
	ago := regexp.MustCompile(`^\d+(\.\d+)?(ms|s)$`)
	for _, want := range []struct {
		row             []string // NODE ROLE LOG-END LAG
		fetch, caughtUp time.Duration
		endpoint        string
	}{
		{[]string{"0", "follower", "200", "10"}, 300 * time.Millisecond, 300 * time.Millisecond, "CONTROLLER://127.0.0.1:9093"},
		{[]string{"1", "leader", "210", "0"}, 0, 0, "CONTROLLER://127.0.0.1:9094"},
		{[]string{"2", "follower", "150", "60"}, 12 * time.Second, 20 * time.Second, "CONTROLLER://127.0.0.1:9095"},
		{[]string{"7", "observer", "205", "5"}, 500 * time.Millisecond, 500 * time.Millisecond, "-"},
	} {
		f := fields(want.row[0] + " ")
		if len(f) != 9 || !slices.Equal(f[:4], want.row) || f[5] != "ago" || f[7] != "ago" || f[8] != want.endpoint {
			t.Errorf("row %q, want %v ... %s", f, want.row, want.endpoint)
			continue
		}
		for i, d := range map[int]time.Duration{4: want.fetch, 6: want.caughtUp} {
			got, err := time.ParseDuration(f[i])
			if !ago.MatchString(f[i]) || err != nil || got < d || got > d+time.Second {
				t.Errorf("node %s: %q, want %v ago (a little more)", f[0], f[i], d)
			}
		}
	}
	brokers := strings.SplitN(out, "BROKER  STATUS", 2)
	if len(brokers) != 2 {
		t.Fatalf("no broker table:\n%s", out)
	}
	for i, a := range c.ListenAddrs() {
		row := regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+unfenced\s+\S+\s+%s$`, i, regexp.QuoteMeta(a)))
		if !row.MatchString(brokers[1]) {
			t.Errorf("no row for broker %d at %s:\n%s", i, a, brokers[1])
		}
	}
	if !regexp.MustCompile(`(?m)^offline partitions: 1\n.*\norders\s+2\s+-1\s+\[2\]\s+\[\]\s+\[2\]\s+LEADER_NOT_AVAILABLE$`).MatchString(out) {
		t.Errorf("offline partitions:\n%s", out)
	}

	jc := clusterJSON(t, addr)
	if jc.ClusterID != "fake-cluster" || jc.ControllerID != 1 || jc.Quorum == nil || !jc.FencedIncluded || len(jc.Brokers) != 3 {
		t.Fatalf("json %+v", jc)
	}
	q := jc.Quorum
	if q.LeaderID != 1 || q.LeaderEpoch != 5 || q.HighWatermark != 200 || len(q.Voters) != 3 || len(q.Observers) != 1 {
		t.Fatalf("json quorum %+v", q)
	}
	v2 := q.Voters[2]
	if v2.ID != 2 || v2.LogEndOffset != 150 || v2.Lag != 60 || v2.LastFetchMs != asked.UnixMilli()-12_000 ||
		v2.LastFetchAgoMs < 12_000 || v2.LastFetchAgoMs > 13_000 || v2.LastCaughtUpAgo < 20_000 {
		t.Errorf("json voter 2 %+v", v2)
	}
	if ls := q.Nodes["2"]; len(ls) != 1 || ls[0] != (jsonListener{"CONTROLLER", "127.0.0.1", 9095}) {
		t.Errorf("json nodes %+v", q.Nodes)
	}
	if len(jc.OfflinePartitions) != 1 {
		t.Fatalf("json offline %+v", jc.OfflinePartitions)
	}
	if p := jc.OfflinePartitions[0]; p.Topic != "orders" || p.Partition != 2 || p.Leader != -1 || p.Error != "LEADER_NOT_AVAILABLE" ||
		!slices.Equal(p.Replicas, []int32{2}) || p.ISR == nil || len(p.ISR) != 0 {
		t.Errorf("json offline %+v", p)
	}
}

// TestClusterCommandQuorumNotDescribed: a broker without DescribeQuorum
// gets the rest printed and exit 0; a quorum error is printed with the rest
// and exits 1.
func TestClusterCommandQuorumNotDescribed(t *testing.T) {
	t.Run("unsupported", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(2))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		code, out, errs := runClusterCmd(t, c.ListenAddrs()[0])
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		for _, want := range []string{"quorum: not described: the broker does not support DescribeQuorum",
			"the controller above is DescribeCluster's", "BROKER  STATUS", "offline partitions: none"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in\n%s", want, out)
			}
		}
		jc := clusterJSON(t, c.ListenAddrs()[0])
		if jc.Quorum != nil || !jc.QuorumUnsupported || !strings.Contains(jc.QuorumError, "UNSUPPORTED_VERSION") || len(jc.Brokers) != 2 {
			t.Errorf("json %+v", jc)
		}
	})
	t.Run("error", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		fakeQuorum(t, c, func() *kmsg.DescribeQuorumResponse {
			resp := quorumResponse(nil)
			resp.ErrorCode, resp.ErrorMessage = 31, kmsg.StringPtr("denied") // CLUSTER_AUTHORIZATION_FAILED
			return resp
		})
		code, out, errs := runClusterCmd(t, c.ListenAddrs()[0])
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
		}
		if !strings.Contains(out, "quorum: not described: DescribeQuorum failed: ") || !strings.Contains(out, "CLUSTER_AUTHORIZATION_FAILED") ||
			!strings.Contains(out, "BROKER  STATUS") || !strings.Contains(out, "offline partitions: none") {
			t.Errorf("stdout:\n%s", out)
		}
		if !strings.Contains(errs, "samsa cluster: describe quorum: CLUSTER_AUTHORIZATION_FAILED") || !strings.Contains(errs, "denied") {
			t.Errorf("stderr: %s", errs)
		}
	})
}

// TestClusterCommandSamsa: a samsa node is one unfenced broker, the
// controller, with nothing offline.
func TestClusterCommandSamsa(t *testing.T) {
	n := samsatest.Start(t)
	code, out, errs := runClusterCmd(t, n.Addr())
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if !regexp.MustCompile(`^cluster [A-Za-z0-9_-]{22}  controller 1  brokers 1\n`).MatchString(out) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^1\s+unfenced\s+-\s+%s$`, regexp.QuoteMeta(n.Addr()))).MatchString(out) ||
		!strings.Contains(out, "offline partitions: none\n") {
		t.Errorf("output:\n%s", out)
	}
	jc := clusterJSON(t, n.Addr())
	if len(jc.Brokers) != 1 || jc.Brokers[0].ID != 1 || jc.Brokers[0].Fenced || !jc.FencedIncluded || len(jc.OfflinePartitions) != 0 {
		t.Fatalf("json %+v", jc)
	}
	if jc.Quorum == nil || jc.Quorum.LeaderID != 1 || len(jc.Quorum.Voters) != 1 || jc.Quorum.Voters[0].Lag != 0 {
		t.Fatalf("json quorum %+v (%s)", jc.Quorum, jc.QuorumError)
	}
	if !regexp.MustCompile(`(?m)^1\s+leader\s+\d+\s+0\s`).MatchString(out) {
		t.Errorf("output:\n%s", out)
	}
}

// TestClusterCommandKafka: the reference cluster (KAFKA_REFERENCE_BOOTSTRAP,
// three combined nodes) is three voters with a leader and three unfenced
// brokers.
func TestClusterCommandKafka(t *testing.T) {
	boot := os.Getenv("KAFKA_REFERENCE_BOOTSTRAP")
	if boot == "" {
		t.Log("KAFKA_REFERENCE_BOOTSTRAP unset: the reference cluster is tested by scripts/test's reference pass")
		return
	}
	jc := awaitHealthy(t, boot)
	code, out, errs := runClusterCmd(t, boot)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	checkThreeText(t, jc, out)
}

// awaitHealthyKafka returns samsa cluster -json's answer once it shows the
// reference cluster healthy (healthyKafka), which an earlier test that
// killed and restarted a node may have left recovering for a moment.
func awaitHealthy(t *testing.T, boot string) jsonCluster {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		jc := clusterJSON(t, boot)
		err := healthyThree(jc)
		if err == nil {
			return jc
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster is not healthy after a minute: %v: %+v", err, jc)
		}
		time.Sleep(time.Second)
	}
}

// healthyKafka: three voters, one of them the leader, every voter caught
// up and fetching, three unfenced brokers.
func healthyThree(jc jsonCluster) error {
	q := jc.Quorum
	if q == nil {
		return fmt.Errorf("no quorum: %s", jc.QuorumError)
	}
	if len(q.Voters) != 3 || len(q.Observers) != 0 || q.LeaderEpoch <= 0 {
		return fmt.Errorf("quorum %+v", q)
	}
	if jc.ControllerID != q.LeaderID || !slices.ContainsFunc(q.Voters, func(v jsonReplica) bool { return v.ID == q.LeaderID }) {
		return fmt.Errorf("leader %d is not a voter", q.LeaderID)
	}
	for _, v := range q.Voters {
		if v.Lag > 5 || v.LastFetchAgoMs < 0 || v.LastFetchAgoMs > 2000 {
			return fmt.Errorf("voter %d behind: %+v", v.ID, v)
		}
	}
	if len(jc.Brokers) != 3 || !jc.FencedIncluded {
		return fmt.Errorf("brokers %+v", jc.Brokers)
	}
	for _, b := range jc.Brokers {
		if b.Fenced {
			return fmt.Errorf("broker %d fenced", b.ID)
		}
	}
	return nil
}

// TestClusterCommandKafkaNodeKill: SIGKILL a voter of the reference cluster
// (KAFKA_REFERENCE_DIR) that is not the leader, with a partition only it
// holds (nodeKill).
func TestClusterCommandKafkaNodeKill(t *testing.T) {
	boot, dir := os.Getenv("KAFKA_REFERENCE_BOOTSTRAP"), os.Getenv("KAFKA_REFERENCE_DIR")
	if boot == "" || dir == "" {
		t.Log("KAFKA_REFERENCE_BOOTSTRAP or KAFKA_REFERENCE_DIR unset: node kills are tested by scripts/test's reference pass")
		return
	}
	ref := func(cmd string, node int32) {
		t.Helper()
		out, err := exec.Command("../../scripts/kafka-reference", cmd, "--dir", dir, strconv.Itoa(int(node))).CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-reference %s %d: %v\n%s", cmd, node, err, out)
		}
	}
	nodeKill(t, boot, func(id int32) { ref("kill-node", id) }, func(id int32) { ref("start-node", id) })
}

// TestClusterCommandSamsaCluster: samsa cluster on a three-node samsa
// cluster (samsatest.StartCluster, combined nodes), through a node kill
// (nodeKill) with Kafka's session timeout shortened.
func TestClusterCommandSamsaCluster(t *testing.T) {
	c := samsatest.StartCluster(t, 3, samsatest.ClusterConfig("broker.session.timeout.ms", "1500"),
		samsatest.ClusterConfig("broker.heartbeat.interval.ms", "300"))
	boot := strings.Join(c.Bootstrap(), ",")
	jc := awaitHealthy(t, boot)
	code, out, errs := runClusterCmd(t, boot)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	checkThreeText(t, jc, out)
	nodeKill(t, boot, func(id int32) { c.Node(id).Kill() }, func(id int32) {
		if err := c.Node(id).Restart(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestClusterCommandSamsaSeparate: Kafka's isolated layout (three
// controllers, two brokers) shows the brokers as the quorum's observers.
func TestClusterCommandSamsaSeparate(t *testing.T) {
	c := samsatest.StartCluster(t, 5, samsatest.Separate(3))
	boot := strings.Join(c.Bootstrap(), ",")
	deadline := time.Now().Add(time.Minute)
	for {
		jc := clusterJSON(t, boot)
		err := func() error {
			q := jc.Quorum
			switch {
			case q == nil:
				return fmt.Errorf("no quorum: %s", jc.QuorumError)
			case len(q.Voters) != 3 || q.Voters[0].ID != 1 || q.Voters[2].ID != 3 || q.LeaderID < 1 || q.LeaderID > 3:
				return fmt.Errorf("voters %+v, leader %d", q.Voters, q.LeaderID)
			case len(q.Observers) != 2 || q.Observers[0].ID != 4 || q.Observers[1].ID != 5:
				return fmt.Errorf("observers %+v", q.Observers)
			case len(jc.Brokers) != 2 || jc.Brokers[0].ID != 4 || jc.Brokers[0].Fenced || jc.Brokers[1].Fenced:
				return fmt.Errorf("brokers %+v", jc.Brokers)
			}
			for _, o := range q.Observers {
				if o.Lag < 0 || o.LastFetchAgoMs < 0 || o.LastFetchAgoMs > 2000 {
					return fmt.Errorf("observer %+v", o)
				}
			}
			return nil
		}()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: %+v", err, jc)
		}
		time.Sleep(500 * time.Millisecond)
	}
	code, out, errs := runClusterCmd(t, boot)
	if code != 0 || !strings.Contains(out, "voters 3  observers 2") ||
		len(regexp.MustCompile(`(?m)^[45]\s+observer\s+\d+\s+\d+\s`).FindAllString(out, -1)) != 2 ||
		len(regexp.MustCompile(`(?m)^[45]\s+unfenced\s`).FindAllString(out, -1)) != 2 {
		t.Errorf("exit %d:\n%s%s", code, out, errs)
	}
}

// checkThreeText checks samsa cluster's text for a healthy three-node
// cluster jc describes: the leader as the controller, one leader row and
// two followers, three unfenced brokers.
func checkThreeText(t *testing.T, jc jsonCluster, out string) {
	t.Helper()
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^cluster %s  controller %d  brokers 3\n`, jc.ClusterID, jc.Quorum.LeaderID)).MatchString(out) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+leader\s+\d+\s+0\s.*CONTROLLER://`, jc.Quorum.LeaderID)).MatchString(out) ||
		len(regexp.MustCompile(`(?m)^\d\s+follower\s`).FindAllString(out, -1)) != 2 ||
		len(regexp.MustCompile(`(?m)^\d\s+unfenced\s`).FindAllString(out, -1)) != 3 {
		t.Errorf("output:\n%s", out)
	}
}

// nodeKill kills a voter of the three-node cluster at boot that is not
// the leader, with a partition only it holds: samsa cluster shows the
// voter falling behind and out of contact, its broker fenced and the
// partition offline, and exits 0 (the quorum stands). After the node is
// started again, all of it recovers.
func nodeKill(t *testing.T, boot string, kill, start func(id int32)) {
	t.Helper()
	jc := awaitHealthy(t, boot)
	var victim int32 = -1
	for _, v := range jc.Quorum.Voters {
		if v.ID != jc.Quorum.LeaderID {
			victim = v.ID
		}
	}

	// A partition whose only replica is on the victim.
	kc, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(boot, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close) // after the topic's deletion below
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topic := fmt.Sprintf("cli-offline-%d", time.Now().UnixNano())
	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = 30_000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{victim}
	ct.ReplicaAssignment = append(ct.ReplicaAssignment, ra)
	create.Topics = append(create.Topics, ct)
	cresp, err := create.RequestWith(ctx, kc)
	if err == nil && cresp.Topics[0].ErrorCode != 0 {
		err = fmt.Errorf("error code %d", cresp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s on node %d: %v", topic, victim, err)
	}
	t.Cleanup(func() {
		del := kmsg.NewPtrDeleteTopicsRequest()
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr(topic)
		del.Topics, del.TopicNames = append(del.Topics, dt), []string{topic}
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		if _, err := del.RequestWith(dctx, kc); err != nil {
			t.Logf("delete %s: %v", topic, err)
		}
	})

	kill(victim)
	restarted := false
	t.Cleanup(func() { // never leave a shared cluster a node short
		if !restarted {
			start(victim)
		}
	})
	killed := time.Now()

	// poll runs samsa cluster -json until ok holds or the context ends.
	poll := func(what string, ok func(jsonCluster) error) jsonCluster {
		t.Helper()
		for {
			jc := clusterJSON(t, boot)
			err := ok(jc)
			if err == nil {
				return jc
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %v\n%+v", what, err, jc)
			}
			time.Sleep(time.Second)
		}
	}
	find := func(jc jsonCluster) (v jsonReplica, b jsonBroker, offline bool) {
		if jc.Quorum != nil {
			for _, r := range jc.Quorum.Voters {
				if r.ID == victim {
					v = r
				}
			}
		}
		for _, x := range jc.Brokers {
			if x.ID == victim {
				b = x
			}
		}
		for _, p := range jc.OfflinePartitions {
			offline = offline || p.Topic == topic && p.Partition == 0
		}
		return v, b, offline
	}
	// The broker session timeout (Kafka's 9 s) fences the broker; its partition
	// goes offline; the voter's lag and silence grow meanwhile.
	poll("the killed node's voter behind, its broker fenced, its partition offline", func(jc jsonCluster) error {
		v, b, offline := find(jc)
		switch {
		case jc.Quorum == nil:
			return fmt.Errorf("no quorum: %s", jc.QuorumError)
		case jc.Quorum.LeaderID == victim:
			return fmt.Errorf("the killed node %d leads the quorum", victim)
		case v.ID != victim || v.Lag <= 0 || v.LastFetchAgoMs < 3000:
			return fmt.Errorf("voter %d %+v not yet behind", victim, v)
		case b.ID != victim || !b.Fenced:
			return fmt.Errorf("broker %d %+v not fenced", victim, b)
		case !offline:
			return fmt.Errorf("%s[0] not offline: %+v", topic, jc.OfflinePartitions)
		}
		return nil
	})
	t.Logf("node %d: voter behind, broker fenced, partition offline %v after the kill", victim, time.Since(killed).Round(100*time.Millisecond))
	code, out, errs := runClusterCmd(t, boot)
	if code != 0 {
		t.Fatalf("exit %d with a node down\n%s%s", code, out, errs)
	}
	t.Logf("samsa cluster with node %d down:\n%s", victim, out)
	voterRow := regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+follower\s+\d+\s+([1-9]\d*)\s+(\d+(\.\d+)?s|\d+m\d+s) ago\s`, victim))
	if !voterRow.MatchString(out) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+fenced\s`, victim)).MatchString(out) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^%s\s+0\s+-1\s+\[%d\]`, regexp.QuoteMeta(topic), victim)).MatchString(out) ||
		!strings.Contains(out, "(1 fenced)") {
		t.Errorf("output with node %d down:\n%s", victim, out)
	}

	start(victim)
	restarted = true
	jc = poll("recovery after the restart", func(jc jsonCluster) error {
		if err := healthyThree(jc); err != nil {
			return err
		}
		if _, _, offline := find(jc); offline {
			return fmt.Errorf("%s[0] still offline", topic)
		}
		return nil
	})
	code, out, errs = runClusterCmd(t, boot)
	if code != 0 || strings.Contains(out, "fenced)") || !strings.Contains(out, "offline partitions: none") {
		t.Errorf("exit %d after the restart:\n%s%s", code, out, errs)
	}
}
