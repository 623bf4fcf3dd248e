package client

import (
	"encoding/binary"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client-side assignors of the classic protocol ("consumer" protocol type).
// The leader decodes every member's subscription (ConsumerProtocol
// subscription v3: topics, user data, owned partitions, generation), runs
// the balancer the coordinator chose, and sends each member its
// ConsumerProtocol assignment (v3 layout = v0 fields) with SyncGroup.

// GroupBalancer computes a classic group's assignment on the leader.
type GroupBalancer interface {
	// ProtocolName is the protocol name in JoinGroup ("range",
	// "roundrobin", "cooperative-sticky").
	ProtocolName() string
	// Cooperative reports the incremental protocol (KIP-429): members keep
	// their partitions while rejoining and give up only what moves.
	Cooperative() bool
	// Balance returns member id → topic → partitions. partitions holds
	// the partition count of every topic some member subscribes to.
	Balance(members []GroupMember, partitions map[string]int32) map[string]map[string][]int32
}

// GroupMember is one member's subscription as the leader sees it.
type GroupMember struct {
	ID         string
	InstanceID *string
	Topics     []string
	Owned      map[string][]int32 // what the member owns now (cooperative)
	Generation int32              // generation of Owned, -1 if unknown
	UserData   []byte
}

// RangeBalancer assigns each topic's partitions in contiguous ranges to
// the members subscribed to it, sorted by id (Kafka's RangeAssignor).
func RangeBalancer() GroupBalancer { return rangeBalancer{} }

// RoundRobinBalancer deals every partition of every topic in turn to the
// members subscribed to its topic (Kafka's RoundRobinAssignor).
func RoundRobinBalancer() GroupBalancer { return roundRobinBalancer{} }

// CooperativeStickyBalancer balances partition counts while moving as few
// partitions as possible, cooperatively: a partition changing owner is
// first revoked by its owner and assigned in the next generation
// (Kafka's CooperativeStickyAssignor, same protocol name and user data).
func CooperativeStickyBalancer() GroupBalancer { return stickyBalancer{} }

type rangeBalancer struct{}

func (rangeBalancer) ProtocolName() string { return "range" }
func (rangeBalancer) Cooperative() bool    { return false }
func (rangeBalancer) Balance(members []GroupMember, partitions map[string]int32) map[string]map[string][]int32 {
	out := newPlan(members)
	for _, topic := range sortedTopics(partitions) {
		var subs []string
		for _, m := range sortedMembers(members) {
			if subscribes(m, topic) {
				subs = append(subs, m.ID)
			}
		}
		if len(subs) == 0 {
			continue
		}
		n, k := int(partitions[topic]), len(subs)
		per, extra := n/k, n%k
		p := 0
		for i, id := range subs {
			cnt := per
			if i < extra {
				cnt++
			}
			for j := 0; j < cnt; j++ {
				out[id][topic] = append(out[id][topic], int32(p))
				p++
			}
		}
	}
	return out
}

type roundRobinBalancer struct{}

func (roundRobinBalancer) ProtocolName() string { return "roundrobin" }
func (roundRobinBalancer) Cooperative() bool    { return false }
func (roundRobinBalancer) Balance(members []GroupMember, partitions map[string]int32) map[string]map[string][]int32 {
	out := newPlan(members)
	ms := sortedMembers(members)
	if len(ms) == 0 {
		return out
	}
	next := 0
	for _, topic := range sortedTopics(partitions) {
		for p := int32(0); p < partitions[topic]; p++ {
			for tries := 0; tries < len(ms); tries++ {
				m := ms[next%len(ms)]
				next++
				if subscribes(m, topic) {
					out[m.ID][topic] = append(out[m.ID][topic], p)
					break
				}
			}
		}
	}
	return out
}

type stickyBalancer struct{}

func (stickyBalancer) ProtocolName() string { return "cooperative-sticky" }
func (stickyBalancer) Cooperative() bool    { return true }

// Balance: (1) every member keeps the valid partitions it owns (on a
// conflict the higher generation wins); (2) free partitions go one by one
// to the eligible member with the fewest; (3) while some member has two
// more than another member that could take one of its partitions, one
// moves; (4) cooperative step: a partition whose new member differs from
// its current owner is left out of this generation, so the owner revokes it
// first and the group rebalances again.
func (stickyBalancer) Balance(members []GroupMember, partitions map[string]int32) map[string]map[string][]int32 {
	ms := sortedMembers(members)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Generation > ms[j].Generation })
	owner := map[TopicPartition]string{}
	have := map[string][]TopicPartition{}
	for _, m := range ms {
		for topic, ps := range m.Owned {
			if !subscribes(m, topic) {
				continue
			}
			for _, p := range ps {
				tp := TopicPartition{topic, p}
				if p < 0 || p >= partitions[topic] {
					continue
				}
				if _, taken := owner[tp]; taken {
					continue
				}
				owner[tp] = m.ID
				have[m.ID] = append(have[m.ID], tp)
			}
		}
	}
	prevOwner := make(map[TopicPartition]string, len(owner))
	for tp, id := range owner {
		prevOwner[tp] = id
	}
	ms = sortedMembers(members)
	byID := map[string]GroupMember{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	fewest := func(topic string) string {
		best := ""
		for _, m := range ms {
			if subscribes(m, topic) && (best == "" || len(have[m.ID]) < len(have[best])) {
				best = m.ID
			}
		}
		return best
	}
	for _, topic := range sortedTopics(partitions) {
		for p := int32(0); p < partitions[topic]; p++ {
			tp := TopicPartition{topic, p}
			if _, ok := owner[tp]; ok {
				continue
			}
			if id := fewest(topic); id != "" {
				owner[tp] = id
				have[id] = append(have[id], tp)
			}
		}
	}
	for moves := 0; moves < 1<<16; moves++ {
		if !moveOne(ms, byID, have, owner) {
			break
		}
	}
	out := newPlan(members)
	for tp, id := range owner {
		if prev, ok := prevOwner[tp]; ok && prev != id {
			continue // revoked from prev this generation, assigned next
		}
		out[id][tp.Topic] = append(out[id][tp.Topic], tp.Partition)
	}
	for _, a := range out {
		for _, ps := range a {
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		}
	}
	return out
}

