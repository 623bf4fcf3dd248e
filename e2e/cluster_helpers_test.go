package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pcluster is a cluster of real `samsa serve` processes on loopback, one
// data directory and one set of ports per node, configured the way a
// Kafka operator configures KRaft nodes.
type pcluster struct {
	t     *testing.T
	nodes []*pnode // by id - 1
}

// pnode is one node: a proc (its port is the PLAINTEXT port, 0 for a
// controller-only node) started without waiting for it to serve, since a
// node of a cluster serves only once a quorum exists.
type pnode struct {
	*proc
	id         int32
	broker     bool
	controller bool
	ctl        int         // CONTROLLER port, 0 for a broker-only node
	past       []string    // logs of earlier runs
	kcl        *kgo.Client // seeded with this node only
}

func (n *pnode) String() string { return fmt.Sprintf("node %d", n.id) }

// newPCluster allocates ports for nodes 1..len(roles); roles[i] is
// "broker,controller", "controller" or "broker".
func newPCluster(t *testing.T, roles ...string) *pcluster {
	c := &pcluster{t: t}
	base := t.TempDir()
	for i, r := range roles {
		n := &pnode{id: int32(i + 1), broker: strings.Contains(r, "broker"), controller: strings.Contains(r, "controller")}
		n.proc = &proc{t: t, dir: filepath.Join(base, fmt.Sprintf("node-%d", n.id))}
		if n.broker {
			n.port = freePort(t)
		}
		if n.controller {
			n.ctl = freePort(t)
		}
		c.nodes = append(c.nodes, n)
	}
	t.Cleanup(func() {
		// The test is over: SIGKILL is enough (and quick: a clean stop of
		// the last voters waits for a quorum that is gone).
		for _, n := range c.running() {
			n.kill9()
		}
		for _, n := range c.nodes {
			if n.kcl != nil {
				n.kcl.Close()
			}
		}
		if t.Failed() {
			for _, n := range c.nodes {
				for i, l := range n.past {
					t.Logf("---- log of node %d, run %d ----\n%s", n.id, i+1, tail(l, 40))
				}
				t.Logf("---- log of node %d, last run ----\n%s", n.id, tail(n.logText(), 80))
			}
		}
	})
	return c
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func (n *pnode) logText() string {
	if n.log == nil {
		return ""
	}
	return n.log.String()
}

// node returns the node with id.
func (c *pcluster) node(id int32) *pnode { return c.nodes[id-1] }

// voters is controller.quorum.voters.
func (c *pcluster) voters() string {
	var vs []string
	for _, n := range c.nodes {
		if n.controller {
			vs = append(vs, fmt.Sprintf("%d@127.0.0.1:%d", n.id, n.ctl))
		}
	}
	return strings.Join(vs, ",")
}

// listeners is listeners= (and, for the broker part, advertised.listeners=).
func (n *pnode) listeners() (listeners, advertised string) {
	var ls []string
	if n.broker {
		advertised = fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.port)
		ls = append(ls, advertised)
	}
	if n.controller {
		ls = append(ls, fmt.Sprintf("CONTROLLER://127.0.0.1:%d", n.ctl))
	}
	return strings.Join(ls, ","), advertised
}

// brokers returns the broker nodes' ids.
func (c *pcluster) brokers() []int32 {
	var ids []int32
	for _, n := range c.nodes {
		if n.broker {
			ids = append(ids, n.id)
		}
	}
	return ids
}

