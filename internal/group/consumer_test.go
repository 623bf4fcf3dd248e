package group

import (
	"maps"
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

// A KIP-848 regex resolves against every topic, internal ones included,
// and must match a whole name, as Kafka's TopicRegexResolver does; an
// invalid regex is INVALID_REGULAR_EXPRESSION and admits nothing.
func TestConsumerGroupRegex(t *testing.T) {
	cfg := &ConsumerConfig{SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second}
	offsets, orders, ordersV2 := [16]byte{1}, [16]byte{2}, [16]byte{3}
	topics := map[string]TopicMeta{
		"__consumer_offsets": {ID: offsets, Name: "__consumer_offsets", Partitions: 3},
		"orders":             {ID: orders, Name: "orders", Partitions: 2},
		"orders-v2":          {ID: ordersV2, Name: "orders-v2", Partitions: 1},
	}
	now := time.Unix(100, 0)
	join := func(g *ConsumerGroup, member, regex string) CGResult {
		return g.Heartbeat(now, CGHeartbeat{Version: 1, MemberID: member, RebalanceTimeout: 5 * time.Second, Regex: &regex}, topics)
	}
	count := func(a Assignment) map[[16]byte]int {
		out := map[[16]byte]int{}
		for id, ps := range a {
			out[id] = len(ps)
		}
		return out
	}
	for _, tc := range []struct {
		regex string
		want  map[[16]byte]int
	}{
		{`__consumer_offsets`, map[[16]byte]int{offsets: 3}},
		{`\Q__consumer_offsets\E`, map[[16]byte]int{offsets: 3}},
		{`__.*`, map[[16]byte]int{offsets: 3}},
		{`orders`, map[[16]byte]int{orders: 2}},                      // whole names only: not orders-v2
		{`order`, map[[16]byte]int{}},                                // nor a part of one
		{`orders.*`, map[[16]byte]int{orders: 2, ordersV2: 1}},       //
		{`.*`, map[[16]byte]int{offsets: 3, orders: 2, ordersV2: 1}}, // Kafka does not skip internal topics
	} {
		g := NewConsumerGroup("g", cfg, now)
		r := join(g, "m", tc.regex)
		got := count(r.Assignment)
		if r.Err != 0 || len(got) != len(tc.want) {
			t.Errorf("regex %q: %+v, want %v", tc.regex, r, tc.want)
			continue
		}
		for id, n := range tc.want {
			if got[id] != n {
				t.Errorf("regex %q: %v, want %v", tc.regex, got, tc.want)
			}
		}
	}

	g := NewConsumerGroup("g", cfg, now)
	r := join(g, "bad", "orders(")
	if r.Err != kerr.InvalidRegularExpression.Code || r.Msg == "" || len(g.members) != 0 {
		t.Fatalf("invalid regex on join: %+v, members %d", r, len(g.members))
	}
	r = join(g, "m", "orders")
	if r.Err != 0 {
		t.Fatal(r)
	}
	bad := "[z-a]"
	r = g.Heartbeat(now, CGHeartbeat{Version: 1, MemberID: "m", Epoch: r.Epoch, Regex: &bad}, topics)
	if r.Err != kerr.InvalidRegularExpression.Code || g.members["m"].Regex != "orders" {
		t.Fatalf("invalid regex on update: %+v, regex now %q", r, g.members["m"].Regex)
	}
	// Changing the regex reassigns.
	off := "__consumer_offsets"
	r = g.Heartbeat(now, CGHeartbeat{Version: 1, MemberID: "m", Epoch: g.members["m"].Epoch, Regex: &off,
		Owned: Assignment{orders: {0, 1}}}, topics)
	if r.Err != 0 || len(r.Assignment[orders]) != 0 {
		t.Fatalf("regex change must revoke orders: %+v", r)
	}
	r = g.Heartbeat(now, CGHeartbeat{Version: 1, MemberID: "m", Epoch: g.members["m"].Epoch, Owned: Assignment{}}, topics)
	if r.Err != 0 || len(r.Assignment[offsets]) != 3 {
		t.Fatalf("then assign __consumer_offsets: %+v", r)
	}
}

// A member whose answer carrying a new assignment was lost learns it from
// the answer to its next full request (rebalance timeout, subscription
// and owned partitions set), as in Kafka; a keepalive answer carries no
// assignment.
func TestConsumerGroupFullHeartbeatResendsAssignment(t *testing.T) {
	cfg := &ConsumerConfig{SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second}
	g := NewConsumerGroup("g", cfg, time.Unix(0, 0))
	tid := [16]byte{1}
	topics := map[string]TopicMeta{"t": {ID: tid, Name: "t", Partitions: 4}}
	now := time.Unix(100, 0)
	hb := func(member string, epoch int32, owned []int32, full bool) CGResult {
		req := CGHeartbeat{Version: 1, MemberID: member, Epoch: epoch, RebalanceTimeout: -time.Millisecond}
		if epoch == 0 || full {
			req.Subscribed, req.RebalanceTimeout = []string{"t"}, 5*time.Second
		}
		if owned != nil {
			req.Owned = Assignment{tid: owned}
		}
		return g.Heartbeat(now, req, topics)
	}
	ra := hb("a", 0, nil, false)
	rb := hb("b", 0, nil, false)
	ra = hb("a", ra.Epoch, []int32{0, 1, 2, 3}, false) // told to keep two
	kept := ra.Assignment[tid]
	hb("a", ra.Epoch, kept, false) // revocation acknowledged
	if r := hb("b", rb.Epoch, []int32{}, false); len(r.Assignment[tid]) != 2 {
		t.Fatalf("b gets the two released: %+v", r) // this answer is lost
	}
	epoch := g.members["b"].Epoch
	if r := hb("b", epoch, nil, false); r.Err != 0 || r.Assignment != nil {
		t.Fatalf("a keepalive answer says unchanged: %+v", r)
	}
	r := hb("b", epoch, []int32{}, true)
	if r.Err != 0 || r.Epoch != epoch || len(r.Assignment[tid]) != 2 {
		t.Fatalf("a full request gets the assignment again: %+v", r)
	}
}

// KIP-1251: a commit with an older member epoch (the answer that carried
// the new one was lost) is accepted for the partitions the member owned
// at that epoch and refused, per partition, for the rest; the assignment
// epochs survive a coordinator's reload.
func TestConsumerGroupCommitAssignmentEpochs(t *testing.T) {
	f := newCGFixture(t)
	f.g = NewConsumerGroup("g", f.cfg, f.now)
	f.hb("a", 0, nil)                      // epoch 1: a owns 0-3
	f.hb("b", 0, nil)                      // epoch 2: b waits
	r := f.hb("a", 1, []int32{0, 1, 2, 3}) // a must revoke two, keeps epoch 1
	kept := r.Assignment[f.tid]
	revoked := f.g.members["a"].Pending[f.tid]
	if len(kept) != 2 || len(revoked) != 2 {
		t.Fatalf("a keeps %v, revokes %v", kept, revoked)
	}
	// While revoking, a's pending partitions are still a's at epoch 1.
	if code := f.g.ValidateCommit("a", 1, 9, one(f.tid, revoked[0])); code != 0 {
		t.Fatalf("a at its own epoch: %d", code)
	}
	f.hb("a", 1, kept)      // revocation done: a moves to epoch 2
	f.hb("b", 2, []int32{}) // b gets the revoked two at epoch 2
	if f.g.State() != "Stable" || f.g.members["a"].Epoch != 2 {
		t.Fatalf("state %s, a at %d", f.g.State(), f.g.members["a"].Epoch)
	}
	check := func(g *ConsumerGroup) {
		t.Helper()
		part := func(topic [16]byte, p int32) int16 {
			return g.ValidateCommit("a", 1, 9, one(topic, p)) // a lost the answer with epoch 2
		}
		if code := g.ValidateCommit("a", 1, 9, maps.All(map[[16]byte]int32{})); code != 0 {
			t.Fatalf("older epoch, no partition: %d", code)
		}
		for _, p := range kept {
			if c := part(f.tid, p); c != 0 {
				t.Errorf("a's partition %d (assigned at 1) committed at epoch 1: %d", p, c)
			}
		}
		for _, p := range revoked {
			if c := part(f.tid, p); c != kerr.StaleMemberEpoch.Code {
				t.Errorf("b's partition %d committed by a at epoch 1: %d, want STALE_MEMBER_EPOCH", p, c)
			}
		}
		if c := part([16]byte{9}, 0); c != kerr.StaleMemberEpoch.Code {
			t.Errorf("a topic a does not own: %d", c)
		}
		// b's partitions were assigned at 2: epoch 1 is older than that.
		if g.ValidateCommit("b", 1, 9, one(f.tid, revoked[0])) != kerr.StaleMemberEpoch.Code {
			t.Error("b committed a partition at an epoch before it was assigned")
		}
		for _, c := range []struct {
			member  string
			epoch   int32
			version int16
			want    *kerr.Error
		}{{"a", 3, 9, kerr.StaleMemberEpoch}, {"a", 2, 8, kerr.UnsupportedVersion}, {"zz", 2, 9, kerr.UnknownMemberID}} {
			if code := g.ValidateCommit(c.member, c.epoch, c.version, one(f.tid, kept[0])); code != c.want.Code {
				t.Errorf("%s epoch %d v%d: %d, want %s", c.member, c.epoch, c.version, code, c.want.Message)
			}
		}
		if code := g.ValidateFetch("a", 1); code != kerr.StaleMemberEpoch.Code {
			t.Errorf("OffsetFetch at an older epoch: %d", code)
		}
	}
	check(f.g)
	check(RestoreConsumerGroup("g", f.cfg, f.log.state(t), f.now))
}

// one is a commit of partition p of topic alone.
func one(topic [16]byte, p int32) func(yield func([16]byte, int32) bool) {
	return func(yield func([16]byte, int32) bool) { yield(topic, p) }
}
