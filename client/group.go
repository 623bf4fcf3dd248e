package client

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Classic group membership (JoinGroup v0-9, SyncGroup v0-5, Heartbeat
// v0-4, LeaveGroup v0-5).
//
// One goroutine (run) owns the membership: find the coordinator, revoke
// everything first if the protocol is eager, JoinGroup (repeated once with
// the member id the coordinator hands out under MEMBER_ID_REQUIRED, KIP-394),
// compute the assignment if leader, SyncGroup, apply the assignment (fetch
// committed offsets for new partitions), then heartbeat until the
// coordinator says REBALANCE_IN_PROGRESS, the member is fenced
// (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID: partitions
// are lost) or the subscribed topics change partition counts.
// A second goroutine auto-commits. Commits from the user go straight to the
// coordinator with the current generation.

// groupRunner is a group membership protocol.
type groupRunner interface {
	run()
	// leave stops run, commits (auto-commit) and leaves the group.
	leave(ctx context.Context) error
	commit(ctx context.Context, offsets map[TopicPartition]int64) error
}

type classicGroup struct {
	c      *Consumer
	cfg    *consumerConfig
	ctx    context.Context // ends on leave or consumer stop
	cancel context.CancelFunc
	done   chan struct{} // run returned
	// commitMu orders commits: a revocation's final commit must not be
	// overtaken by an auto-commit of an older position.
	commitMu sync.Mutex

	// mu guards the following.
	mu         sync.Mutex
	coord      int32 // -1 unknown
	memberID   string
	generation int32
	protocol   GroupBalancer // the generation's protocol; nil before the first sync
	owned      map[string][]int32
	counts     map[string]int32 // partition counts the assignment was computed on
}

func newClassicGroup(c *Consumer) *classicGroup {
	g := &classicGroup{c: c, cfg: &c.cfg, coord: -1, generation: -1, owned: map[string][]int32{}, done: make(chan struct{})}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g
}

var errRejoin = errors.New("samsa/client: rejoin")

func (g *classicGroup) run() {
	defer close(g.done)
	go func() {
		select {
		case <-g.c.stop:
			g.cancel()
		case <-g.ctx.Done():
		}
	}()
	if g.cfg.autoCommit {
		go g.autoCommitLoop()
	}
	backoff := g.cfg.client.retryBackoff
	for g.ctx.Err() == nil {
		err := g.joinAndSync()
		if err == nil {
			backoff = g.cfg.client.retryBackoff
			err = g.heartbeatLoop()
		}
		if g.ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRejoin) {
			continue
		}
		g.c.logf("group %s: %v", g.cfg.group, err)
		g.handleErr(err)
		if !isMembershipErr(err) {
			g.c.pushGroupErr(err)
		}
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, g.cfg.client.retryBackoffMax)
	}
}

// handleErr adjusts membership after a failed step.
func (g *classicGroup) handleErr(err error) {
	switch {
	case errors.Is(err, ErrUnknownMemberID):
		g.lose()
		g.mu.Lock()
		g.memberID = ""
		g.mu.Unlock()
	case errors.Is(err, ErrIllegalGeneration), errors.Is(err, ErrFencedInstanceID):
		g.lose()
	case errors.Is(err, ErrNotCoordinator), errors.Is(err, ErrCoordinatorNotAvailable), errors.Is(err, ErrConnDead), errors.Is(err, ErrRequestTimedOut):
		g.mu.Lock()
		g.coord = -1
		g.mu.Unlock()
	}
}

// coordinator returns the coordinator, looking it up if unknown.
func (g *classicGroup) coordinator(ctx context.Context) (int32, error) {
	g.mu.Lock()
	coord := g.coord
	g.mu.Unlock()
	if coord >= 0 {
		return coord, nil
	}
	coord, err := g.c.cl.coordinator(ctx, g.cfg.group)
	if err != nil {
		return -1, err
	}
	g.mu.Lock()
	g.coord = coord
	g.mu.Unlock()
	return coord, nil
}

