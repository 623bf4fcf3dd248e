package samsatest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/samsatest"
)

// Consumer groups keep their committed offsets and their members through
// the loss of the coordinator's node (samsa issue 12): the cluster runs
// with the default offsets.topic.replication.factor (3), the node leading
// the group's __consumer_offsets partition is killed, a follower takes
// the partition over and loads the group from its replica.

// failoverCluster is three combined nodes that fence a dead broker fast,
// with a small __consumer_offsets and a four-partition "orders" topic on
// every node.
func failoverCluster(t *testing.T) *samsatest.Cluster {
	t.Helper()
	c := samsatest.StartCluster(t, 3,
		samsatest.ClusterConfig("broker.session.timeout.ms", "1500"),
		samsatest.ClusterConfig("broker.heartbeat.interval.ms", "300"),
		samsatest.ClusterConfig("replica.lag.time.max.ms", "2000"),
		samsatest.ClusterConfig("replica.fetch.backoff.ms", "200"),
		samsatest.ClusterConfig("offsets.topic.num.partitions", "3"),
		samsatest.ClusterConfig("group.consumer.heartbeat.interval.ms", "300"))
	adm := admin(t, c.Bootstrap()...)
	if res, err := adm.CreateTopic(ctx(t), 4, 3, nil, "orders"); err != nil || res.Err != nil {
		t.Fatalf("create orders: %v %v", err, res.Err)
	}
	return c
}

// failoverConsumer is a kgo group member that counts how often it reads
// each value and commits what each poll returned.
type failoverConsumer struct {
	cl   *kgo.Client
	done chan struct{}
	mu   sync.Mutex
	seen map[string]int // mu guards seen
}

func startFailoverConsumer(t *testing.T, seeds []string, group string, opts ...kgo.Opt) *failoverConsumer {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics("orders"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond), kgo.RetryTimeout(60 * time.Second)}, opts...)
	log := &tailLog{}
	opts = append(opts, kgo.WithLogger(kgo.BasicLogger(log, kgo.LogLevelInfo, nil)))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	fc := &failoverConsumer{cl: cl, done: make(chan struct{}), seen: map[string]int{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the client log's end of a member of %s:\n%s", group, log.tail())
		}
	})
	go func() {
		defer close(fc.done)
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			recs := fs.Records()
			fc.mu.Lock()
			for _, r := range recs {
				fc.seen[string(r.Value)]++
			}
			fc.mu.Unlock()
			if len(recs) > 0 {
				_ = cl.CommitRecords(context.Background(), recs...) // a failed commit is retried by the next
			}
		}
	}()
	t.Cleanup(fc.close)
	return fc
}

// tailLog keeps the last 16 KiB written to it (a client's log, shown
// when the test fails).
type tailLog struct {
	mu  sync.Mutex
	buf []byte // mu guards buf
}

func (l *tailLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - 16<<10; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	return len(p), nil
}

