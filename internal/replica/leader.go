// Package replica holds the pure decisions of partition replication: the
// leader's view of its followers (their log end offsets, when each was last
// caught up), the high watermark, the ISR changes the leader asks the
// controller for, and a follower's truncation point after a leader change.
//
// Nothing here reads a clock, does I/O or starts a goroutine: the caller
// passes the time in and holds the partition's lock around every call.
//
// # Rules (Kafka's, from Partition and the replica fetcher)
//
//   - A follower's fetch offset is its durable log end offset (it syncs its
//     log before it fetches again), so the leader takes it as that
//     follower's LEO.
//   - A follower is caught up at the time of a fetch that reached the
//     leader's LEO, and also at the time of its previous fetch when this one
//     reached the leader's LEO as it was then (the follower kept up).
//   - The high watermark is the minimum LEO over the maximal ISR: the
//     committed ISR together with any member a pending AlterPartition adds
//     (a pending shrink counts only once committed). Followers outside it
//     that are caught up and could join hold it too, so that a follower about
//     to join never finds the high watermark past its log. The leader counts
//     with its durable LEO. The high watermark never moves backwards.
//   - An ISR member that has not been caught up for lagMax leaves the ISR
//     (a member whose LEO equals the leader's is caught up however long ago
//     it fetched).
//   - A follower joins the ISR when its LEO is at least the high watermark
//     and at least the leader-epoch start offset (the leader's LEO when it
//     became leader), so a follower never joins before it holds everything
//     the previous epochs may have committed. Kafka checks this as that
//     follower fetches; here it must have fetched within lagMax.
//   - A follower that may not join the ISR now (SetIneligible: its broker is
//     fenced or in controlled shutdown, Kafka's isReplicaIsrEligible) holds
//     the high watermark only as a member of the maximal ISR, and is not
//     proposed to join: a killed follower the controller fenced out of the
//     ISR does not stall acks=all until lagMax.
//   - Optionally (SetMinISR, Kafka since 3.7) the high watermark holds while
//     the committed ISR is smaller than min.insync.replicas.
//   - At most one ISR change is in flight; its answer comes back as
//     metadata with a partition epoch, and anything older than the epoch
//     already known is ignored.
package replica

import (
	"slices"
	"time"
)

// FollowerState is what the leader knows of one follower.
type FollowerState struct {
	// LEO is the follower's durable log end offset from its last fetch; -1
	// until it fetched in this leader epoch.
	LEO int64
	// LastCaughtUp is the last time it was caught up (see the package rules);
	// zero if never in this leader epoch.
	LastCaughtUp time.Time
	// LastFetch is the time of its last fetch; zero if none.
	LastFetch time.Time

	lastFetchLeaderLEO int64 // the leader's LEO at the last fetch
}

// Leader is one partition's leader-side replication state. It is not safe
// for concurrent use: the caller serializes every call.
type Leader struct {
	self           int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32
	isr            []int32 // committed (from metadata)
	pending        []int32 // the ISR an in-flight AlterPartition asks for; nil when none
	epochStart     int64   // the leader's LEO when this leader epoch began
	localDurable   int64   // the leader's contribution to the high watermark
	leo            int64   // the largest leader LEO seen
	hw             int64
	lagMax         time.Duration
	minISR         int       // with SetMinISR: the HW holds while the ISR is smaller
	ineligible     []int32   // with SetIneligible: followers that may not join the ISR now
	now            time.Time // the latest time a call passed in
	followers      map[int32]*FollowerState
}

// NewLeader starts the leader state for leader epoch leaderEpoch of a
// partition with the given replicas and committed ISR (at partitionEpoch).
// localLEO is the leader's log end offset now, durable, and becomes the
// leader-epoch start offset; hw is the high watermark the log had. ISR
// members count as caught up now (Kafka's rule when a leader starts), the
// others as never caught up. lagMax is replica.lag.time.max.ms.
func NewLeader(self int32, leaderEpoch, partitionEpoch int32, replicas, isr []int32,
	localLEO, hw int64, now time.Time, lagMax time.Duration) *Leader {
	l := &Leader{
		self: self, leaderEpoch: leaderEpoch, partitionEpoch: partitionEpoch,
		replicas: slices.Clone(replicas), isr: slices.Clone(isr),
		epochStart: localLEO, localDurable: localLEO, leo: localLEO,
		hw: min(hw, localLEO), lagMax: lagMax, now: now, followers: map[int32]*FollowerState{},
	}
	if !slices.Contains(l.isr, self) {
		l.isr = append(l.isr, self)
	}
	for _, id := range l.replicas {
		if id == self {
			continue
		}
		f := &FollowerState{LEO: -1, lastFetchLeaderLEO: -1}
		if slices.Contains(l.isr, id) {
			f.LastCaughtUp = now
		}
		l.followers[id] = f
	}
	l.hw = max(l.hw, 0)
	return l
}