func (g *classicGroup) joinAndSync() error {
	ctx := g.ctx
	coord, err := g.coordinator(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	eager := g.protocol != nil && !g.protocol.Cooperative()
	g.mu.Unlock()
	if eager {
		g.revoke(ctx, g.ownedTPs())
	}
	resp, err := g.join(ctx, coord)
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
	assigned, err := g.sync(ctx, coord, resp, proto, plan)
	if err != nil {
		return err
	}
	return g.apply(ctx, coord, proto, assigned, counts)
}

func (g *classicGroup) join(ctx context.Context, coord int32) (*kmsg.JoinGroupResponse, error) {
	for attempt := 0; ; attempt++ {
		g.mu.Lock()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = g.cfg.group
		req.SessionTimeoutMillis = int32(g.cfg.sessionTimeout / time.Millisecond)
		req.RebalanceTimeoutMillis = int32(g.cfg.rebalanceTimeout / time.Millisecond)
		req.MemberID = g.memberID
		req.InstanceID = g.cfg.instanceID
		req.ProtocolType = "consumer"
		for _, b := range g.cfg.balancers {
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = b.ProtocolName()
			p.Metadata = encodeSubscription(b, g.cfg.topics, g.owned, g.generation)
			req.Protocols = append(req.Protocols, p)
		}
		g.mu.Unlock()
		kresp, err := g.c.cl.requestCopy(ctx, coord, req, -1, g.cfg.rebalanceTimeout, func(r kmsg.Response) {
			resp := r.(*kmsg.JoinGroupResponse)
			for i := range resp.Members {
				resp.Members[i].ProtocolMetadata = cloneBytes(resp.Members[i].ProtocolMetadata)
			}
		})
		if err != nil {
			return nil, err
		}
		resp := kresp.(*kmsg.JoinGroupResponse)
		err = ErrorForCode(resp.ErrorCode)
		if errors.Is(err, ErrMemberIDRequired) && attempt < 3 {
			g.mu.Lock()
			g.memberID = resp.MemberID
			g.mu.Unlock()
			continue
		}
		if errors.Is(err, ErrRebalanceInProgress) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("join group: %w", err)
		}
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

func (g *classicGroup) sync(ctx context.Context, coord int32, jr *kmsg.JoinGroupResponse, proto GroupBalancer, plan []kmsg.SyncGroupRequestGroupAssignment) (map[string][]int32, error) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.Generation, req.MemberID, req.InstanceID = g.cfg.group, jr.Generation, jr.MemberID, g.cfg.instanceID
	pt, pn := "consumer", proto.ProtocolName()
	req.ProtocolType, req.Protocol = &pt, &pn
	req.GroupAssignment = plan
	kresp, err := g.c.cl.requestCopy(ctx, coord, req, -1, g.cfg.rebalanceTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.SyncGroupResponse)
		resp.MemberAssignment = cloneBytes(resp.MemberAssignment)
	})
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.SyncGroupResponse)
	if err := ErrorForCode(resp.ErrorCode); err != nil {
		if errors.Is(err, ErrRebalanceInProgress) {
			return nil, errRejoin
		}
		return nil, fmt.Errorf("sync group: %w", err)
	}
	return decodeAssignment(resp.MemberAssignment)
}

// apply installs a synced assignment: revokes what was taken (cooperative),
// starts what is new from committed offsets.
func (g *classicGroup) apply(ctx context.Context, coord int32, proto GroupBalancer, assigned map[string][]int32, counts map[string]int32) error {
	newSet := map[TopicPartition]bool{}
	for t, ps := range assigned {
		for _, p := range ps {
			newSet[TopicPartition{t, p}] = true
		}
	}
	var revoked []TopicPartition
	old := g.ownedTPs()
	oldSet := map[TopicPartition]bool{}
	for _, tp := range old {
		oldSet[tp] = true
		if !newSet[tp] {
			revoked = append(revoked, tp)
		}
	}
	if len(revoked) > 0 {
		g.revoke(ctx, revoked)
	}
	var added []TopicPartition
	for tp := range newSet {
		if !oldSet[tp] {
			added = append(added, tp)
		}
	}
	sortTPs(added)
	g.mu.Lock()
	g.protocol = proto
	g.owned = assigned
	g.counts = counts
	g.mu.Unlock()
	if len(added) > 0 {
		committed, err := g.c.cl.fetchCommitted(ctx, coord, g.cfg.group, added)
		if err != nil {
			// Keep only what we had and still have; rejoin after the backoff.
			var kept []TopicPartition
			for _, tp := range old {
				if newSet[tp] {
					kept = append(kept, tp)
				}
			}
			g.mu.Lock()
			g.owned = tpsToMap(kept)
			g.mu.Unlock()
			return fmt.Errorf("fetch committed offsets: %w", err)
		}
		start := map[TopicPartition]Offset{}
		for _, tp := range added {
			if off, ok := committed[tp]; ok {
				start[tp] = AtOffset(off)
			} else {
				start[tp] = g.cfg.startOffset
			}
		}
		g.c.Assign(start)
		if g.cfg.onAssigned != nil {
			g.cfg.onAssigned(ctx, g.c, added)
		}
	}
	if proto.Cooperative() && len(revoked) > 0 {
		return errRejoin // so the revoked partitions can be given away
	}
	return nil
}

func tpsToMap(tps []TopicPartition) map[string][]int32 {
	m := map[string][]int32{}
	for _, tp := range tps {
		m[tp.Topic] = append(m[tp.Topic], tp.Partition)
	}
	return m
}

func (g *classicGroup) ownedTPs() []TopicPartition {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []TopicPartition
	for t, ps := range g.owned {
		for _, p := range ps {
			out = append(out, TopicPartition{t, p})
		}
	}
	sortTPs(out)
	return out
}