// launch starts the process and returns once it has bound its listeners
// and opened its storage ("samsa broker started"); it does not wait for
// the cluster.
func (n *pnode) launch() {
	t := n.t
	t.Helper()
	if n.log != nil {
		n.past = append(n.past, n.log.String())
	}
	if n.kcl != nil { // its connections went with the last process
		n.kcl.Close()
		n.kcl = nil
	}
	n.log = &syncBuffer{}
	n.cmd = exec.Command(samsaBin, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	n.cmd.Env = append(cleanEnv(), n.env...)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	n.exited = exited
	cmd := n.cmd
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(n.log.String(), "samsa broker started") {
		select {
		case <-exited:
			t.Fatalf("%v exited at start: %s", n, n.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not start in time: %s", n, n.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// start launches the nodes in the order given, each once the one before
// has bound its listeners.
func (c *pcluster) start(ids ...int32) {
	c.t.Helper()
	for _, id := range ids {
		c.node(id).launch()
	}
}

// sigterm sends SIGTERM and returns the exit code once the process exited.
func (n *pnode) sigterm() int {
	n.t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
		n.t.Fatalf("%v did not exit on SIGTERM: %s", n, n.log.String())
	}
	n.checkLog()
	return n.cmd.ProcessState.ExitCode()
}

func (n *pnode) checkLog() {
	if l := n.log.String(); strings.Contains(l, "DATA RACE") || strings.Contains(l, "panic:") {
		n.t.Errorf("%v log shows a race or panic:\n%s", n, l)
	}
}

// running returns the nodes whose process runs.
func (c *pcluster) running() []*pnode {
	var out []*pnode
	for _, n := range c.nodes {
		if n.cmd != nil && n.alive() {
			out = append(out, n)
		}
	}
	return out
}

// client is a franz-go client seeded with this node only; request sends
// to exactly this node (its broker listener, or its controller listener
// for a controller-only node).
func (n *pnode) client() *kgo.Client {
	if n.kcl == nil {
		addr := fmt.Sprintf("127.0.0.1:%d", n.port)
		if !n.broker {
			addr = fmt.Sprintf("127.0.0.1:%d", n.ctl)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
		if err != nil {
			n.t.Fatal(err)
		}
		n.kcl = cl
	}
	return n.kcl
}

func (n *pnode) request(req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return n.client().SeedBrokers()[0].Request(ctx, req)
}

// metadata is this node's Metadata answer for topics (nil: all).
func (n *pnode) metadata(topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topics == nil {
		req.Topics = nil
	} else {
		for _, tp := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(tp)
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := n.request(req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// listedBrokers is the broker ids this node's Metadata lists (unfenced).
func (n *pnode) listedBrokers() ([]int32, error) {
	m, err := n.metadata()
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, b := range m.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids, nil
}

// describeCluster is DescribeCluster v2 with fenced brokers: id → fenced.
func (n *pnode) describeCluster() (map[int32]bool, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeFencedBrokers = true
	req.EndpointType = 1
	resp, err := n.request(req)
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.DescribeClusterResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return nil, err
	}
	out := map[int32]bool{}
	for _, b := range r.Brokers {
		out[b.NodeID] = b.IsFenced
	}
	return out, nil
}

// describeControllers is DescribeCluster on a controller-only node's
// controller listener (KIP-919): the active controller and the voters.
func (n *pnode) describeControllers() (active int32, voters []int32, err error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	resp, err := n.request(req)
	if err != nil {
		return -1, nil, err
	}
	r := resp.(*kmsg.DescribeClusterResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return -1, nil, err
	}
	for _, b := range r.Brokers {
		voters = append(voters, b.NodeID)
	}
	slices.Sort(voters)
	return r.ControllerID, voters, nil
}

// quorum is DescribeQuorum of __cluster_metadata through this node.
type quorum struct {
	leader    int32
	epoch     int32
	hw        int64
	voters    []int32
	observers []int32
	lag       map[int32]int64 // voter → how far its log end is behind the high watermark
}

func (n *pnode) describeQuorum() (quorum, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := n.request(req)
	if err != nil {
		return quorum{}, err
	}
	r := resp.(*kmsg.DescribeQuorumResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return quorum{}, err
	}
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return quorum{}, fmt.Errorf("DescribeQuorum answered %d topics", len(r.Topics))
	}
	p := r.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return quorum{}, err
	}
	q := quorum{leader: p.LeaderID, epoch: p.LeaderEpoch, hw: p.HighWatermark, lag: map[int32]int64{}}
	for _, v := range p.CurrentVoters {
		q.voters = append(q.voters, v.ReplicaID)
		q.lag[v.ReplicaID] = p.HighWatermark - v.LogEndOffset
	}
	for _, o := range p.Observers {
		q.observers = append(q.observers, o.ReplicaID)
	}
	slices.Sort(q.voters)
	slices.Sort(q.observers)
	return q, nil
}

// waitFor polls cond until it returns nil, failing with its last error
// after timeout.
func (c *pcluster) waitFor(what string, timeout time.Duration, cond func() error) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady waits until every running node logged "samsa node ready" and
// every running broker's Metadata lists exactly the running brokers.
func (c *pcluster) waitReady(timeout time.Duration) {
	c.t.Helper()
	run := c.running()
	var up []int32
	for _, n := range run {
		if n.broker {
			up = append(up, n.id)
		}
	}
	c.waitFor("cluster ready", timeout, func() error {
		for _, n := range run {
			if !n.alive() {
				return fmt.Errorf("%v exited: %s", n, n.log.String())
			}
			if !strings.Contains(n.log.String(), "samsa node ready") {
				return fmt.Errorf("%v not ready", n)
			}
		}
		for _, n := range run {
			if !n.broker {
				continue
			}
			got, err := n.listedBrokers()
			if err != nil {
				return fmt.Errorf("%v: %v", n, err)
			}
			if !slices.Equal(got, up) {
				return fmt.Errorf("%v lists brokers %v, want %v", n, got, up)
			}
		}
		return nil
	})
}

// anyBroker is a running broker node other than the ones excluded.
func (c *pcluster) anyBroker(not ...int32) *pnode {
	for _, n := range c.running() {
		if n.broker && !slices.Contains(not, n.id) {
			return n
		}
	}
	c.t.Fatalf("no running broker besides %v", not)
	return nil
}

// activeController asks a running broker for the quorum's leader.
func (c *pcluster) activeController(not ...int32) quorum {
	c.t.Helper()
	var q quorum
	c.waitFor("a quorum leader", 20*time.Second, func() error {
		var err error
		q, err = c.anyBroker(not...).describeQuorum()
		if err != nil {
			return err
		}
		if q.leader < 0 || slices.Contains(not, q.leader) {
			return fmt.Errorf("leader %d", q.leader)
		}
		return nil
	})
	return q
}

// createTopic sends CreateTopics to exactly this node and returns the
// topic id.
func (n *pnode) createTopic(name string, partitions int32, rf int16) ([16]byte, error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := n.client().SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return [16]byte{}, err
	}
	r := resp.(*kmsg.CreateTopicsResponse)
	if len(r.Topics) != 1 {
		return [16]byte{}, fmt.Errorf("CreateTopics answered %d topics", len(r.Topics))
	}
	if err := kerr.ErrorForCode(r.Topics[0].ErrorCode); err != nil {
		return [16]byte{}, err
	}
	return r.Topics[0].TopicID, nil
}

// leaders maps each partition of topic to its leader in n's Metadata.
func (n *pnode) leaders(topic string) (map[int32]int32, error) {
	m, err := n.metadata(topic)
	if err != nil {
		return nil, err
	}
	if len(m.Topics) != 1 {
		return nil, fmt.Errorf("metadata answered %d topics", len(m.Topics))
	}
	if err := kerr.ErrorForCode(m.Topics[0].ErrorCode); err != nil {
		return nil, err
	}
	out := map[int32]int32{}
	for _, p := range m.Topics[0].Partitions {
		out[p.Partition] = p.Leader
	}
	return out, nil
}

// writeProperties writes a server.properties file.
func writeProperties(t *testing.T, path string, kv [][2]string) {
	var b strings.Builder
	b.WriteString("# KRaft node, as kafka-server-start.sh takes it\n")
	for _, p := range kv {
		fmt.Fprintf(&b, "%s=%s\n", p[0], p[1])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
