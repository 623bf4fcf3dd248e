package broker

// JoinGroup (key 11), versions 0-9.
//
// Parked until the group's join phase completes (every member rejoined,
// the rebalance timeout, or group.initial.rebalance.delay.ms for an empty
// group); the leader gets every member's metadata. v0 has no rebalance
// timeout (the session timeout is used). v4+: a new dynamic member first
// gets MEMBER_ID_REQUIRED with its id (KIP-394). v5+: static members
// (group.instance.id, KIP-345). v7+: protocol type in the answer. v9:
// SkipAssignment for a static leader rejoining a stable group. The state
// machine is package group's; this file translates.

import (
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
)

func init() { register(kmsg.JoinGroup, 0, 9, keepsFrame, (*Broker).handleJoinGroup) }

func (b *Broker) handleJoinGroup(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.JoinGroupRequest)
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.SetVersion(r.hdr.Version)
	resp.MemberID = req.MemberID
	resp.Generation = -1
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
	jr := group.JoinRequest{Version: r.hdr.Version, MemberID: req.MemberID, InstanceID: req.InstanceID,
		ClientID: clientID(r), ClientHost: r.clientHost(), ProtocolType: req.ProtocolType,
		SessionTimeout:   time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond}
	if r.hdr.Version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	to := func(rep group.Reply) { r.respond(joinResponse(r.hdr.Version, resp, rep.Join)) }
	// Only a join without a member id may create the group.
	code := b.coord.withGroup(req.Group, req.MemberID == "", func(g *group.Group, now time.Time) group.Effects {
		return g.Join(now, jr, to)
	})
	if code != 0 {
		resp.ErrorCode = code
		r.respond(resp)
	}
}

func joinResponse(version int16, resp *kmsg.JoinGroupResponse, res *group.JoinResult) *kmsg.JoinGroupResponse {
	resp.ErrorCode, resp.Generation, resp.MemberID = res.Err, res.Generation, res.MemberID
	resp.LeaderID, resp.SkipAssignment = res.Leader, res.SkipAssignment
	if res.Err == 0 || version < 7 {
		pt, p := res.ProtocolType, res.Protocol
		resp.ProtocolType, resp.Protocol = &pt, &p
	}
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.ID, m.InstanceID, m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

func clientID(r *request) string {
	if r.hdr.ClientID != nil {
		return *r.hdr.ClientID
	}
	return ""
}

// clientHost is Kafka's "/ip" form of the peer address.
func (r *request) clientHost() string {
	addr := r.conn.nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return "/" + addr
}
