package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// KIP-848 reconciliation, step by step: a partition moves to a new member
// only after its old owner acknowledged the revocation.
func TestConsumerGroupRevokeBeforeAssign(t *testing.T) {
	cfg := &ConsumerConfig{SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second}
	g := NewConsumerGroup("g", cfg, time.Unix(0, 0))
	tid := [16]byte{1}
	topics := map[string]TopicMeta{"t": {ID: tid, Name: "t", Partitions: 4}}
	now := time.Unix(100, 0)
	hb := func(member string, epoch int32, owned []int32) CGResult {
		req := CGHeartbeat{Version: 1, MemberID: member, Epoch: epoch, RebalanceTimeout: 5 * time.Second}
		if epoch == 0 {
			req.Subscribed = []string{"t"}
		}
		if owned != nil {
			req.Owned = Assignment{tid: owned}
		}
		return g.Heartbeat(now, req, topics)
	}
	r := hb("a", 0, nil)
	if r.Err != 0 || r.Epoch != 1 || len(r.Assignment[tid]) != 4 {
		t.Fatalf("first member: %+v", r)
	}
	r = hb("b", 0, nil)
	// Kafka moves b to the new epoch with what is free (nothing yet).
	if r.Err != 0 || r.Epoch != 2 || len(r.Assignment[tid]) != 0 {
		t.Fatalf("second member must wait for the revocation: %+v", r)
	}
	if g.State() != "Reconciling" {
		t.Fatal(g.State())
	}
	r = hb("a", 1, []int32{0, 1, 2, 3})
	if r.Epoch != 1 || len(r.Assignment[tid]) != 2 {
		t.Fatalf("a must be told to keep two: %+v", r)
	}
	kept := r.Assignment[tid]
	if r := hb("b", 2, []int32{}); len(r.Assignment[tid]) != 0 {
		t.Fatalf("b gets nothing while a still owns them: %+v", r)
	}
	r = hb("a", 1, kept) // revocation acknowledged
	if r.Epoch != g.AssignmentEpoch() {
		t.Fatalf("a should reach the target epoch: %+v", r)
	}
	r = hb("b", g.members["b"].Epoch, []int32{})
	if len(r.Assignment[tid]) != 2 || r.Epoch != g.AssignmentEpoch() {
		t.Fatalf("b should now get the released partitions: %+v", r)
	}
	if g.State() != "Stable" {
		t.Fatal(g.State())
	}
	if r := hb("a", 99, nil); r.Err != kerr.FencedMemberEpoch.Code {
		t.Fatalf("wrong epoch: %+v", r)
	}
	if r := hb("zz", 3, nil); r.Err != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %+v", r)
	}
	// b's session ends: a gets everything back.
	now = now.Add(5 * time.Second)
	hb("a", g.members["a"].Epoch, kept)
	g.Tick(now.Add(6 * time.Second))
	r = hb("a", g.members["a"].Epoch, kept)
	if len(g.members) != 1 || len(r.Assignment[tid]) != 4 {
		t.Fatalf("after b expired: %+v members %d", r, len(g.members))
	}
}

func TestAssignors(t *testing.T) {
	a, b := [16]byte{1}, [16]byte{2}
	ts := []TopicMeta{{ID: a, Name: "a", Partitions: 3}, {ID: b, Name: "b", Partitions: 3}}
	subs := map[string][]TopicMeta{"m1": ts, "m2": ts}
	r := assignRange(subs)
	if len(r["m1"][a]) != 2 || len(r["m2"][a]) != 1 || r["m1"][a][0] != 0 || r["m1"][b][0] != 0 {
		t.Fatalf("range: %v", r)
	}
	u := assignUniform(subs, nil)
	if n1, n2 := len(u["m1"][a])+len(u["m1"][b]), len(u["m2"][a])+len(u["m2"][b]); n1 != 3 || n2 != 3 {
		t.Fatalf("uniform: %v", u)
	}
	// Sticky: a third member takes two partitions; the others keep the rest.
	subs["m3"] = ts
	u3 := assignUniform(subs, u)
	moved := 0
	for _, m := range []string{"m1", "m2"} {
		moved += len(minus(u[m], u3[m]))
	}
	if moved != 2 || len(u3["m3"][a])+len(u3["m3"][b]) != 2 {
		t.Fatalf("uniform should move exactly two partitions: %v → %v", u, u3)
	}
}
