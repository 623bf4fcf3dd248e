package broker

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

// lookupFixture is a node (id 1) and an image with one topic whose
// partitions cover every row of the lookup's decision table:
//
//	0: replicas [1],   leader 1, epoch 3, hosted        (leader)
//	1: replicas [2 1], leader 2, epoch 4, hosted        (follower)
//	2: replicas [2],   leader 2, epoch 5, not hosted
//	3: replicas [1],   leader 1, epoch 2, hosted, its fsync failed
//	4: replicas [1],   leader 1, epoch 0, hosted log of an older topic id
func lookupFixture(t *testing.T) (*Broker, *metadata.Topic, *metadata.Image) {
	t.Helper()
	id, old := metadata.Uuid{1}, metadata.Uuid{9}
	part := func(i int32, replicas []int32, epoch int32) metadata.Record {
		return metadata.Record{Type: metadata.TypePartition, Partition: &metadata.PartitionRecord{
			TopicID: id, Partition: i, Replicas: replicas, ISR: replicas, Leader: replicas[0], LeaderEpoch: epoch}}
	}
	reg := func(node int32, fenced bool, listener string) metadata.Record {
		return metadata.Record{Type: metadata.TypeRegisterBroker, RegisterBroker: &metadata.RegisterBrokerRecord{
			BrokerID: node, Fenced: fenced,
			Endpoints: []metadata.Endpoint{{Name: listener, Host: "h" + string(rune('0'+node)), Port: 9000 + node}}}}
	}
	im := metadata.Empty().Apply(
		reg(1, false, "PLAINTEXT"), reg(2, false, "PLAINTEXT"), reg(3, true, "PLAINTEXT"), reg(4, false, "OTHER"),
		metadata.Record{Type: metadata.TypeTopic, Topic: &metadata.TopicRecord{Name: "t", ID: id}},
		part(0, []int32{1}, 3), part(1, []int32{2, 1}, 4), part(2, []int32{2}, 5),
		part(3, []int32{1}, 2), part(4, []int32{1}, 0),
	)
	b := &Broker{opts: Options{NodeID: 1}}
	b.parts = newPartitionManager(b)
	host := func(i, epoch int32, topicID metadata.Uuid) *partition {
		p := &partition{topic: "t", index: i, topicID: topicID}
		p.leaderEpoch.Store(epoch)
		// The role the image gives (replication.go applies it).
		leader := im.TopicByID(id).Partitions[i].Leader
		p.followLeader.Store(leader)
		p.leading.Store(leader == 1)
		b.parts.parts[partKey{"t", i}] = p
		return p
	}
	host(0, 3, id)
	host(1, 4, id)
	failed := errors.New("fsync: input/output error")
	host(3, 2, id).storageErr.Store(&failed)
	host(4, 0, old)
	return b, im.Topic("t"), im
}

