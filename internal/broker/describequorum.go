package broker

// DescribeQuorum (key 55), versions 0-2: the controller quorum as the
// active controller sees it, what `kafka-metadata-quorum describe
// --status` and `--replication` print. Brokers forward it to the active
// controller (forward.go), as Kafka's do; on a controller listener, a
// voter that does not lead answers NOT_LEADER_OR_FOLLOWER for the
// partition, as Kafka's raft client does.
//
// One topic, __cluster_metadata, partition 0: the leader and its epoch
// (the Raft term), the high watermark (the commit index), every voter's log
// end offset (the leader's match index for it) with its last fetch and
// last caught-up times (v1+), and the observers (broker-only nodes
// following the log) with their position. v2 adds each voter's listeners
// (the controller listener from controller.quorum.voters). Offsets are
// Raft indexes. Directory ids are zero: the quorum is static (kraft.version
// 0), where Kafka reports none either.

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/raft"
)

const metadataTopic = "__cluster_metadata"

func init() {
	registerOn(onBoth, kmsg.DescribeQuorum, 0, 2, releasesFrame, (*Broker).handleDescribeQuorum)
}

func (b *Broker) handleDescribeQuorum(r *request, kreq kmsg.Request) {
	if r.conn.listener.controller && !b.active() {
		// Asked on a controller listener, a voter that does not lead
		// answers as Kafka's KafkaRaftClient does: NOT_LEADER_OR_FOLLOWER
		// for the partition (not the NOT_CONTROLLER of controller APIs).
		kreq.SetVersion(r.hdr.Version)
		r.respond(b.quorumResponse(kreq.(*kmsg.DescribeQuorumRequest), raft.Status{}, errNotLeader))
		return
	}
	b.toController(r, kreq, b.decideDescribeQuorum)
}

var errNotLeader = errors.New("not the quorum's leader")

func (b *Broker) decideDescribeQuorum(kreq kmsg.Request) kmsg.Response {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	st, err := b.raft.Status(ctx)
	return b.quorumResponse(kreq.(*kmsg.DescribeQuorumRequest), st, err)
}

// quorumResponse answers req with st, or with NOT_LEADER_OR_FOLLOWER for
// the metadata partition when err is set.
func (b *Broker) quorumResponse(req *kmsg.DescribeQuorumRequest, st raft.Status, err error) *kmsg.DescribeQuorumResponse {
	resp := kmsg.NewPtrDescribeQuorumResponse()
	resp.SetVersion(req.GetVersion())
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.Partition = rp.Partition
			switch {
			case rt.Topic != metadataTopic || rp.Partition != 0:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case err != nil:
				p.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				fillQuorumPartition(&p, st)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if req.GetVersion() >= 2 {
		resp.Nodes = b.quorumNodes()
	}
	return resp
}

func fillQuorumPartition(p *kmsg.DescribeQuorumResponseTopicPartition, st raft.Status) {
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = st.LeaderID, int32(st.Epoch), int64(st.Commit)
	state := func(rs raft.ReplicaStatus) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		s := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		s.ReplicaID, s.LogEndOffset = rs.ID, int64(rs.MatchIndex)
		s.LastFetchTimestamp, s.LastCaughtUpTimestamp = millis(rs.LastContact), millis(rs.LastCaughtUp)
		return s
	}
	for _, v := range st.Voters {
		p.CurrentVoters = append(p.CurrentVoters, state(v))
	}
	for _, o := range st.Observers {
		p.Observers = append(p.Observers, state(o))
	}
}

// millis is a timestamp in Unix milliseconds, -1 for never.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

// quorumNodes lists each voter with its controller listener.
func (b *Broker) quorumNodes() []kmsg.DescribeQuorumResponseNode {
	name := "CONTROLLER"
	if len(b.opts.ControllerListeners) > 0 {
		name = b.opts.ControllerListeners[0]
	}
	ids := make([]int32, 0, len(b.opts.Voters))
	for id := range b.opts.Voters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []kmsg.DescribeQuorumResponseNode
	for _, id := range ids {
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = id
		if host, port, err := net.SplitHostPort(b.opts.Voters[id]); err == nil {
			p, _ := strconv.Atoi(port)
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = name, host, uint16(p)
			n.Listeners = append(n.Listeners, l)
		}
		out = append(out, n)
	}
	return out
}
