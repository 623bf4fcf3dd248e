package client

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Classic group membership (JoinGroup v0-9, SyncGroup v0-5, Heartbeat
// v0-4, LeaveGroup v0-5), a groupProtocol of the membership core
// (group.go).
//
// A round: revoke everything first if the protocol is eager, JoinGroup
// (repeated once with the member id the coordinator hands out under
// MEMBER_ID_REQUIRED, KIP-394), compute the assignment if leader,
// SyncGroup, apply the assignment (the core revokes what was taken and
// starts what is new), then heartbeat until the coordinator says
// REBALANCE_IN_PROGRESS, the member is fenced (the core loses the
// partitions), no heartbeat is answered within the session timeout
// (partitions lost) or the subscribed topics change partition counts.

type classicGroup struct {
	*membership
	// Owned by the run goroutine.
	protocol GroupBalancer    // the generation's protocol; nil before the first sync
	counts   map[string]int32 // partition counts the assignment was computed on
}

func newClassicGroup(c *Consumer) *membership {
	g := &classicGroup{membership: newMembership(c, "", -1)}
	g.proto = g
	return g.membership
}

func (g *classicGroup) round(ctx context.Context) (time.Duration, bool, error) {
	err := g.joinAndSync(ctx)
	joined := err == nil
	if joined {
		err = g.heartbeatLoop(ctx)
	}
	if errors.Is(err, errRejoin) {
		err = nil
	}
	return 0, joined, err
}

// fenced: a member the coordinator does not know joins again without an
// id; any fenced member has no generation until it joins again.
func (g *classicGroup) fenced(memberID string, cause error) (string, int32) {
	if errors.Is(cause, ErrUnknownMemberID) {
		memberID = ""
	}
	return memberID, -1
}

func (g *classicGroup) joinAndSync(ctx context.Context) error {
	if _, err := g.coordinator(ctx); err != nil {
		return err
	}
	if g.protocol != nil && !g.protocol.Cooperative() {
		g.revoke(ctx, g.ownedSorted())
	}
	resp, err := g.join(ctx)
	if err != nil {
		return err
	}
	var proto GroupBalancer
	for _, b := range g.cfg.balancers {
		if resp.Protocol != nil && b.ProtocolName() == *resp.Protocol {
			proto = b
		}
	}
	if proto == nil {
		return fmt.Errorf("samsa/client: coordinator chose unknown protocol %v", resp.Protocol)
	}
	var plan []kmsg.SyncGroupRequestGroupAssignment
	var counts map[string]int32
	if resp.LeaderID == resp.MemberID && !resp.SkipAssignment {
		if plan, counts, err = g.balance(ctx, proto, resp.Members); err != nil {
			return err
		}
	}
	assigned, err := g.sync(ctx, resp, proto, plan)
	if err != nil {
		return err
	}
	return g.apply(ctx, proto, assigned, counts)
}

func (g *classicGroup) join(ctx context.Context) (*kmsg.JoinGroupResponse, error) {
	keep := func(r kmsg.Response) {
		resp := r.(*kmsg.JoinGroupResponse)
		for i := range resp.Members {
			resp.Members[i].ProtocolMetadata = cloneBytes(resp.Members[i].ProtocolMetadata)
		}
	}
	errOf := func(r kmsg.Response) error { return ErrorForCode(r.(*kmsg.JoinGroupResponse).ErrorCode) }
	for attempt := 0; ; attempt++ {
		g.mu.Lock()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = g.cfg.group
		req.SessionTimeoutMillis = int32(g.cfg.sessionTimeout / time.Millisecond)
		req.RebalanceTimeoutMillis = int32(g.cfg.rebalanceTimeout / time.Millisecond)
		req.MemberID = g.memberID
		req.InstanceID = g.cfg.instanceID
		req.ProtocolType = "consumer"
		owned := g.owned.byTopic()
		for _, b := range g.cfg.balancers {
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = b.ProtocolName()
			p.Metadata = encodeSubscription(b, g.cfg.topics, owned, g.generation)
			req.Protocols = append(req.Protocols, p)
		}
		g.mu.Unlock()
		kresp, err := g.request(ctx, req, g.cfg.rebalanceTimeout, keep, errOf)
		switch {
		case errors.Is(err, ErrMemberIDRequired) && attempt < 3:
			g.mu.Lock()
			g.memberID = kresp.(*kmsg.JoinGroupResponse).MemberID
			g.mu.Unlock()
			continue
		case errors.Is(err, ErrRebalanceInProgress) && attempt < 10:
			continue
		case err != nil:
			return nil, fmt.Errorf("join group: %w", err)
		}
		resp := kresp.(*kmsg.JoinGroupResponse)
		g.mu.Lock()
		g.memberID, g.generation = resp.MemberID, resp.Generation
		g.mu.Unlock()
		return resp, nil
	}
}

// balance runs the chosen balancer over the members' subscriptions.
func (g *classicGroup) balance(ctx context.Context, proto GroupBalancer, jms []kmsg.JoinGroupResponseMember) ([]kmsg.SyncGroupRequestGroupAssignment, map[string]int32, error) {
	members := make([]GroupMember, 0, len(jms))
	topicSet := map[string]bool{}
	for _, jm := range jms {
		m := decodeSubscription(jm.MemberID, jm.InstanceID, jm.ProtocolMetadata)
		members = append(members, m)
		for _, t := range m.Topics {
			topicSet[t] = true
		}
	}
	var topics []string
	for t := range topicSet {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	meta, err := g.c.cl.RefreshMetadata(ctx, topics...)
	if err != nil {
		return nil, nil, err
	}
	counts := map[string]int32{}
	for _, t := range topics {
		if tm := meta.Topics[t]; tm != nil && tm.Err == nil && len(tm.Partitions) > 0 {
			counts[t] = int32(len(tm.Partitions))
		}
	}
	plan := proto.Balance(members, counts)
	out := make([]kmsg.SyncGroupRequestGroupAssignment, 0, len(members))
	for _, m := range members {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID = m.ID
		a.MemberAssignment = encodeAssignment(plan[m.ID])
		out = append(out, a)
	}
	return out, counts, nil
}

func (g *classicGroup) sync(ctx context.Context, jr *kmsg.JoinGroupResponse, proto GroupBalancer, plan []kmsg.SyncGroupRequestGroupAssignment) (map[string][]int32, error) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.Generation, req.MemberID, req.InstanceID = g.cfg.group, jr.Generation, jr.MemberID, g.cfg.instanceID
	pt, pn := "consumer", proto.ProtocolName()
	req.ProtocolType, req.Protocol = &pt, &pn
	req.GroupAssignment = plan
	kresp, err := g.request(ctx, req, g.cfg.rebalanceTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.SyncGroupResponse)
		resp.MemberAssignment = cloneBytes(resp.MemberAssignment)
	}, func(r kmsg.Response) error { return ErrorForCode(r.(*kmsg.SyncGroupResponse).ErrorCode) })
	if errors.Is(err, ErrRebalanceInProgress) {
		return nil, errRejoin
	}
	if err != nil {
		return nil, fmt.Errorf("sync group: %w", err)
	}
	return decodeAssignment(kresp.(*kmsg.SyncGroupResponse).MemberAssignment)
}

