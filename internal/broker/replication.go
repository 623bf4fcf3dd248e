package broker

// Replication: the roles of hosted partitions follow the metadata image,
// the leader serves its followers' fetches and keeps the ISR.
//
//   - Roles (applyRoleLocked, from partitionManager.onImage): the image's
//     leader is this node → leader at the image's leader epoch, with a
//     replica.Leader over the image's ISR; otherwise a follower of the
//     image's leader (fetched by follower.go; an offline partition, leader
//     -1, waits). A partition no longer assigned here is removed (its log
//     deleted).
//   - The leader side of a follower's Fetch (replicaFetchable, fetch.go): a
//     fetch with a replica id from an assigned replica is checked against
//     the follower's last fetched epoch (DivergingEpoch, v12+), reads up
//     to the log end (consumers read below the high watermark), and
//     records the follower's fetch offset as its durable log end, which
//     may move the high watermark and wake parked acks=all produces and
//     consumer long polls.
//   - ISR changes (isrLoop): every half replica.lag.time.max.ms, and at
//     once when a follower outside the ISR fetches, each leader asks its
//     replica.Leader for an ISR change and the changes go to the active
//     controller in one AlterPartition (key 56, v3: each member with its
//     broker epoch). The answer, or the image showing the change, commits
//     it (ISRCommitted).

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
)

// applyRoleLocked makes p's role match pm. The manager's mu is held;
// opened: p was just opened. Its high watermark is then the checkpointed
// one (hwcheckpoint.go), else the recovered log end: a leader starts from
// it; a follower without a checkpoint takes its leader's on the first fetch
// (hwKnown).
func (m *partitionManager) applyRoleLocked(im *metadata.Image, p *partition, pm *metadata.Partition, opened bool) {
	b := m.b
	self := b.opts.NodeID
	if pm.Leader == self {
		elr := controller.ELREnabled(im)
		if !opened && p.leading.Load() && p.leaderEpoch.Load() == pm.LeaderEpoch {
			p.setIneligible(ineligibleReplicas(im, pm.Replicas, self))
			p.updateLeader(pm, b.opts.Now(), elr)
			return
		}
		b.fetchers.remove(p)
		p.appendMu.Lock()
		p.becomeLeaderLocked(self, pm, b.opts.Now(), b.opts.ReplicaLagTimeMax, elr)
		p.appendMu.Unlock()
		p.setIneligible(ineligibleReplicas(im, pm.Replicas, self))
		return
	}
	if !opened && !p.leading.Load() && p.followLeader.Load() == pm.Leader && p.leaderEpoch.Load() == pm.LeaderEpoch {
		return
	}
	p.appendMu.Lock()
	p.becomeFollowerLocked(pm.Leader, pm.LeaderEpoch)
	p.appendMu.Unlock()
	b.fetchers.follow(p, pm.Leader, pm.LeaderEpoch)
}

