package broker

// A hosted partition's replication role, taken from the metadata image
// (replication.go applies it): the leader keeps a replica.Leader (the ISR,
// each follower's durable log end, the high watermark); a follower is fed
// by the fetcher of its leader's broker (follower.go) and takes the
// leader's high watermark.
//
// Role changes and appends are serialized by partition.appendMu: a
// produce checks leading under it, and the fetcher appends a follower's
// batches under it only while the partition still follows the same leader
// epoch. The replica.Leader is guarded by repMu, a leaf taken after
// appendMu (or alone) and never held while calling out.

import (
	"slices"
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/replica"
)

// becomeLeaderLocked makes p the leader at pm's epochs. The caller holds
// appendMu. hw is the high watermark to start from (never above the local
// log end).
//
// holdMinISR is Kafka's rule with eligible leader replicas (KIP-966,
// KAFKA-15583): the high watermark does not advance while the ISR is
// smaller than min.insync.replicas, so a waiting acks=all produce times out
// instead of completing with NOT_ENOUGH_REPLICAS_AFTER_APPEND.
func (p *partition) becomeLeaderLocked(self int32, pm *metadata.Partition, now time.Time, lagMax time.Duration, holdMinISR bool) {
	leo := p.log.LogEndOffset()
	durable := leo
	if p.fsyncOnAck.Load() {
		durable = p.log.SyncedOffset()
	}
	hw := min(p.hw.Load(), leo)
	if err := p.log.AssignLeaderEpoch(pm.LeaderEpoch); err != nil {
		// The epoch still starts with the first batch appended in it.
		p.storageErr.CompareAndSwap(nil, &err)
	}
	p.repMu.Lock()
	p.rl = replica.NewLeader(self, pm.LeaderEpoch, pm.PartitionEpoch, pm.Replicas, pm.ISR, durable, hw, now, lagMax)
	p.replicas, p.partEpoch = slices.Clone(pm.Replicas), pm.PartitionEpoch
	p.fetchEpochs, p.fetchStarts = nil, nil
	p.setMinISRLocked(holdMinISR)
	p.repMu.Unlock()
	p.followLeader.Store(self)
	p.leaderEpoch.Store(pm.LeaderEpoch)
	p.hasFollowers.Store(len(pm.Replicas) > 1)
	p.leading.Store(true)
	p.hwKnown.Store(true)
	if durable < leo {
		p.requestFlush() // what the follower appended last becomes durable, then counts
	}
	p.localDurable(durable)
}

// becomeFollowerLocked makes p a follower of leader at epoch (leader may
// be -1: the partition is offline and p waits). The caller holds appendMu.
func (p *partition) becomeFollowerLocked(leader, epoch int32) {
	p.leading.Store(false)
	p.repMu.Lock()
	p.rl = nil
	p.repMu.Unlock()
	p.hasFollowers.Store(false)
	p.followLeader.Store(leader)
	p.leaderEpoch.Store(epoch)
	// Parked acks=all produces of the old leadership answer
	// NOT_LEADER_OR_FOLLOWER now (their check sees the role).
	p.waiters.Progress()
}

// updateLeader applies a new ISR or partition epoch from the image to
// a partition that stays leader at the same leader epoch, a new replica
// set (a reassignment) included.
func (p *partition) updateLeader(pm *metadata.Partition, now time.Time, holdMinISR bool) {
	p.repMu.Lock()
	l := p.rl
	if l == nil {
		p.repMu.Unlock()
		return
	}
	if pm.PartitionEpoch > p.partEpoch {
		if !slices.Equal(pm.Replicas, p.replicas) {
			l.SetReplicas(pm.Replicas, pm.ISR, pm.PartitionEpoch, now)
			p.hasFollowers.Store(len(pm.Replicas) > 1)
		} else {
			// The partition changed (the ISR, perhaps by this leader's own
			// AlterPartition): that ends a change in flight. An image that
			// changed something else leaves a pending change pending.
			l.ISRCommitted(pm.ISR, pm.PartitionEpoch)
		}
		p.replicas, p.partEpoch = slices.Clone(pm.Replicas), pm.PartitionEpoch
	}
	p.setMinISRLocked(holdMinISR)
	hw := l.HighWatermark()
	p.repMu.Unlock()
	p.advanceHW(hw)
	p.waiters.Progress() // an ISR below min.insync.replicas fails parked produces
}

// setIneligible tells the leader state which followers may not join the
// ISR now (ineligibleReplicas); a high watermark they held moves on.
func (p *partition) setIneligible(ids []int32) {
	p.repMu.Lock()
	l := p.rl
	if l == nil {
		p.repMu.Unlock()
		return
	}
	moved := l.SetIneligible(ids)
	hw := l.HighWatermark()
	p.repMu.Unlock()
	if moved {
		p.advanceHW(hw)
		p.waiters.Progress()
	}
}

// setMinISRLocked applies the topic's min.insync.replicas to the high
// watermark rule (holdMinISR) or turns the rule off. repMu is held.
func (p *partition) setMinISRLocked(holdMinISR bool) {
	n := 0
	if tc := p.cfg.Load(); holdMinISR && tc != nil {
		n = tc.MinInsyncReplicas
	}
	p.rl.SetMinISR(n)
}

// localWritten tells the leader state its log end moved (the caught-up
// rule between follower fetches).
func (p *partition) localWritten(end int64) {
	p.repMu.Lock()
	if p.rl != nil {
		p.rl.LocalWritten(end)
	}
	p.repMu.Unlock()
}

