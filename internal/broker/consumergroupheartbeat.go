package broker

// ConsumerGroupHeartbeat (key 68), versions 0-1: the KIP-848 "consumer"
// protocol.
//
// Epoch 0 joins (v0: the coordinator picks the member id; v1, KIP-1082:
// the client sends its own, required), -1 leaves (-2, a static member's
// temporary leave, is treated as a leave). Any other epoch must be the
// member's current one (or its previous one with nothing extra owned, a
// lost answer), else FENCED_MEMBER_EPOCH; an unknown member gets
// UNKNOWN_MEMBER_ID. Server assignors: uniform (default) and range, else
// UNSUPPORTED_ASSIGNOR. Assignments name topics by id. A classic group
// with members answers GROUP_ID_NOT_FOUND ("not a consumer group"); an
// empty one is converted. The group's state is written to
// __consumer_offsets in Kafka's records (package group) before the answer
// that reveals it, and survives a move or restart of the coordinator.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/metadata"
)

func init() {
	register(kmsg.ConsumerGroupHeartbeat, 0, 1, keepsFrame, (*Broker).handleConsumerGroupHeartbeat)
}

func (b *Broker) handleConsumerGroupHeartbeat(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.SetVersion(r.hdr.Version)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		r.respond(resp)
		return
	}
	if _, code := b.coord.coordinatorFor(req.Group, false); code != 0 {
		resp.ErrorCode = code
		r.respond(resp)
		return
	}
	hb := group.CGHeartbeat{Version: r.hdr.Version, MemberID: req.MemberID, Epoch: req.MemberEpoch,
		InstanceID: req.InstanceID, RackID: req.RackID, ClientID: clientID(r), ClientHost: r.clientHost(),
		RebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		Subscribed:       req.SubscribedTopicNames, Regex: req.SubscribedTopicRegex, Assignor: req.ServerAssignor}
	if req.Topics != nil {
		hb.Owned = group.Assignment{}
		for _, t := range req.Topics {
			hb.Owned[t.TopicID] = append(hb.Owned[t.TopicID], t.Partitions...)
		}
	}
	b.coord.consumerHeartbeat(req.Group, hb, topicMetas(b.image()), func(res group.CGResult) {
		resp.ErrorCode, resp.MemberEpoch = res.Err, res.Epoch
		if res.Msg != "" {
			resp.ErrorMessage = &res.Msg
		}
		if res.MemberID != "" {
			resp.MemberID = &res.MemberID
		}
		resp.HeartbeatIntervalMillis = int32(b.opts.GroupConsumerHeartbeatInterval.Milliseconds())
		if res.Err == 0 && res.Assignment != nil {
			a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
			for id, ps := range res.Assignment {
				t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
				t.TopicID, t.Partitions = id, ps
				a.Topics = append(a.Topics, t)
			}
			resp.Assignment = &a
		}
		r.respond(resp)
	})
}

// topicMetas is the image's topics as the assignors see them: all of
// them, internal ones included, as Kafka's group coordinator resolves
// subscriptions (see group.CGMember.subscribedTopics).
func topicMetas(im *metadata.Image) map[string]group.TopicMeta {
	out := map[string]group.TopicMeta{}
	for _, t := range im.Topics() {
		out[t.Name] = group.TopicMeta{ID: t.ID, Name: t.Name, Partitions: int32(len(t.Partitions))}
	}
	return out
}

// consumerHeartbeat runs a heartbeat and answers through done once the
// records of what it changed are durable, as Kafka's coordinator answers
// only after its write is committed; a failed write answers the error
// and the records are written again with the next change.
func (c *coordinator) consumerHeartbeat(id string, hb group.CGHeartbeat, topics map[string]group.TopicMeta, done func(group.CGResult)) {
	c.mu.Lock()
	now := c.b.opts.Now()
	e := c.groups[id]
	var convert []batch.Record
	switch {
	case e == nil && hb.Epoch != 0:
		c.mu.Unlock()
		done(group.CGResult{Err: kerr.UnknownMemberID.Code, MemberID: hb.MemberID, Epoch: hb.Epoch})
		return
	case e != nil && e.g != nil && e.hasMembers():
		c.mu.Unlock()
		done(group.CGResult{Err: kerr.GroupIDNotFound.Code, Msg: "group " + id + " is not a consumer group", MemberID: hb.MemberID})
		return
	case e != nil && e.g != nil:
		// An empty classic group becomes a consumer group: its metadata
		// record is deleted first.
		convert = append(convert, batch.Record{Key: group.GroupKey(id)})
		fallthrough
	case e == nil:
		e = &groupEntry{cg: group.NewConsumerGroup(id, &c.ccfg, now)}
		c.groups[id] = e
	}
	res := e.cg.Heartbeat(now, hb, topics)
	c.scheduleLocked(id, e)
	post := c.persistCGLocked(id, e, convert, now, func(err error) {
		if err != nil && res.Err == 0 {
			res = group.CGResult{Err: commitErrorCode(err), MemberID: hb.MemberID, Epoch: hb.Epoch}
		}
		done(res)
	})
	c.mu.Unlock()
	post.run()
}