// Self is the leader's broker id.
func (l *Leader) Self() int32 { return l.self }

// LeaderEpoch is the leader epoch this state was made for.
func (l *Leader) LeaderEpoch() int32 { return l.leaderEpoch }

// PartitionEpoch is the partition epoch of the committed ISR.
func (l *Leader) PartitionEpoch() int32 { return l.partitionEpoch }

// EpochStartOffset is the leader's LEO when this leader epoch began.
func (l *Leader) EpochStartOffset() int64 { return l.epochStart }

// Replicas is the partition's replica set.
func (l *Leader) Replicas() []int32 { return slices.Clone(l.replicas) }

// LocalAppended records the leader's own durable LEO (its synced end with
// fsync-before-ack, its LEO with the relaxed policy) and reports whether the
// high watermark moved.
func (l *Leader) LocalAppended(localDurableLEO int64) (hwChanged bool) {
	l.localDurable = max(l.localDurable, localDurableLEO)
	l.leo = max(l.leo, localDurableLEO)
	return l.updateHW()
}

// LocalWritten records the leader's LEO after an append that is not yet
// durable (with fsync-before-ack, LocalAppended follows once it is synced).
// It does not move the high watermark; it keeps the caught-up rule exact
// between follower fetches.
func (l *Leader) LocalWritten(leo int64) { l.leo = max(l.leo, leo) }

// SetMinISR applies Kafka's rule since 3.7 (KAFKA-15583, with KIP-966): the
// high watermark does not advance while the committed ISR is smaller than
// min(minISR, replicas), so an acks=all produce waits (and times out)
// rather than completing with NOT_ENOUGH_REPLICAS_AFTER_APPEND. 0 (the
// default) turns the rule off: the high watermark advances over whatever
// ISR there is, and the caller checks EnoughReplicas when it completes a
// produce.
func (l *Leader) SetMinISR(minISR int) { l.minISR = minISR }

// SetIneligible names the followers that may not join the ISR now (their
// brokers fenced or in controlled shutdown); it replaces the previous set
// and returns whether the high watermark moved.
func (l *Leader) SetIneligible(ids []int32) (hwChanged bool) {
	l.ineligible = slices.Clone(ids)
	return l.updateHW()
}

func (l *Leader) eligible(id int32) bool { return !slices.Contains(l.ineligible, id) }

