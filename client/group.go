package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group membership: one core (membership) shared by the two protocols,
// which plug into it as a groupProtocol: the classic protocol
// (group_classic.go: JoinGroup/SyncGroup/Heartbeat, client-side
// assignors) and KIP-848 (group848.go: ConsumerGroupHeartbeat, the
// broker assigns).
//
// The core owns what the protocols do alike:
//   - the run loop: one goroutine calls the protocol's round again and
//     again, backing off after errors; errors retrying will not fix reach
//     Poll (Consumer.pushGroupErr);
//   - the coordinator: looked up when unknown, cached, and forgotten when
//     an answer or a failure says it moved or cannot be reached
//     (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, REQUEST_TIMED_OUT, a dead
//     connection). COORDINATOR_LOAD_IN_PROGRESS is retried at the same
//     coordinator, as Kafka's ConsumerCoordinator does;
//   - the member's identity in commits: member id and generation (the
//     classic generation, or the KIP-848 member epoch), which the protocol
//     sets from the coordinator's answers;
//   - the owned partitions (one partitionSet) and their changes: assign
//     (committed offsets or the start offset, then OnAssigned), revoke
//     (OnRevoked, the final commit if auto-committing, unassign) and lose
//     (unassign and OnLost, no commit) when the coordinator fenced the
//     member (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID,
//     FENCED_MEMBER_EPOCH) or the classic session timed out;
//   - commits: the user's (retried across coordinator moves and loads and,
//     on STALE_MEMBER_EPOCH, once the member epoch moved on), auto-commit
//     (one attempt a tick), and the final commit of revoked partitions
//     (also retried through REBALANCE_IN_PROGRESS). A commit of a partition
//     the member lost, and has not been assigned again, is refused with
//     ErrAssignmentLost before it reaches the coordinator: the partition
//     may be another member's now.
//
// Locks: commitMu orders commits (a revocation's final commit must not be
// overtaken by an auto-commit of an older position) and is the only lock
// held across a request; mu guards the fields below it and is never held
// while calling into the Consumer or a callback. Order: commitMu →
// Consumer.mu, commitMu → mu.

// groupProtocol is what a membership protocol adds to the core.
type groupProtocol interface {
	// round does one step of membership on the run goroutine: classic
	// joins, syncs and heartbeats until a rebalance or an error; KIP-848
	// sends one heartbeat and reconciles. wait is how long until the next
	// round when err is nil; progressed (the member joined or heartbeated)
	// resets the error backoff.
	round(ctx context.Context) (wait time.Duration, progressed bool, err error)
	// fenced returns the member id and generation to go on with after the
	// coordinator fenced the member with cause (called under mu).
	fenced(memberID string, cause error) (string, int32)
	// leaveGroup tells the coordinator the member leaves; run has
	// returned and the partitions are revoked.
	leaveGroup(ctx context.Context) error
}

// membership is the protocol-independent part of a group consumer.
type membership struct {
	c      *Consumer
	cfg    *consumerConfig
	proto  groupProtocol
	ctx    context.Context // ends on leave or consumer stop
	cancel context.CancelFunc
	done   chan struct{} // run returned
	// commitMu orders commits; see the locks above.
	commitMu sync.Mutex

	// mu guards the following.
	mu         sync.Mutex
	coord      int32 // the coordinator's connection id; -1 unknown
	memberID   string
	generation int32        // classic generation or KIP-848 member epoch
	owned      partitionSet // assigned by the group and not yet revoked or lost
	lost       partitionSet // lost and not assigned again since: commits refused
	lostCause  error        // why the latest partitions were lost
}

func newMembership(c *Consumer, memberID string, generation int32) *membership {
	g := &membership{c: c, cfg: &c.cfg, coord: -1, memberID: memberID, generation: generation,
		owned: partitionSet{}, lost: partitionSet{}, done: make(chan struct{})}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g
}

// errRejoin ends a classic round early: the member joins again at once.
var errRejoin = errors.New("samsa/client: rejoin")

