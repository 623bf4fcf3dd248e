package client

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fkerr "github.com/twmb/franz-go/pkg/kerr" // the package has a kerr of its own
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Tests of the membership core (group.go) that the group tests do not
// reach, on kfake (fault injection): a commit after a loss is refused with
// the named errors and never sent; a commit rides a coordinator move.

func groupFake(t *testing.T, brokers int) backend {
	return newFake(t, brokers, kfake.GroupMinSessionTimeout(100*time.Millisecond), kfake.BrokerConfigs(map[string]string{
		"group.consumer.heartbeat.interval.ms": "200", "group.consumer.session.timeout.ms": "30000",
	}))
}

// committer is a group consumer with auto-commit off that has polled the
// ten records of a fresh two-partition topic on a kfake cluster.
type committer struct {
	b     backend
	topic string
	group string
	c     *Consumer
	got   []*Record // the records polled
}

func startCommitter(t *testing.T, brokers int, opts ...ConsumerOpt) *committer {
	b := groupFake(t, brokers)
	cm := &committer{b: b, topic: newTopic(t, b, 2), group: newGroupName()}
	p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
	want := produceN(t, p, cm.topic, 2, 0, 10)
	cm.c = newTestConsumer(t, b, append([]ConsumerOpt{ConsumerGroup(cm.group), ConsumeTopics(cm.topic), AutoCommit(0),
		HeartbeatInterval(100 * time.Millisecond), SessionTimeout(3 * time.Second)}, opts...)...)
	cm.got = pollN(t, cm.c, 10, 30*time.Second)
	checkSame(t, cm.got, want)
	return cm
}

// commitsByNode counts the OffsetCommit requests each broker receives.
type commitsByNode struct {
	mu sync.Mutex
	n  map[int32]int
}

func countCommits(b backend) *commitsByNode {
	cs := &commitsByNode{n: map[int32]int{}}
	b.fake.ControlKey(int16(kmsg.OffsetCommit), func(kmsg.Request) (kmsg.Response, error, bool) {
		b.fake.KeepControl()
		node := b.fake.CurrentNode()
		cs.mu.Lock()
		cs.n[node]++
		cs.mu.Unlock()
		return nil, nil, false // observe only
	})
	return cs
}

func (cs *commitsByNode) total() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := 0
	for _, v := range cs.n {
		n += v
	}
	return n
}

// checkGroupCommits verifies, on the broker's side, that group committed
// the offset after the last of recs on each partition.
func checkGroupCommits(t *testing.T, b backend, group string, recs []*Record) {
	t.Helper()
	want := map[TopicPartition]int64{}
	for _, r := range recs {
		tp := TopicPartition{r.Topic, r.Partition}
		want[tp] = max(want[tp], r.Offset+1)
	}
	info := b.fake.GroupInfo(group)
	if info == nil {
		t.Fatalf("group %s unknown to the broker", group)
	}
	for tp, off := range want {
		if got := info.Commits[tp.Topic][tp.Partition].Offset; got != off {
			t.Fatalf("%s committed at %d, want %d (all: %v)", tp, got, off, info.Commits)
		}
	}
}