// TestLookupPartitionDecisionTable: every row of the hosted-partition
// lookup, in Kafka's order of checks (unknown topic or partition, not
// hosted, the request's current leader epoch, the role the request needs,
// the storage error for writes), with the leader hint each answer carries.
func TestLookupPartitionDecisionTable(t *testing.T) {
	b, topic, _ := lookupFixture(t)
	type q = partitionQuery
	cases := []struct {
		name                string
		q                   q
		want                *kerr.Error
		leader, leaderEpoch int32
	}{
		{"unknown topic by name", q{partition: 0, currentLeaderEpoch: -1}, kerr.UnknownTopicOrPartition, -1, -1},
		{"unknown topic by id", q{byID: true, partition: 0, currentLeaderEpoch: -1}, kerr.UnknownTopicID, -1, -1},
		{"negative partition", q{topic: topic, partition: -1, currentLeaderEpoch: -1}, kerr.UnknownTopicOrPartition, -1, -1},
		{"partition past the end", q{topic: topic, partition: 5, currentLeaderEpoch: -1}, kerr.UnknownTopicOrPartition, -1, -1},
		{"partition past the end by id", q{topic: topic, byID: true, partition: 5, currentLeaderEpoch: -1}, kerr.UnknownTopicOrPartition, -1, -1},

		{"leader, epoch not given", q{topic: topic, partition: 0, currentLeaderEpoch: -1}, nil, 1, 3},
		{"leader, current epoch", q{topic: topic, partition: 0, currentLeaderEpoch: 3}, nil, 1, 3},
		{"leader, older epoch", q{topic: topic, partition: 0, currentLeaderEpoch: 2}, kerr.FencedLeaderEpoch, 1, 3},
		{"leader, newer epoch", q{topic: topic, partition: 0, currentLeaderEpoch: 4}, kerr.UnknownLeaderEpoch, 1, 3},
		{"leader, write", q{topic: topic, partition: 0, currentLeaderEpoch: -1, write: true}, nil, 1, 3},

		{"follower, leader needed", q{topic: topic, partition: 1, currentLeaderEpoch: -1}, kerr.NotLeaderForPartition, 2, 4},
		{"follower, write", q{topic: topic, partition: 1, currentLeaderEpoch: -1, write: true}, kerr.NotLeaderForPartition, 2, 4},
		{"follower, current epoch, leader needed", q{topic: topic, partition: 1, currentLeaderEpoch: 4}, kerr.NotLeaderForPartition, 2, 4},
		// The epoch is checked before the role, as Kafka's Partition does.
		{"follower, older epoch", q{topic: topic, partition: 1, currentLeaderEpoch: 3}, kerr.FencedLeaderEpoch, 2, 4},
		{"follower, newer epoch", q{topic: topic, partition: 1, currentLeaderEpoch: 5}, kerr.UnknownLeaderEpoch, 2, 4},
		{"follower, follower reads allowed", q{topic: topic, partition: 1, currentLeaderEpoch: 4, followerOK: true}, nil, 2, 4},

		// Not hosted: NOT_LEADER_OR_FOLLOWER whatever the epoch says; the
		// hint is the image's leader and epoch.
		{"not hosted", q{topic: topic, partition: 2, currentLeaderEpoch: -1}, kerr.NotLeaderForPartition, 2, 5},
		{"not hosted, older epoch", q{topic: topic, partition: 2, currentLeaderEpoch: 1}, kerr.NotLeaderForPartition, 2, 5},
		{"not hosted, follower reads allowed", q{topic: topic, partition: 2, currentLeaderEpoch: -1, followerOK: true}, kerr.NotLeaderForPartition, 2, 5},

		{"storage error, write", q{topic: topic, partition: 3, currentLeaderEpoch: -1, write: true}, kerr.KafkaStorageError, 1, 2},
		{"storage error, read", q{topic: topic, partition: 3, currentLeaderEpoch: -1}, nil, 1, 2},
		{"storage error, write, older epoch", q{topic: topic, partition: 3, currentLeaderEpoch: 1, write: true}, kerr.FencedLeaderEpoch, 1, 2},

		{"log of an older topic with the same name", q{topic: topic, partition: 4, currentLeaderEpoch: -1}, kerr.NotLeaderForPartition, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := b.lookupPartition(c.q)
			if h.err != c.want {
				t.Fatalf("error %v, want %v", h.err, c.want)
			}
			if (h.p != nil) != (c.want == nil) {
				t.Fatalf("partition %v with error %v", h.p, h.err)
			}
			if h.p != nil && (h.p.index != c.q.partition || h.p.topicID != topic.ID) {
				t.Fatalf("got partition %d of %v", h.p.index, h.p.topicID)
			}
			if h.leader != c.leader || h.leaderEpoch != c.leaderEpoch {
				t.Fatalf("current leader %d epoch %d, want %d epoch %d", h.leader, h.leaderEpoch, c.leader, c.leaderEpoch)
			}
			if (h.cause != nil) != (h.err == kerr.KafkaStorageError) {
				t.Fatalf("cause %v with error %v", h.cause, h.err)
			}
			if (h.pm != nil) != (c.leader >= 0) {
				t.Fatalf("replica state %v", h.pm)
			}
			if h.pm != nil && h.pm != &topic.Partitions[c.q.partition] {
				t.Fatal("replica state is not the requested partition's")
			}
		})
	}
}

// TestLeaderHints: each leader's endpoint once, on the request's listener,
// and none for unknown, fenced or listener-less brokers.
func TestLeaderHints(t *testing.T) {
	_, _, im := lookupFixture(t)
	h := leaderHints{im: im, listener: "PLAINTEXT"}
	for _, id := range []int32{2, -1, 2, 9, 3, 4, 1} {
		h.add(id)
	}
	want := []leaderNode{{id: 2, host: "h2", port: 9002}, {id: 1, host: "h1", port: 9001}}
	if len(h.nodes) != len(want) {
		t.Fatalf("nodes %+v, want %+v", h.nodes, want)
	}
	for i := range want {
		if h.nodes[i] != want[i] {
			t.Fatalf("node %d: %+v, want %+v", i, h.nodes[i], want[i])
		}
	}
}
