package broker

// OffsetFetch (key 9), versions 1-10.
//
// Returns committed offsets (only durable ones: see offsetcommit.go).
// A partition without a commit gets offset -1, leader epoch -1 and empty
// metadata, no error. v2+: null topics = every committed partition of the
// group, and a group-level error code. v8+: several groups per request
// (Groups), each with its own error. v7 RequireStable: there are no
// pending transactional offsets yet, so it changes nothing. v9
// MemberID/MemberEpoch: a KIP-848 member must be known
// (UNKNOWN_MEMBER_ID) and at its current epoch (STALE_MEMBER_EPOCH);
// classic groups and admin fetches (no member) are not checked. v10
// (KAFKA-14691, KIP-848) names topics by ID only: a requested ID that no
// topic has (unknown, zero, or a deleted topic's) gets UNKNOWN_TOPIC_ID on
// each partition, and the all-topics answer names each committed topic by
// its ID, leaving out topics that no longer exist (Kafka 4.4 deletes their
// offsets with the topic; samsa keeps them, so a topic created again
// under the name sees them through v9 and v10 alike).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/metadata"
)

func init() { register(kmsg.OffsetFetch, 1, 10, keepsFrame, (*Broker).handleOffsetFetch) }

// fetchedTopic is one topic's answer, version-independent.
type fetchedTopic struct {
	topic string
	parts []kmsg.OffsetFetchResponseGroupTopicPartition
}

func (b *Broker) handleOffsetFetch(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.SetVersion(r.hdr.Version)
	if r.hdr.Version >= 10 {
		im := b.image()
		for _, rg := range req.Groups {
			resp.Groups = append(resp.Groups, b.fetchGroupByID(im, &rg))
		}
		r.respond(resp)
		return
	}
	if r.hdr.Version >= 8 {
		for _, rg := range req.Groups {
			want := map[string][]int32{}
			for _, t := range rg.Topics {
				want[t.Topic] = t.Partitions
			}
			topics, code := b.coord.fetchOffsets(rg.Group, rg.Topics == nil, want, topicOrder(rg.Topics))
			if code == 0 && rg.MemberID != nil {
				if code = b.coord.checkFetchMember(rg.Group, *rg.MemberID, rg.MemberEpoch); code != 0 {
					topics = nil
				}
			}
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, code
			for _, ft := range topics {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic, gt.Partitions = ft.topic, ft.parts
				g.Topics = append(g.Topics, gt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		r.respond(resp)
		return
	}
	want := map[string][]int32{}
	var order []string
	for _, t := range req.Topics {
		want[t.Topic] = t.Partitions
		order = append(order, t.Topic)
	}
	all := req.Topics == nil && r.hdr.Version >= 2
	topics, code := b.coord.fetchOffsets(req.Group, all, want, order)
	resp.ErrorCode = code
	for _, ft := range topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = ft.topic
		for _, p := range ft.parts {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			if r.hdr.Version < 2 && code != 0 {
				rp.ErrorCode = code // v0-1 have no group-level error
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	r.respond(resp)
}

// fetchGroupByID answers one group of a v10 fetch: topics are named by ID,
// resolved against im; the offsets are kept by name.
func (b *Broker) fetchGroupByID(im *metadata.Image, rg *kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
	g := kmsg.NewOffsetFetchResponseGroup()
	g.Group = rg.Group
	want := map[string][]int32{}
	var order []string
	for _, rt := range rg.Topics {
		if t := topicByID(im, rt.TopicID); t != nil {
			if _, dup := want[t.Name]; !dup {
				order = append(order, t.Name)
			}
			want[t.Name] = append(want[t.Name], rt.Partitions...)
		}
	}
	topics, code := b.coord.fetchOffsets(rg.Group, rg.Topics == nil, want, order)
	if code == 0 && rg.MemberID != nil {
		code = b.coord.checkFetchMember(rg.Group, *rg.MemberID, rg.MemberEpoch)
		if code != 0 {
			g.ErrorCode = code
			return g // as v8-9: a rejected member gets no offsets
		}
	}
	g.ErrorCode = code
	if code != 0 && rg.Topics == nil {
		return g
	}
	fetched := map[string][]kmsg.OffsetFetchResponseGroupTopicPartition{}
	for _, ft := range topics {
		fetched[ft.topic] = ft.parts
	}
	if rg.Topics == nil {
		for _, ft := range topics {
			t := im.Topic(ft.topic)
			if t == nil {
				continue // a deleted topic's offsets: no ID names it
			}
			gt := kmsg.NewOffsetFetchResponseGroupTopic()
			gt.TopicID, gt.Partitions = t.ID, ft.parts
			g.Topics = append(g.Topics, gt)
		}
		return g
	}
	done := map[string]bool{}
	for _, rt := range rg.Topics {
		gt := kmsg.NewOffsetFetchResponseGroupTopic()
		gt.TopicID = rt.TopicID
		t := topicByID(im, rt.TopicID)
		switch {
		case t == nil:
			for _, p := range rt.Partitions {
				rp := unknownOffset(p)
				rp.ErrorCode = kerr.UnknownTopicID.Code
				gt.Partitions = append(gt.Partitions, rp)
			}
		case done[t.Name]:
			continue // the same ID twice: answered once, with every partition asked
		default:
			done[t.Name] = true
			gt.Partitions = fetched[t.Name]
		}
		g.Topics = append(g.Topics, gt)
	}
	return g
}

func topicOrder(ts []kmsg.OffsetFetchRequestGroupTopic) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Topic
	}
	return out
}

// fetchOffsets reads group's committed offsets: every one (all) or those
// in want, topics in order.
func (c *coordinator) fetchOffsets(groupID string, all bool, want map[string][]int32, order []string) ([]fetchedTopic, int16) {
	if _, code := c.coordinatorFor(groupID, false); code != 0 {
		if all {
			return nil, code
		}
		return c.emptyOffsets(want, order, code), code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if all {
		order, want = nil, map[string][]int32{}
		for _, tp := range c.offsets.Partitions(groupID) {
			if _, ok := want[tp.Topic]; !ok {
				order = append(order, tp.Topic)
			}
			want[tp.Topic] = append(want[tp.Topic], tp.Partition)
		}
	}
	var out []fetchedTopic
	for _, topic := range order {
		ft := fetchedTopic{topic: topic}
		for _, p := range want[topic] {
			rp := unknownOffset(p)
			if off, ok := c.offsets.Get(groupID, group.TopicPartition{Topic: topic, Partition: p}); ok {
				md := off.Metadata
				rp.Offset, rp.LeaderEpoch, rp.Metadata = off.Offset, off.LeaderEpoch, &md
			}
			ft.parts = append(ft.parts, rp)
		}
		out = append(out, ft)
	}
	return out, 0
}

func unknownOffset(p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	empty := ""
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, -1, -1, &empty
	return rp
}

func (c *coordinator) emptyOffsets(want map[string][]int32, order []string, code int16) []fetchedTopic {
	var out []fetchedTopic
	for _, topic := range order {
		ft := fetchedTopic{topic: topic}
		for _, p := range want[topic] {
			rp := unknownOffset(p)
			rp.ErrorCode = code
			ft.parts = append(ft.parts, rp)
		}
		out = append(out, ft)
	}
	return out
}

// checkFetchMember validates a v9 fetch by a KIP-848 member.
func (c *coordinator) checkFetchMember(groupID, member string, epoch int32) int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.groups[groupID]
	if e == nil || e.cg == nil || (member == "" && epoch < 0) {
		return 0
	}
	return e.cg.ValidateFetch(member, epoch)
}
