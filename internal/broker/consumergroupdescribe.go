package broker

// ConsumerGroupDescribe (key 69), versions 0-1: KIP-848 groups with
// their epochs, assignor, and each member's current and target
// assignment (topics by id and name). A classic group or an unknown one:
// GROUP_ID_NOT_FOUND. v1 adds MemberType (1 = consumer protocol).

import (
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/metadata"
)

func init() {
	register(kmsg.ConsumerGroupDescribe, 0, 1, keepsFrame, (*Broker).handleConsumerGroupDescribe)
}

func (b *Broker) handleConsumerGroupDescribe(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.ConsumerGroupDescribeRequest)
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.SetVersion(r.hdr.Version)
	im := b.image()
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, b.coord.describeConsumer(id, im))
	}
	r.respond(resp)
}

func (c *coordinator) describeConsumer(id string, im *metadata.Image) kmsg.ConsumerGroupDescribeResponseGroup {
	out := kmsg.NewConsumerGroupDescribeResponseGroup()
	out.Group, out.AuthorizedOperations = id, authorizedOpsUnknown
	if _, code := c.coordinatorFor(id, false); code != 0 {
		out.ErrorCode = code
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.groups[id]
	if e == nil || e.cg == nil {
		out.ErrorCode = kerr.GroupIDNotFound.Code
		msg := "group " + id + " is not a consumer group"
		out.ErrorMessage = &msg
		return out
	}
	cg := e.cg
	out.State, out.Epoch, out.AssignmentEpoch, out.AssignorName = cg.State(), cg.Epoch(), cg.AssignmentEpoch(), cg.Assignor()
	for _, m := range cg.Members() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = m.ID, m.InstanceID, m.RackID, m.Epoch
		// Copies: the writer encodes the answer after mu is released, while
		// heartbeats change the member's slices in place.
		dm.ClientID, dm.ClientHost, dm.SubscribedTopics, dm.MemberType = m.ClientID, m.ClientHost, slices.Clone(m.Subscribed), 1
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.Regex != "" {
			re := m.Regex
			dm.SubscribedTopicRegex = &re
		}
		dm.Assignment = describeAssignment(m.Assigned, im)
		dm.TargetAssignment = describeAssignment(cg.Target(m.ID), im)
		out.Members = append(out.Members, dm)
	}
	return out
}

func describeAssignment(a group.Assignment, im *metadata.Image) kmsg.Assignment {
	out := kmsg.NewAssignment()
	for id, ps := range a {
		if len(ps) == 0 {
			continue
		}
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Partitions = id, slices.Clone(ps) // the group's own slice changes in place
		if t := im.TopicByID(id); t != nil {
			tp.Topic = t.Name
		}
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	sort.Slice(out.TopicPartitions, func(i, j int) bool { return out.TopicPartitions[i].Topic < out.TopicPartitions[j].Topic })
	return out
}