func (l *tailLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

func (fc *failoverConsumer) close() {
	fc.cl.Close()
	<-fc.done
}

// tally merges what the consumers read: how often each value was seen.
func tally(fcs ...*failoverConsumer) map[string]int {
	all := map[string]int{}
	for _, fc := range fcs {
		fc.mu.Lock()
		for v, n := range fc.seen {
			all[v] += n
		}
		fc.mu.Unlock()
	}
	return all
}

// failover drives one scenario: producing, waiting for reads and commits,
// finding the coordinator.
type failover struct {
	t     *testing.T
	c     *samsatest.Cluster
	cl    *kgo.Client
	group string
	where map[string]int32 // the partition of each value produced
}

func newFailover(t *testing.T, c *samsatest.Cluster, group string) *failover {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &failover{t: t, c: c, cl: cl, group: group, where: map[string]int32{}}
}

// produce writes the values from..to-1 (acks=all, every replica has them).
func (f *failover) produce(from, to int) {
	f.t.Helper()
	for i := from; i < to; i++ {
		v := fmt.Appendf(nil, "%d", i)
		r := &kgo.Record{Topic: "orders", Key: v, Value: v} // keyed: spread over the partitions
		if err := f.cl.ProduceSync(ctx(f.t), r).FirstErr(); err != nil {
			f.t.Fatal(err)
		}
		f.where[string(v)] = r.Partition
	}
}

// waitRead waits until the consumers have read every value below to at
// least once.
func (f *failover) waitRead(to int, fcs ...*failoverConsumer) map[string]int {
	f.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		seen := tally(fcs...)
		missing := map[int32][]string{} // by partition
		for i := range to {
			if v := fmt.Sprint(i); seen[v] == 0 {
				missing[f.where[v]] = append(missing[f.where[v]], v)
			}
		}
		if len(missing) == 0 {
			return seen
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("values never read, by partition: %v (orders: %s)", missing, f.ordersLeaders())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ordersLeaders describes the partitions of orders as a running node's
// Metadata shows them.
func (f *failover) ordersLeaders() string {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("orders")
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx(f.t), f.cl.Broker(int(f.anyRunning())))
	if err != nil || len(resp.Topics) != 1 {
		return fmt.Sprint(err)
	}
	out := ""
	for _, p := range resp.Topics[0].Partitions {
		out += fmt.Sprintf(" %d: leader %d epoch %d isr %v;", p.Partition, p.Leader, p.LeaderEpoch, p.ISR)
	}
	return out
}

// committed is the group's committed offsets by partition (of orders,
// the one topic) as
// node's OffsetFetch answers (an error while it is not the coordinator
// or still loading).
func (f *failover) committed(node int32) (map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(8)
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = f.group // no topics: every committed offset
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(ctx(f.t), f.cl.Broker(int(node)))
	if err != nil {
		return nil, err
	}
	if len(resp.Groups) != 1 {
		return nil, fmt.Errorf("%d groups answered", len(resp.Groups))
	}
	g := resp.Groups[0]
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, tp := range g.Topics {
		for _, p := range tp.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("%s/%d: %w", tp.Topic, p.Partition, err)
			}
			out[p.Partition] = p.Offset // orders is the one topic (by name or, v10, by id)
		}
	}
	return out, nil
}

