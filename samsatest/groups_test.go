package samsatest_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

// groupProbe speaks the KIP-848 protocol to a group's coordinator with
// raw requests, so the test decides every heartbeat.
type groupProbe struct {
	t     *testing.T
	cl    *kgo.Client
	group string
	topic [16]byte
}

// send sends req to node (-1: any), retrying transport errors (a
// restarting node) until the deadline.
func (p *groupProbe) send(node int32, req kmsg.Request) kmsg.Response {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var resp kmsg.Response
		var err error
		if node < 0 { // any broker
			resp, err = p.cl.Request(ctx(p.t), req)
		} else {
			resp, err = p.cl.Broker(int(node)).Request(ctx(p.t), req)
		}
		if err == nil {
			return resp
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%T to node %d: %v", req, node, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// coordinator polls FindCoordinator (its first call creates
// __consumer_offsets) until some node answers for the group.
func (p *groupProbe) coordinator(seed int32) int32 {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = p.group
		req.CoordinatorKeys = []string{p.group}
		resp := p.send(seed, req).(*kmsg.FindCoordinatorResponse)
		code, node := resp.ErrorCode, resp.NodeID
		if len(resp.Coordinators) == 1 { // v4+
			code, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
		}
		if code == 0 {
			return node
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("FindCoordinator: %v", kerr.ErrorForCode(code))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *groupProbe) heartbeat(node int32, member string, epoch int32, owned []int32) *kmsg.ConsumerGroupHeartbeatResponse {
	p.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.SetVersion(1)
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = p.group, member, epoch, 10000
	if epoch == 0 {
		rack, inst := "rack-"+member, "instance-"+member
		req.RackID, req.InstanceID = &rack, &inst
		req.SubscribedTopicNames = []string{"orders"}
		req.ServerAssignor = kmsg.StringPtr("uniform")
	}
	if owned != nil {
		tp := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		tp.TopicID, tp.Partitions = p.topic, owned
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{tp}
	}
	deadline := time.Now().Add(30 * time.Second)
	resp := p.send(node, req).(*kmsg.ConsumerGroupHeartbeatResponse)
	// Retriable answers that leave the group untouched: the coordinator is
	// loading, or its node's metadata has not yet caught up with the node
	// that answered FindCoordinator.
	for (resp.ErrorCode == kerr.CoordinatorLoadInProgress.Code || resp.ErrorCode == kerr.CoordinatorNotAvailable.Code) &&
		time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		resp = p.send(node, req).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	if resp.ErrorCode != 0 {
		p.t.Fatalf("heartbeat of %s (epoch %d): %v", member, epoch, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp
}

// startGroupProbe starts a cluster of n nodes with n partitions of
// __consumer_offsets (one replica each) and a topic "orders" of 4
// partitions, and returns a probe of group on it.
func startGroupProbe(t *testing.T, n int, group string) (*samsatest.Cluster, *groupProbe) {
	t.Helper()
	c := samsatest.StartCluster(t, n, samsatest.ClusterConfig("offsets.topic.num.partitions", fmt.Sprint(n)),
		samsatest.ClusterConfig("offsets.topic.replication.factor", "1"))
	adm := admin(t, c.Bootstrap()...)
	if res, err := adm.CreateTopic(ctx(t), 4, 1, nil, "orders"); err != nil || res.Err != nil {
		t.Fatalf("create orders: %v %v", err, res.Err)
	}
	td, err := adm.ListTopics(ctx(t), "orders")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, &groupProbe{t: t, cl: cl, group: group, topic: td["orders"].ID}
}

// commit commits offset 100+p for each partition p of orders as member at
// epoch and returns each partition's error code.
func (p *groupProbe) commit(node int32, member string, epoch int32, parts []int32) map[int32]int16 {
	p.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(9)
	req.Group, req.MemberID, req.Generation = p.group, member, epoch
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic, ct.TopicID = "orders", p.topic // by name up to v9, by id from v10 (kgo sends the newest both know)
	for _, part := range parts {
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset = part, int64(100+part)
		ct.Partitions = append(ct.Partitions, cp)
	}
	req.Topics = append(req.Topics, ct)
	resp := p.send(node, req).(*kmsg.OffsetCommitResponse)
	out := map[int32]int16{}
	for _, tp := range resp.Topics {
		for _, pp := range tp.Partitions {
			out[pp.Partition] = pp.ErrorCode
		}
	}
	return out
}

// assigned is the sorted partitions of the answer's assignment.
func (p *groupProbe) assigned(resp *kmsg.ConsumerGroupHeartbeatResponse) []int32 {
	if resp.Assignment == nil {
		return nil
	}
	var out []int32
	for _, tp := range resp.Assignment.Topics {
		if tp.TopicID == p.topic {
			out = append(out, tp.Partitions...)
		}
	}
	slices.Sort(out)
	return out
}

// describe returns the group as ConsumerGroupDescribe shows it, waiting
// out a coordinator that is still loading.
func (p *groupProbe) describe(node int32) string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{p.group}
		resp := p.send(node, req).(*kmsg.ConsumerGroupDescribeResponse)
		g := resp.Groups[0]
		if g.ErrorCode == 0 {
			return describeString(g)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("ConsumerGroupDescribe: %v", kerr.ErrorForCode(g.ErrorCode))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describeString renders everything of a described group that must
// survive its coordinator's restart.
func describeString(g kmsg.ConsumerGroupDescribeResponseGroup) string {
	s := fmt.Sprintf("state=%s epoch=%d assignmentEpoch=%d assignor=%s", g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName)
	parts := func(a kmsg.Assignment) string {
		var out []string
		for _, tp := range a.TopicPartitions {
			ps := slices.Sorted(slices.Values(tp.Partitions))
			out = append(out, fmt.Sprintf("%s%v", tp.Topic, ps))
		}
		sort.Strings(out)
		return fmt.Sprint(out)
	}
	members := slices.Clone(g.Members)
	sort.Slice(members, func(i, j int) bool { return members[i].MemberID < members[j].MemberID })
	for _, m := range members {
		s += fmt.Sprintf("\n  %s epoch=%d instance=%s rack=%s client=%s subscribed=%v assigned=%s target=%s",
			m.MemberID, m.MemberEpoch, deref(m.InstanceID), deref(m.RackID), m.ClientID, m.SubscribedTopics,
			parts(m.Assignment), parts(m.TargetAssignment))
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestConsumerGroupSurvivesCoordinatorRestart (samsa issue 12, item 7): a
// KIP-848 group built up through a rebalance, one member gone again, and
// its committed offsets survive a restart of the node that coordinates
// it. ConsumerGroupDescribe shows the same epochs, members and
// assignments afterwards, the members heartbeat on with their epochs (no
// fencing, no rejoin, no new epoch), and the offsets are there.
func TestConsumerGroupSurvivesCoordinatorRestart(t *testing.T) {
	c, p := startGroupProbe(t, 3, "persist-848")
	coord := p.coordinator(1)

	// a takes everything; b joins and waits until a revoked half.
	ra := p.heartbeat(coord, "a", 0, nil)
	if got := p.assigned(ra); len(got) != 4 {
		t.Fatalf("a alone gets all four: %v", got)
	}
	all := p.assigned(ra)
	rb := p.heartbeat(coord, "b", 0, nil)
	ra = p.heartbeat(coord, "a", ra.MemberEpoch, all)
	kept := p.assigned(ra)
	if len(kept) != 2 {
		t.Fatalf("a is told to keep two: %v", kept)
	}
	ra = p.heartbeat(coord, "a", ra.MemberEpoch, kept)
	rb = p.heartbeat(coord, "b", rb.MemberEpoch, []int32{})
	bOwned := p.assigned(rb)
	if len(bOwned) != 2 {
		t.Fatalf("b gets the two released: %v", bOwned)
	}
	// c joins and leaves: its records are tombstoned.
	p.heartbeat(coord, "c", 0, nil)
	lreq := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	lreq.SetVersion(1)
	lreq.Group, lreq.MemberID, lreq.MemberEpoch = p.group, "c", -1
	if resp := p.send(coord, lreq).(*kmsg.ConsumerGroupHeartbeatResponse); resp.ErrorCode != 0 {
		t.Fatalf("c leaves: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	// a and b settle on the epoch after c's leave.
	for range 4 { // a nil assignment in an answer is "unchanged"
		ra = p.heartbeat(coord, "a", ra.MemberEpoch, kept)
		if ra.Assignment != nil {
			kept = p.assigned(ra)
		}
		rb = p.heartbeat(coord, "b", rb.MemberEpoch, bOwned)
		if rb.Assignment != nil {
			bOwned = p.assigned(rb)
		}
	}
	if len(kept)+len(bOwned) != 4 {
		t.Fatalf("a owns %v, b owns %v", kept, bOwned)
	}

	// a commits offsets with its member epoch.
	for part, code := range p.commit(coord, "a", ra.MemberEpoch, kept) {
		if code != 0 {
			t.Fatalf("commit orders/%d: %v", part, kerr.ErrorForCode(code))
		}
	}

	before := p.describe(coord)
	if strings.Contains(before, "\n  c ") || !strings.Contains(before, "\n  a ") || !strings.Contains(before, "\n  b ") {
		t.Fatalf("a and b described, not c: %s", before)
	}
	if err := c.Node(coord).Restart(); err != nil {
		t.Fatal(err)
	}
	// __consumer_offsets has one replica: the restarted node leads its
	// partition again and reloads the group from it.
	if again := p.coordinator(coord); again != coord {
		t.Fatalf("coordinator moved from %d to %d", coord, again)
	}
	after := p.describe(coord)
	if after != before {
		t.Fatalf("group changed across the coordinator's restart:\nbefore: %s\nafter:  %s", before, after)
	}
	t.Logf("described after the restart: %s", after)

	// The members carry on with the epochs they had.
	ra2 := p.heartbeat(coord, "a", ra.MemberEpoch, kept)
	rb2 := p.heartbeat(coord, "b", rb.MemberEpoch, bOwned)
	if ra2.MemberEpoch != ra.MemberEpoch || rb2.MemberEpoch != rb.MemberEpoch {
		t.Fatalf("epochs moved: a %d→%d, b %d→%d", ra.MemberEpoch, ra2.MemberEpoch, rb.MemberEpoch, rb2.MemberEpoch)
	}
	if p.describe(coord) != before {
		t.Fatalf("heartbeats after the restart changed the group: %s", p.describe(coord))
	}

	// The committed offsets are there (fetched as member a, v9).
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.SetVersion(9)
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group, fg.MemberID, fg.MemberEpoch = p.group, kmsg.StringPtr("a"), ra.MemberEpoch
	fg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "orders", TopicID: p.topic, Partitions: kept}}
	fetch.Groups = append(fetch.Groups, fg)
	fresp := p.send(coord, fetch).(*kmsg.OffsetFetchResponse)
	if len(fresp.Groups) != 1 || fresp.Groups[0].ErrorCode != 0 {
		t.Fatalf("offset fetch: %+v", fresp.Groups)
	}
	got := 0
	for _, tp := range fresp.Groups[0].Topics {
		for _, pp := range tp.Partitions {
			if pp.ErrorCode != 0 || pp.Offset != int64(100+pp.Partition) {
				t.Fatalf("offset of %s/%d: %d %v", tp.Topic, pp.Partition, pp.Offset, kerr.ErrorForCode(pp.ErrorCode))
			}
			got++
		}
	}
	if got != len(kept) {
		t.Fatalf("%d of %d committed offsets after the restart", got, len(kept))
	}
}

// groupConsumer is a kgo KIP-848 consumer ("consumer" protocol, the
// broker assigns) that counts what it reads and commits after each poll.
type groupConsumer struct {
	cl   *kgo.Client
	done chan struct{}
	mu   sync.Mutex
	seen map[string]bool
}

func startGroupConsumer(t *testing.T, addr, group string) *groupConsumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics("orders"),
		kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer(), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	gc := &groupConsumer{cl: cl, done: make(chan struct{}), seen: map[string]bool{}}
	go func() {
		defer close(gc.done)
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			recs := fs.Records()
			gc.mu.Lock()
			for _, r := range recs {
				gc.seen[string(r.Value)] = true
			}
			gc.mu.Unlock()
			if len(recs) > 0 {
				_ = cl.CommitRecords(context.Background(), recs...) // a failed commit is retried by the next
			}
		}
	}()
	t.Cleanup(gc.close)
	return gc
}

func (gc *groupConsumer) close() {
	gc.cl.Close()
	<-gc.done
}

func seenBy(gcs ...*groupConsumer) int {
	all := map[string]bool{}
	for _, gc := range gcs {
		gc.mu.Lock()
		for v := range gc.seen {
			all[v] = true
		}
		gc.mu.Unlock()
	}
	return len(all)
}

// TestConsumerGroupKgoMembersKeepEpochsAcrossRestart: franz-go consumers
// in a KIP-848 group read and commit; the single broker restarts; they
// carry on as the same members at the same epochs (the group epoch does
// not move: no member was lost and rejoined), reading what is produced
// afterwards, and the group's committed offsets cover everything.
func TestConsumerGroupKgoMembersKeepEpochsAcrossRestart(t *testing.T) {
	n := samsatest.Start(t, samsatest.Config("group.consumer.heartbeat.interval.ms", "300"))
	adm := admin(t, n.Addr())
	if res, err := adm.CreateTopic(ctx(t), 4, 1, nil, "orders"); err != nil || res.Err != nil {
		t.Fatalf("create orders: %v %v", err, res.Err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	const group = "kgo-848"
	describe := func() (kmsg.ConsumerGroupDescribeResponseGroup, bool) {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(ctx(t), cl)
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
			return kmsg.ConsumerGroupDescribeResponseGroup{}, false
		}
		return resp.Groups[0], true
	}
	waitStable := func(what string, members int) kmsg.ConsumerGroupDescribeResponseGroup {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			g, ok := describe()
			settled := ok && g.State == "Stable" && len(g.Members) == members && g.Epoch == g.AssignmentEpoch
			for _, m := range g.Members {
				settled = settled && m.MemberEpoch == g.Epoch
			}
			if settled {
				return g
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: group not settled with %d members: %s", what, members, describeString(g))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx(t), &kgo.Record{Topic: "orders", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitSeen := func(want int, gcs ...*groupConsumer) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for seenBy(gcs...) < want {
			if time.Now().After(deadline) {
				t.Fatalf("consumed %d of %d", seenBy(gcs...), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	a, b := startGroupConsumer(t, n.Addr(), group), startGroupConsumer(t, n.Addr(), group)
	extra := startGroupConsumer(t, n.Addr(), group)
	waitStable("three members", 3)
	extra.close() // a leave: the group epoch moves on again
	before := waitStable("two members", 2)
	produce(0, 40)
	waitSeen(40, a, b, extra)
	// Every poll commits; wait until the commits cover the 40 records.
	waitCommitted := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			offs, err := adm.FetchOffsets(ctx(t), group)
			sum := int64(0)
			if err == nil {
				offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
			}
			if sum == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("committed offsets sum to %d, want %d (%v)", sum, want, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitCommitted(40)
	before = waitStable("before the restart", 2)

	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	produce(40, 60)
	waitSeen(60, a, b, extra)
	waitCommitted(60)
	after := waitStable("after the restart", 2)
	memberEpochs := func(g kmsg.ConsumerGroupDescribeResponseGroup) map[string]int32 {
		out := map[string]int32{}
		for _, m := range g.Members {
			out[m.MemberID] = m.MemberEpoch
		}
		return out
	}
	if after.Epoch != before.Epoch || !maps.Equal(memberEpochs(after), memberEpochs(before)) {
		t.Fatalf("members or epochs changed across the restart: group epoch %d→%d, members %v→%v",
			before.Epoch, after.Epoch, memberEpochs(before), memberEpochs(after))
	}
	t.Logf("kept across the restart: %s", describeString(after))
}

// TestConsumerGroupDeleteAndConvertAcrossRestart: the tombstones of a
// deleted KIP-848 group and of one converted to a classic group are
// honoured by the reload: the deleted group stays gone, the converted one
// comes back classic.
func TestConsumerGroupDeleteAndConvertAcrossRestart(t *testing.T) {
	n := samsatest.Start(t)
	adm := admin(t, n.Addr())
	if res, err := adm.CreateTopic(ctx(t), 2, 1, nil, "orders"); err != nil || res.Err != nil {
		t.Fatalf("create orders: %v %v", err, res.Err)
	}
	td, err := adm.ListTopics(ctx(t), "orders")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	joinAndLeave := func(group string) int32 {
		p := &groupProbe{t: t, cl: cl, group: group, topic: td["orders"].ID}
		coord := p.coordinator(-1)
		p.heartbeat(coord, "m", 0, nil)
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.SetVersion(1)
		req.Group, req.MemberID, req.MemberEpoch = group, "m", -1
		if resp := p.send(coord, req).(*kmsg.ConsumerGroupHeartbeatResponse); resp.ErrorCode != 0 {
			t.Fatalf("leave %s: %v", group, kerr.ErrorForCode(resp.ErrorCode))
		}
		return coord
	}
	joinAndLeave("gone-848")
	joinAndLeave("kept-848")
	joinAndLeave("conv-848")
	if res, err := adm.DeleteGroup(ctx(t), "gone-848"); err != nil || res.Err != nil {
		t.Fatalf("delete gone-848: %v %v", err, res.Err)
	}
	// A classic consumer joins the empty conv-848, then leaves: the group
	// is classic and empty from then on.
	classic, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumerGroup("conv-848"), kgo.ConsumeTopics("orders"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := adm.DescribeGroups(ctx(t), "conv-848")
		if err == nil && d["conv-848"].State == "Stable" && d["conv-848"].ProtocolType == "consumer" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("classic join of conv-848: %+v %v", d, err)
		}
		time.Sleep(50 * time.Millisecond) // the client joins in the background
	}
	classic.Close()

	listed := func() map[string]string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			req := kmsg.NewPtrListGroupsRequest()
			req.SetVersion(5) // with GroupType
			resp, err := req.RequestWith(ctx(t), cl)
			if err == nil && resp.ErrorCode == 0 {
				out := map[string]string{}
				for _, g := range resp.Groups {
					out[g.Group] = g.ProtocolType + "/" + g.GroupType
				}
				return out
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	before := listed()
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	// Wait for the coordinator to have loaded: kept-848 is described.
	kept := &groupProbe{t: t, cl: cl, group: "kept-848", topic: td["orders"].ID}
	if d := kept.describe(kept.coordinator(-1)); !strings.HasPrefix(d, "state=Empty epoch=2 ") {
		t.Fatalf("kept-848 after the restart: %s", d)
	}
	after := listed()
	if _, ok := after["gone-848"]; ok || !maps.Equal(before, after) || after["conv-848"] != "consumer/classic" || after["kept-848"] != "consumer/consumer" {
		t.Fatalf("groups before the restart %v, after %v", before, after)
	}
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{"gone-848", "conv-848"}
	resp, err := req.RequestWith(ctx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range resp.Groups {
		if g.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("ConsumerGroupDescribe %s after the restart: %v (%s)", g.Group, kerr.ErrorForCode(g.ErrorCode), g.State)
		}
	}
}

// TestConsumerGroupCommitWithLostEpoch (KIP-1251, as Kafka 4.4 checks
// commits): a member whose heartbeat answer carrying its new epoch was
// lost commits with its previous epoch. A commit of the partitions it
// owned at that epoch and still owns is accepted; one that also names a
// partition it revoked meanwhile (now another member's) is
// STALE_MEMBER_EPOCH for every partition, and writes nothing, as Kafka
// 4.4's validator fails the request at the first such partition. A newer
// epoch than the member's is refused too.
func TestConsumerGroupCommitWithLostEpoch(t *testing.T) {
	_, p := startGroupProbe(t, 1, "lost-epoch")
	coord := p.coordinator(1)

	ra := p.heartbeat(coord, "a", 0, nil)
	all := p.assigned(ra)
	oldEpoch := ra.MemberEpoch
	rb := p.heartbeat(coord, "b", 0, nil)
	kept := p.assigned(p.heartbeat(coord, "a", oldEpoch, all))
	revoked := slices.DeleteFunc(slices.Clone(all), func(x int32) bool { return slices.Contains(kept, x) })
	if len(kept) != 2 || len(revoked) != 2 {
		t.Fatalf("a keeps %v of %v", kept, all)
	}
	// a's revocation is acknowledged and a moves to the new epoch: the
	// answer saying so is the one "lost" (a goes on with oldEpoch).
	if ra = p.heartbeat(coord, "a", oldEpoch, kept); ra.MemberEpoch <= oldEpoch {
		t.Fatalf("a stayed at epoch %d", ra.MemberEpoch)
	}
	if got := p.assigned(p.heartbeat(coord, "b", rb.MemberEpoch, []int32{})); !slices.Equal(got, revoked) {
		t.Fatalf("b gets %v, want a's revoked %v", got, revoked)
	}

	commit := func(epoch int32, parts []int32) map[int32]int16 { return p.commit(coord, "a", epoch, parts) }
	for part, code := range commit(oldEpoch, all) {
		if code != kerr.StaleMemberEpoch.Code {
			t.Errorf("commit of partition %d with b's at the lost epoch: %v", part, kerr.ErrorForCode(code))
		}
	}
	for part, code := range commit(oldEpoch, kept) {
		if code != 0 {
			t.Errorf("commit of a's partition %d at the lost epoch: %v", part, kerr.ErrorForCode(code))
		}
	}
	for part, code := range commit(ra.MemberEpoch+1, all) {
		if code != kerr.StaleMemberEpoch.Code {
			t.Errorf("commit of partition %d at a newer epoch: %v", part, kerr.ErrorForCode(code))
		}
	}

	// Only the kept partitions' offsets were written.
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.SetVersion(8)
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group = p.group
	fetch.Groups = append(fetch.Groups, fg)
	fresp := p.send(coord, fetch).(*kmsg.OffsetFetchResponse)
	offs := map[int32]int64{}
	for _, tp := range fresp.Groups[0].Topics {
		for _, pp := range tp.Partitions {
			offs[pp.Partition] = pp.Offset
		}
	}
	want := map[int32]int64{}
	for _, part := range kept {
		want[part] = int64(100 + part)
	}
	if !maps.Equal(offs, want) {
		t.Fatalf("committed offsets %v, want %v (a's kept partitions only)", offs, want)
	}
}
