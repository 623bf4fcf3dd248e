package controller

// Partition reassignment (AlterPartitionReassignments, API key 45, and
// ListPartitionReassignments, 46; Kafka's
// ReplicationControlManager.alterPartitionReassignments and
// PartitionReassignmentReplicas). A move to a target replica set writes
// the union as the replicas (the target first, then the replicas being
// removed) with the adding and removing lists; the new replicas catch up
// as followers and their leader adds them to the ISR with AlterPartition.
// When every target replica is in the ISR the controller completes the
// move (election.go, maybeCompleteReassignment): replicas become the
// target, the removed ones leave the ISR and, if the leader was one of
// them, another leader is elected. A move that adds no replica (a shrink
// or reorder) completes at once. Cancelling (null replicas) reverts to the
// original replicas; a new move while one is in progress starts from the
// original replicas as well.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

// Reassignment is one partition's requested move; Replicas nil cancels.
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// ReassignmentState is an ongoing reassignment (ListPartitionReassignments).
type ReassignmentState struct {
	Topic                      string
	Partition                  int32
	Replicas, Adding, Removing []int32
}

// AlterPartitionReassignments decides and commits the moves; the result
// has one error (nil: accepted) per move.
func (c *Controller) AlterPartitionReassignments(moves []Reassignment, allowRFChange bool) ([]*Error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, errs := DecideReassignments(&c.cfg, c.current(), moves, allowRFChange)
	return errs, c.commitLocked(recs)
}

// DecideReassignments decides AlterPartitionReassignments entries.
func DecideReassignments(cfg *Config, im *metadata.Image, moves []Reassignment, allowRFChange bool) ([]metadata.Record, []*Error) {
	var recs []metadata.Record
	errs := make([]*Error, len(moves))
	next := im
	for i, m := range moves {
		rec, err := decideReassignment(cfg, next, m, allowRFChange)
		errs[i] = err
		if rec != nil {
			recs = append(recs, *rec)
			next = next.Apply(*rec)
		}
	}
	return recs, errs
}

func decideReassignment(cfg *Config, im *metadata.Image, m Reassignment, allowRFChange bool) (*metadata.Record, *Error) {
	t := im.Topic(m.Topic)
	if t == nil || m.Partition < 0 || int(m.Partition) >= len(t.Partitions) {
		return nil, errorf(kerr.UnknownTopicOrPartition, "Unable to find partition %s-%d", m.Topic, m.Partition)
	}
	p := &t.Partitions[m.Partition]
	original := p.OriginalReplicas()
	c := newChange(topicRules(cfg, im, t, p), t, int(m.Partition), activeBrokers(im, metadata.NoLeader, metadata.NoLeader), electOnline)
	if m.Replicas == nil {
		if !p.Reassigning() {
			return nil, errorf(kerr.NoReassignmentInProgress, "Partition %s-%d has no ongoing reassignment", m.Topic, m.Partition)
		}
		c.replicas, c.adding, c.removing = slices.Clone(original), nil, nil
		c.isr = intersect(c.isr, original)
		c.elr, c.lastKnown = intersect(c.elr, original), intersect(c.lastKnown, original)
		rec, _ := c.build()
		return rec, nil
	}
	if len(m.Replicas) == 0 {
		return nil, errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	for j, b := range m.Replicas {
		if im.Broker(b) == nil {
			return nil, errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", b)
		}
		if slices.Contains(m.Replicas[:j], b) {
			return nil, errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", b)
		}
	}
	if !allowRFChange && len(m.Replicas) != len(original) {
		return nil, errorf(kerr.InvalidReplicationFactor, "The replication factor is changed from %d to %d", len(original), len(m.Replicas))
	}
	var adding, removing []int32
	for _, r := range m.Replicas {
		if !slices.Contains(original, r) {
			adding = append(adding, r)
		}
	}
	for _, r := range original {
		if !slices.Contains(m.Replicas, r) {
			removing = append(removing, r)
		}
	}
	c.replicas = append(slices.Clone(m.Replicas), removing...)
	c.adding, c.removing = adding, removing
	c.isr = intersect(c.isr, c.replicas)
	c.elr, c.lastKnown = intersect(c.elr, c.replicas), intersect(c.lastKnown, c.replicas)
	c.completeReassignment = true
	if len(adding) == 0 && len(removing) == 0 {
		c.replicas = slices.Clone(m.Replicas)
	}
	rec, _ := c.build()
	return rec, nil
}

// ListPartitionReassignments returns the ongoing reassignments of the
// named partitions (topics nil: all), in topic and partition order;
// unknown topics and partitions are left out.
func ListPartitionReassignments(im *metadata.Image, topics []ElectTopic) []ReassignmentState {
	var out []ReassignmentState
	add := func(t *metadata.Topic, i int) {
		p := &t.Partitions[i]
		if p.Reassigning() {
			out = append(out, ReassignmentState{Topic: t.Name, Partition: int32(i), Replicas: slices.Clone(p.Replicas),
				Adding: slices.Clone(p.AddingReplicas), Removing: slices.Clone(p.RemovingReplicas)})
		}
	}
	if topics == nil {
		for _, t := range im.Topics() {
			for i := range t.Partitions {
				add(t, i)
			}
		}
		return out
	}
	for _, et := range topics {
		t := im.Topic(et.Topic)
		if t == nil {
			continue
		}
		for _, i := range et.Partitions {
			if i >= 0 && int(i) < len(t.Partitions) {
				add(t, int(i))
			}
		}
	}
	return out
}
