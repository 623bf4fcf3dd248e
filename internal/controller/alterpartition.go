package controller

// AlterPartition (API key 56): a partition leader proposes a new ISR
// (Kafka's ReplicationControlManager.alterPartition). The controller
// checks the sender's broker epoch (STALE_BROKER_EPOCH for the whole
// request), then each partition: it must exist (UNKNOWN_TOPIC_ID /
// UNKNOWN_TOPIC_OR_PARTITION), the leader epoch must be the current one
// (FENCED_LEADER_EPOCH), the sender must lead (INVALID_REQUEST), the
// partition epoch must be the current one (INVALID_UPDATE_VERSION), the
// new ISR must hold only assigned replicas and the leader
// (INVALID_REQUEST), and every member must be eligible: registered,
// unfenced, not in controlled shutdown and, where the request names one,
// at its current broker epoch (INELIGIBLE_REPLICA). An accepted change is
// one PartitionChange record (partition epoch + 1) that may also finish a
// reassignment; if that elects another leader (the leader was removed by
// the reassignment, or is shutting down) the partition answers
// NEW_LEADER_ELECTED.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

// AlterPartitionRequest is an AlterPartition request.
type AlterPartitionRequest struct {
	BrokerID    int32
	BrokerEpoch int64
	Topics      []AlterPartitionTopic
}

// AlterPartitionTopic names a topic by id (v2+).
type AlterPartitionTopic struct {
	TopicID    Uuid
	Partitions []AlterPartitionData
}

// AlterPartitionData is one partition's proposal.
type AlterPartitionData struct {
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	// NewISR is the proposed ISR; a member's BrokerEpoch is -1 when the
	// request does not carry it (before v3).
	NewISR              []ISRMember
	LeaderRecoveryState int8
}

// ISRMember is one proposed ISR member (v3's BrokerState).
type ISRMember struct {
	BrokerID    int32
	BrokerEpoch int64
}

// AlterPartitionResult answers the request, topic by topic.
type AlterPartitionResult struct {
	Topics []AlterPartitionTopicResult
}

// AlterPartitionTopicResult is one topic's answer.
type AlterPartitionTopicResult struct {
	TopicID    Uuid
	Partitions []AlterPartitionPartitionResult
}