// waitCommitted waits until the committed offsets the coordinator (found
// anew each round) answers add up to want.
func (f *failover) waitCommitted(want int64) map[int32]int64 {
	f.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		offs, err := f.committed(f.coordinator(f.anyRunning(), -1))
		sum := int64(0)
		for _, o := range offs {
			sum += o
		}
		if err == nil && sum == want {
			return offs
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("committed offsets %v (sum %d), want sum %d: %v", offs, sum, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// anyRunning is the id of a running node.
func (f *failover) anyRunning() int32 {
	for _, nd := range f.c.Nodes() {
		if nd.Running() {
			return nd.ID
		}
	}
	f.t.Fatal("no node runs")
	return -1
}

// coordinator asks FindCoordinator of node seed until it names a
// coordinator other than not (-1: any).
func (f *failover) coordinator(seed, not int32) int32 {
	f.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last string
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = f.group
		req.CoordinatorKeys = []string{f.group}
		resp, err := req.RequestWith(ctx(f.t), f.cl.Broker(int(seed)))
		if err == nil && len(resp.Coordinators) == 1 {
			co := resp.Coordinators[0]
			if co.ErrorCode == 0 && co.NodeID != not {
				return co.NodeID
			}
			last = fmt.Sprintf("node %d, %v", co.NodeID, kerr.ErrorForCode(co.ErrorCode))
		} else {
			last = fmt.Sprint(err)
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("FindCoordinator through node %d: %s", seed, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// offsetsPartition returns the __consumer_offsets partition of the group
// as node seed's Metadata shows it.
func (f *failover) offsetsPartition(seed int32) kmsg.MetadataResponseTopicPartition {
	f.t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("__consumer_offsets")
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx(f.t), f.cl.Broker(int(seed)))
	if err != nil {
		f.t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		f.t.Fatalf("metadata of __consumer_offsets: %+v", resp.Topics)
	}
	ps := resp.Topics[0].Partitions
	for _, p := range ps {
		if p.Partition == group.PartitionFor(f.group, int32(len(ps))) {
			return p
		}
	}
	f.t.Fatalf("no partition for %s in %+v", f.group, ps)
	return kmsg.MetadataResponseTopicPartition{}
}

// checkReplicated asserts __consumer_offsets has three replicas, all in
// sync, and its leader coordinates the group.
func (f *failover) checkReplicated(seed, coord int32) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := f.offsetsPartition(seed)
		if len(p.Replicas) != 3 {
			f.t.Fatalf("__consumer_offsets-%d has replicas %v: offsets.topic.replication.factor is 3 by default", p.Partition, p.Replicas)
		}
		if p.Leader == coord && len(p.ISR) == 3 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("__consumer_offsets-%d: leader %d (coordinator %d), ISR %v", p.Partition, p.Leader, coord, p.ISR)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// survivor is a running node other than dead.
func survivor(dead int32) int32 { return dead%3 + 1 }

// TestGroupClassicSurvivesCoordinatorKill: a classic group (franz-go,
// eager range assignor) reads and commits; the node coordinating it is
// killed. Another node becomes its coordinator, OffsetFetch there answers
// every committed offset, the members carry on from them (nothing read
// twice, nothing skipped), and a new member of the group starts at the
// committed offsets. The killed node comes back as a follower of the
// offsets partition and catches up with its leader.
func TestGroupClassicSurvivesCoordinatorKill(t *testing.T) {
	c := failoverCluster(t)
	f := newFailover(t, c, "classic-failover")
	opts := []kgo.Opt{kgo.Balancers(kgo.RangeBalancer()), kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.SessionTimeout(10 * time.Second)}
	a := startFailoverConsumer(t, c.Bootstrap(), f.group, opts...)
	b := startFailoverConsumer(t, c.Bootstrap(), f.group, opts...)
	coord := f.coordinator(1, -1)
	f.waitStableClassic(coord, 2)
	f.produce(0, 40)
	f.waitRead(40, a, b)
	before := f.waitCommitted(40)
	f.checkReplicated(survivor(coord), coord)

	c.Node(coord).Kill()
	killedAt := time.Now()
	next := f.coordinator(survivor(coord), coord)
	offs, err := f.committed(next)
	for err != nil && time.Since(killedAt) < 45*time.Second {
		time.Sleep(50 * time.Millisecond) // COORDINATOR_LOAD_IN_PROGRESS while it loads
		offs, err = f.committed(next)
	}
	if err != nil || !maps.Equal(offs, before) {
		t.Fatalf("committed offsets on the new coordinator %d: %v %v, before the kill %v", next, offs, err, before)
	}
	t.Logf("coordinator %d killed, %d coordinates after %v", coord, next, time.Since(killedAt).Round(time.Millisecond))

	// The members go on reading from where they committed.
	f.produce(40, 60)
	seen := f.waitRead(60, a, b)
	f.waitCommitted(60)
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("value %s read %d times across the failover", v, n)
		}
	}
	f.waitStableClassic(next, 2)

	// (c) The killed node restarts as a follower of the offsets partition
	// and catches up byte for byte; a member that joins now starts at the
	// committed offsets.
	t.Logf("members read on through the new coordinator after %v", time.Since(killedAt).Round(time.Millisecond))
	if err := c.Node(coord).Restart(); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, f, coord, next)
	t.Logf("node %d restarted and caught up after %v", coord, time.Since(killedAt).Round(time.Millisecond))
	a.close()
	b.close()
	f.produce(60, 70)
	fresh := startFailoverConsumer(t, c.Bootstrap(), f.group, opts...)
	got := f.waitRead(70, fresh, a, b) // a and b are closed: what they read is counted as read
	for v, n := range got {
		if n != 1 {
			t.Fatalf("value %s read %d times: the new member did not start at the committed offsets", v, n)
		}
	}
	last := f.waitCommitted(70)

	// The restarted node's copy is whole: a preferred-leader election
	// hands it the partition back, and it coordinates the group with
	// every offset committed while it was away.
	f.electPreferred(coord)
	if back := f.coordinator(coord, -1); back != coord {
		t.Fatalf("the preferred leader %d does not coordinate after the election: %d does", coord, back)
	}
	offs, err = f.committed(coord)
	for err != nil && time.Since(killedAt) < 60*time.Second {
		time.Sleep(50 * time.Millisecond)
		offs, err = f.committed(coord)
	}
	if err != nil || !maps.Equal(offs, last) {
		t.Fatalf("committed offsets on node %d, leading again: %v %v, want %v", coord, offs, err, last)
	}
	f.produce(70, 80)
	for v, n := range f.waitRead(80, fresh, a, b) {
		if n != 1 {
			t.Fatalf("value %s read %d times after the coordinator moved back", v, n)
		}
	}
	f.waitCommitted(80)
}

// electPreferred moves the group's offsets partition to its preferred
// replica, node want, and waits until the image says so.
func (f *failover) electPreferred(want int32) {
	f.t.Helper()
	p := f.offsetsPartition(want)
	if len(p.Replicas) == 0 || p.Replicas[0] != want {
		f.t.Fatalf("__consumer_offsets-%d: replicas %v, %d was its first leader", p.Partition, p.Replicas, want)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := kadm.NewClient(f.cl).ElectLeaders(ctx(f.t), kadm.ElectPreferredReplica,
			kadm.TopicsSet{"__consumer_offsets": {p.Partition: {}}})
		if err == nil {
			r := res["__consumer_offsets"][p.Partition]
			if r.Err == nil || errors.Is(r.Err, kerr.ElectionNotNeeded) {
				if f.offsetsPartition(want).Leader == want {
					return
				}
			}
			err = r.Err
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("preferred election of __consumer_offsets-%d: %v", p.Partition, err)
		}
		time.Sleep(100 * time.Millisecond) // PREFERRED_LEADER_NOT_AVAILABLE until it is in the ISR
	}
}

// waitStableClassic waits until node coord's DescribeGroups shows the
// classic group Stable with members members.
func (f *failover) waitStableClassic(coord int32, members int) {
	f.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{f.group}
		resp, err := req.RequestWith(ctx(f.t), f.cl.Broker(int(coord)))
		var g kmsg.DescribeGroupsResponseGroup
		if err == nil && len(resp.Groups) == 1 {
			g = resp.Groups[0]
			if g.ErrorCode == 0 && g.State == "Stable" && len(g.Members) == members {
				return
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("classic group not stable with %d members on %d: %s with %d members (%v %v)",
				members, coord, g.State, len(g.Members), err, kerr.ErrorForCode(g.ErrorCode))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCaughtUp waits until node follower is in the ISR of the group's
// offsets partition again and its copy has the leader's size.
func waitCaughtUp(t *testing.T, f *failover, follower, leader int32) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		p := f.offsetsPartition(leader)
		inISR := slices.Contains(p.ISR, follower)
		ls, fs := logDirSize(t, f, leader, p.Partition), logDirSize(t, f, follower, p.Partition)
		if p.Leader == leader && inISR && ls > 0 && ls == fs {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("__consumer_offsets-%d: leader %d, ISR %v; %d bytes on the leader, %d on node %d",
				p.Partition, p.Leader, p.ISR, ls, fs, follower)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logDirSize is the size of __consumer_offsets-part on node as its
// DescribeLogDirs answers (-1: not there).
func logDirSize(t *testing.T, f *failover, node, part int32) int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeLogDirsRequest()
	dt := kmsg.NewDescribeLogDirsRequestTopic()
	dt.Topic, dt.Partitions = "__consumer_offsets", []int32{part}
	req.Topics = append(req.Topics, dt)
	resp, err := req.RequestWith(ctx(t), f.cl.Broker(int(node)))
	if err != nil {
		return -1
	}
	for _, d := range resp.Dirs {
		for _, tp := range d.Topics {
			for _, p := range tp.Partitions {
				if tp.Topic == "__consumer_offsets" && p.Partition == part {
					return p.Size
				}
			}
		}
	}
	return -1
}

// describe848 is the KIP-848 group as node's ConsumerGroupDescribe shows
// it (ok false on an error).
func (f *failover) describe848(node int32) (kmsg.ConsumerGroupDescribeResponseGroup, bool) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{f.group}
	resp, err := req.RequestWith(ctx(f.t), f.cl.Broker(int(node)))
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
		return kmsg.ConsumerGroupDescribeResponseGroup{}, false
	}
	return resp.Groups[0], true
}

// waitStable848 waits until the coordinator node describes the group
// Stable with members members, each at the group's epoch.
func (f *failover) waitStable848(node int32, members int) kmsg.ConsumerGroupDescribeResponseGroup {
	f.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		g, ok := f.describe848(node)
		settled := ok && g.State == "Stable" && len(g.Members) == members && g.Epoch == g.AssignmentEpoch
		for _, m := range g.Members {
			settled = settled && m.MemberEpoch == g.Epoch
		}
		if settled {
			return g
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("group not settled with %d members on node %d: %s", members, node, describeString(g))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGroupConsumerProtocolSurvivesCoordinatorKill: the same for a
// KIP-848 group (franz-go's "consumer" protocol): after the kill the new
// coordinator describes the same group epoch, members, member epochs and
// assignments, the members heartbeat on without being fenced, the
// committed offsets are all there and reading goes on with nothing read
// twice or skipped; the killed node catches up again as a follower.
func TestGroupConsumerProtocolSurvivesCoordinatorKill(t *testing.T) {
	c := failoverCluster(t)
	f := newFailover(t, c, "kip848-failover")
	opts := []kgo.Opt{kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer()}
	a := startFailoverConsumer(t, c.Bootstrap(), f.group, opts...)
	b := startFailoverConsumer(t, c.Bootstrap(), f.group, opts...)
	coord := f.coordinator(1, -1)
	f.waitStable848(coord, 2)
	f.produce(0, 40)
	f.waitRead(40, a, b)
	committed := f.waitCommitted(40)
	f.checkReplicated(survivor(coord), coord)
	// A third member joins and leaves just before the kill: the newest
	// records of the offsets partition are the group's own (its epoch,
	// target assignment and members), not offsets.
	extra := startFailoverConsumer(t, c.Bootstrap(), f.group, opts...)
	f.waitStable848(coord, 3)
	extra.close()
	before := f.waitStable848(coord, 2)

	c.Node(coord).Kill()
	killedAt := time.Now()
	next := f.coordinator(survivor(coord), coord)
	after := f.waitStable848(next, 2)
	if describeString(after) != describeString(before) {
		t.Fatalf("group changed across the coordinator's loss:\nbefore: %s\nafter:  %s", describeString(before), describeString(after))
	}
	t.Logf("coordinator %d killed, %d describes the same group after %v: %s", coord, next,
		time.Since(killedAt).Round(time.Millisecond), describeString(after))
	if offs, err := f.committed(next); err != nil || !maps.Equal(offs, committed) {
		t.Fatalf("committed offsets on the new coordinator: %v %v, before the kill %v", offs, err, committed)
	}

	f.produce(40, 60)
	seen := f.waitRead(60, a, b, extra)
	f.waitCommitted(60)
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("value %s read %d times across the failover", v, n)
		}
	}
	// Heartbeats went to the new coordinator all along: the members kept
	// their epochs, nobody was fenced and rejoined.
	if again := f.waitStable848(next, 2); describeString(again) != describeString(before) {
		t.Fatalf("group moved on after the failover:\nbefore: %s\nnow:    %s", describeString(before), describeString(again))
	}

	if err := c.Node(coord).Restart(); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, f, coord, next)
	if again := f.waitStable848(f.coordinator(coord, -1), 2); describeString(again) != describeString(before) {
		t.Fatalf("group moved on after the restart:\nbefore: %s\nnow:    %s", describeString(before), describeString(again))
	}
}

// TestGroupOffsetsTopicNeedsReplicationFactorBrokers: like Kafka (the
// offsets.topic.replication.factor rule since KIP-115, and KRaft's
// placement), a cluster with fewer registered brokers than the offsets
// topic's replication factor (3 by default) does not create the topic
// with fewer replicas: FindCoordinator answers COORDINATOR_NOT_AVAILABLE
// and __consumer_offsets does not exist.
func TestGroupOffsetsTopicNeedsReplicationFactorBrokers(t *testing.T) {
	c := samsatest.StartCluster(t, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys = []string{"lonely"}
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Coordinators) != 1 || resp.Coordinators[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("FindCoordinator on one broker with replication factor 3: %+v", resp.Coordinators)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("__consumer_offsets")
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("__consumer_offsets on one broker with replication factor 3: %+v", mresp.Topics)
	}
}
