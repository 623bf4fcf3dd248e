package controller

// Leader election and partition changes, after Kafka's
// PartitionChangeBuilder.
//
// The ISR belongs to the partition leader: it grows and shrinks it with
// AlterPartition (alterpartition.go). The controller changes it only when
// a broker leaves (fenced, controlled shutdown, unregistered: it drops out
// of the ISRs it is in) and when it must elect a leader outside the ISR.
// Every event that changes which brokers may lead builds a change with
// newChange, adjusts the target ISR, replicas or election kind, and build
// returns the PartitionChange record (nil when nothing moves). A leader
// change bumps the leader epoch when the record is applied, so a deposed
// leader's requests are fenced.
//
// Elections (electLeader) pick, in order: an acceptable ISR member (the
// current leader first, or the preferred replica for a preferred
// election); with eligible leader replicas (KIP-966) an acceptable ELR
// member, then (ISR and ELR empty) an acceptable last known ELR member,
// either of which becomes the whole ISR; with unclean election
// (unclean.leader.election.enable, or an UNCLEAN ElectLeaders) any
// acceptable replica, which becomes the whole ISR; else no leader (-1).
//
// Without ELR the ISR never becomes empty: the last member stays while
// the partition is offline, and leads again when it comes back. With ELR
// the ISR may empty; a replica leaving an ISR that is then below the
// effective min.insync.replicas joins the ELR (the high watermark cannot
// have advanced without it), and the ELR is cleared once the ISR is back
// at min.insync.replicas.

import (
	"slices"
	"strconv"

	"github.com/samsa-io/samsa/internal/metadata"
)

// FeatureELR is the feature that turns on eligible leader replicas.
// Kafka enables it (level 1) on new clusters since 4.1, and so does samsa
// (BootstrapFeatures); on a cluster whose log began without it samsa
// takes the unfinalized feature as enabled, and level 0 as disabled.
const FeatureELR = "eligible.leader.replicas.version"

// ELREnabled reports whether the image's cluster tracks eligible leader replicas.
func ELREnabled(im *metadata.Image) bool {
	v, ok := im.Feature(FeatureELR)
	return !ok || v >= 1
}

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
	// takes the first acceptable ISR member in replica order.
	electOnline election = iota
	// electPreferred moves leadership to the preferred (first) replica when
	// it is an acceptable ISR member.
	electPreferred
	// electUnclean is electOnline that may, as a last resort, pick any
	// acceptable replica (an UNCLEAN ElectLeaders).
	electUnclean
)

// rules are the topic settings elections follow.
type rules struct {
	minISR  int  // effective min.insync.replicas: at most the replication factor
	unclean bool // unclean.leader.election.enable
	elr     bool // eligible leader replicas tracked
}

// topicRules reads a partition's rules: the topic's dynamic configs over
// the broker defaults (Config.TopicReplication).
func topicRules(cfg *Config, im *metadata.Image, t *metadata.Topic, p *metadata.Partition) rules {
	return topicBase(cfg, im, t).capped(p)
}

// topicBase is the topic's part of the rules: min.insync.replicas as
// configured (not yet capped).
func topicBase(cfg *Config, im *metadata.Image, t *metadata.Topic) rules {
	overrides := im.Configs(metadata.ResourceTopic, t.Name)
	var r rules
	if cfg != nil && cfg.TopicReplication != nil {
		r.minISR, r.unclean = cfg.TopicReplication(overrides)
	} else {
		r.minISR, r.unclean = 1, false
		if cfg != nil {
			r.minISR, r.unclean = max(cfg.MinInsyncReplicas, 1), cfg.UncleanLeaderElection
		}
		if v, ok := overrides["min.insync.replicas"]; ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 1 {
				r.minISR = n
			}
		}
		if v, ok := overrides["unclean.leader.election.enable"]; ok {
			r.unclean = v == "true"
		}
	}
	r.elr = ELREnabled(im)
	return r
}

