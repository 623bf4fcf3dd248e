package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group coordinator lookup and offsets (FindCoordinator, OffsetCommit,
// OffsetFetch), shared by the consumer and the admin calls.
//
// FindCoordinator v0-6 (v4+ batched keys; both layouts filled, kmsg writes
// the one of the negotiated version). OffsetCommit capped at v9 (v10 names
// topics by id); OffsetFetch capped at v7 (v8+ is multi-group).

// ErrNoGroup is returned by commit calls on a consumer without a group.
var ErrNoGroup = errors.New("samsa/client: consumer has no group")

// FindCoordinator returns the node id of group's coordinator.
func (cl *Client) FindCoordinator(ctx context.Context, group string) (int32, error) {
	id, err := cl.coordinator(ctx, group)
	if err != nil {
		return -1, err
	}
	return coordNode(id), nil
}

// Group requests go over a connection of their own to the coordinator
// (as Java and franz-go do): brokers serve a connection's requests in
// order, and a JoinGroup parked for a rebalance must not hold up fetches
// and commits queued behind it, nor a long-polling Fetch a heartbeat.
// The client knows that connection under a node id of its own.
const coordIDBase = -1 << 30

func coordConnID(node int32) int32 { return coordIDBase - node }
func coordNode(id int32) int32     { return coordIDBase - id }

// coordinator returns the id of the dedicated connection to group's
// coordinator, looking it up with retries.
func (cl *Client) coordinator(ctx context.Context, group string) (int32, error) {
	backoff := cl.cfg.retryBackoff
	for {
		id, err := cl.findCoordinatorOnce(ctx, group)
		if err == nil || !IsRetriable(err) {
			return id, err
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("samsa/client: find coordinator of %q: %w (last error %v)", group, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, cl.cfg.retryBackoffMax)
	}
}

func (cl *Client) findCoordinatorOnce(ctx context.Context, group string) (int32, error) {
	c, err := cl.anyConn(ctx)
	if err != nil {
		return -1, err
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = group
	req.CoordinatorKeys = []string{group}
	req.CoordinatorType = 0
	kresp, err := c.requestCopy(ctx, req, -1, 0, nil)
	if err != nil {
		return -1, err
	}
	resp := kresp.(*kmsg.FindCoordinatorResponse)
	code, msg, node, host, port := resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port
	if req.Version >= 4 {
		if len(resp.Coordinators) != 1 {
			return -1, fmt.Errorf("samsa/client: find coordinator: %d answers for one key", len(resp.Coordinators))
		}
		co := resp.Coordinators[0]
		code, msg, node, host, port = co.ErrorCode, co.ErrorMessage, co.NodeID, co.Host, co.Port
	}
	if err := errorWithMessage(code, msg); err != nil {
		return -1, err
	}
	id := coordConnID(node)
	cl.learnBroker(id, net.JoinHostPort(host, strconv.Itoa(int(port))))
	return id, nil
}

// learnBroker records a broker address that came from outside metadata.
func (cl *Client) learnBroker(id int32, addr string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	b, ok := cl.brokers[id]
	if !ok {
		cl.brokers[id] = &brokerEntry{id: id, addr: addr}
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.addr != addr {
		b.addr = addr
		b.killConns(fmt.Errorf("%w: broker %d moved to %s", ErrConnDead, id, addr), false)
	}
}

// commitMember identifies the committer; generation -1 and an empty
// member id commit as a non-member (admin, or a group with no members).
type commitMember struct {
	generation int32
	memberID   string
	instanceID *string
}

// commitOffsets sends one OffsetCommit to the coordinator coord.
func (cl *Client) commitOffsets(ctx context.Context, coord int32, group string, m commitMember, offsets map[TopicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID, req.InstanceID = group, m.generation, m.memberID, m.instanceID
	req.RetentionTimeMillis = -1
	tps := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	for topic, ps := range byTopic(tps) {
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic = topic
		for _, p := range ps {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, offsets[TopicPartition{topic, p}], -1
			rp.Timestamp = -1
			t.Partitions = append(t.Partitions, rp)
		}
		req.Topics = append(req.Topics, t)
	}
	kresp, err := cl.requestCopy(ctx, coord, req, 9, 0, nil)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range kresp.(*kmsg.OffsetCommitResponse).Topics {
		for _, p := range t.Partitions {
			if err := ErrorForCode(p.ErrorCode); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err))
			}
		}
	}
	if len(errs) > 0 {
		// The first error is usually the group's (same for all).
		return fmt.Errorf("samsa/client: commit: %w", errors.Join(errs...))
	}
	return nil
}

// fetchCommitted returns the committed offsets of group; tps nil means
// every partition the group has committed. Partitions without a commit are
// absent.
func (cl *Client) fetchCommitted(ctx context.Context, coord int32, group string, tps []TopicPartition) (map[TopicPartition]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	req.RequireStable = true
	if tps != nil {
		req.Topics = []kmsg.OffsetFetchRequestTopic{} // non-nil: only these
		for topic, ps := range byTopic(tps) {
			t := kmsg.NewOffsetFetchRequestTopic()
			t.Topic, t.Partitions = topic, ps
			req.Topics = append(req.Topics, t)
		}
	}
	kresp, err := cl.requestCopy(ctx, coord, req, 7, 0, nil)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.OffsetFetchResponse)
	if err := ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := map[TopicPartition]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err)
			}
			if p.Offset >= 0 {
				out[TopicPartition{t.Topic, p.Partition}] = p.Offset
			}
		}
	}
	return out, nil
}