// localDurable reports the leader's own durable log end (its synced end
// with fsync-on-ack, else its log end) and moves the high watermark.
func (p *partition) localDurable(end int64) {
	p.repMu.Lock()
	l := p.rl
	if l == nil {
		p.repMu.Unlock()
		return // a follower takes its leader's high watermark
	}
	l.LocalAppended(end)
	hw := l.HighWatermark()
	p.repMu.Unlock()
	p.advanceHW(hw)
}

// followerFetched records a follower's Fetch at fetchOffset (its durable log
// end) on the leader; ok is false when p is not the leader or id is not one
// of its replicas; outside: the follower is not in the committed ISR.
// brokerEpoch is the epoch the follower's fetch carried (v15+; -1 unknown),
// which an AlterPartition adding it names (KIP-903).
// logStart is the follower's log start offset (KIP-392 read-replica choice).
func (p *partition) followerFetched(id int32, fetchOffset, leo, logStart int64, now time.Time, brokerEpoch int64) (ok, outside bool) {
	p.repMu.Lock()
	l := p.rl
	if l == nil || id == p.followLeader.Load() || !slices.Contains(p.replicas, id) {
		p.repMu.Unlock()
		return false, false
	}
	if p.fetchStarts == nil {
		p.fetchStarts = map[int32]int64{}
	}
	p.fetchStarts[id] = logStart
	if brokerEpoch >= 0 {
		if p.fetchEpochs == nil {
			p.fetchEpochs = map[int32]int64{}
		}
		p.fetchEpochs[id] = brokerEpoch
	}
	l.FollowerFetched(id, fetchOffset, leo, now)
	hw := l.HighWatermark()
	outside = !slices.Contains(l.ISR(), id)
	p.repMu.Unlock()
	p.advanceHW(hw)
	return true, outside
}

// enoughReplicas reports whether the committed ISR has at least minISR
// members (true on a non-leader: the caller checks leadership).
func (p *partition) enoughReplicas(minISR int) bool {
	p.repMu.Lock()
	defer p.repMu.Unlock()
	return p.rl == nil || p.rl.EnoughReplicas(minISR)
}

// isrUpdate asks the leader state for an ISR change to propose; it marks
// the change pending.
// epochs holds, for members whose fetches named it, their broker epoch.
func (p *partition) isrUpdate(now time.Time) (isr []int32, epochs map[int32]int64, leaderEpoch, partitionEpoch int32, ok bool) {
	p.repMu.Lock()
	defer p.repMu.Unlock()
	if p.rl == nil {
		return nil, nil, 0, 0, false
	}
	isr, ok = p.rl.ISRUpdate(now)
	if !ok {
		return nil, nil, 0, 0, false
	}
	p.rl.ISRPending(isr)
	epochs = map[int32]int64{}
	for _, id := range isr {
		if e, ok := p.fetchEpochs[id]; ok {
			epochs[id] = e
		}
	}
	return isr, epochs, p.leaderEpoch.Load(), p.partEpoch, true
}

// isrAbandoned ends a change in flight that got no answer.
func (p *partition) isrAbandoned() {
	p.repMu.Lock()
	if p.rl != nil {
		p.rl.ISRAbandoned()
	}
	p.repMu.Unlock()
}

// isrCommitted tells the leader state an ISR change was decided (accepted:
// the new ISR and epoch; refused: the image's).
func (p *partition) isrCommitted(isr []int32, partitionEpoch int32) {
	p.repMu.Lock()
	l := p.rl
	if l != nil {
		l.ISRCommitted(isr, partitionEpoch)
		p.partEpoch = max(p.partEpoch, partitionEpoch)
	}
	var hw int64
	if l != nil {
		hw = l.HighWatermark()
	}
	p.repMu.Unlock()
	if l != nil {
		p.advanceHW(hw)
		p.waiters.Progress()
	}
}

// replicatedAppended records a follower's append of n bytes ending at end.
func (p *partition) replicatedAppended(end int64, n int) {
	p.marksMu.Lock()
	p.totalBytes += int64(n)
	p.marks = append(p.marks, byteMark{end: end, bytes: p.totalBytes})
	p.leoBytes.Store(p.totalBytes)
	p.marksMu.Unlock()
}

// truncatedTo lowers the high watermark to at most to after a truncation
// and forgets byte marks above it.
func (p *partition) truncatedTo(to int64) {
	p.marksMu.Lock()
	if p.hw.Load() > to {
		p.hw.Store(to)
	}
	i := len(p.marks)
	for i > 0 && p.marks[i-1].end > to {
		i--
	}
	p.marks = p.marks[:i]
	p.marksMu.Unlock()
}

// followerHW sets a follower's high watermark to min(leader's, own end):
// down too, the first time (a restarted replica opened with its whole log
// as high watermark learns how much of it was committed).
func (p *partition) followerHW(leaderHW int64) {
	hw := min(leaderHW, p.log.LogEndOffset())
	if hw < p.hw.Load() {
		p.hw.Store(hw) // hwBytes may overcount: a long poll answers early, no harm
		p.hwKnown.Store(true)
		return
	}
	p.hwKnown.Store(true)
	p.advanceHW(hw)
}

// consumerHW is the high watermark a consumer's read stops at: hw, or the
// log start on a follower that has not learned a committed one yet.
func (p *partition) consumerHW() int64 {
	if !p.hwKnown.Load() {
		return p.log.LogStartOffset()
	}
	return p.hw.Load()
}