// capped caps min.insync.replicas at the partition's (target)
// replication factor, as Kafka's effective min ISR.
func (r rules) capped(p *metadata.Partition) rules {
	if n := len(p.TargetReplicas()); r.minISR > n {
		r.minISR = n
	}
	r.minISR = max(r.minISR, 1)
	return r
}

// rulesMemo reads each topic's rules once per decision (resolving a
// topic's configs is not free, and a decision may visit every partition).
type rulesMemo struct {
	cfg  *Config
	im   *metadata.Image
	base map[*metadata.Topic]rules
}

func newRulesMemo(cfg *Config, im *metadata.Image) *rulesMemo {
	return &rulesMemo{cfg: cfg, im: im, base: map[*metadata.Topic]rules{}}
}

func (m *rulesMemo) of(t *metadata.Topic, idx int) rules {
	b, ok := m.base[t]
	if !ok {
		b = topicBase(m.cfg, m.im, t)
		m.base[t] = b
	}
	return b.capped(&t.Partitions[idx])
}

// change is one partition's pending change (Kafka's PartitionChangeBuilder).
type change struct {
	t   *metadata.Topic
	idx int
	p   *metadata.Partition

	accept   acceptFunc
	election election
	r        rules

	isr              []int32 // target ISR
	replicas         []int32 // target replica list
	adding, removing []int32 // target reassignment moves
	elr, lastKnown   []int32 // target ELR lists (before the election's own update)
	dropped          []int32 // brokers that may not be in the ELR lists (unregistered)
	// completeReassignment: finish a reassignment whose target replicas
	// are all in the ISR (AlterPartition, and a move that adds nothing).
	completeReassignment bool
	// bumpLeaderEpoch forces a new leader epoch even when the leader
	// stays (build sets it when replicas are removed: they must stop
	// fetching).
	bumpLeaderEpoch bool

	// set by build
	uncleanElected bool
}

func newChange(r rules, t *metadata.Topic, idx int, accept acceptFunc, e election) *change {
	p := &t.Partitions[idx]
	return &change{t: t, idx: idx, p: p, accept: accept, election: e, r: r,
		isr: slices.Clone(p.ISR), replicas: p.Replicas, adding: p.AddingReplicas, removing: p.RemovingReplicas,
		elr: p.ELR, lastKnown: p.LastKnownELR}
}

// removeFromISR takes id out of the target ISR, keeping the last member
// when ELR is off (Kafka's rule: the ISR never empties then).
func (c *change) removeFromISR(id int32) {
	next := without(c.isr, id)
	if len(next) == 0 && !c.r.elr {
		return
	}
	c.isr = next
}

// removeFromELR takes id out of the ELR and last known ELR (unregistered).
func (c *change) removeFromELR(id int32) {
	c.elr, c.lastKnown = without(c.elr, id), without(c.lastKnown, id)
	c.dropped = append(c.dropped, id)
}

// electLeader picks the leader for the target state, and the ISR that
// goes with it (reset to the leader when it comes from outside the ISR).
func (c *change) electLeader() (int32, []int32) {
	inReplicas := func(r int32) bool { return slices.Contains(c.replicas, r) }
	valid := func(r int32) bool { return r >= 0 && c.accept(r) && inReplicas(r) && slices.Contains(c.isr, r) }
	if c.election == electPreferred && len(c.replicas) > 0 && valid(c.replicas[0]) {
		return c.replicas[0], c.isr
	}
	if valid(c.p.Leader) {
		return c.p.Leader, c.isr
	}
	for _, r := range c.replicas {
		if valid(r) {
			return r, c.isr
		}
	}
	if c.r.elr {
		for _, r := range c.replicas {
			if slices.Contains(c.elr, r) && c.accept(r) {
				return r, []int32{r}
			}
		}
		// With ISR and ELR empty, a last known ELR member that is back
		// leads, as every last replica did before ELR.
		if len(c.isr) == 0 && len(c.elr) == 0 {
			for _, r := range c.replicas {
				if slices.Contains(c.lastKnown, r) && c.accept(r) {
					return r, []int32{r}
				}
			}
		}
	}
	if c.r.unclean || c.election == electUnclean {
		for _, r := range c.replicas {
			if c.accept(r) {
				c.uncleanElected = true
				return r, []int32{r}
			}
		}
	}
	return metadata.NoLeader, c.isr
}

