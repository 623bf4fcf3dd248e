package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 membership (ConsumerGroupHeartbeat v0-1), a groupProtocol of the
// membership core (group.go). The broker assigns; the member heartbeats
// every HeartbeatIntervalMillis with its subscription and the partitions
// it owns, and reconciles: when a new target assignment arrives, the core
// revokes what is no longer in it (callback, commit, unassign) and starts
// what is new (committed offsets), and the result goes out on the next
// heartbeat, sent at once. Epoch 0 joins, -1 leaves (-2 for a static
// member); when fenced (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, ...) the
// core loses the partitions and the member rejoins at epoch 0 at once.
// Every heartbeat is a full one (all fields set), which the protocol
// allows. The core's generation is the member epoch, which commits carry.

type group848 struct {
	*membership
	// interval is the coordinator's heartbeat interval; the run goroutine
	// (and leave, after run returned) owns it.
	interval time.Duration
}

func newGroup848(c *Consumer) *membership {
	var id [16]byte
	rand.Read(id[:])
	g := &group848{membership: newMembership(c, base64.RawURLEncoding.EncodeToString(id[:]), 0), interval: c.cfg.heartbeatInterval}
	g.proto = g
	return g.membership
}

func (g *group848) round(ctx context.Context) (time.Duration, bool, error) {
	again, err := g.heartbeat(ctx, false)
	if isFenced(err) {
		g.lose(err)
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	if again {
		return 0, true, nil
	}
	return g.interval, true, nil
}

// fenced: the member keeps its id and joins again at epoch 0.
func (g *group848) fenced(memberID string, _ error) (string, int32) { return memberID, 0 }

// leaveGroup sends the leave heartbeat if the member joined.
func (g *group848) leaveGroup(ctx context.Context) error {
	g.mu.Lock()
	joined := g.generation > 0
	g.mu.Unlock()
	if !joined {
		return nil
	}
	_, err := g.heartbeat(ctx, true)
	return err
}

// heartbeat sends one heartbeat and reconciles; again asks for the next one
// right away (the assignment changed).
func (g *group848) heartbeat(ctx context.Context, leaving bool) (again bool, err error) {
	meta := g.c.cl.Metadata()
	g.mu.Lock()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = g.cfg.group, g.memberID, g.generation, g.cfg.instanceID
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
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{} // non-nil: owns nothing
		for topic, ps := range byTopic(g.owned.sorted()) {
			if tm := meta.Topics[topic]; tm != nil {
				t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				t.TopicID, t.Partitions = tm.ID, ps
				req.Topics = append(req.Topics, t)
			}
		}
	}
	g.mu.Unlock()
	kresp, err := g.request(ctx, req, 0, nil, func(r kmsg.Response) error {
		resp := r.(*kmsg.ConsumerGroupHeartbeatResponse)
		return errorWithMessage(resp.ErrorCode, resp.ErrorMessage)
	})
	if err != nil {
		return false, fmt.Errorf("consumer group heartbeat: %w", err)
	}
	resp := kresp.(*kmsg.ConsumerGroupHeartbeatResponse)
	g.mu.Lock()
	if resp.MemberID != nil && *resp.MemberID != "" {
		g.memberID = *resp.MemberID
	}
	g.generation = resp.MemberEpoch
	g.mu.Unlock()
	if resp.HeartbeatIntervalMillis > 0 {
		g.interval = time.Duration(resp.HeartbeatIntervalMillis) * time.Millisecond
	}
	if leaving || resp.Assignment == nil {
		return false, nil
	}
	return g.reconcile(ctx, resp.Assignment, false)
}

// reconcile moves to a new target assignment.
func (g *group848) reconcile(ctx context.Context, a *kmsg.ConsumerGroupHeartbeatResponseAssignment, refreshed bool) (bool, error) {
	names := map[[16]byte]string{}
	for name, tm := range g.c.cl.Metadata().Topics {
		names[tm.ID] = name
	}
	target := partitionSet{}
	for _, t := range a.Topics {
		name, ok := names[t.TopicID]
		if !ok && !refreshed {
			if _, err := g.c.cl.RefreshMetadata(ctx, g.cfg.topics...); err != nil {
				return false, err
			}
			return g.reconcile(ctx, a, true)
		}
		if !ok {
			continue // a topic we do not know: it stays unowned
		}
		for _, p := range t.Partitions {
			target.add(TopicPartition{name, p})
		}
	}
	revoked := g.ownedNotIn(target)
	g.revoke(ctx, revoked)
	added, err := g.assign(ctx, target)
	return len(revoked) > 0 || len(added) > 0, err
}
