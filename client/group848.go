package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 membership (ConsumerGroupHeartbeat v0-1). The broker assigns;
// the member heartbeats every HeartbeatIntervalMillis with its
// subscription and the partitions it owns, and reconciles: when a new
// target assignment arrives, it revokes what is no longer in it (callback,
// commit, unassign), starts what is new (committed offsets), and reports
// the result on the next heartbeat, sent at once. Epoch 0 joins, -1 leaves;
// FENCED_MEMBER_EPOCH and UNKNOWN_MEMBER_ID lose the partitions and rejoin
// at epoch 0. Every heartbeat is a full one (all fields set), which the
// protocol allows. Commits carry the member epoch as the generation.

type group848 struct {
	c      *Consumer
	cfg    *consumerConfig
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// commitMu orders commits (see classicGroup.commitMu).
	commitMu sync.Mutex

	// mu guards the following.
	mu       sync.Mutex
	coord    int32
	memberID string
	epoch    int32
	interval time.Duration
	owned    map[TopicPartition]bool
}

func newGroup848(c *Consumer) *group848 {
	g := &group848{c: c, cfg: &c.cfg, coord: -1, done: make(chan struct{}), owned: map[TopicPartition]bool{}, interval: c.cfg.heartbeatInterval}
	var id [16]byte
	rand.Read(id[:])
	g.memberID = base64.RawURLEncoding.EncodeToString(id[:])
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g
}

func (g *group848) run() {
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
	wait := time.Duration(0)
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(wait):
		}
		again, err := g.heartbeat(g.ctx, false)
		if g.ctx.Err() != nil {
			return
		}
		g.mu.Lock()
		wait = g.interval
		g.mu.Unlock()
		if err != nil {
			g.c.logf("group %s: heartbeat: %v", g.cfg.group, err)
			if !isMembershipErr(err) {
				g.c.pushGroupErr(err)
			}
			wait = backoff
			backoff = min(2*backoff, g.cfg.client.retryBackoffMax)
			continue
		}
		backoff = g.cfg.client.retryBackoff
		if again {
			wait = 0
		}
	}
}

func (g *group848) coordinator(ctx context.Context) (int32, error) {
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

// heartbeat sends one heartbeat and reconciles; again asks for the next one
// right away (the assignment changed).
func (g *group848) heartbeat(ctx context.Context, leaving bool) (again bool, err error) {
	coord, err := g.coordinator(ctx)
	if err != nil {
		return false, err
	}
	meta := g.c.cl.Metadata()
	g.mu.Lock()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = g.cfg.group, g.memberID, g.epoch, g.cfg.instanceID
	if leaving {
		req.MemberEpoch = -1
		if g.cfg.instanceID != nil {
			req.MemberEpoch = -2
		}
	} else {
		req.RebalanceTimeoutMillis = int32(g.cfg.rebalanceTimeout / time.Millisecond)
		req.SubscribedTopicNames = append([]string{}, g.cfg.topics...)
		if g.cfg.serverAssignor != "" {
			req.ServerAssignor = &g.cfg.serverAssignor
		}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		byTopic := map[string]int{}
		for tp := range g.owned {
			tm := meta.Topics[tp.Topic]
			if tm == nil {
				continue
			}
			i, ok := byTopic[tp.Topic]
			if !ok {
				i = len(req.Topics)
				byTopic[tp.Topic] = i
				t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				t.TopicID = tm.ID
				req.Topics = append(req.Topics, t)
			}
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, tp.Partition)
		}
	}
	g.mu.Unlock()
	kresp, err := g.c.cl.requestCopy(ctx, coord, req, -1, 0, nil)
	if err != nil {
		g.resetCoord()
		return false, err
	}
	resp := kresp.(*kmsg.ConsumerGroupHeartbeatResponse)
	if err := errorWithMessage(resp.ErrorCode, resp.ErrorMessage); err != nil {
		switch {
		case errors.Is(err, ErrUnknownMemberID), errors.Is(err, ErrFencedMemberEpoch):
			g.lose()
			return true, nil
		case errors.Is(err, ErrNotCoordinator), errors.Is(err, ErrCoordinatorNotAvailable):
			g.resetCoord()
		}
		return false, err
	}
	g.mu.Lock()
	if resp.MemberID != nil && *resp.MemberID != "" {
		g.memberID = *resp.MemberID
	}
	g.epoch = resp.MemberEpoch
	if resp.HeartbeatIntervalMillis > 0 {
		g.interval = time.Duration(resp.HeartbeatIntervalMillis) * time.Millisecond
	}
	g.mu.Unlock()
	if leaving || resp.Assignment == nil {
		return false, nil
	}
	return g.reconcile(ctx, coord, resp.Assignment, false)
}

func (g *group848) resetCoord() {
	g.mu.Lock()
	g.coord = -1
	g.mu.Unlock()
}

