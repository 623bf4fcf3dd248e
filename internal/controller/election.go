package controller

// Leader election and partition changes, after Kafka's
// PartitionChangeBuilder.
//
// Every event that changes which brokers may lead (a broker fenced,
// unfenced, entering controlled shutdown, unregistered; a preferred-leader
// rebalance) recomputes the affected partitions with one function,
// partitionChange, and writes a PartitionChange record for each partition
// whose ISR or leader moves. A leader change bumps the leader epoch (when
// the record is applied), so a deposed leader's requests are fenced.
//
// Part 1 of cluster mode has no data replication, so the ISR is not yet
// maintained by followers (AlterPartition): targetISR takes it to be the
// replicas on active brokers (never empty: when no replica is active the
// last ISR stays, as Kafka keeps the last member when the leader goes to
// -1). electLeader then picks from that ISR, that is from the other live
// replicas. Replication (part 2) replaces targetISR with the ISR the
// leader reports and extends electLeader with the eligible leader
// replicas (KIP-966) and unclean election; the callers stay.

import (
	"slices"

	"github.com/samsa-io/samsa/internal/metadata"
)

// acceptFunc reports whether a broker may lead a partition and be in its ISR.
type acceptFunc func(id int32) bool

// activeBrokers accepts the brokers the image shows active (unfenced and
// not in controlled shutdown), with removed taken out and added put in:
// the broker an event is about, before the event's records are applied.
func activeBrokers(im *metadata.Image, removed, added int32) acceptFunc {
	return func(id int32) bool {
		switch id {
		case removed:
			return false
		case added:
			return im.Broker(id) != nil
		}
		return im.Broker(id).Active()
	}
}

type election int

const (
	// electOnline keeps the current leader while it is acceptable, else
	// takes the first acceptable replica in replica order.
	electOnline election = iota
	// electPreferred moves leadership to the preferred (first) replica when
	// it is acceptable.
	electPreferred
)

// targetISR is the ISR a partition should have (part 1: the acceptable
// replicas, in replica order; the current ISR when none is).
func targetISR(p *metadata.Partition, accept acceptFunc) []int32 {
	var isr []int32
	for _, r := range p.Replicas {
		if accept(r) {
			isr = append(isr, r)
		}
	}
	if len(isr) == 0 {
		return p.ISR
	}
	return isr
}

// electLeader picks the leader from the target ISR (Kafka's
// PartitionChangeBuilder.electLeader without ELR or unclean election):
// an acceptable replica in the ISR, the preferred one first for a
// preferred election, else the current leader if it stays valid, else the
// first valid one in replica order; metadata.NoLeader when there is none.
func electLeader(p *metadata.Partition, isr []int32, accept acceptFunc, e election) int32 {
	valid := func(r int32) bool { return r >= 0 && accept(r) && slices.Contains(isr, r) }
	if e == electPreferred && len(p.Replicas) > 0 && valid(p.Replicas[0]) {
		return p.Replicas[0]
	}
	if valid(p.Leader) {
		return p.Leader
	}
	for _, r := range p.Replicas {
		if valid(r) {
			return r
		}
	}
	return metadata.NoLeader
}

// partitionChange returns the PartitionChange record that brings
// partition idx of topic t where the rules want it, or nil when nothing
// changes.
func partitionChange(t *metadata.Topic, idx int, accept acceptFunc, e election) *metadata.Record {
	p := &t.Partitions[idx]
	isr := targetISR(p, accept)
	leader := electLeader(p, isr, accept, e)
	c := &metadata.PartitionChangeRecord{TopicID: t.ID, Partition: int32(idx), Leader: metadata.NoLeaderChange}
	changed := false
	if leader != p.Leader {
		c.Leader, changed = leader, true
	}
	if !slices.Equal(isr, p.ISR) {
		c.ISR, changed = slices.Clone(isr), true
	}
	if !changed {
		return nil
	}
	return &metadata.Record{Type: metadata.TypePartitionChange, PartitionChange: c}
}

// partitionChangesFor recomputes every partition that broker id
// replicates, leads or is in the ISR of, in topic-name and partition
// order.
func partitionChangesFor(im *metadata.Image, id int32, accept acceptFunc) []metadata.Record {
	var recs []metadata.Record
	for _, t := range im.Topics() {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if p.Leader != id && !slices.Contains(p.Replicas, id) && !slices.Contains(p.ISR, id) {
				continue
			}
			if r := partitionChange(t, i, accept, electOnline); r != nil {
				recs = append(recs, *r)
			}
		}
	}
	return recs
}

// leads reports whether broker id leads any partition.
func leads(im *metadata.Image, id int32) bool {
	for _, t := range im.Topics() {
		for _, p := range t.Partitions {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}

// DecideRebalance moves leadership back to preferred replicas (Kafka's
// auto.leader.rebalance.enable): for each broker, among the partitions
// whose preferred replica it is, the share led by another broker is its
// imbalance; above percent (leader.imbalance.per.broker.percentage), every
// such partition whose preferred replica can lead gets it back. percent 0
// moves every one.
func DecideRebalance(im *metadata.Image, percent int) []metadata.Record {
	type tp struct {
		t   *metadata.Topic
		idx int
	}
	preferred := map[int32][]tp{}
	var brokers []int32
	for _, t := range im.Topics() {
		for i, p := range t.Partitions {
			if len(p.Replicas) == 0 {
				continue
			}
			b := p.Replicas[0]
			if preferred[b] == nil {
				brokers = append(brokers, b)
			}
			preferred[b] = append(preferred[b], tp{t, i})
		}
	}
	slices.Sort(brokers)
	accept := activeBrokers(im, metadata.NoLeader, metadata.NoLeader)
	var recs []metadata.Record
	for _, b := range brokers {
		parts := preferred[b]
		var off []tp
		for _, x := range parts {
			if x.t.Partitions[x.idx].Leader != b {
				off = append(off, x)
			}
		}
		// imbalance ratio > percent/100, in integers
		if len(off) == 0 || len(off)*100 <= percent*len(parts) || !accept(b) {
			continue
		}
		for _, x := range off {
			if r := partitionChange(x.t, x.idx, accept, electPreferred); r != nil {
				recs = append(recs, *r)
			}
		}
	}
	return recs
}
