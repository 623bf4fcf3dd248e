package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/samsatest"
)

// TestDataAPIsOnPartitionsLedElsewhere: with a second broker registered,
// "followed" has a replica here led by node 2 and "elsewhere" has none
// here. Every data API answers NOT_LEADER_OR_FOLLOWER for both (but a
// consumer's Fetch v11+, which the follower serves, KIP-392), the
// request's leader epoch is checked before the role (UNKNOWN_LEADER_EPOCH
// on the followed partition), and Produce v10+ and Fetch v16+ name the
// current leader and its endpoint (KIP-951); older versions do not. A
// partition this node leads answers normally on the same connection.
func TestDataAPIsOnPartitionsLedElsewhere(t *testing.T) {
	n := samsatest.Start(t)
	ctl := n.Broker().Controller()
	ep := []metadata.Endpoint{{Name: "PLAINTEXT", Host: "node2.example", Port: 19092}}
	if _, err := ctl.RegisterBroker(2, ep, nil); err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string][][]int32{"followed": {{2, 1}}, "elsewhere": {{2}}, "local": {{1}}} {
		spec := controller.TopicSpec{Name: name, NumPartitions: -1, ReplicationFactor: -1, Assignment: a}
		if _, err := ctl.CreateTopic(spec, false); err != nil {
			t.Fatal(err)
		}
	}
	im := ctl.Image()
	c := rawConn(t, n.Addr())
	notLeader := kerr.NotLeaderForPartition.Code
	want := map[string]int16{"followed": notLeader, "elsewhere": notLeader, "local": 0}

	for _, v := range []int16{9, 10, 12} {
		for topic, code := range want {
			req := kmsg.NewPtrProduceRequest()
			req.SetVersion(v)
			req.Acks, req.TimeoutMillis = 1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = idemBatch(-1, -1, -1, 1)
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := kmsg.NewPtrProduceResponse()
			c.roundTrip(t, req, resp)
			sp := resp.Topics[0].Partitions[0]
			if sp.ErrorCode != code {
				t.Fatalf("produce v%d %s: code %d, want %d", v, topic, sp.ErrorCode, code)
			}
			hinted := code == notLeader && v >= 10
			checkLeaderHint(t, "produce", v, topic, hinted, sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch,
				len(resp.Brokers), func(i int) (int32, string, int32) {
					return resp.Brokers[i].NodeID, resp.Brokers[i].Host, resp.Brokers[i].Port
				})
		}
	}

	fetch := func(v int16, topic string, epoch int32) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(v)
		req.MaxBytes, req.MaxWaitMillis = 1<<20, 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, im.Topic(topic).ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := kmsg.NewPtrFetchResponse()
		c.roundTrip(t, req, resp)
		return resp
	}
	for _, v := range []int16{10, 12, 15, 16, 18} {
		for topic, code := range want {
			if topic == "followed" && v >= 11 {
				code = 0 // KIP-392: a follower serves consumers
			}
			resp := fetch(v, topic, -1)
			sp := resp.Topics[0].Partitions[0]
			if sp.ErrorCode != code {
				t.Fatalf("fetch v%d %s: code %d, want %d", v, topic, sp.ErrorCode, code)
			}
			hinted := code == notLeader && v >= 16
			checkLeaderHint(t, "fetch", v, topic, hinted, sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch,
				len(resp.Brokers), func(i int) (int32, string, int32) {
					return resp.Brokers[i].NodeID, resp.Brokers[i].Host, resp.Brokers[i].Port
				})
		}
	}
	// A newer epoch than the partition's: the follower answers
	// UNKNOWN_LEADER_EPOCH (epoch before role); a node without the
	// partition still says NOT_LEADER_OR_FOLLOWER; the leader checks it too.
	for topic, code := range map[string]int16{"followed": kerr.UnknownLeaderEpoch.Code, "elsewhere": notLeader,
		"local": kerr.UnknownLeaderEpoch.Code} {
		if got := fetch(16, topic, 1).Topics[0].Partitions[0]; got.ErrorCode != code {
			t.Fatalf("fetch %s at epoch 1: code %d, want %d", topic, got.ErrorCode, code)
		}
	}

	for topic, code := range want {
		lo := kmsg.NewPtrListOffsetsRequest()
		lo.SetVersion(10)
		lo.ReplicaID = -1
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = topic
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = -1
		lt.Partitions = append(lt.Partitions, lp)
		lo.Topics = append(lo.Topics, lt)
		lresp := kmsg.NewPtrListOffsetsResponse()
		c.roundTrip(t, lo, lresp)
		if got := lresp.Topics[0].Partitions[0].ErrorCode; got != code {
			t.Fatalf("list offsets %s: code %d, want %d", topic, got, code)
		}

		oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
		oe.SetVersion(4)
		oe.ReplicaID = -1
		ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
		ot.Topic = topic
		op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		op.CurrentLeaderEpoch, op.LeaderEpoch = -1, 0
		ot.Partitions = append(ot.Partitions, op)
		oe.Topics = append(oe.Topics, ot)
		oresp := kmsg.NewPtrOffsetForLeaderEpochResponse()
		c.roundTrip(t, oe, oresp)
		if got := oresp.Topics[0].Partitions[0].ErrorCode; got != code {
			t.Fatalf("offset for leader epoch %s: code %d, want %d", topic, got, code)
		}

		dr := kmsg.NewPtrDeleteRecordsRequest()
		dr.SetVersion(2)
		dr.TimeoutMillis = 5000
		dt := kmsg.NewDeleteRecordsRequestTopic()
		dt.Topic = topic
		dp := kmsg.NewDeleteRecordsRequestTopicPartition()
		dp.Offset = 0
		dt.Partitions = append(dt.Partitions, dp)
		dr.Topics = append(dr.Topics, dt)
		dresp := kmsg.NewPtrDeleteRecordsResponse()
		c.roundTrip(t, dr, dresp)
		if got := dresp.Topics[0].Partitions[0].ErrorCode; got != code {
			t.Fatalf("delete records %s: code %d, want %d", topic, got, code)
		}
	}
}

// checkLeaderHint: with hinted, the partition names node 2 at epoch 0 and
// the response carries node 2's endpoint once; without, neither is there.
func checkLeaderHint(t *testing.T, api string, v int16, topic string, hinted bool, leader, epoch int32,
	brokers int, broker func(int) (int32, string, int32)) {
	t.Helper()
	if !hinted {
		if leader != -1 || epoch != -1 || brokers != 0 {
			t.Fatalf("%s v%d %s: unexpected leader hint %d/%d, %d brokers", api, v, topic, leader, epoch, brokers)
		}
		return
	}
	if leader != 2 || epoch != 0 {
		t.Fatalf("%s v%d %s: current leader %d epoch %d, want 2 epoch 0", api, v, topic, leader, epoch)
	}
	if brokers != 1 {
		t.Fatalf("%s v%d %s: %d node endpoints, want 1", api, v, topic, brokers)
	}
	if id, host, port := broker(0); id != 2 || host != "node2.example" || port != 19092 {
		t.Fatalf("%s v%d %s: node endpoint %d %s:%d", api, v, topic, id, host, port)
	}
}
