package broker

// DescribeGroups (key 15), versions 0-6.
//
// State, protocol type, chosen protocol and members. Member metadata and
// assignments are reported only for Stable groups (Kafka's summary). An
// unknown group is reported Dead; v6+ with GROUP_ID_NOT_FOUND (KIP-1043).
// A group this node does not coordinate: NOT_COORDINATOR. No authorizer:
// authorized operations INT32_MIN.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
)

func init() { register(kmsg.DescribeGroups, 0, 6, keepsFrame, (*Broker).handleDescribeGroups) }

func (b *Broker) handleDescribeGroups(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.SetVersion(r.hdr.Version)
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, b.coord.describe(id, r.hdr.Version))
	}
	r.respond(resp)
}

func (c *coordinator) describe(id string, version int16) kmsg.DescribeGroupsResponseGroup {
	out := kmsg.NewDescribeGroupsResponseGroup()
	out.Group, out.State, out.AuthorizedOperations = id, group.Dead.String(), authorizedOpsUnknown
	if _, code := c.coordinatorFor(id, false); code != 0 {
		out.ErrorCode = code
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.lookupLocked(id)
	if g == nil || g.State() == group.Dead {
		if version >= 6 {
			out.ErrorCode = kerr.GroupIDNotFound.Code
		}
		return out
	}
	out.State, out.ProtocolType = g.State().String(), g.ProtocolType()
	stable := g.State() == group.Stable
	if stable {
		out.Protocol = g.Protocol()
	}
	for _, m := range g.Members() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.ID, m.InstanceID, m.ClientID, m.ClientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if stable {
			dm.ProtocolMetadata, dm.MemberAssignment = g.MemberProtocol(m), m.Assignment
		}
		out.Members = append(out.Members, dm)
	}
	return out
}