// maybeCompleteReassignment finishes a reassignment whose target replicas
// are all in the target ISR (so the ISR after it holds at least the
// effective min.insync.replicas, KIP-966's condition): replicas become the
// target, the removed replicas leave the ISR and ELR (build then moves the
// leader epoch on).
func (c *change) maybeCompleteReassignment() {
	if !c.completeReassignment || (len(c.adding) == 0 && len(c.removing) == 0) {
		return
	}
	var target []int32
	for _, r := range c.replicas {
		if !slices.Contains(c.removing, r) {
			target = append(target, r)
		}
	}
	for _, r := range target {
		if !slices.Contains(c.isr, r) {
			return
		}
	}
	c.replicas, c.adding, c.removing = target, nil, nil
	c.isr = intersect(c.isr, target)
	c.elr, c.lastKnown = intersect(c.elr, target), intersect(c.lastKnown, target)
}

// targetELR is KIP-966's ELR after the change to isr: the old ELR plus
// the replicas that left the ISR while it is below min.insync.replicas;
// empty once the ISR is back at it, or after an unclean election.
func (c *change) targetELR(isr []int32) (elr, lastKnown []int32) {
	if !c.r.elr || c.uncleanElected {
		return nil, nil
	}
	if len(isr) >= c.r.minISR {
		return nil, nil
	}
	for _, r := range c.replicas {
		was := slices.Contains(c.elr, r) || (slices.Contains(c.p.ISR, r) && !slices.Contains(isr, r))
		if was && !slices.Contains(isr, r) && !slices.Contains(c.dropped, r) {
			elr = append(elr, r)
		}
	}
	for _, r := range c.lastKnown {
		if !slices.Contains(elr, r) && !slices.Contains(isr, r) && slices.Contains(c.replicas, r) {
			lastKnown = append(lastKnown, r)
		}
	}
	return elr, lastKnown
}

// build returns the PartitionChange record that brings the partition to
// the target, or nil when nothing changes. It also returns the leader
// chosen.
func (c *change) build() (*metadata.Record, int32) {
	c.maybeCompleteReassignment()
	leader, isr := c.electLeader()
	elr, lastKnown := c.targetELR(isr)
	p := c.p
	for _, r := range p.Replicas {
		if !slices.Contains(c.replicas, r) {
			c.bumpLeaderEpoch = true // a removed replica must stop fetching
		}
	}
	rec := &metadata.PartitionChangeRecord{TopicID: c.t.ID, Partition: int32(c.idx), Leader: metadata.NoLeaderChange}
	changed := false
	if leader != p.Leader || c.bumpLeaderEpoch {
		rec.Leader, changed = leader, true
	}
	set := func(dst *[]int32, target, cur []int32) {
		if !slices.Equal(target, cur) {
			*dst = append([]int32{}, target...)
			changed = true
		}
	}
	set(&rec.ISR, isr, p.ISR)
	set(&rec.Replicas, c.replicas, p.Replicas)
	set(&rec.AddingReplicas, c.adding, p.AddingReplicas)
	set(&rec.RemovingReplicas, c.removing, p.RemovingReplicas)
	set(&rec.ELR, elr, p.ELR)
	set(&rec.LastKnownELR, lastKnown, p.LastKnownELR)
	if !changed {
		return nil, leader
	}
	return &metadata.Record{Type: metadata.TypePartitionChange, PartitionChange: rec}, leader
}

