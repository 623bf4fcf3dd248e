package broker

// SyncGroup (key 14), versions 0-5.
//
// The leader sends the assignment; followers are parked until it arrives,
// and every answer waits until the new generation's metadata is durable in
// __consumer_offsets (as Kafka answers after the append). v3+: static
// members; v5+: protocol type and name must match the group's, else
// INCONSISTENT_GROUP_PROTOCOL.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
)

func init() { register(kmsg.SyncGroup, 0, 5, keepsFrame, (*Broker).handleSyncGroup) }

func (b *Broker) handleSyncGroup(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.SyncGroupRequest)
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.SetVersion(r.hdr.Version)
	resp.MemberAssignment = []byte{}
	if _, code := b.coord.coordinatorFor(req.Group, false); code != 0 {
		resp.ErrorCode = code
		r.respond(resp)
		return
	}
	sr := group.SyncRequest{MemberID: req.MemberID, InstanceID: req.InstanceID, Generation: req.Generation,
		ProtocolType: req.ProtocolType, Protocol: req.Protocol, Assignments: map[string][]byte{}}
	for _, a := range req.GroupAssignment {
		sr.Assignments[a.MemberID] = a.MemberAssignment
	}
	to := func(rep group.Reply) {
		res := rep.Sync
		resp.ErrorCode = res.Err
		if res.Err == 0 {
			resp.MemberAssignment = res.Assignment
			pt, p := res.ProtocolType, res.Protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
		}
		r.respond(resp)
	}
	code := b.coord.withGroup(req.Group, false, func(g *group.Group, now time.Time) group.Effects {
		return g.Sync(now, sr, to)
	})
	if code != 0 {
		resp.ErrorCode = code
		r.respond(resp)
	}
}