// moveOne moves one partition from a member with the most to an eligible
// member with at least two fewer; it reports whether it moved one.
func moveOne(ms []GroupMember, byID map[string]GroupMember, have map[string][]TopicPartition, owner map[TopicPartition]string) bool {
	order := append([]GroupMember(nil), ms...)
	sort.SliceStable(order, func(i, j int) bool { return len(have[order[i].ID]) > len(have[order[j].ID]) })
	for _, from := range order {
		for i := len(order) - 1; i >= 0; i-- {
			to := order[i]
			if len(have[from.ID]) <= len(have[to.ID])+1 {
				break
			}
			list := have[from.ID]
			for k := len(list) - 1; k >= 0; k-- {
				tp := list[k]
				if !subscribes(byID[to.ID], tp.Topic) {
					continue
				}
				have[from.ID] = append(list[:k:k], list[k+1:]...)
				have[to.ID] = append(have[to.ID], tp)
				owner[tp] = to.ID
				return true
			}
		}
	}
	return false
}

func newPlan(members []GroupMember) map[string]map[string][]int32 {
	out := make(map[string]map[string][]int32, len(members))
	for _, m := range members {
		out[m.ID] = map[string][]int32{}
	}
	return out
}

func sortedTopics(partitions map[string]int32) []string {
	ts := make([]string, 0, len(partitions))
	for t := range partitions {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// sortedMembers orders members by instance id if static, else member id.
func sortedMembers(members []GroupMember) []GroupMember {
	ms := append([]GroupMember(nil), members...)
	key := func(m GroupMember) string {
		if m.InstanceID != nil {
			return *m.InstanceID
		}
		return m.ID
	}
	sort.SliceStable(ms, func(i, j int) bool { return key(ms[i]) < key(ms[j]) })
	return ms
}

func subscribes(m GroupMember, topic string) bool {
	for _, t := range m.Topics {
		if t == topic {
			return true
		}
	}
	return false
}

// encodeSubscription is this member's ConsumerProtocol subscription.
func encodeSubscription(b GroupBalancer, topics []string, owned map[string][]int32, generation int32) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 3
	m.Topics = append([]string(nil), topics...)
	sort.Strings(m.Topics)
	m.Generation = generation
	if b.Cooperative() {
		for _, t := range sortedTopics(countsOf(owned)) {
			op := kmsg.NewConsumerMemberMetadataOwnedPartition()
			op.Topic = t
			op.Partitions = append([]int32(nil), owned[t]...)
			m.OwnedPartitions = append(m.OwnedPartitions, op)
		}
		// Kafka's cooperative-sticky user data: the generation.
		m.UserData = binary.BigEndian.AppendUint32(nil, uint32(generation))
	}
	return m.AppendTo(nil)
}

func countsOf(owned map[string][]int32) map[string]int32 {
	m := make(map[string]int32, len(owned))
	for t, ps := range owned {
		m[t] = int32(len(ps))
	}
	return m
}

// decodeSubscription reads a member's subscription; a member that sent
// garbage gets an empty subscription (and so no partitions).
func decodeSubscription(id string, instanceID *string, b []byte) GroupMember {
	gm := GroupMember{ID: id, InstanceID: instanceID, Generation: -1}
	var m kmsg.ConsumerMemberMetadata
	if err := m.ReadFrom(b); err != nil {
		return gm
	}
	gm.Topics, gm.UserData = m.Topics, m.UserData
	if m.Version >= 2 {
		gm.Generation = m.Generation
	} else if len(m.UserData) == 4 {
		gm.Generation = int32(binary.BigEndian.Uint32(m.UserData))
	}
	if len(m.OwnedPartitions) > 0 {
		gm.Owned = map[string][]int32{}
		for _, op := range m.OwnedPartitions {
			gm.Owned[op.Topic] = append(gm.Owned[op.Topic], op.Partitions...)
		}
	}
	return gm
}

func encodeAssignment(a map[string][]int32) []byte {
	m := kmsg.NewConsumerMemberAssignment()
	m.Version = 0
	for _, t := range sortedTopics(countsOf(a)) {
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic = t
		at.Partitions = a[t]
		m.Topics = append(m.Topics, at)
	}
	return m.AppendTo(nil)
}

func decodeAssignment(b []byte) (map[string][]int32, error) {
	out := map[string][]int32{}
	if len(b) == 0 {
		return out, nil
	}
	var m kmsg.ConsumerMemberAssignment
	if err := m.ReadFrom(b); err != nil {
		return nil, err
	}
	for _, t := range m.Topics {
		out[t.Topic] = append(out[t.Topic], t.Partitions...)
	}
	return out, nil
}