// revoke gives partitions back cleanly: callback, commit, unassign.
func (g *classicGroup) revoke(ctx context.Context, tps []TopicPartition) {
	if len(tps) == 0 {
		return
	}
	if g.cfg.onRevoked != nil {
		g.cfg.onRevoked(ctx, g.c, tps)
	}
	g.commitMu.Lock()
	pos := g.c.revokeParts(tps)
	if g.cfg.autoCommit {
		commitRevoked(ctx, g.cfg, g.commitUnordered, pos, g.c.logf)
	}
	g.commitMu.Unlock()
	g.mu.Lock()
	drop := map[TopicPartition]bool{}
	for _, tp := range tps {
		drop[tp] = true
	}
	for t, ps := range g.owned {
		keep := ps[:0:0]
		for _, p := range ps {
			if !drop[TopicPartition{t, p}] {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			delete(g.owned, t)
		} else {
			g.owned[t] = keep
		}
	}
	g.mu.Unlock()
}

// lose drops every partition without committing (the member was fenced).
func (g *classicGroup) lose() {
	tps := g.ownedTPs()
	g.mu.Lock()
	g.owned = map[string][]int32{}
	g.generation = -1
	g.protocol = nil
	g.mu.Unlock()
	if len(tps) == 0 {
		return
	}
	g.c.Unassign(tps...)
	if g.cfg.onLost != nil {
		g.cfg.onLost(g.ctx, g.c, tps)
	}
}

// heartbeatLoop heartbeats until a rebalance or an error.
func (g *classicGroup) heartbeatLoop() error {
	t := time.NewTicker(g.cfg.heartbeatInterval)
	defer t.Stop()
	lastOK := time.Now()
	for {
		meta, metaChanged := g.c.cl.metadataWait()
		if g.countsChanged(meta) {
			return errRejoin
		}
		select {
		case <-g.ctx.Done():
			return g.ctx.Err()
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
		err := g.heartbeat()
		switch {
		case err == nil:
			lastOK = time.Now()
		case errors.Is(err, ErrRebalanceInProgress):
			return errRejoin
		case IsRetriable(err) || errors.Is(err, ErrBrokerNotAvailable):
			g.handleErr(err)
			if time.Since(lastOK) > g.cfg.sessionTimeout {
				g.lose()
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
	g.mu.Lock()
	defer g.mu.Unlock()
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

func (g *classicGroup) heartbeat() error {
	coord, err := g.coordinator(g.ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.Generation, req.MemberID, req.InstanceID = g.cfg.group, g.generation, g.memberID, g.cfg.instanceID
	g.mu.Unlock()
	kresp, err := g.c.cl.requestCopy(g.ctx, coord, req, -1, 0, nil)
	if err != nil {
		return err
	}
	return ErrorForCode(kresp.(*kmsg.HeartbeatResponse).ErrorCode)
}

func (g *classicGroup) member() commitMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	return commitMember{generation: g.generation, memberID: g.memberID, instanceID: g.cfg.instanceID}
}

func (g *classicGroup) commit(ctx context.Context, offsets map[TopicPartition]int64) error {
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	return g.commitUnordered(ctx, offsets)
}

// commitUnordered commits; the caller holds commitMu.
func (g *classicGroup) commitUnordered(ctx context.Context, offsets map[TopicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	coord, err := g.coordinator(ctx)
	if err != nil {
		return err
	}
	err = g.c.cl.commitOffsets(ctx, coord, g.cfg.group, g.member(), offsets)
	if errors.Is(err, ErrNotCoordinator) || errors.Is(err, ErrCoordinatorNotAvailable) || errors.Is(err, ErrConnDead) {
		g.mu.Lock()
		g.coord = -1
		g.mu.Unlock()
	}
	return err
}

func (g *classicGroup) autoCommitLoop() {
	autoCommitLoop(g.ctx, g.c, g.cfg.group, g.cfg.autoCommitInterval, &g.commitMu, g.ownedTPs, g.commitUnordered)
}

func (g *classicGroup) leave(ctx context.Context) error {
	g.cancel()
	<-g.done
	g.revoke(ctx, g.ownedTPs())
	if g.cfg.instanceID != nil {
		return nil // static members keep their place until the session ends
	}
	g.mu.Lock()
	memberID, coord := g.memberID, g.coord
	g.mu.Unlock()
	if memberID == "" {
		return nil
	}
	if coord < 0 {
		var err error
		if coord, err = g.c.cl.coordinator(ctx, g.cfg.group); err != nil {
			return err
		}
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = g.cfg.group, memberID
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = memberID
	reason := "consumer closing"
	m.Reason = &reason
	req.Members = []kmsg.LeaveGroupRequestMember{m}
	kresp, err := g.c.cl.requestCopy(ctx, coord, req, -1, 0, nil)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.LeaveGroupResponse)
	if err := ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("leave group: %w", err)
	}
	for _, m := range resp.Members {
		if err := ErrorForCode(m.ErrorCode); err != nil && !errors.Is(err, ErrUnknownMemberID) {
			return fmt.Errorf("leave group: %w", err)
		}
	}
	return nil
}
