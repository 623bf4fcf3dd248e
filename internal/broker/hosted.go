package broker

// The hosted-partition lookup: the one place that answers, for every data
// API (Produce, Fetch, ListOffsets, DeleteRecords, OffsetForLeaderEpoch),
// "may this node serve this partition for this request, at this epoch, and
// where is its log". Replication extends it with follower state; the
// handlers keep asking the same question.
//
// Checks, in the order Kafka's ReplicaManager.getPartitionOrError and
// Partition.localLogWithEpochOrThrow apply them:
//
//  1. the topic is not in the request's metadata image: UNKNOWN_TOPIC_ID
//     when the request named it by id, else UNKNOWN_TOPIC_OR_PARTITION;
//     the partition index is out of range: UNKNOWN_TOPIC_OR_PARTITION.
//  2. the partition exists but this node hosts no log for it (not a
//     replica, its log not open yet, or a re-created topic's newer log):
//     NOT_LEADER_OR_FOLLOWER, so the client refreshes metadata.
//  3. the request's current_leader_epoch (KIP-320; -1 = not checked)
//     against the hosted partition's epoch: older is FENCED_LEADER_EPOCH,
//     newer is UNKNOWN_LEADER_EPOCH.
//  4. this node is a follower (the partition's role, replication.go) and
//     the request needs the leader (producers, ListOffsets, consumers'
//     Fetch before v11, and followers' own fetches):
//     NOT_LEADER_OR_FOLLOWER, naming the leader the follower follows.
//  5. a request that changes the log, on a log whose fsync failed:
//     KAFKA_STORAGE_ERROR. Reads keep serving what is below the high
//     watermark, which was synced before it moved.

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

// partitionQuery is what one partition of a data request asks.
type partitionQuery struct {
	// topic is the requested topic in the request's image (nil: unknown).
	topic *metadata.Topic
	// byID: the request named the topic by id (Produce and Fetch v13+).
	byID      bool
	partition int32
	// currentLeaderEpoch is the request's current_leader_epoch (KIP-320);
	// -1 when the request has none or does not want it checked.
	currentLeaderEpoch int32
	// followerOK: a follower replica may answer (KIP-392: a consumer's
	// Fetch v11+, readreplica.go). Otherwise only the leader does.
	followerOK bool
	// write: the request changes the log (Produce, DeleteRecords).
	write bool
}

// hostedPartition is the lookup's answer: the log to use (p), or the error
// to answer with (err, and cause for KAFKA_STORAGE_ERROR), and what the
// node knows of the partition's leadership either way.
type hostedPartition struct {
	p     *partition
	err   *kerr.Error
	cause error
	// pm is the partition's replica state in the image (nil when the
	// topic or partition is unknown).
	pm *metadata.Partition
	// leader and leaderEpoch are the current leader as this node knows it
	// (KIP-951 CurrentLeader): the image's leader, and the hosted
	// partition's epoch when there is one, else the image's; -1 unknown.
	leader, leaderEpoch int32
}

// lookupPartition answers q; see the checks at the top of this file.
func (b *Broker) lookupPartition(q partitionQuery) hostedPartition {
	h := hostedPartition{leader: -1, leaderEpoch: -1}
	t := q.topic
	if t == nil {
		h.err = kerr.UnknownTopicOrPartition
		if q.byID {
			h.err = kerr.UnknownTopicID
		}
		return h
	}
	if q.partition < 0 || int(q.partition) >= len(t.Partitions) {
		h.err = kerr.UnknownTopicOrPartition
		return h
	}
	pm := &t.Partitions[q.partition]
	h.pm, h.leader, h.leaderEpoch = pm, pm.Leader, pm.LeaderEpoch
	p := b.parts.get(t.Name, q.partition)
	if p == nil || p.topicID != t.ID {
		h.err = kerr.NotLeaderForPartition
		return h
	}
	epoch := p.leaderEpoch.Load()
	h.leaderEpoch = epoch
	if l := p.followLeader.Load(); l >= 0 {
		// The partition's own view (a follower knows whom it follows,
		// possibly before this request's image does).
		h.leader = l
	}
	if code := checkLeaderEpoch(q.currentLeaderEpoch, epoch); code != nil {
		h.err = code
		return h
	}
	if !p.leading.Load() && !q.followerOK {
		h.err = kerr.NotLeaderForPartition
		return h
	}
	if q.write {
		if err := p.storageError(); err != nil {
			h.err, h.cause = kerr.KafkaStorageError, err
			return h
		}
	}
	h.p = p
	return h
}

// checkLeaderEpoch applies KIP-320: a client with an older epoch is fenced,
// one with a newer epoch knows more than we do.
func checkLeaderEpoch(requested, current int32) *kerr.Error {
	switch {
	case requested < 0:
		return nil
	case requested < current:
		return kerr.FencedLeaderEpoch
	case requested > current:
		return kerr.UnknownLeaderEpoch
	}
	return nil
}

// leaderHints collects the endpoints of the leaders a response points
// clients to (KIP-951 NodeEndpoints): each once, only brokers that are
// alive and have the request's listener, as Kafka's getAliveBrokerNode.
type leaderHints struct {
	im       *metadata.Image
	listener string
	nodes    []leaderNode
}

type leaderNode struct {
	id   int32
	host string
	port int32
	rack *string
}

func (l *leaderHints) add(id int32) {
	for _, n := range l.nodes {
		if n.id == id {
			return
		}
	}
	b := l.im.Broker(id)
	if b == nil || b.Fenced {
		return
	}
	if ep, ok := b.Endpoint(l.listener); ok {
		l.nodes = append(l.nodes, leaderNode{id: id, host: ep.Host, port: ep.Port, rack: b.Rack})
	}
}
