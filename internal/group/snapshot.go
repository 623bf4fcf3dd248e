package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Snapshot is what a group persists: Kafka's GroupMetadataValue. A group
// is written when a generation completes (Stable), when it empties, and
// when a static member is replaced.
type Snapshot struct {
	ProtocolType string
	Generation   int32
	Protocol     string
	Leader       string
	Timestamp    int64 // ms: when this state began
	Members      []SnapshotMember
}

// SnapshotMember is one member of a Snapshot.
type SnapshotMember struct {
	ID               string
	InstanceID       *string
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	Subscription     []byte // metadata for the chosen protocol
	Assignment       []byte
}

// Snapshot returns the group's persistent state. Only Stable members
// carry their assignment; in other states the members are written
// without them so a reload rejoins cleanly.
func (g *Group) Snapshot(now time.Time) Snapshot {
	s := Snapshot{ProtocolType: g.protocolType, Generation: g.generation, Protocol: g.protocol,
		Leader: g.leader, Timestamp: now.UnixMilli()}
	if g.state != Stable {
		return s
	}
	for _, m := range g.Members() {
		s.Members = append(s.Members, SnapshotMember{ID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID,
			ClientHost: m.ClientHost, SessionTimeout: m.SessionTimeout, RebalanceTimeout: m.RebalanceTimeout,
			Subscription: g.MemberProtocol(m), Assignment: m.Assignment})
	}
	return s
}

// Restore rebuilds a group from its last snapshot after a restart, as
// Kafka does when it loads a coordinator partition: with members it is
// Stable and their sessions start now; without, it is Empty.
func Restore(id string, cfg *Config, s Snapshot, now time.Time) *Group {
	g := New(id, cfg, time.UnixMilli(s.Timestamp))
	g.protocolType, g.generation = s.ProtocolType, s.Generation
	if len(s.Members) == 0 {
		return g
	}
	g.state, g.protocol, g.leader = Stable, s.Protocol, s.Leader
	for _, sm := range s.Members {
		m := &Member{ID: sm.ID, InstanceID: sm.InstanceID, ClientID: sm.ClientID, ClientHost: sm.ClientHost,
			SessionTimeout: sm.SessionTimeout, RebalanceTimeout: sm.RebalanceTimeout,
			Protocols: []Protocol{{Name: s.Protocol, Metadata: sm.Subscription}}, Assignment: sm.Assignment,
			expires: now.Add(sm.SessionTimeout), synced: true}
		g.members[m.ID] = m
		if m.InstanceID != nil {
			g.static[*m.InstanceID] = m.ID
		}
	}
	return g
}

// SubscribedTopics returns the topics the members of a "consumer" group
// subscribe to (decoded from their ConsumerProtocol metadata), for
// OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC check. ok is false when the
// group does not use the consumer protocol.
func (g *Group) SubscribedTopics() (topics map[string]bool, ok bool) {
	if g.protocolType != "consumer" {
		return nil, false
	}
	topics = map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if md.ReadFrom(g.MemberProtocol(m)) != nil {
			continue
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}
