package broker

// DeleteGroups (key 42), versions 0-3, and OffsetDelete (key 47), version 0.
//
// DeleteGroups removes an Empty group and all its offsets, writing
// tombstones; a group with members gets NON_EMPTY_GROUP, an unknown one
// GROUP_ID_NOT_FOUND. v3 adds an error message per group, which stays null
// as Kafka 4.4 leaves it for these errors. OffsetDelete removes some of a group's offsets; a
// consumer-protocol group with members may not lose offsets of a topic it
// subscribes to (GROUP_SUBSCRIBED_TO_TOPIC, per partition), and a group
// with members of another protocol gets NON_EMPTY_GROUP.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/group"
)

func init() {
	register(kmsg.DeleteGroups, 0, 3, keepsFrame, (*Broker).handleDeleteGroups)
	register(kmsg.OffsetDelete, 0, 0, keepsFrame, (*Broker).handleOffsetDelete)
}

func (b *Broker) handleDeleteGroups(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.SetVersion(r.hdr.Version)
	for _, id := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group, g.ErrorCode = id, b.coord.deleteGroup(id)
		resp.Groups = append(resp.Groups, g)
	}
	r.respond(resp)
}

// deleteGroup removes an empty group; the tombstones are appended but not
// waited for, as Kafka answers DeleteGroups once the records are written.
func (c *coordinator) deleteGroup(id string) int16 {
	if _, code := c.coordinatorFor(id, false); code != 0 {
		return code
	}
	c.mu.Lock()
	now := c.b.opts.Now()
	e := c.groups[id]
	switch {
	case e == nil && !c.offsets.Has(id):
		c.mu.Unlock()
		return kerr.GroupIDNotFound.Code
	case e != nil && e.cg != nil && !e.cg.Empty():
		c.mu.Unlock()
		return kerr.NonEmptyGroup.Code
	case e != nil && e.g != nil && e.g.CanDelete() != 0:
		c.mu.Unlock()
		return e.g.CanDelete()
	}
	var recs []batch.Record
	for _, tp := range c.offsets.Partitions(id) {
		recs = append(recs, batch.Record{Key: group.OffsetKey(id, tp.Topic, tp.Partition)})
		c.deleteOffsetLocked(id, tp)
	}
	recs = append(recs, groupTombstonesLocked(id, e)...)
	var post after
	if e != nil && e.g != nil {
		post = c.effectsLocked(id, e, e.g.MarkDead(), now)
	}
	delete(c.groups, id)
	post = append(post, c.appendLocked(id, recs, now, func(err error) {
		if err != nil {
			c.b.log.Warn("writing group tombstones", "group", id, "err", err)
		}
	})...)
	c.mu.Unlock()
	post.run()
	return 0
}

func (b *Broker) handleOffsetDelete(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.SetVersion(r.hdr.Version)
	resp.ErrorCode = b.coord.deleteOffsets(req, resp)
	r.respond(resp)
}

func (c *coordinator) deleteOffsets(req *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse) int16 {
	if _, code := c.coordinatorFor(req.Group, false); code != 0 {
		return code
	}
	c.mu.Lock()
	now := c.b.opts.Now()
	e := c.groups[req.Group]
	if e == nil && !c.offsets.Has(req.Group) {
		c.mu.Unlock()
		return kerr.GroupIDNotFound.Code
	}
	var subscribed map[string]bool
	if e != nil && e.cg != nil {
		subscribed = e.cg.SubscribedTopics()
	} else if g := e.classic(); g != nil && g.State() != group.Empty {
		topics, consumer := g.SubscribedTopics()
		if !consumer {
			c.mu.Unlock()
			return kerr.NonEmptyGroup.Code
		}
		subscribed = topics
	}
	var recs []batch.Record
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			tp := group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			if subscribed[rt.Topic] {
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if _, ok := c.offsets.Get(req.Group, tp); ok {
				recs = append(recs, batch.Record{Key: group.OffsetKey(req.Group, tp.Topic, tp.Partition)})
				c.deleteOffsetLocked(req.Group, tp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	var post after
	if len(recs) > 0 {
		post = c.appendLocked(req.Group, recs, now, func(err error) {
			if err != nil {
				c.b.log.Warn("writing offset tombstones", "group", req.Group, "err", err)
			}
		})
	}
	c.mu.Unlock()
	post.run()
	return 0
}

func (e *groupEntry) classic() *group.Group {
	if e == nil {
		return nil
	}
	return e.g
}