// errSessionTimedOut is the cause of partitions lost because no classic
// heartbeat was answered within the session timeout.
var errSessionTimedOut = errors.New("samsa/client: no heartbeat answered within the session timeout")

func (g *membership) run() {
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
	base, most := g.cfg.client.retryBackoff, g.cfg.client.retryBackoffMax
	backoff, wait := base, time.Duration(0)
	for {
		if wait > 0 {
			select {
			case <-g.ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if g.ctx.Err() != nil {
			return
		}
		next, progressed, err := g.proto.round(g.ctx)
		if g.ctx.Err() != nil {
			return
		}
		if progressed {
			backoff = base
		}
		if err == nil {
			wait = next
			continue
		}
		g.c.logf("group %s: %v", g.cfg.group, err)
		if isFenced(err) {
			g.lose(err)
		}
		if !isMembershipErr(err) {
			g.c.pushGroupErr(err)
		}
		wait, backoff = backoff, min(2*backoff, most)
	}
}

// leave stops run, revokes every partition (committing them if
// auto-committing) and leaves the group.
func (g *membership) leave(ctx context.Context) error {
	g.cancel()
	<-g.done
	g.revoke(ctx, g.ownedSorted())
	return g.proto.leaveGroup(ctx)
}

// isFenced reports the errors with which the coordinator says the member
// is no longer who it was: its partitions are lost.
func isFenced(err error) bool {
	return errors.Is(err, ErrUnknownMemberID) || errors.Is(err, ErrIllegalGeneration) ||
		errors.Is(err, ErrFencedInstanceID) || errors.Is(err, ErrFencedMemberEpoch)
}

// isMembershipErr reports errors the group protocols handle by themselves
// (rejoining, retrying): they are logged but not given to Poll.
func isMembershipErr(err error) bool {
	switch {
	case isFenced(err), errors.Is(err, errRejoin), errors.Is(err, ErrRebalanceInProgress),
		errors.Is(err, ErrMemberIDRequired), errors.Is(err, ErrStaleMemberEpoch),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return IsRetriable(err)
}

// coordinatorGone reports errors after which the coordinator must be
// looked up again.
func coordinatorGone(err error) bool {
	return errors.Is(err, ErrNotCoordinator) || errors.Is(err, ErrCoordinatorNotAvailable) ||
		errors.Is(err, ErrRequestTimedOut) || errors.Is(err, ErrConnDead)
}

// coordinator returns the coordinator's connection id, looking it up if
// unknown.
func (g *membership) coordinator(ctx context.Context) (int32, error) {
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

// withCoordinator runs fn with the coordinator and forgets the coordinator
// (unless another was learned meanwhile) if fn's error says it is gone.
func (g *membership) withCoordinator(ctx context.Context, fn func(coord int32) error) error {
	coord, err := g.coordinator(ctx)
	if err != nil {
		return err
	}
	err = fn(coord)
	if coordinatorGone(err) {
		g.mu.Lock()
		if g.coord == coord {
			g.coord = -1
		}
		g.mu.Unlock()
	}
	return err
}

// request sends a group request to the coordinator; errOf extracts the
// answer's error. The answer is returned with its error.
func (g *membership) request(ctx context.Context, req kmsg.Request, timeout time.Duration, keep func(kmsg.Response),
	errOf func(kmsg.Response) error) (kmsg.Response, error) {
	var resp kmsg.Response
	err := g.withCoordinator(ctx, func(coord int32) error {
		var err error
		if resp, err = g.c.cl.requestCopy(ctx, coord, req, -1, timeout, keep); err != nil {
			return err
		}
		return errOf(resp)
	})
	return resp, err
}

// fetchCommitted returns the group's committed offsets of tps (all if nil).
func (g *membership) fetchCommitted(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	var out map[TopicPartition]int64
	err := g.withCoordinator(ctx, func(coord int32) (err error) {
		out, err = g.c.cl.fetchCommitted(ctx, coord, g.cfg.group, tps)
		return err
	})
	return out, err
}

// ownedSorted returns the owned partitions, sorted.
func (g *membership) ownedSorted() []TopicPartition {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.owned.sorted()
}

// ownedNotIn returns the owned partitions that target does not hold.
func (g *membership) ownedNotIn(target partitionSet) []TopicPartition {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.owned.minus(target)
}

// assign starts the partitions of target the member does not own yet, at
// their committed offsets (the start offset where there is none), and
// returns them. On error nothing is started.
func (g *membership) assign(ctx context.Context, target partitionSet) ([]TopicPartition, error) {
	g.mu.Lock()
	added := target.minus(g.owned)
	g.mu.Unlock()
	if len(added) == 0 {
		return nil, nil
	}
	committed, err := g.fetchCommitted(ctx, added)
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets: %w", err)
	}
	start := make(map[TopicPartition]Offset, len(added))
	for _, tp := range added {
		if off, ok := committed[tp]; ok {
			start[tp] = AtOffset(off)
		} else {
			start[tp] = g.cfg.startOffset
		}
	}
	g.c.Assign(start)
	g.mu.Lock()
	g.owned.add(added...)
	g.lost.remove(added...)
	g.mu.Unlock()
	if g.cfg.onAssigned != nil {
		g.cfg.onAssigned(ctx, g.c, added)
	}
	return added, nil
}

// revoke gives partitions back cleanly: callback, final commit, unassign.
func (g *membership) revoke(ctx context.Context, tps []TopicPartition) {
	if len(tps) == 0 {
		return
	}
	if g.cfg.onRevoked != nil {
		g.cfg.onRevoked(ctx, g.c, tps)
	}
	g.commitMu.Lock()
	pos := g.c.revokeParts(tps)
	if g.cfg.autoCommit {
		// Losing this commit would make the next owner read the
		// partitions again from an older commit.
		if err := g.commitRetrying(ctx, pos, true); err != nil && ctx.Err() == nil {
			g.c.logf("group %s: commit of revoked partitions: %v", g.cfg.group, err)
		}
	}
	g.commitMu.Unlock()
	g.mu.Lock()
	g.owned.remove(tps...)
	g.mu.Unlock()
}

// lose drops every owned partition without committing: the coordinator
// fenced the member (cause), or the session timed out.
func (g *membership) lose(cause error) {
	g.mu.Lock()
	tps := g.owned.sorted()
	g.owned = partitionSet{}
	if len(tps) > 0 {
		g.lost.add(tps...)
		g.lostCause = cause
	}
	g.memberID, g.generation = g.proto.fenced(g.memberID, cause)
	g.mu.Unlock()
	if len(tps) == 0 {
		return
	}
	g.c.logf("group %s: partitions %v lost: %v", g.cfg.group, tps, cause)
	g.c.Unassign(tps...)
	if g.cfg.onLost != nil {
		g.cfg.onLost(g.ctx, g.c, tps)
	}
}

// commit is a user's commit.
func (g *membership) commit(ctx context.Context, offsets map[TopicPartition]int64) error {
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	return g.commitRetrying(ctx, offsets, false)
}

// commitRetrying commits (the caller holds commitMu), retrying what a
// moment fixes for up to the rebalance timeout (at most 10s): retriable
// errors (a coordinator that moved or is loading, a dead connection),
// STALE_MEMBER_EPOCH once the member epoch has moved on, and, while
// revoking, REBALANCE_IN_PROGRESS: a classic coordinator refuses commits
// with it until every member has synced the new generation, and a
// cooperative member revokes right after its own SyncGroup.
func (g *membership) commitRetrying(ctx context.Context, offsets map[TopicPartition]int64, revoking bool) error {
	deadline := time.Now().Add(min(g.cfg.rebalanceTimeout, 10*time.Second))
	backoff := g.cfg.client.retryBackoff
	for {
		gen, err := g.commitOnce(ctx, offsets)
		if err == nil {
			return nil
		}
		retry := IsRetriable(err) || revoking && errors.Is(err, ErrRebalanceInProgress)
		if errors.Is(err, ErrStaleMemberEpoch) {
			g.mu.Lock()
			retry = g.generation != gen
			g.mu.Unlock()
		}
		if !retry || time.Now().Add(backoff).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, g.cfg.client.retryBackoffMax)
	}
}

// commitOnce sends one commit as the member; it returns the generation it
// committed with.
func (g *membership) commitOnce(ctx context.Context, offsets map[TopicPartition]int64) (int32, error) {
	if len(offsets) == 0 {
		return 0, nil
	}
	g.mu.Lock()
	m := commitMember{generation: g.generation, memberID: g.memberID, instanceID: g.cfg.instanceID}
	var lost []TopicPartition
	for tp := range offsets {
		if g.lost.has(tp) {
			lost = append(lost, tp)
		}
	}
	cause := g.lostCause
	g.mu.Unlock()
	if len(lost) > 0 {
		sortTPs(lost)
		return m.generation, fmt.Errorf("samsa/client: commit of %v: %w: %w", lost, ErrAssignmentLost, cause)
	}
	return m.generation, g.withCoordinator(ctx, func(coord int32) error {
		return g.c.cl.commitOffsets(ctx, coord, g.cfg.group, m, offsets)
	})
}

// autoCommitLoop commits, every interval until the membership ends, the
// polled positions of the owned partitions that moved since the last
// successful commit; a failed commit is tried again on the next tick.
func (g *membership) autoCommitLoop() {
	t := time.NewTicker(g.cfg.autoCommitInterval)
	defer t.Stop()
	last := map[TopicPartition]int64{}
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		g.commitMu.Lock()
		offs := g.c.polledPositions(g.ownedSorted())
		for tp, off := range offs {
			if last[tp] == off {
				delete(offs, tp)
			}
		}
		_, err := g.commitOnce(g.ctx, offs)
		g.commitMu.Unlock()
		if err != nil {
			if g.ctx.Err() == nil {
				g.c.logf("group %s: auto-commit: %v", g.cfg.group, err)
			}
			continue
		}
		for tp, off := range offs {
			last[tp] = off
		}
	}
}

// partitionSet is a set of partitions: what a member owns, or lost.
type partitionSet map[TopicPartition]struct{}

// partitionsOf is the set of an assignment (topic → partitions).
func partitionsOf(a map[string][]int32) partitionSet {
	s := partitionSet{}
	for t, ps := range a {
		for _, p := range ps {
			s[TopicPartition{t, p}] = struct{}{}
		}
	}
	return s
}

func (s partitionSet) has(tp TopicPartition) bool { _, ok := s[tp]; return ok }

func (s partitionSet) add(tps ...TopicPartition) {
	for _, tp := range tps {
		s[tp] = struct{}{}
	}
}

func (s partitionSet) remove(tps ...TopicPartition) {
	for _, tp := range tps {
		delete(s, tp)
	}
}

// sorted returns the partitions in order (nil if none).
func (s partitionSet) sorted() []TopicPartition {
	var out []TopicPartition
	for tp := range s {
		out = append(out, tp)
	}
	sortTPs(out)
	return out
}

// minus returns the partitions of s that t does not hold, sorted.
func (s partitionSet) minus(t partitionSet) []TopicPartition {
	var out []TopicPartition
	for tp := range s {
		if !t.has(tp) {
			out = append(out, tp)
		}
	}
	sortTPs(out)
	return out
}

// byTopic returns topic → partitions (sorted).
func (s partitionSet) byTopic() map[string][]int32 {
	out := map[string][]int32{}
	for t, ps := range byTopic(s.sorted()) {
		out[t] = ps
	}
	return out
}

// byTopic yields tps grouped by topic, topics and partitions sorted: the
// shape of every request that lists partitions per topic.
func byTopic(tps []TopicPartition) iter.Seq2[string, []int32] {
	sorted := append([]TopicPartition(nil), tps...)
	sortTPs(sorted)
	return func(yield func(string, []int32) bool) {
		for i := 0; i < len(sorted); {
			j := i
			var ps []int32
			for ; j < len(sorted) && sorted[j].Topic == sorted[i].Topic; j++ {
				ps = append(ps, sorted[j].Partition)
			}
			if !yield(sorted[i].Topic, ps) {
				return
			}
			i = j
		}
	}
}