// fetchReplicaID is the replica a Fetch comes from (-1: a consumer).
func fetchReplicaID(version int16, req *kmsg.FetchRequest) int32 {
	if version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// replicaFetchable checks a follower's fetch of the leader partition p and
// records it; false means sp holds the answer (DivergingEpoch, out of
// range, a stale broker epoch, or not a replica of p).
//
// KIP-903, as Kafka 4.4's Replica.updateFetchStateOrThrow: a fetch whose
// broker epoch (v15+ ReplicaState, -1 unknown) is below the epoch im shows
// for that broker, unfenced, comes from an incarnation the controller has
// since superseded (the broker restarted and registered again). It is
// NOT_LEADER_OR_FOLLOWER with no offsets, and records nothing, so it can
// neither move the high watermark nor bring the replica into the ISR.
// Like Kafka, a DivergingEpoch or OFFSET_OUT_OF_RANGE answer comes first,
// and a fenced broker's or a newer epoch than im's is not refused.
func (b *Broker) replicaFetchable(version int16, im *metadata.Image, p *partition, id int32, brokerEpoch int64, rp *kmsg.FetchRequestTopicPartition,
	sp *kmsg.FetchResponseTopicPartition, now time.Time) bool {
	sp.HighWatermark = p.hw.Load()
	sp.LastStableOffset = sp.HighWatermark
	sp.LogStartOffset = p.log.LogStartOffset()
	sp.PreferredReadReplica = -1
	if version >= 12 && rp.LastFetchedEpoch >= 0 {
		epoch, end := p.log.EndOffsetForEpoch(rp.LastFetchedEpoch)
		if epoch < rp.LastFetchedEpoch || end < rp.FetchOffset {
			// The follower's log holds batches of an epoch the leader's
			// does not (or more of it): it truncates first.
			sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = epoch, end
			return false
		}
	}
	leo := p.log.LogEndOffset()
	if rp.FetchOffset < sp.LogStartOffset || rp.FetchOffset > leo {
		sp.ErrorCode = kerr.OffsetOutOfRange.Code
		return false
	}
	if staleBrokerEpoch(im, id, brokerEpoch) {
		sp.ErrorCode = kerr.NotLeaderForPartition.Code
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
		return false
	}
	ok, outside := p.followerFetched(id, rp.FetchOffset, leo, rp.LogStartOffset, now, brokerEpoch)
	if !ok {
		sp.ErrorCode = kerr.NotLeaderForPartition.Code
		return false
	}
	if outside {
		b.pokeISR()
	}
	return true
}

// staleBrokerEpoch reports whether a fetch from broker id carrying epoch
// comes from an incarnation older than the live one im shows.
func staleBrokerEpoch(im *metadata.Image, id int32, epoch int64) bool {
	if epoch == -1 {
		return false
	}
	br := im.Broker(id)
	return br != nil && !br.Fenced && br.Epoch > epoch
}

// pokeISR asks the ISR loop to look at once.
func (b *Broker) pokeISR() {
	select {
	case b.isrWake <- struct{}{}:
	default:
	}
}

// isrLoop proposes the ISR changes the leaders want.
func (b *Broker) isrLoop() {
	defer b.wg.Done()
	ch := newCtlChannel(b, "samsa-alter-partition")
	defer ch.close()
	t := time.NewTicker(max(b.opts.ReplicaLagTimeMax/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.isrWake:
		}
		if !b.proposeISR(ch) {
			// No controller answered: not again before a pause (fetches
			// keep poking while a follower waits outside the ISR).
			if !b.sleep(isrRetryBackoff) {
				return
			}
		}
	}
}

// isrRetryBackoff is the pause after an AlterPartition found no controller.
const isrRetryBackoff = 200 * time.Millisecond

type isrChange struct {
	p              *partition
	isr            []int32
	epochs         map[int32]int64 // broker epochs the members' fetches named
	leaderEpoch    int32
	partitionEpoch int32
}

// proposeISR sends one AlterPartition with every leader's wanted change; it
// reports false when no controller answered.
func (b *Broker) proposeISR(ch *ctlChannel) bool {
	now := b.opts.Now()
	var changes []isrChange
	for _, p := range b.parts.all() {
		if !p.leading.Load() {
			continue
		}
		if isr, epochs, le, pe, ok := p.isrUpdate(now); ok {
			changes = append(changes, isrChange{p, isr, epochs, le, pe})
		}
	}
	if len(changes) == 0 {
		return true
	}
	im := b.image()
	req := kmsg.NewPtrAlterPartitionRequest()
	req.SetVersion(3)
	req.BrokerID, req.BrokerEpoch = b.opts.NodeID, b.life.epoch.Load()
	byTopic := map[metadata.Uuid]int{}
	for _, c := range changes {
		i, ok := byTopic[c.p.topicID]
		if !ok {
			t := kmsg.NewAlterPartitionRequestTopic()
			t.Topic, t.TopicID = c.p.topic, c.p.topicID
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[c.p.topicID] = i
		}
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = c.p.index, c.leaderEpoch, c.partitionEpoch
		for _, id := range c.isr {
			e := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
			// The epoch the member's own fetches carried (KIP-903: a
			// restarted broker's old incarnation is not added back), else
			// the image's.
			e.BrokerID, e.BrokerEpoch = id, -1
			if be, ok := c.epochs[id]; ok {
				e.BrokerEpoch = be
			} else if br := im.Broker(id); br != nil {
				e.BrokerEpoch = br.Epoch
			}
			rp.NewEpochISR = append(rp.NewEpochISR, e)
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	resp, err := ch.call(ctx, req)
	cancel()
	done := make([]bool, len(changes))
	if err == nil {
		r := resp.(*kmsg.AlterPartitionResponse)
		if r.ErrorCode == kerr.NotController.Code {
			ch.reset()
		}
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				for i, c := range changes {
					if done[i] || c.p.topicID != metadata.Uuid(rt.TopidID) || c.p.index != rp.Partition {
						continue
					}
					done[i] = true
					if rp.ErrorCode == 0 && rp.LeaderEpoch == c.leaderEpoch {
						b.log.Info("ISR changed", "topic", c.p.topic, "partition", c.p.index, "isr", rp.ISR, "partition.epoch", rp.PartitionEpoch)
						c.p.isrCommitted(rp.ISR, rp.PartitionEpoch)
					} else {
						b.log.Debug("ISR change refused", "topic", c.p.topic, "partition", c.p.index, "isr", c.isr,
							"err", kerr.ErrorForCode(rp.ErrorCode))
						b.isrFromImage(c.p)
					}
				}
			}
		}
	} else {
		b.log.Debug("AlterPartition failed", "err", err)
		ch.reset()
	}
	for i, c := range changes {
		if !done[i] {
			c.p.isrAbandoned() // no answer: the next round asks again
		}
	}
	return err == nil
}

// ineligibleReplicas are the replicas other than self whose brokers may
// not be in the ISR now: fenced, in controlled shutdown, or unregistered.
func ineligibleReplicas(im *metadata.Image, replicas []int32, self int32) []int32 {
	var out []int32
	for _, id := range replicas {
		if id != self && !im.Broker(id).Active() {
			out = append(out, id)
		}
	}
	return out
}

// isrFromImage ends a pending ISR change with the image's ISR.
func (b *Broker) isrFromImage(p *partition) {
	t := b.image().TopicByID(p.topicID)
	if t == nil || int(p.index) >= len(t.Partitions) {
		return
	}
	pm := &t.Partitions[p.index]
	p.isrCommitted(slices.Clone(pm.ISR), pm.PartitionEpoch)
}