// TestGroupCommitAfterLoss: once the coordinator fences the member (or
// the classic session times out), the member's partitions are lost
// (OnLost, unassigned), and a commit of records polled before is refused
// with ErrAssignmentLost and the loss's cause without reaching the broker;
// once the partitions are assigned again, the same commit goes through.
func TestGroupCommitAfterLoss(t *testing.T) {
	cgh := []kmsg.Key{kmsg.ConsumerGroupHeartbeat}
	epoch := func(r kmsg.Request) int32 { return r.(*kmsg.ConsumerGroupHeartbeatRequest).MemberEpoch }
	blockJoin := kfake.Fault{Keys: []kmsg.Key{kmsg.JoinGroup}, TopLevel: true, Err: fkerr.CoordinatorLoadInProgress, Count: -1}
	for _, tc := range []struct {
		name  string
		opts  []ConsumerOpt
		block kfake.Fault // keeps the member from joining again
		lose  kfake.Fault // fences the member
		cause error
	}{
		{"classic/illegal-generation", nil, blockJoin,
			kfake.Fault{Keys: []kmsg.Key{kmsg.Heartbeat}, TopLevel: true, Err: fkerr.IllegalGeneration}, ErrIllegalGeneration},
		{"classic/unknown-member-id", nil, blockJoin,
			kfake.Fault{Keys: []kmsg.Key{kmsg.Heartbeat}, TopLevel: true, Err: fkerr.UnknownMemberID}, ErrUnknownMemberID},
		{"classic/fenced-instance-id", []ConsumerOpt{InstanceID("static-a")}, blockJoin,
			kfake.Fault{Keys: []kmsg.Key{kmsg.Heartbeat}, TopLevel: true, Err: fkerr.FencedInstanceID}, ErrFencedInstanceID},
		{"classic/session-timeout", []ConsumerOpt{SessionTimeout(time.Second)}, blockJoin,
			kfake.Fault{Keys: []kmsg.Key{kmsg.Heartbeat}, TopLevel: true, Err: fkerr.CoordinatorNotAvailable, Count: -1}, errSessionTimedOut},
		{"kip848/fenced-member-epoch", []ConsumerOpt{WithGroupProtocol(GroupProtocolConsumer)},
			kfake.Fault{Keys: cgh, TopLevel: true, Err: fkerr.CoordinatorLoadInProgress, Count: -1, When: func(r kmsg.Request) bool { return epoch(r) == 0 }},
			kfake.Fault{Keys: cgh, TopLevel: true, Err: fkerr.FencedMemberEpoch, When: func(r kmsg.Request) bool { return epoch(r) > 0 }},
			ErrFencedMemberEpoch},
		{"kip848/unknown-member-id", []ConsumerOpt{WithGroupProtocol(GroupProtocolConsumer)},
			kfake.Fault{Keys: cgh, TopLevel: true, Err: fkerr.CoordinatorLoadInProgress, Count: -1, When: func(r kmsg.Request) bool { return epoch(r) == 0 }},
			kfake.Fault{Keys: cgh, TopLevel: true, Err: fkerr.UnknownMemberID, When: func(r kmsg.Request) bool { return epoch(r) > 0 }},
			ErrUnknownMemberID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lost := make(chan []TopicPartition, 4)
			cm := startCommitter(t, 1, append([]ConsumerOpt{
				OnLost(func(_ context.Context, _ *Consumer, tps []TopicPartition) { lost <- tps })}, tc.opts...)...)
			b, c, topic, got := cm.b, cm.c, cm.topic, cm.got
			commits := countCommits(b)

			block, lose := b.fake.Fault(tc.block), b.fake.Fault(tc.lose)
			select {
			case tps := <-lost:
				if want := []TopicPartition{{topic, 0}, {topic, 1}}; !slices.Equal(tps, want) {
					t.Fatalf("lost %v, want %v", tps, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no partitions lost")
			}
			if a := c.Assignment(); len(a) != 0 {
				t.Fatalf("assignment after the loss: %v", a)
			}
			ctx := testCtx(t)
			err := c.CommitRecords(ctx, got...)
			if !errors.Is(err, ErrAssignmentLost) || !errors.Is(err, tc.cause) {
				t.Fatalf("commit after the loss: %v; want ErrAssignmentLost and %v", err, tc.cause)
			}
			if IsRetriable(err) {
				t.Fatalf("the refusal %v is retriable", err)
			}
			if n := commits.total(); n != 0 {
				t.Fatalf("%d OffsetCommit requests sent after the loss", n)
			}

			block.Remove()
			lose.Remove()
			waitFor(t, "the partitions assigned again", 20*time.Second, func() bool { return len(c.Assignment()) == 2 })
			if err := c.CommitRecords(ctx, got...); err != nil {
				t.Fatalf("commit after the partitions came back: %v", err)
			}
			checkGroupCommits(t, b, cm.group, got)
		})
	}
}

// TestGroupCommitCoordinatorMoves: the coordinator moves just as a commit
// arrives (the old one answers NOT_COORDINATOR); the commit looks the
// coordinator up again and succeeds there, within one CommitRecords call.
func TestGroupCommitCoordinatorMoves(t *testing.T) {
	for _, proto := range []struct {
		name string
		opts []ConsumerOpt
	}{
		{"classic", nil},
		{"kip848", []ConsumerOpt{WithGroupProtocol(GroupProtocolConsumer)}},
	} {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			cm := startCommitter(t, 3, proto.opts...)
			b, group := cm.b, cm.group

			// Every commit reaching the first coordinator moves the group
			// and is answered NOT_COORDINATOR; the others pass.
			old := b.fake.CoordinatorFor(group)
			var mu sync.Mutex
			refused, passed := 0, map[int32]int{}
			b.fake.ControlKey(int16(kmsg.OffsetCommit), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				b.fake.KeepControl()
				mu.Lock()
				defer mu.Unlock()
				if node := b.fake.CurrentNode(); node != old {
					passed[node]++
					return nil, nil, false
				}
				refused++
				b.fake.RehashCoordinators()
				return notCoordinatorCommit(kreq.(*kmsg.OffsetCommitRequest)), nil, true
			})
			if err := cm.c.CommitRecords(testCtx(t), cm.got...); err != nil {
				t.Fatalf("commit across the coordinator move: %v", err)
			}
			mu.Lock()
			if refused == 0 || len(passed) != 1 || passed[b.fake.CoordinatorFor(group)] != 1 {
				t.Fatalf("coordinator %d refused %d commits; the others saw %v; the coordinator is now %d",
					old, refused, passed, b.fake.CoordinatorFor(group))
			}
			mu.Unlock()
			checkGroupCommits(t, b, group, cm.got)
		})
	}
}