// FollowerFetched records a follower Fetch at fetchOffset (its durable LEO).
// leaderLEO is the leader's LEO when the fetch was served. It returns
// whether the high watermark moved. A fetch from a broker that is not a
// replica is ignored.
func (l *Leader) FollowerFetched(id int32, fetchOffset int64, leaderLEO int64, now time.Time) (hwChanged bool) {
	f := l.followers[id]
	if f == nil {
		return false
	}
	l.leo = max(l.leo, leaderLEO)
	switch {
	case fetchOffset >= leaderLEO:
		f.LastCaughtUp = later(f.LastCaughtUp, now)
	case f.lastFetchLeaderLEO >= 0 && fetchOffset >= f.lastFetchLeaderLEO:
		f.LastCaughtUp = later(f.LastCaughtUp, f.LastFetch)
	}
	f.LEO = fetchOffset
	f.lastFetchLeaderLEO = leaderLEO
	f.LastFetch = now
	l.now = later(l.now, now)
	return l.updateHW()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// caughtUp is Kafka's ReplicaState.isCaughtUp.
func (l *Leader) caughtUp(f *FollowerState, now time.Time) bool {
	return f.LEO >= 0 && f.LEO >= l.leo || !f.LastCaughtUp.IsZero() && now.Sub(f.LastCaughtUp) <= l.lagMax
}

// mayJoin is Kafka's isFollowerInSync for a follower outside the ISR: its
// LEO reached the high watermark and the leader-epoch start offset. Kafka
// checks it when that follower fetches; here the follower must have
// fetched within lagMax, so that a dead replica whose LEO happens to equal
// a stuck high watermark is not added back.
func (l *Leader) mayJoin(f *FollowerState, now time.Time) bool {
	return f.LEO >= 0 && f.LEO >= l.hw && f.LEO >= l.epochStart &&
		!f.LastFetch.IsZero() && now.Sub(f.LastFetch) <= l.lagMax
}

// updateHW recomputes the high watermark. Eligible followers outside the
// maximal ISR that are caught up at the latest time seen hold it too.
func (l *Leader) updateHW() bool {
	if l.minISR > 0 && len(l.isr) < min(l.minISR, len(l.replicas)) {
		return false
	}
	hw := l.localDurable
	for id, f := range l.followers {
		inMax := slices.Contains(l.isr, id) || slices.Contains(l.pending, id)
		if followersHoldHW && (inMax || l.eligible(id) && l.caughtUp(f, l.now)) {
			hw = min(hw, f.LEO)
		}
	}
	if hw > l.hw {
		l.hw = hw
		return true
	}
	return false
}

// HighWatermark is the current high watermark.
func (l *Leader) HighWatermark() int64 { return l.hw }

// ISR is the committed ISR (from metadata).
func (l *Leader) ISR() []int32 { return slices.Clone(l.isr) }

// MaximalISR is the committed ISR together with the members a pending
// change adds (Kafka's "maximal ISR"), over which the high watermark is
// computed.
func (l *Leader) MaximalISR() []int32 {
	m := slices.Clone(l.isr)
	for _, id := range l.pending {
		if !slices.Contains(m, id) {
			m = append(m, id)
		}
	}
	return m
}

// Pending returns the ISR an in-flight change asks for, if one is in flight.
func (l *Leader) Pending() ([]int32, bool) {
	return slices.Clone(l.pending), l.pending != nil
}

// ISRUpdate returns the ISR the leader wants the controller to commit now:
// the committed ISR without the members not caught up for lagMax, with the
// followers whose LEO is at least the high watermark and the leader-epoch
// start offset and that fetched within lagMax. ok is false when that is the committed ISR or a change is
// already in flight. The leader itself always stays. Members keep the
// replica order.
func (l *Leader) ISRUpdate(now time.Time) (isr []int32, ok bool) {
	l.now = later(l.now, now)
	if l.pending != nil {
		return nil, false
	}
	changed := false
	for _, id := range l.replicas {
		f := l.followers[id]
		in := slices.Contains(l.isr, id)
		switch {
		case id == l.self:
			in = true
		case in && !l.caughtUp(f, now):
			in, changed = false, true
		case !in && l.eligible(id) && l.mayJoin(f, now):
			in, changed = true, true
		}
		if in {
			isr = append(isr, id)
		}
	}
	// Members outside the replica set (a reassignment's leftovers) stay.
	for _, id := range l.isr {
		if !slices.Contains(l.replicas, id) {
			isr = append(isr, id)
		}
	}
	if !changed {
		return nil, false
	}
	return isr, true
}

// ISRPending records that an AlterPartition asking for isr was sent. Until
// ISRCommitted, ISRUpdate proposes nothing and the high watermark counts the
// members isr adds.
func (l *Leader) ISRPending(isr []int32) {
	l.pending = slices.Clone(isr)
	if l.pending == nil {
		l.pending = []int32{}
	}
}

// ISRCommitted applies the ISR that metadata holds at partitionEpoch: an
// accepted change, or, after a rejection, the current ISR again. Either
// ends the change in flight. An answer older than the partition epoch
// already applied is ignored. It returns whether the high watermark moved
// (a smaller ISR may let it advance).
func (l *Leader) ISRCommitted(isr []int32, partitionEpoch int32) (hwChanged bool) {
	if partitionEpoch < l.partitionEpoch {
		return false
	}
	l.partitionEpoch = partitionEpoch
	l.isr = slices.Clone(isr)
	l.pending = nil
	return l.updateHW()
}

// EnoughReplicas reports whether the committed ISR has at least minISR
// members (min.insync.replicas): a produce with acks=all is refused with
// NOT_ENOUGH_REPLICAS when it has not, and a waiting one whose offsets the
// high watermark passed completes with NOT_ENOUGH_REPLICAS_AFTER_APPEND.
func (l *Leader) EnoughReplicas(minISR int) bool { return len(l.isr) >= minISR }

// Follower returns what the leader knows of follower id.
func (l *Leader) Follower(id int32) (FollowerState, bool) {
	f := l.followers[id]
	if f == nil {
		return FollowerState{}, false
	}
	return *f, true
}

// ISRAbandoned ends the change in flight without an answer (the request
// failed and will not be retried as it was): the committed ISR stays and
// ISRUpdate may propose again.
func (l *Leader) ISRAbandoned() { l.pending = nil }

// SetReplicas applies a new replica set (a reassignment) with the ISR and
// partition epoch metadata holds, keeping this leader epoch: its start
// offset, the high watermark and what is known of the followers that stay.
// A new follower starts unknown and never caught up, unless the ISR names
// it (then caught up now). Like ISRCommitted, it ends a change in flight and
// ignores a partition epoch older than the one applied; it returns whether
// the high watermark moved.
func (l *Leader) SetReplicas(replicas, isr []int32, partitionEpoch int32, now time.Time) (hwChanged bool) {
	if partitionEpoch < l.partitionEpoch {
		return false
	}
	l.now = later(l.now, now)
	l.replicas = slices.Clone(replicas)
	for id := range l.followers {
		if !slices.Contains(replicas, id) {
			delete(l.followers, id)
		}
	}
	for _, id := range replicas {
		if id == l.self || l.followers[id] != nil {
			continue
		}
		f := &FollowerState{LEO: -1, lastFetchLeaderLEO: -1}
		if slices.Contains(isr, id) {
			f.LastCaughtUp = now
		}
		l.followers[id] = f
	}
	return l.ISRCommitted(isr, partitionEpoch)
}
