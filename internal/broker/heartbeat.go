package broker

// Heartbeat (key 12), versions 0-4.
//
// Keeps a classic member's session alive; REBALANCE_IN_PROGRESS tells it
// to rejoin. Unknown group or member: UNKNOWN_MEMBER_ID; wrong
// generation: ILLEGAL_GENERATION; v3+ static member with another member
// id: FENCED_INSTANCE_ID.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
)

func init() { register(kmsg.Heartbeat, 0, 4, keepsFrame, (*Broker).handleHeartbeat) }

func (b *Broker) handleHeartbeat(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.SetVersion(r.hdr.Version)
	if _, code := b.coord.coordinatorFor(req.Group, false); code != 0 {
		resp.ErrorCode = code
		r.respond(resp)
		return
	}
	if code := b.coord.withGroup(req.Group, false, func(g *group.Group, now time.Time) group.Effects {
		resp.ErrorCode = g.Heartbeat(now, req.MemberID, req.InstanceID, req.Generation)
		return group.Effects{}
	}); code != 0 {
		resp.ErrorCode = code
	}
	r.respond(resp)
}
