package group

import (
	"bytes"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// JoinRequest is a JoinGroup, version-independent.
type JoinRequest struct {
	Version          int16 // v4+: a new dynamic member first gets MEMBER_ID_REQUIRED (KIP-394)
	MemberID         string
	InstanceID       *string
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string
	Protocols        []Protocol
}

// JoinResult is a JoinGroup answer.
type JoinResult struct {
	Err          int16
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	MemberID     string
	Members      []JoinMember // the leader's only
	// SkipAssignment (v9+): a static leader rejoined a stable group; it
	// gets the members but must not compute a new assignment.
	SkipAssignment bool
}

// JoinMember is one member as the leader sees it.
type JoinMember struct {
	ID         string
	InstanceID *string
	Metadata   []byte
}

func joinErr(to any, code int16, memberID string) Effects {
	return Effects{Replies: []Reply{{To: to, Join: &JoinResult{Err: code, Generation: -1, MemberID: memberID}}}}
}

// Join handles a JoinGroup. The answer comes back in Effects.Replies,
// now or from a later call, addressed to `to`.
func (g *Group) Join(now time.Time, req JoinRequest, to any) Effects {
	switch {
	case g.state == Dead:
		return joinErr(to, kerr.CoordinatorNotAvailable.Code, req.MemberID)
	case req.SessionTimeout < g.cfg.MinSessionTimeout || req.SessionTimeout > g.cfg.MaxSessionTimeout:
		return joinErr(to, kerr.InvalidSessionTimeout.Code, req.MemberID)
	case !g.supports(req.ProtocolType, req.Protocols):
		return joinErr(to, kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	if req.MemberID == "" {
		return g.joinNew(now, req, to)
	}
	return g.joinKnown(now, req, to)
}

// supports reports whether a member with these protocols may join.
func (g *Group) supports(protocolType string, ps []Protocol) bool {
	if protocolType == "" || len(ps) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	common := g.commonProtocols()
	for _, p := range ps {
		for _, c := range common {
			if p.Name == c {
				return true
			}
		}
	}
	return false
}

func (g *Group) full() bool {
	return g.cfg.MaxSize > 0 && len(g.members)+len(g.pending) >= g.cfg.MaxSize
}

// joinNew admits a member that has no member id yet.
func (g *Group) joinNew(now time.Time, req JoinRequest, to any) Effects {
	if req.InstanceID != nil {
		if old, ok := g.static[*req.InstanceID]; ok {
			return g.replaceStatic(now, g.members[old], req, to)
		}
	}
	if g.full() {
		return joinErr(to, kerr.GroupMaxSizeReached.Code, "")
	}
	id := g.cfg.NewMemberID(req.ClientID)
	if req.InstanceID == nil && req.Version >= 4 {
		// KIP-394: hand out the id and wait for the member to come back
		// with it, so a client that times out never leaves a ghost.
		g.pending[id] = now.Add(req.SessionTimeout)
		return joinErr(to, kerr.MemberIDRequired.Code, id)
	}
	return g.addMember(now, id, req, to)
}

// joinKnown handles a JoinGroup carrying a member id.
func (g *Group) joinKnown(now time.Time, req JoinRequest, to any) Effects {
	if req.InstanceID != nil {
		if cur, ok := g.static[*req.InstanceID]; ok && cur != req.MemberID {
			return joinErr(to, kerr.FencedInstanceID.Code, req.MemberID)
		}
	}
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		return g.addMember(now, req.MemberID, req, to)
	}
	m := g.members[req.MemberID]
	if m == nil {
		return joinErr(to, kerr.UnknownMemberID.Code, req.MemberID)
	}
	changed := !sameProtocols(m.Protocols, req.Protocols)
	switch g.state {
	case PreparingRebalance:
		return g.updateAndAwait(now, m, req, to)
	case CompletingRebalance, Stable:
		if changed || (g.state == Stable && m.ID == g.leader) {
			eff := g.updateAndAwait(now, m, req, to)
			eff.add(g.prepareRebalance(now))
			return eff
		}
		// Nothing changed: the member lost our answer; repeat it.
		m.expires = now.Add(m.SessionTimeout)
		return Effects{Replies: []Reply{{To: to, Join: g.joinResult(m)}}}
	}
	return joinErr(to, kerr.UnknownMemberID.Code, req.MemberID)
}

// updateAndAwait records m's new join and parks it until the join phase
// completes. A join already parked for m is superseded.
func (g *Group) updateAndAwait(now time.Time, m *Member, req JoinRequest, to any) Effects {
	var eff Effects
	if m.joinTo != nil {
		eff.Replies = append(eff.Replies, Reply{To: m.joinTo, Join: &JoinResult{Err: kerr.RebalanceInProgress.Code, Generation: -1, MemberID: m.ID}})
	}
	m.Protocols, m.SessionTimeout, m.RebalanceTimeout = req.Protocols, req.SessionTimeout, req.RebalanceTimeout
	m.ClientID, m.ClientHost = req.ClientID, req.ClientHost
	m.joinTo = to
	eff.add(g.maybeCompleteJoin(now))
	return eff
}

// addMember adds a new member awaiting join and starts (or joins) a
// rebalance.
func (g *Group) addMember(now time.Time, id string, req JoinRequest, to any) Effects {
	m := &Member{ID: id, InstanceID: req.InstanceID, ClientID: req.ClientID, ClientHost: req.ClientHost,
		SessionTimeout: req.SessionTimeout, RebalanceTimeout: req.RebalanceTimeout, Protocols: req.Protocols, joinTo: to}
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.members[id] = m
	if m.InstanceID != nil {
		g.static[*m.InstanceID] = id
	}
	if g.state == PreparingRebalance {
		if g.initialDelay {
			// InitialDelayedJoin: each newcomer buys another delay.
			g.rebalanceDeadline = minTime(now.Add(g.cfg.InitialRebalanceDelay), g.initialMax)
			return Effects{}
		}
		return g.maybeCompleteJoin(now)
	}
	return g.prepareRebalance(now)
}

// replaceStatic gives a static member's instance a new member id (the
// process restarted, KIP-345). The old id is fenced. A stable group does
// not rebalance when nothing changed.
func (g *Group) replaceStatic(now time.Time, old *Member, req JoinRequest, to any) Effects {
	var eff Effects
	if old.joinTo != nil {
		eff.Replies = append(eff.Replies, Reply{To: old.joinTo, Join: &JoinResult{Err: kerr.FencedInstanceID.Code, Generation: -1, MemberID: old.ID}})
		old.joinTo = nil
	}
	if old.syncTo != nil {
		eff.Replies = append(eff.Replies, Reply{To: old.syncTo, Sync: &SyncResult{Err: kerr.FencedInstanceID.Code}})
		old.syncTo = nil
	}
	changed := !sameProtocols(old.Protocols, req.Protocols)
	m := *old
	m.ID = g.cfg.NewMemberID(req.ClientID)
	delete(g.members, old.ID)
	g.members[m.ID] = &m
	g.static[*req.InstanceID] = m.ID
	wasLeader := g.leader == old.ID
	if wasLeader {
		g.leader = m.ID
	}
	if g.state == Stable && !changed && (!wasLeader || req.Version >= 9) {
		m.SessionTimeout, m.RebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
		m.expires = now.Add(m.SessionTimeout)
		res := g.joinResult(&m)
		res.SkipAssignment = wasLeader
		eff.Replies = append(eff.Replies, Reply{To: to, Join: res})
		eff.Persist = true
		return eff
	}
	eff.add(g.updateAndAwait(now, &m, req, to))
	if g.state != PreparingRebalance {
		eff.add(g.prepareRebalance(now))
	}
	return eff
}

func sameProtocols(a, b []Protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

// checkMember applies the member and static-member checks shared by
// SyncGroup, Heartbeat and OffsetCommit.
func (g *Group) checkMember(memberID string, instanceID *string) (*Member, int16) {
	if g.state == Dead {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	if instanceID != nil {
		if cur, ok := g.static[*instanceID]; ok && cur != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

// SyncRequest is a SyncGroup.
type SyncRequest struct {
	MemberID     string
	InstanceID   *string
	Generation   int32
	ProtocolType *string // v5+
	Protocol     *string // v5+
	Assignments  map[string][]byte
}

// SyncResult is a SyncGroup answer.
type SyncResult struct {
	Err          int16
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

func syncErr(to any, code int16) Effects {
	return Effects{Replies: []Reply{{To: to, Sync: &SyncResult{Err: code}}}}
}

// Sync handles a SyncGroup: followers wait for the leader's assignment.
func (g *Group) Sync(now time.Time, req SyncRequest, to any) Effects {
	m, code := g.checkMember(req.MemberID, req.InstanceID)
	switch {
	case code != 0:
		return syncErr(to, code)
	case req.Generation != g.generation:
		return syncErr(to, kerr.IllegalGeneration.Code)
	case (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol):
		return syncErr(to, kerr.InconsistentGroupProtocol.Code)
	case g.state == PreparingRebalance:
		return syncErr(to, kerr.RebalanceInProgress.Code)
	case g.state == Stable:
		m.synced = true
		m.expires = now.Add(m.SessionTimeout)
		return Effects{Replies: []Reply{{To: to, Sync: g.syncResult(m)}}}
	case g.state != CompletingRebalance:
		return syncErr(to, kerr.UnknownMemberID.Code)
	}
	var eff Effects
	if m.syncTo != nil {
		eff.Replies = append(eff.Replies, Reply{To: m.syncTo, Sync: &SyncResult{Err: kerr.RebalanceInProgress.Code}})
	}
	m.syncTo, m.synced = to, true
	m.expires = now.Add(m.SessionTimeout)
	if m.ID != g.leader {
		return eff
	}
	for _, o := range g.members {
		o.Assignment = req.Assignments[o.ID]
	}
	g.state = Stable
	eff.Persist = true
	for _, o := range g.Members() {
		if o.syncTo != nil {
			eff.Replies = append(eff.Replies, Reply{To: o.syncTo, Sync: g.syncResult(o)})
			o.syncTo = nil
		}
	}
	return eff
}

func (g *Group) syncResult(m *Member) *SyncResult {
	a := m.Assignment
	if a == nil {
		a = []byte{}
	}
	return &SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: a}
}

// Heartbeat keeps a member's session alive and tells it about rebalances.
func (g *Group) Heartbeat(now time.Time, memberID string, instanceID *string, generation int32) int16 {
	if g.state == Empty {
		return kerr.UnknownMemberID.Code
	}
	m, code := g.checkMember(memberID, instanceID)
	if code != 0 {
		return code
	}
	if generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m.expires = now.Add(m.SessionTimeout)
	if g.state == PreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// Leave removes a member (LeaveGroup). memberID "" with an instance id
// removes that static member whatever its id (the admin path, KIP-345).
func (g *Group) Leave(now time.Time, memberID string, instanceID *string) (int16, Effects) {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable.Code, Effects{}
	}
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code, Effects{}
		case memberID != "" && cur != memberID:
			return kerr.FencedInstanceID.Code, Effects{}
		}
		memberID = cur
	}
	if _, ok := g.pending[memberID]; ok {
		delete(g.pending, memberID)
		return 0, g.maybeCompleteJoin(now)
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code, Effects{}
	}
	return 0, g.removeMember(now, m, "left")
}

// ValidateCommit checks an OffsetCommit's member and generation.
// Generation < 0 on an empty group is a simple (standalone) commit.
func (g *Group) ValidateCommit(now time.Time, memberID string, instanceID *string, generation int32) int16 {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if generation < 0 && g.state == Empty {
		return 0
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	m, code := g.checkMember(memberID, instanceID)
	if code != 0 {
		return code
	}
	if generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m.expires = now.Add(m.SessionTimeout)
	return 0
}

// CanDelete tells whether DeleteGroups may remove the group.
func (g *Group) CanDelete() int16 {
	switch g.state {
	case Empty:
		return 0
	case Dead:
		return kerr.GroupIDNotFound.Code
	}
	return kerr.NonEmptyGroup.Code
}

// MarkDead ends the group (deleted). Every waiting request is answered.
func (g *Group) MarkDead() Effects {
	var eff Effects
	for _, m := range g.members {
		if m.joinTo != nil {
			eff.Replies = append(eff.Replies, Reply{To: m.joinTo, Join: &JoinResult{Err: kerr.CoordinatorNotAvailable.Code, Generation: -1, MemberID: m.ID}})
		}
		if m.syncTo != nil {
			eff.Replies = append(eff.Replies, Reply{To: m.syncTo, Sync: &SyncResult{Err: kerr.CoordinatorNotAvailable.Code}})
		}
	}
	g.state = Dead
	g.members = map[string]*Member{}
	g.static = map[string]string{}
	g.pending = map[string]time.Time{}
	return eff
}