func without(v []int32, id int32) []int32 {
	var out []int32
	for _, x := range v {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

func intersect(v, keep []int32) []int32 {
	var out []int32
	for _, x := range v {
		if slices.Contains(keep, x) {
			out = append(out, x)
		}
	}
	return out
}

// brokerLeaves is a broker leaving (fenced, controlled shutdown,
// unregistered): in every partition it leads or is in the ISR of, it
// drops out of the ISR and the partition elects from what is left;
// dropELR also takes it out of the ELRs (unregistered). In topic-name and
// partition order.
func brokerLeaves(cfg *Config, im *metadata.Image, id int32, dropELR bool) []metadata.Record {
	accept := activeBrokers(im, id, metadata.NoLeader)
	memo := newRulesMemo(cfg, im)
	var recs []metadata.Record
	for _, t := range im.Topics() {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			inELR := slices.Contains(p.ELR, id) || slices.Contains(p.LastKnownELR, id)
			if p.Leader != id && !slices.Contains(p.ISR, id) && !(dropELR && inELR) {
				continue
			}
			c := newChange(memo.of(t, i), t, i, accept, electOnline)
			c.removeFromISR(id)
			if dropELR {
				c.removeFromELR(id)
			}
			if r, _ := c.build(); r != nil {
				recs = append(recs, *r)
			}
		}
	}
	return recs
}

// brokerReturns is a broker unfenced: it does not rejoin any ISR (its
// leaders add it back with AlterPartition), but a partition without a
// leader that it can now lead elects it (the ISR's last member back, an
// ELR member, or with unclean election any replica).
func brokerReturns(cfg *Config, im *metadata.Image, id int32, accept acceptFunc) []metadata.Record {
	memo := newRulesMemo(cfg, im)
	var recs []metadata.Record
	for _, t := range im.Topics() {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if p.Leader != metadata.NoLeader || !slices.Contains(p.Replicas, id) {
				continue
			}
			if r, _ := newChange(memo.of(t, i), t, i, accept, electOnline).build(); r != nil {
				recs = append(recs, *r)
			}
		}
	}
	return recs
}

// uncleanShutdownRecords drops a broker whose previous incarnation did
// not shut down cleanly from the ELRs (KIP-966: it may have lost
// committed records), remembering it in the last known ELR.
func uncleanShutdownRecords(im *metadata.Image, id int32) []metadata.Record {
	if !ELREnabled(im) {
		return nil
	}
	var recs []metadata.Record
	for _, t := range im.Topics() {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if !slices.Contains(p.ELR, id) {
				continue
			}
			rec := &metadata.PartitionChangeRecord{TopicID: t.ID, Partition: int32(i), Leader: metadata.NoLeaderChange,
				ELR: append([]int32{}, without(p.ELR, id)...)}
			if !slices.Contains(p.LastKnownELR, id) {
				rec.LastKnownELR = append(slices.Clone(p.LastKnownELR), id)
			}
			recs = append(recs, metadata.Record{Type: metadata.TypePartitionChange, PartitionChange: rec})
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

// preferredElectable reports whether partition p's preferred replica can
// take leadership: active and in the ISR.
func preferredElectable(p *metadata.Partition, accept acceptFunc) bool {
	return len(p.Replicas) > 0 && accept(p.Replicas[0]) && slices.Contains(p.ISR, p.Replicas[0])
}

// DecideRebalance moves leadership back to preferred replicas (Kafka's
// auto.leader.rebalance.enable): for each broker, among the partitions
// whose preferred replica it is, the share led by another broker is its
// imbalance; above percent (leader.imbalance.per.broker.percentage), every
// such partition whose preferred replica can lead (active, in the ISR)
// gets it back. percent 0 moves every one.
func DecideRebalance(cfg *Config, im *metadata.Image, percent int) []metadata.Record {
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
	memo := newRulesMemo(cfg, im)
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
			if !preferredElectable(&x.t.Partitions[x.idx], accept) {
				continue
			}
			if r, leader := newChange(memo.of(x.t, x.idx), x.t, x.idx, accept, electPreferred).build(); r != nil && leader == b {
				recs = append(recs, *r)
			}
		}
	}
	return recs
}
