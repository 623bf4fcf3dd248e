package broker

// LeaveGroup (key 13), versions 0-5.
//
// v0-2 remove one member (MemberID; errors at the top level); v3+ a batch
// of members, each by member id and/or group.instance.id, with an error
// per member (KIP-345: an empty member id with an instance id removes
// that static member, as the admin client does). Removing a member starts
// a rebalance for the rest.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
)

func init() { register(kmsg.LeaveGroup, 0, 5, keepsFrame, (*Broker).handleLeaveGroup) }

func (b *Broker) handleLeaveGroup(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.SetVersion(r.hdr.Version)
	if _, code := b.coord.coordinatorFor(req.Group, false); code != 0 {
		resp.ErrorCode = code
		r.respond(resp)
		return
	}
	members := req.Members
	if r.hdr.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	codes := make([]int16, len(members))
	for i := range codes {
		codes[i] = kerr.UnknownMemberID.Code
	}
	if code := b.coord.withGroup(req.Group, false, func(g *group.Group, now time.Time) group.Effects {
		var eff group.Effects
		for i, m := range members {
			code, e := g.Leave(now, m.MemberID, m.InstanceID)
			codes[i] = code
			eff.Replies = append(eff.Replies, e.Replies...)
			eff.Persist = eff.Persist || e.Persist
		}
		return eff
	}); code != 0 {
		for i := range codes {
			codes[i] = code
		}
	}
	if r.hdr.Version < 3 {
		resp.ErrorCode = codes[0]
		r.respond(resp)
		return
	}
	for i, m := range members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, codes[i]
		resp.Members = append(resp.Members, rm)
	}
	r.respond(resp)
}