// CommitOffsets commits offsets (the next offset to read, i.e. last
// processed + 1) for the consumer's group, as its member. A coordinator
// that moved, is loading or cannot be reached is looked up again and the
// commit retried (for up to the rebalance timeout, at most 10s, and
// within ctx). A commit of a partition the member lost (fenced by the
// coordinator, or its session timed out) is refused with
// ErrAssignmentLost.
func (c *Consumer) CommitOffsets(ctx context.Context, offsets map[TopicPartition]int64) error {
	if c.grp == nil {
		return ErrNoGroup
	}
	return c.grp.commit(ctx, offsets)
}

// CommitRecords commits, per partition, the offset after the highest of
// recs.
func (c *Consumer) CommitRecords(ctx context.Context, recs ...*Record) error {
	offs := map[TopicPartition]int64{}
	for _, r := range recs {
		tp := TopicPartition{r.Topic, r.Partition}
		if r.Offset+1 > offs[tp] {
			offs[tp] = r.Offset + 1
		}
	}
	return c.CommitOffsets(ctx, offs)
}

// CommitPolled commits the position of every assigned partition: all the
// records Poll has returned.
func (c *Consumer) CommitPolled(ctx context.Context) error {
	return c.CommitOffsets(ctx, c.positions(nil))
}

// positions returns the known positions of tps (all assigned if nil).
func (c *Consumer) positions(tps []TopicPartition) map[TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[TopicPartition]int64{}
	if tps == nil {
		for tp, ps := range c.parts {
			if ps.offset >= 0 {
				out[tp] = ps.offset
			}
		}
		return out
	}
	for _, tp := range tps {
		if ps := c.parts[tp]; ps != nil && ps.offset >= 0 {
			out[tp] = ps.offset
		}
	}
	return out
}

// polledPositions is what auto-commit commits: positions as of the start
// of the latest Poll, for partitions still assigned.
func (c *Consumer) polledPositions(tps []TopicPartition) map[TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[TopicPartition]int64{}
	for tp, off := range c.polled {
		if c.parts[tp] != nil {
			out[tp] = off
		}
	}
	if tps != nil {
		keep := map[TopicPartition]int64{}
		for _, tp := range tps {
			if off, ok := out[tp]; ok {
				keep[tp] = off
			}
		}
		out = keep
	}
	return out
}

// Committed returns the group's committed offsets for tps (all if nil).
func (c *Consumer) Committed(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	if c.grp == nil {
		return nil, ErrNoGroup
	}
	return c.grp.fetchCommitted(ctx, tps)
}