// reconcile moves to a new target assignment.
func (g *group848) reconcile(ctx context.Context, coord int32, a *kmsg.ConsumerGroupHeartbeatResponseAssignment, refreshed bool) (bool, error) {
	names := map[[16]byte]string{}
	for name, tm := range g.c.cl.Metadata().Topics {
		names[tm.ID] = name
	}
	target := map[TopicPartition]bool{}
	for _, t := range a.Topics {
		name, ok := names[t.TopicID]
		if !ok && !refreshed {
			if _, err := g.c.cl.RefreshMetadata(ctx, g.cfg.topics...); err != nil {
				return false, err
			}
			return g.reconcile(ctx, coord, a, true)
		}
		if !ok {
			continue // a topic we do not know: it stays unowned
		}
		for _, p := range t.Partitions {
			target[TopicPartition{name, p}] = true
		}
	}
	g.mu.Lock()
	var revoked, added []TopicPartition
	for tp := range g.owned {
		if !target[tp] {
			revoked = append(revoked, tp)
		}
	}
	for tp := range target {
		if !g.owned[tp] {
			added = append(added, tp)
		}
	}
	g.mu.Unlock()
	sortTPs(revoked)
	sortTPs(added)
	if len(revoked) > 0 {
		if g.cfg.onRevoked != nil {
			g.cfg.onRevoked(ctx, g.c, revoked)
		}
		g.commitMu.Lock()
		pos := g.c.revokeParts(revoked)
		if g.cfg.autoCommit {
			commitRevoked(ctx, g.cfg, g.commitUnordered, pos, g.c.logf)
		}
		g.commitMu.Unlock()
		g.mu.Lock()
		for _, tp := range revoked {
			delete(g.owned, tp)
		}
		g.mu.Unlock()
	}
	if len(added) > 0 {
		committed, err := g.c.cl.fetchCommitted(ctx, coord, g.cfg.group, added)
		if err != nil {
			return true, fmt.Errorf("fetch committed offsets: %w", err)
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
		g.mu.Lock()
		for _, tp := range added {
			g.owned[tp] = true
		}
		g.mu.Unlock()
		if g.cfg.onAssigned != nil {
			g.cfg.onAssigned(ctx, g.c, added)
		}
	}
	return len(revoked) > 0 || len(added) > 0, nil
}

// lose drops every partition without committing and rejoins at epoch 0.
func (g *group848) lose() {
	g.mu.Lock()
	var tps []TopicPartition
	for tp := range g.owned {
		tps = append(tps, tp)
	}
	g.owned = map[TopicPartition]bool{}
	g.epoch = 0
	g.mu.Unlock()
	if len(tps) == 0 {
		return
	}
	sortTPs(tps)
	g.c.Unassign(tps...)
	if g.cfg.onLost != nil {
		g.cfg.onLost(g.ctx, g.c, tps)
	}
}

func (g *group848) ownedTPs() []TopicPartition {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]TopicPartition, 0, len(g.owned))
	for tp := range g.owned {
		out = append(out, tp)
	}
	return out
}

func (g *group848) commit(ctx context.Context, offsets map[TopicPartition]int64) error {
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	return g.commitUnordered(ctx, offsets)
}

// commitUnordered commits; the caller holds commitMu.
func (g *group848) commitUnordered(ctx context.Context, offsets map[TopicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	coord, err := g.coordinator(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	m := commitMember{generation: g.epoch, memberID: g.memberID, instanceID: g.cfg.instanceID}
	g.mu.Unlock()
	err = g.c.cl.commitOffsets(ctx, coord, g.cfg.group, m, offsets)
	if errors.Is(err, ErrNotCoordinator) || errors.Is(err, ErrCoordinatorNotAvailable) || errors.Is(err, ErrConnDead) {
		g.resetCoord()
	}
	return err
}

func (g *group848) autoCommitLoop() {
	autoCommitLoop(g.ctx, g.c, g.cfg.group, g.cfg.autoCommitInterval, &g.commitMu, g.ownedTPs, g.commitUnordered)
}

func (g *group848) leave(ctx context.Context) error {
	g.cancel()
	<-g.done
	tps := g.ownedTPs()
	sortTPs(tps)
	if len(tps) > 0 {
		if g.cfg.onRevoked != nil {
			g.cfg.onRevoked(ctx, g.c, tps)
		}
		g.commitMu.Lock()
		pos := g.c.revokeParts(tps)
		if g.cfg.autoCommit {
			commitRevoked(ctx, g.cfg, g.commitUnordered, pos, g.c.logf)
		}
		g.commitMu.Unlock()
	}
	g.mu.Lock()
	joined := g.epoch > 0
	g.mu.Unlock()
	if !joined {
		return nil
	}
	_, err := g.heartbeat(ctx, true)
	return err
}