func notCoordinatorCommit(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, fkerr.NotCoordinator.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// TestGroupCommitStaleEpochNotRetried: STALE_MEMBER_EPOCH while the
// member's epoch has not moved is returned by name after one attempt (a
// retry would carry the same epoch).
func TestGroupCommitStaleEpochNotRetried(t *testing.T) {
	t.Parallel()
	cm := startCommitter(t, 1, WithGroupProtocol(GroupProtocolConsumer))
	b, c, got := cm.b, cm.c, cm.got
	var n atomic.Int32
	b.fake.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: fkerr.StaleMemberEpoch, Count: -1, When: func(kmsg.Request) bool {
		n.Add(1)
		return true
	}})
	if err := c.CommitRecords(testCtx(t), got...); !errors.Is(err, ErrStaleMemberEpoch) {
		t.Fatalf("commit: %v, want STALE_MEMBER_EPOCH", err)
	}
	if n.Load() != 1 {
		t.Fatalf("%d commit attempts, want 1", n.Load())
	}
}

// TestPartitionSet: the owned-partition type and the per-topic grouping of
// request builders.
func TestPartitionSet(t *testing.T) {
	s := partitionsOf(map[string][]int32{"b": {2, 0}, "a": {1}})
	if got, want := s.sorted(), []TopicPartition{{"a", 1}, {"b", 0}, {"b", 2}}; !slices.Equal(got, want) {
		t.Fatalf("sorted %v, want %v", got, want)
	}
	other := partitionsOf(map[string][]int32{"b": {2}, "c": {0}})
	if got, want := s.minus(other), []TopicPartition{{"a", 1}, {"b", 0}}; !slices.Equal(got, want) {
		t.Fatalf("minus %v, want %v", got, want)
	}
	if got := (partitionSet{}).sorted(); got != nil {
		t.Fatalf("empty set sorted to %v, want nil", got)
	}
	s.remove(TopicPartition{"a", 1})
	s.add(TopicPartition{"b", 1})
	if got, want := s.byTopic(), map[string][]int32{"b": {0, 1, 2}}; !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("byTopic %v, want %v", got, want)
	}
	in := []TopicPartition{{"y", 3}, {"x", 1}, {"y", 0}}
	grouped := map[string][]int32{}
	var topics []string
	for topic, ps := range byTopic(in) {
		topics = append(topics, topic)
		grouped[topic] = ps
	}
	if !slices.Equal(topics, []string{"x", "y"}) || !maps.EqualFunc(grouped, map[string][]int32{"x": {1}, "y": {0, 3}}, slices.Equal) {
		t.Fatalf("byTopic(%v): topics %v, %v", in, topics, grouped)
	}
	if !slices.Equal(in, []TopicPartition{{"y", 3}, {"x", 1}, {"y", 0}}) {
		t.Fatalf("byTopic reordered its input: %v", in)
	}
	for range byTopic(in) {
		break // stopping early must not panic
	}
}
