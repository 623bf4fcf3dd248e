package controller

// ElectLeaders (API key 43; Kafka's ReplicationControlManager.electLeaders):
// a PREFERRED election moves leadership to the preferred replica when it
// is an active ISR member (ELECTION_NOT_NEEDED when it already leads,
// PREFERRED_LEADER_NOT_AVAILABLE when it cannot); an UNCLEAN election
// gives a partition without a leader one: an ISR member, an ELR member,
// else any active replica, which becomes the ISR (ELECTION_NOT_NEEDED
// when it has a leader, ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is
// active). Without a topic list every partition is considered and those
// that need no election are left out of the answer.

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

// Election types of ElectLeaders.
const (
	ElectionPreferred int8 = 0
	ElectionUnclean   int8 = 1
)

// ElectTopic names partitions of a topic.
type ElectTopic struct {
	Topic      string
	Partitions []int32
}

// ElectResult is one partition's answer.
type ElectResult struct {
	Topic     string
	Partition int32
	Err       *Error // nil: elected
}

// ElectLeaders decides and commits an ElectLeaders request; topics nil
// means every partition.
func (c *Controller) ElectLeaders(electionType int8, topics []ElectTopic) ([]ElectResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, res, err := DecideElectLeaders(&c.cfg, c.current(), electionType, topics)
	if err != nil {
		return nil, err
	}
	return res, c.commitLocked(recs)
}

// DecideElectLeaders decides an ElectLeaders request (see above).
func DecideElectLeaders(cfg *Config, im *metadata.Image, electionType int8, topics []ElectTopic) ([]metadata.Record, []ElectResult, error) {
	if electionType != ElectionPreferred && electionType != ElectionUnclean {
		return nil, nil, errorf(kerr.InvalidRequest, "unknown election type %d", electionType)
	}
	all := topics == nil
	if all {
		for _, t := range im.Topics() {
			et := ElectTopic{Topic: t.Name}
			for i := range t.Partitions {
				et.Partitions = append(et.Partitions, int32(i))
			}
			topics = append(topics, et)
		}
	}
	accept := activeBrokers(im, metadata.NoLeader, metadata.NoLeader)
	memo := newRulesMemo(cfg, im)
	var recs []metadata.Record
	var res []ElectResult
	for _, et := range topics {
		t := im.Topic(et.Topic)
		for _, idx := range et.Partitions {
			r := ElectResult{Topic: et.Topic, Partition: idx}
			switch {
			case t == nil:
				r.Err = errorf(kerr.UnknownTopicOrPartition, "topic %s does not exist", et.Topic)
			case idx < 0 || int(idx) >= len(t.Partitions):
				r.Err = errorf(kerr.UnknownTopicOrPartition, "partition %d of %s does not exist", idx, et.Topic)
			default:
				rec, err := electOne(memo.of(t, int(idx)), t, int(idx), electionType, accept)
				r.Err = err
				if rec != nil {
					recs = append(recs, *rec)
				}
			}
			if all && r.Err != nil && r.Err.Code == kerr.ElectionNotNeeded {
				continue
			}
			res = append(res, r)
		}
	}
	return recs, res, nil
}

func electOne(r rules, t *metadata.Topic, idx int, electionType int8, accept acceptFunc) (*metadata.Record, *Error) {
	p := &t.Partitions[idx]
	if electionType == ElectionPreferred {
		if len(p.Replicas) > 0 && p.Leader == p.Replicas[0] {
			return nil, errorf(kerr.ElectionNotNeeded, "Leader election not needed for topic partition")
		}
		if !preferredElectable(p, accept) {
			return nil, errorf(kerr.PreferredLeaderNotAvailable, "Failed to elect leader for partition %s-%d under strategy PreferredReplicaPartitionLeaderElectionStrategy", t.Name, idx)
		}
		rec, _ := newChange(r, t, idx, accept, electPreferred).build()
		return rec, nil
	}
	if p.Leader != metadata.NoLeader {
		return nil, errorf(kerr.ElectionNotNeeded, "Leader election not needed for topic partition")
	}
	rec, leader := newChange(r, t, idx, accept, electUnclean).build()
	if leader == metadata.NoLeader {
		return nil, errorf(kerr.EligibleLeadersNotAvailable, "Failed to elect leader for partition %s-%d under strategy UncleanLeaderElectionStrategy", t.Name, idx)
	}
	return rec, nil
}
