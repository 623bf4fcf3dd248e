// Package group holds the consumer-group coordinator's decisions: the
// classic group state machine (JoinGroup/SyncGroup/Heartbeat/LeaveGroup,
// KIP-345 static members, KIP-394 member id required), the committed
// offsets, and the record formats of the __consumer_offsets topic.
//
// Everything here is pure (style.md habit 1): no goroutines, no I/O, no
// clock. Callers pass `now` into every method and read back what must
// happen: replies to send (JoinGroup/SyncGroup answers are often deferred
// until other members act), whether the group must be persisted, and when
// Tick must be called next (Deadline). The broker's coordinator runtime
// does the I/O and owns the timers.
//
// Error results are Kafka error codes (int16) from kerr, because they are
// what the protocol carries; 0 is success.
package group

import (
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// State is a classic group's state (Kafka's ClassicGroupState).
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

// String is the name DescribeGroups and ListGroups report.
func (s State) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

// Config holds the broker settings a group obeys.
type Config struct {
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: the first
	// rebalance of an empty group waits this long for more members, and
	// again for each member that joins meanwhile, up to the rebalance
	// timeout.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound a member's session
	// timeout (group.min/max.session.timeout.ms).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// MaxSize is group.max.size (0: unbounded).
	MaxSize int
	// NewMemberID returns a fresh member id; Kafka uses clientId + "-" +
	// a random UUID. Injected so tests are deterministic.
	NewMemberID func(clientID string) string
}

// Protocol is one assignment protocol a member supports, in preference order.
type Protocol struct {
	Name     string
	Metadata []byte
}

// Member is one member of a classic group.
type Member struct {
	ID               string
	InstanceID       *string // static membership (KIP-345)
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	Protocols        []Protocol
	Assignment       []byte

	// joinTo is the token of a JoinGroup waiting for the rebalance to
	// complete (nil: not awaiting join); syncTo likewise for SyncGroup.
	joinTo, syncTo any
	// expires is when the session ends without a heartbeat.
	expires time.Time
	// synced: the member sent SyncGroup for the current generation.
	synced bool
}

// Reply is a deferred answer: To is the token the caller passed with the
// request (the runtime maps it back to a connection).
type Reply struct {
	To   any
	Join *JoinResult
	Sync *SyncResult
}

// Effects is what a call asks the runtime to do.
type Effects struct {
	Replies []Reply
	// Persist: the group's metadata changed in a way that must be written
	// to __consumer_offsets (a generation completed or the group emptied).
	// The runtime writes Snapshot() and sends Replies only once it is
	// durable, as Kafka answers SyncGroup after the append.
	Persist bool
}

func (e *Effects) add(o Effects) {
	e.Replies = append(e.Replies, o.Replies...)
	e.Persist = e.Persist || o.Persist
}

// Group is one classic group.
type Group struct {
	ID           string
	cfg          *Config
	state        State
	generation   int32
	protocolType string // "" until the first member joins
	protocol     string // chosen at each generation
	leader       string
	members      map[string]*Member
	static       map[string]string    // instance id → member id
	pending      map[string]time.Time // KIP-394 member ids handed out, awaiting their join
	// rebalanceDeadline ends PreparingRebalance (or CompletingRebalance:
	// members that have not synced by then are removed).
	rebalanceDeadline time.Time
	// initialDelay: the rebalance was started from Empty and still
	// waits for group.initial.rebalance.delay.ms; initialMax caps it.
	initialDelay bool
	initialMax   time.Time
	// emptySince is when the group last became Empty (offset expiry).
	emptySince time.Time
}

// New returns an empty group.
func New(id string, cfg *Config, now time.Time) *Group {
	return &Group{ID: id, cfg: cfg, members: map[string]*Member{}, static: map[string]string{},
		pending: map[string]time.Time{}, emptySince: now}
}

// State returns the group's state.
func (g *Group) State() State { return g.state }

// Generation returns the current generation id.
func (g *Group) Generation() int32 { return g.generation }

// ProtocolType returns the group's protocol type ("consumer", "connect", or "").
func (g *Group) ProtocolType() string { return g.protocolType }

// Protocol returns the protocol chosen for the current generation.
func (g *Group) Protocol() string { return g.protocol }

// Leader returns the leader's member id.
func (g *Group) Leader() string { return g.leader }

// EmptySince is when the group last became Empty.
func (g *Group) EmptySince() time.Time { return g.emptySince }

// Members returns the members sorted by id.
func (g *Group) Members() []*Member {
	out := make([]*Member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// MemberProtocol returns m's metadata for the group's chosen protocol.
func (g *Group) MemberProtocol(m *Member) []byte {
	for _, p := range m.Protocols {
		if p.Name == g.protocol {
			return p.Metadata
		}
	}
	return nil
}

// Deadline is when Tick must next run (zero: no timer needed).
func (g *Group) Deadline() time.Time {
	var d time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if g.state == PreparingRebalance || g.state == CompletingRebalance {
		earliest(g.rebalanceDeadline)
	}
	for _, m := range g.members {
		if m.joinTo == nil {
			earliest(m.expires)
		}
	}
	for _, exp := range g.pending {
		earliest(exp)
	}
	return d
}

// Tick expires sessions and ends rebalances whose time is up.
func (g *Group) Tick(now time.Time) Effects {
	var eff Effects
	for id, exp := range g.pending {
		if !now.Before(exp) {
			delete(g.pending, id)
		}
	}
	for _, m := range g.Members() {
		if m.joinTo == nil && !now.Before(m.expires) && g.state != Dead {
			eff.add(g.removeMember(now, m, "session timeout"))
		}
	}
	if (g.state == PreparingRebalance || g.state == CompletingRebalance) && !now.Before(g.rebalanceDeadline) {
		if g.state == PreparingRebalance {
			eff.add(g.completeJoin(now, true))
		} else {
			eff.add(g.syncTimedOut(now))
		}
	}
	return eff
}

// syncTimedOut removes the members that did not send SyncGroup within the
// rebalance timeout and starts over (Kafka's pending-sync expiration).
func (g *Group) syncTimedOut(now time.Time) Effects {
	var eff Effects
	for _, m := range g.Members() {
		if !m.synced {
			eff.add(g.removeMember(now, m, "no SyncGroup within the rebalance timeout"))
		}
	}
	if g.state == CompletingRebalance {
		eff.add(g.prepareRebalance(now))
	}
	return eff
}

// removeMember drops m (left, expired or fenced) and moves the group on.
func (g *Group) removeMember(now time.Time, m *Member, _ string) Effects {
	var eff Effects
	if g.members[m.ID] != m {
		// Already gone: an earlier removal in the same pass completed a
		// join that dropped it.
		return eff
	}
	if m.joinTo != nil {
		eff.Replies = append(eff.Replies, Reply{To: m.joinTo, Join: &JoinResult{Err: kerr.UnknownMemberID.Code, MemberID: m.ID}})
	}
	if m.syncTo != nil {
		eff.Replies = append(eff.Replies, Reply{To: m.syncTo, Sync: &SyncResult{Err: kerr.UnknownMemberID.Code}})
	}
	delete(g.members, m.ID)
	if m.InstanceID != nil && g.static[*m.InstanceID] == m.ID {
		delete(g.static, *m.InstanceID)
	}
	switch g.state {
	case Stable, CompletingRebalance:
		eff.add(g.prepareRebalance(now))
	case PreparingRebalance:
		eff.add(g.maybeCompleteJoin(now))
	}
	return eff
}

// prepareRebalance enters PreparingRebalance. Pending SyncGroups are
// answered REBALANCE_IN_PROGRESS so their members rejoin.
func (g *Group) prepareRebalance(now time.Time) Effects {
	var eff Effects
	for _, m := range g.members {
		if m.syncTo != nil {
			eff.Replies = append(eff.Replies, Reply{To: m.syncTo, Sync: &SyncResult{Err: kerr.RebalanceInProgress.Code}})
			m.syncTo = nil
		}
	}
	if g.state == Empty {
		// First rebalance: wait for more members (InitialDelayedJoin).
		g.initialDelay = g.cfg.InitialRebalanceDelay > 0
		g.initialMax = now.Add(g.maxRebalanceTimeout())
		g.rebalanceDeadline = minTime(now.Add(g.cfg.InitialRebalanceDelay), g.initialMax)
	} else {
		g.initialDelay = false
		g.rebalanceDeadline = now.Add(g.maxRebalanceTimeout())
	}
	g.state = PreparingRebalance
	eff.add(g.maybeCompleteJoin(now))
	return eff
}

func (g *Group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.RebalanceTimeout)
	}
	return d
}

// maybeCompleteJoin completes the join phase once every member has
// rejoined and no KIP-394 member is still on its way (unless the initial
// delay still runs).
func (g *Group) maybeCompleteJoin(now time.Time) Effects {
	if g.state != PreparingRebalance || g.initialDelay {
		return Effects{}
	}
	for _, m := range g.members {
		if m.joinTo == nil {
			return Effects{}
		}
	}
	if len(g.pending) > 0 {
		return Effects{}
	}
	return g.completeJoin(now, false)
}

// completeJoin ends PreparingRebalance: members that did not rejoin are
// dropped (static ones stay, KIP-345), the generation advances and every
// waiting JoinGroup is answered; the leader gets the member list.
func (g *Group) completeJoin(now time.Time, deadline bool) Effects {
	var eff Effects
	if deadline && g.initialDelay {
		// The initial delay ran out: extend it while members keep
		// arriving, else carry on as a normal join.
		g.initialDelay = false
		if g.allJoined() || !now.Before(g.initialMax) {
			return g.completeJoin(now, false)
		}
		g.rebalanceDeadline = g.initialMax
		return eff
	}
	for _, m := range g.Members() {
		if m.joinTo == nil && m.InstanceID == nil {
			delete(g.members, m.ID)
		}
	}
	g.pending = map[string]time.Time{}
	g.generation++
	if len(g.members) == 0 {
		g.toEmpty(now)
		eff.Persist = true
		return eff
	}
	g.protocol = g.selectProtocol()
	if _, ok := g.members[g.leader]; !ok || g.members[g.leader].joinTo == nil {
		g.leader = g.firstJoined()
	}
	g.state = CompletingRebalance
	g.rebalanceDeadline = now.Add(g.maxRebalanceTimeout())
	for _, m := range g.Members() {
		m.synced = false
		m.Assignment = nil
		if m.joinTo == nil {
			continue
		}
		res := g.joinResult(m)
		eff.Replies = append(eff.Replies, Reply{To: m.joinTo, Join: res})
		m.joinTo = nil
		m.expires = now.Add(m.SessionTimeout)
	}
	return eff
}

func (g *Group) allJoined() bool {
	for _, m := range g.members {
		if m.joinTo == nil {
			return false
		}
	}
	return len(g.pending) == 0
}

func (g *Group) firstJoined() string {
	for _, m := range g.Members() {
		if m.joinTo != nil {
			return m.ID
		}
	}
	return g.Members()[0].ID
}

func (g *Group) toEmpty(now time.Time) {
	g.state = Empty
	g.protocol = ""
	g.leader = ""
	g.emptySince = now
}

// joinResult is m's JoinGroup answer for the current generation.
func (g *Group) joinResult(m *Member) *JoinResult {
	res := &JoinResult{Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol,
		Leader: g.leader, MemberID: m.ID}
	if m.ID == g.leader {
		for _, o := range g.Members() {
			res.Members = append(res.Members, JoinMember{ID: o.ID, InstanceID: o.InstanceID, Metadata: g.MemberProtocol(o)})
		}
	}
	return res
}

// selectProtocol picks the protocol every member supports with the most
// votes, each member voting for its most preferred candidate (Kafka's
// ClassicGroup.selectProtocol).
func (g *Group) selectProtocol() string {
	candidates := g.commonProtocols()
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.Protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// commonProtocols are the protocol names every member supports, in the
// order of some member's preference (sorted for determinism).
func (g *Group) commonProtocols() []string {
	var common []string
	first := true
	for _, m := range g.Members() {
		names := protocolNames(m.Protocols)
		if first {
			common, first = names, false
			continue
		}
		common = slices.DeleteFunc(common, func(n string) bool { return !slices.Contains(names, n) })
	}
	return common
}

func protocolNames(ps []Protocol) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