// apply installs a synced assignment: revokes what was taken (cooperative),
// starts what is new from committed offsets.
func (g *classicGroup) apply(ctx context.Context, proto GroupBalancer, assigned map[string][]int32, counts map[string]int32) error {
	target := partitionsOf(assigned)
	revoked := g.ownedNotIn(target)
	g.revoke(ctx, revoked)
	g.protocol, g.counts = proto, counts
	if _, err := g.assign(ctx, target); err != nil {
		return err // keep what we had and still have; rejoin after the backoff
	}
	if proto.Cooperative() && len(revoked) > 0 {
		return errRejoin // so the revoked partitions can be given away
	}
	return nil
}

// heartbeatLoop heartbeats until a rebalance or an error.
func (g *classicGroup) heartbeatLoop(ctx context.Context) error {
	t := time.NewTicker(g.cfg.heartbeatInterval)
	defer t.Stop()
	lastOK := time.Now()
	for {
		meta, metaChanged := g.c.cl.metadataWait()
		if g.countsChanged(meta) {
			return errRejoin
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-metaChanged:
			continue
		case <-t.C:
		}
		for _, topic := range g.cfg.topics {
			if tm := meta.Topics[topic]; tm == nil || tm.Err != nil {
				g.c.cl.TriggerMetadataRefresh() // not created yet: look again
				break
			}
		}
		err := g.heartbeat(ctx)
		switch {
		case err == nil:
			lastOK = time.Now()
		case errors.Is(err, ErrRebalanceInProgress):
			return errRejoin
		case IsRetriable(err) || errors.Is(err, ErrBrokerNotAvailable):
			if time.Since(lastOK) > g.cfg.sessionTimeout {
				g.lose(fmt.Errorf("%w (last error: %v)", errSessionTimedOut, err))
				return fmt.Errorf("heartbeat: session timed out: %w", err)
			}
		default:
			return fmt.Errorf("heartbeat: %w", err)
		}
	}
}

// countsChanged reports a partition count change of a subscribed topic
// since the assignment (the leader must recompute it).
func (g *classicGroup) countsChanged(meta *Metadata) bool {
	if g.counts == nil {
		return false
	}
	for _, t := range g.cfg.topics {
		tm := meta.Topics[t]
		if tm == nil || tm.Err != nil || len(tm.Partitions) == 0 {
			continue
		}
		if int32(len(tm.Partitions)) != g.counts[t] {
			return true
		}
	}
	return false
}

func (g *classicGroup) heartbeat(ctx context.Context) error {
	g.mu.Lock()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.Generation, req.MemberID, req.InstanceID = g.cfg.group, g.generation, g.memberID, g.cfg.instanceID
	g.mu.Unlock()
	_, err := g.request(ctx, req, 0, nil, func(r kmsg.Response) error {
		return ErrorForCode(r.(*kmsg.HeartbeatResponse).ErrorCode)
	})
	return err
}

// leaveGroup sends LeaveGroup; static members keep their place until the
// session ends.
func (g *classicGroup) leaveGroup(ctx context.Context) error {
	if g.cfg.instanceID != nil {
		return nil
	}
	g.mu.Lock()
	memberID := g.memberID
	g.mu.Unlock()
	if memberID == "" {
		return nil
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = g.cfg.group, memberID
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = memberID
	reason := "consumer closing"
	m.Reason = &reason
	req.Members = []kmsg.LeaveGroupRequestMember{m}
	_, err := g.request(ctx, req, 0, nil, func(r kmsg.Response) error {
		resp := r.(*kmsg.LeaveGroupResponse)
		if err := ErrorForCode(resp.ErrorCode); err != nil {
			return err
		}
		for _, m := range resp.Members {
			if err := ErrorForCode(m.ErrorCode); err != nil && !errors.Is(err, ErrUnknownMemberID) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("leave group: %w", err)
	}
	return nil
}
