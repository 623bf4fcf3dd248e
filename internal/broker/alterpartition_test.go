package broker_test

// The replication controller APIs over the wire in a three-node cluster:
// AlterPartition on the controller listener (not advertised to clients),
// ElectLeaders and the reassignment APIs forwarded from any broker.

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/samsatest"
)

// waitImage polls a node's image until ok accepts it.
func waitImage(t *testing.T, nd *samsatest.ClusterNode, what string, ok func(*metadata.Image) bool) *metadata.Image {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		im := nd.BrokerHandle().Image()
		if ok(im) {
			return im
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func advertisedKeys(t *testing.T, c *conn) map[int16][2]int16 {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-test", "1.0"
	resp := kmsg.NewPtrApiVersionsResponse()
	c.roundTrip(t, req, resp)
	out := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		out[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return out
}

func TestReplicationControllerAPIs(t *testing.T) {
	c := samsatest.StartCluster(t, 3)
	active, err := c.WaitActiveController(-1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	other := c.Node(active%3 + 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxT(t)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 3, nil, "ap"); err != nil {
		t.Fatal(err)
	}
	act := c.Node(active)
	im := waitImage(t, act, "topic ap", func(im *metadata.Image) bool { return im.Topic("ap") != nil })
	topic := im.Topic("ap")
	p := topic.Partitions[0]
	if !slices.Equal(p.ISR, p.Replicas) {
		t.Fatalf("new partition: ISR %v, replicas %v", p.ISR, p.Replicas)
	}
	leader := p.Leader
	follower := p.Replicas[1]
	if follower == leader {
		follower = p.Replicas[0]
	}
	epochOf := func(id int32) int64 { return act.BrokerHandle().Image().Broker(id).Epoch }

	// Key 56 is a controller RPC: on the controller listener (v2-3), not
	// on the broker listener; the admin keys are on both.
	ctlKeys := advertisedKeys(t, rawConn(t, act.ControllerAddr()))
	brokerKeys := advertisedKeys(t, rawConn(t, act.Addr()))
	if ctlKeys[56] != [2]int16{2, 3} {
		t.Errorf("controller listener: AlterPartition %v, want v2-3", ctlKeys[56])
	}
	if _, ok := brokerKeys[56]; ok {
		t.Errorf("broker listener advertises AlterPartition")
	}
	for k, want := range map[int16][2]int16{43: {0, 2}, 45: {0, 1}, 46: {0, 0}} {
		if brokerKeys[k] != want || ctlKeys[k] != want {
			t.Errorf("key %d: broker %v controller %v, want %v", k, brokerKeys[k], ctlKeys[k], want)
		}
	}

	cc := rawConn(t, act.ControllerAddr())
	alter := func(v int16, from int32, brokerEpoch int64, id [16]byte, part, leaderEpoch, partEpoch int32, isr []int32, epochs map[int32]int64) *kmsg.AlterPartitionResponse {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionRequest()
		req.SetVersion(v)
		req.BrokerID, req.BrokerEpoch = from, brokerEpoch
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = part, leaderEpoch, partEpoch
		for _, r := range isr {
			if v >= 3 {
				m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
				m.BrokerID, m.BrokerEpoch = r, epochs[r]
				rp.NewEpochISR = append(rp.NewEpochISR, m)
			} else {
				rp.NewISR = append(rp.NewISR, r)
			}
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := kmsg.NewPtrAlterPartitionResponse()
		cc.roundTrip(t, req, resp)
		return resp
	}
	epochs := map[int32]int64{}
	for _, r := range p.Replicas {
		epochs[r] = epochOf(r)
	}
	shrunk := []int32{leader}
	for _, r := range p.ISR {
		if r != leader && len(shrunk) < 2 {
			shrunk = append(shrunk, r)
		}
	}
	partErr := func(resp *kmsg.AlterPartitionResponse) int16 {
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("response %+v", resp)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	for _, tc := range []struct {
		name string
		resp *kmsg.AlterPartitionResponse
		want *kerr.Error
	}{
		{"unknown topic id", alter(3, leader, epochs[leader], [16]byte{9, 9}, 0, p.LeaderEpoch, p.PartitionEpoch, shrunk, epochs), kerr.UnknownTopicID},
		{"unknown partition", alter(3, leader, epochs[leader], topic.ID, 7, p.LeaderEpoch, p.PartitionEpoch, shrunk, epochs), kerr.UnknownTopicOrPartition},
		{"old leader epoch", alter(3, leader, epochs[leader], topic.ID, 0, p.LeaderEpoch+1, p.PartitionEpoch, shrunk, epochs), kerr.FencedLeaderEpoch},
		{"not the leader", alter(3, follower, epochs[follower], topic.ID, 0, p.LeaderEpoch, p.PartitionEpoch, shrunk, epochs), kerr.InvalidRequest},
		{"old partition epoch", alter(3, leader, epochs[leader], topic.ID, 0, p.LeaderEpoch, p.PartitionEpoch+5, shrunk, epochs), kerr.InvalidUpdateVersion},
		{"leader not in ISR", alter(3, leader, epochs[leader], topic.ID, 0, p.LeaderEpoch, p.PartitionEpoch, []int32{follower}, epochs), kerr.InvalidRequest},
		{"member at another epoch", alter(3, leader, epochs[leader], topic.ID, 0, p.LeaderEpoch, p.PartitionEpoch, shrunk,
			map[int32]int64{leader: epochs[leader], shrunk[1]: epochs[shrunk[1]] + 100}), kerr.IneligibleReplica},
	} {
		if got := partErr(tc.resp); got != tc.want.Code {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(got), tc.want)
		}
	}
	if resp := alter(3, leader, epochs[leader]+100, topic.ID, 0, p.LeaderEpoch, p.PartitionEpoch, shrunk, epochs); resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Errorf("stale broker epoch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	// Accepted (v3): a PartitionChange, the answer carries the new state.
	resp := alter(3, leader, epochs[leader], topic.ID, 0, p.LeaderEpoch, p.PartitionEpoch, shrunk, epochs)
	if partErr(resp) != 0 {
		t.Fatalf("shrink refused: %v", kerr.ErrorForCode(partErr(resp)))
	}
	got := resp.Topics[0]
	if got.TopidID != topic.ID || got.Partitions[0].LeaderID != leader || got.Partitions[0].LeaderEpoch != p.LeaderEpoch ||
		got.Partitions[0].PartitionEpoch != p.PartitionEpoch+1 || !slices.Equal(got.Partitions[0].ISR, shrunk) {
		t.Fatalf("shrink answered %+v", got)
	}
	// The change reaches the other nodes. (The partition's real leader may
	// grow the ISR back at once, its follower being caught up: so the
	// image shows the shrink or a later change.)
	waitImage(t, other, "shrunk ISR on another node", func(im *metadata.Image) bool {
		q := im.Topic("ap").Partitions[0]
		return q.PartitionEpoch > p.PartitionEpoch+1 || q.PartitionEpoch == p.PartitionEpoch+1 && slices.Equal(q.ISR, shrunk)
	})
	// v2 (no member epochs) changes it too: against the partition epoch the
	// controller has now, retried if the real leader's own AlterPartition
	// got in first (INVALID_UPDATE_VERSION).
	for try := 0; ; try++ {
		cur := act.BrokerHandle().Image().Topic("ap").Partitions[0]
		target := p.Replicas
		if slices.Equal(cur.ISR, p.Replicas) {
			target = shrunk
		}
		resp = alter(2, leader, epochs[leader], topic.ID, 0, cur.LeaderEpoch, cur.PartitionEpoch, target, nil)
		code := partErr(resp)
		if code == kerr.InvalidUpdateVersion.Code && try < 20 {
			continue
		}
		if code != 0 || resp.Topics[0].Partitions[0].PartitionEpoch != cur.PartitionEpoch+1 ||
			!slices.Equal(resp.Topics[0].Partitions[0].ISR, target) {
			t.Fatalf("v2 change to %v at partition epoch %d: %+v", target, cur.PartitionEpoch, resp)
		}
		break
	}
	// Another controller's listener: NOT_CONTROLLER for the whole request.
	oc := rawConn(t, other.ControllerAddr())
	req := kmsg.NewPtrAlterPartitionRequest()
	req.SetVersion(3)
	req.BrokerID, req.BrokerEpoch = leader, epochs[leader]
	nresp := kmsg.NewPtrAlterPartitionResponse()
	oc.roundTrip(t, req, nresp)
	if nresp.ErrorCode != kerr.NotController.Code {
		t.Errorf("non-active controller: %v", kerr.ErrorForCode(nresp.ErrorCode))
	}

	// ElectLeaders through a broker that is not the controller.
	bc := rawConn(t, other.Addr())
	elect := func(v int16, typ int8, topics []kmsg.ElectLeadersRequestTopic) *kmsg.ElectLeadersResponse {
		t.Helper()
		req := kmsg.NewPtrElectLeadersRequest()
		req.SetVersion(v)
		req.ElectionType, req.Topics = typ, topics
		resp := kmsg.NewPtrElectLeadersResponse()
		bc.roundTrip(t, req, resp)
		return resp
	}
	et := kmsg.NewElectLeadersRequestTopic()
	et.Topic, et.Partitions = "ap", []int32{0, 9}
	nt := kmsg.NewElectLeadersRequestTopic()
	nt.Topic, nt.Partitions = "nope", []int32{0}
	er := elect(2, 0, []kmsg.ElectLeadersRequestTopic{et, nt})
	codes := map[string][]int16{}
	for _, rt := range er.Topics {
		for _, rp := range rt.Partitions {
			codes[rt.Topic] = append(codes[rt.Topic], rp.ErrorCode)
		}
	}
	if er.ErrorCode != 0 || !slices.Equal(codes["ap"], []int16{kerr.ElectionNotNeeded.Code, kerr.UnknownTopicOrPartition.Code}) ||
		!slices.Equal(codes["nope"], []int16{kerr.UnknownTopicOrPartition.Code}) {
		t.Errorf("preferred election: %+v", er)
	}
	if er := elect(2, 1, []kmsg.ElectLeadersRequestTopic{et}); len(er.Topics) != 1 || er.Topics[0].Partitions[0].ErrorCode != kerr.ElectionNotNeeded.Code {
		t.Errorf("unclean election of a led partition: %+v", er)
	}
	// Null topics (kafka-leader-election --all-topic-partitions): every
	// partition, those that need no election left out.
	if er := elect(0, 0, nil); len(er.Topics) != 0 {
		t.Errorf("v0, all partitions, all led by their preferred replica: %+v", er)
	}
	if er := elect(2, 1, nil); er.ErrorCode != 0 || len(er.Topics) != 0 {
		t.Errorf("unclean, all partitions, all led: %+v", er)
	}

	// Reassignment, forwarded too: a shrink completes at once.
	target := slices.Clone(p.Replicas[:2])
	moveReq := func(parts map[int32][]int32) *kmsg.AlterPartitionAssignmentsResponse {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.SetVersion(1)
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = "ap"
		for _, part := range []int32{0, 1, 5} {
			if reps, ok := parts[part]; ok {
				rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
				rp.Partition, rp.Replicas = part, reps
				rt.Partitions = append(rt.Partitions, rp)
			}
		}
		req.Topics = append(req.Topics, rt)
		resp := kmsg.NewPtrAlterPartitionAssignmentsResponse()
		bc.roundTrip(t, req, resp)
		return resp
	}
	mr := moveReq(map[int32][]int32{0: target, 1: nil, 5: {1}})
	if mr.ErrorCode != 0 || len(mr.Topics) != 1 || len(mr.Topics[0].Partitions) != 3 {
		t.Fatalf("reassign: %+v", mr)
	}
	for i, want := range []*kerr.Error{nil, kerr.NoReassignmentInProgress, kerr.UnknownTopicOrPartition} {
		code := mr.Topics[0].Partitions[i].ErrorCode
		if (want == nil && code != 0) || (want != nil && code != want.Code) {
			t.Errorf("reassign partition %d: %v, want %v", mr.Topics[0].Partitions[i].Partition, kerr.ErrorForCode(code), want)
		}
	}
	waitImage(t, other, "shrunk replicas", func(im *metadata.Image) bool {
		p := im.Topic("ap").Partitions[0]
		return slices.Equal(p.Replicas, target) && !p.Reassigning()
	})
	if mr := moveReq(map[int32][]int32{0: {target[0], 99}}); mr.Topics[0].Partitions[0].ErrorCode != kerr.InvalidReplicaAssignment.Code {
		t.Errorf("unknown broker: %+v", mr)
	}
	// Growing back adds a replica: in progress until the leader has it in
	// the ISR (its AlterPartition completes the move).
	if mr := moveReq(map[int32][]int32{0: p.Replicas}); mr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("grow: %+v", mr)
	}
	list := func() *kmsg.ListPartitionReassignmentsResponse {
		req := kmsg.NewPtrListPartitionReassignmentsRequest()
		resp := kmsg.NewPtrListPartitionReassignmentsResponse()
		bc.roundTrip(t, req, resp)
		return resp
	}
	im = waitImage(t, act, "grow recorded", func(im *metadata.Image) bool {
		return slices.Equal(im.Topic("ap").Partitions[0].Replicas, p.Replicas)
	})
	if cur := im.Topic("ap").Partitions[0]; cur.Reassigning() {
		lr := list()
		if lr.ErrorCode != 0 || len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1 ||
			!slices.Equal(lr.Topics[0].Partitions[0].AddingReplicas, []int32{p.Replicas[2]}) ||
			len(lr.Topics[0].Partitions[0].RemovingReplicas) != 0 {
			t.Fatalf("list: %+v", lr)
		}
		for _, r := range p.Replicas {
			epochs[r] = epochOf(r)
		}
		resp := alter(3, cur.Leader, epochs[cur.Leader], topic.ID, 0, cur.LeaderEpoch, cur.PartitionEpoch, p.Replicas, epochs)
		if code := partErr(resp); code != 0 && code != kerr.InvalidUpdateVersion.Code {
			t.Fatalf("completing AlterPartition: %v", kerr.ErrorForCode(code))
		}
	}
	waitImage(t, act, "grow completed", func(im *metadata.Image) bool {
		p := im.Topic("ap").Partitions[0]
		return !p.Reassigning() && len(p.Replicas) == 3
	})
	if lr := list(); lr.ErrorCode != 0 || len(lr.Topics) != 0 {
		t.Errorf("list after completion: %+v", lr)
	}
}