// AlterPartitionPartitionResult is one partition's answer: Err, or the
// partition's state after the change.
type AlterPartitionPartitionResult struct {
	Partition      int32
	Err            *Error
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterPartition decides and commits an AlterPartition.
func (c *Controller) AlterPartition(req AlterPartitionRequest) (AlterPartitionResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, res, err := DecideAlterPartition(&c.cfg, c.current(), req)
	if err != nil {
		return res, err
	}
	return res, c.commitLocked(recs)
}

// DecideAlterPartition decides an AlterPartition (see above). The error
// is the whole request's (STALE_BROKER_EPOCH); partition errors are in
// the result.
func DecideAlterPartition(cfg *Config, im *metadata.Image, req AlterPartitionRequest) ([]metadata.Record, AlterPartitionResult, error) {
	var res AlterPartitionResult
	b := im.Broker(req.BrokerID)
	if b == nil {
		return nil, res, errorf(kerr.StaleBrokerEpoch, "No broker registration found for broker id %d", req.BrokerID)
	}
	if b.Epoch != req.BrokerEpoch {
		return nil, res, errorf(kerr.StaleBrokerEpoch, "Expected broker epoch %d, but got broker epoch %d", b.Epoch, req.BrokerEpoch)
	}
	var recs []metadata.Record
	next := im
	for _, rt := range req.Topics {
		tr := AlterPartitionTopicResult{TopicID: rt.TopicID}
		for _, rp := range rt.Partitions {
			pr := AlterPartitionPartitionResult{Partition: rp.Partition}
			t := next.TopicByID(rt.TopicID)
			if t == nil {
				pr.Err = errorf(kerr.UnknownTopicID, "unknown topic id %s", rt.TopicID)
				tr.Partitions = append(tr.Partitions, pr)
				continue
			}
			rec, err := decideAlterPartitionData(cfg, next, t, req.BrokerID, rp)
			if err != nil {
				pr.Err = err
				tr.Partitions = append(tr.Partitions, pr)
				continue
			}
			if rec != nil {
				recs = append(recs, *rec)
				next = next.Apply(*rec)
				t = next.TopicByID(rt.TopicID)
			}
			p := &t.Partitions[rp.Partition]
			if p.Leader != req.BrokerID {
				pr.Err = errorf(kerr.NewLeaderElected, "partition %d of %s now has leader %d", rp.Partition, t.Name, p.Leader)
			} else {
				pr.Leader, pr.LeaderEpoch, pr.PartitionEpoch, pr.ISR = p.Leader, p.LeaderEpoch, p.PartitionEpoch, slices.Clone(p.ISR)
			}
			tr.Partitions = append(tr.Partitions, pr)
		}
		res.Topics = append(res.Topics, tr)
	}
	return recs, res, nil
}

func decideAlterPartitionData(cfg *Config, im *metadata.Image, t *metadata.Topic, broker int32, rp AlterPartitionData) (*metadata.Record, *Error) {
	if rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
		return nil, errorf(kerr.UnknownTopicOrPartition, "partition %d of %s does not exist", rp.Partition, t.Name)
	}
	p := &t.Partitions[rp.Partition]
	if rp.LeaderEpoch != p.LeaderEpoch {
		return nil, errorf(kerr.FencedLeaderEpoch, "leader epoch %d, the partition is at %d", rp.LeaderEpoch, p.LeaderEpoch)
	}
	if p.Leader != broker {
		return nil, errorf(kerr.InvalidRequest, "broker %d is not the leader of %s-%d (the leader is %d)", broker, t.Name, rp.Partition, p.Leader)
	}
	if rp.PartitionEpoch != p.PartitionEpoch {
		return nil, errorf(kerr.InvalidUpdateVersion, "partition epoch %d, the partition is at %d", rp.PartitionEpoch, p.PartitionEpoch)
	}
	if rp.LeaderRecoveryState != 0 {
		return nil, errorf(kerr.InvalidRequest, "leader recovery state %d: the partition is recovered", rp.LeaderRecoveryState)
	}
	isr := make([]int32, 0, len(rp.NewISR))
	for _, m := range rp.NewISR {
		if !slices.Contains(p.Replicas, m.BrokerID) {
			return nil, errorf(kerr.InvalidRequest, "the new ISR has broker %d, which is not a replica of %s-%d", m.BrokerID, t.Name, rp.Partition)
		}
		if slices.Contains(isr, m.BrokerID) {
			return nil, errorf(kerr.InvalidRequest, "the new ISR has broker %d twice", m.BrokerID)
		}
		isr = append(isr, m.BrokerID)
	}
	if !slices.Contains(isr, broker) {
		return nil, errorf(kerr.InvalidRequest, "the new ISR %v does not have the leader %d", isr, broker)
	}
	for _, m := range rp.NewISR {
		rb := im.Broker(m.BrokerID)
		switch {
		case rb == nil:
			return nil, errorf(kerr.IneligibleReplica, "broker %d is not registered", m.BrokerID)
		case rb.InControlledShutdown:
			return nil, errorf(kerr.IneligibleReplica, "broker %d is in controlled shutdown", m.BrokerID)
		case rb.Fenced:
			return nil, errorf(kerr.IneligibleReplica, "broker %d is fenced", m.BrokerID)
		case m.BrokerEpoch != -1 && m.BrokerEpoch != rb.Epoch:
			return nil, errorf(kerr.IneligibleReplica, "broker %d has epoch %d, not %d", m.BrokerID, rb.Epoch, m.BrokerEpoch)
		}
	}
	c := newChange(topicRules(cfg, im, t, p), t, int(rp.Partition), activeBrokers(im, metadata.NoLeader, metadata.NoLeader), electOnline)
	c.isr = isr
	c.completeReassignment = true
	rec, _ := c.build()
	return rec, nil
}
