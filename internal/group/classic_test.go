package group

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// harness drives one group through a scenario. Every request gets a token
// ("j1", "s2", ...); answers are collected by token, so a test can see
// which requests are still parked. The clock is explicit (ms from t0).
type harness struct {
	t       *testing.T
	g       *Group
	cfg     Config
	t0      time.Time
	n       int
	replies map[string]Reply
	persist int
	ids     int
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, t0: time.Unix(1000, 0), replies: map[string]Reply{}}
	h.cfg = Config{InitialRebalanceDelay: 100 * time.Millisecond, MinSessionTimeout: time.Second,
		MaxSessionTimeout: time.Minute, NewMemberID: func(c string) string { h.ids++; return fmt.Sprintf("%s-%d", c, h.ids) }}
	h.g = New("g", &h.cfg, h.t0)
	return h
}

func (h *harness) at(ms int64) time.Time { return h.t0.Add(time.Duration(ms) * time.Millisecond) }

func (h *harness) apply(eff Effects) {
	for _, r := range eff.Replies {
		h.replies[r.To.(string)] = r
	}
	if eff.Persist {
		h.persist++
	}
}

func (h *harness) token(kind string) string {
	h.n++
	return fmt.Sprintf("%s%d", kind, h.n)
}

// join sends a JoinGroup: v, member id, client id, optional instance id.
func (h *harness) join(ms int64, v int16, member, client string, instance ...string) string {
	req := JoinRequest{Version: v, MemberID: member, ClientID: client, SessionTimeout: 10 * time.Second,
		RebalanceTimeout: 5 * time.Second, ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte(client)}}}
	if len(instance) > 0 {
		req.InstanceID = &instance[0]
	}
	tok := h.token("j")
	h.apply(h.g.Join(h.at(ms), req, tok))
	return tok
}

func (h *harness) sync(ms int64, member string, gen int32, assign map[string][]byte) string {
	tok := h.token("s")
	h.apply(h.g.Sync(h.at(ms), SyncRequest{MemberID: member, Generation: gen, Assignments: assign}, tok))
	return tok
}

func (h *harness) tick(ms int64) { h.apply(h.g.Tick(h.at(ms))) }

// joined returns a join answer, failing if it is still parked or is an
// error other than want.
func (h *harness) joined(tok string, want *kerr.Error) *JoinResult {
	h.t.Helper()
	r, ok := h.replies[tok]
	if !ok || r.Join == nil {
		h.t.Fatalf("%s: no JoinGroup answer yet (state %s)", tok, h.g.State())
	}
	if code := codeOf(want); r.Join.Err != code {
		h.t.Fatalf("%s: join error %v, want %v", tok, kerr.ErrorForCode(r.Join.Err), want)
	}
	return r.Join
}

func (h *harness) synced(tok string, want *kerr.Error) *SyncResult {
	h.t.Helper()
	r, ok := h.replies[tok]
	if !ok || r.Sync == nil {
		h.t.Fatalf("%s: no SyncGroup answer yet (state %s)", tok, h.g.State())
	}
	if code := codeOf(want); r.Sync.Err != code {
		h.t.Fatalf("%s: sync error %v, want %v", tok, kerr.ErrorForCode(r.Sync.Err), want)
	}
	return r.Sync
}

func (h *harness) parked(tok string) {
	h.t.Helper()
	if _, ok := h.replies[tok]; ok {
		h.t.Fatalf("%s answered, want it parked", tok)
	}
}

func (h *harness) state(want State) {
	h.t.Helper()
	if h.g.State() != want {
		h.t.Fatalf("state %s, want %s", h.g.State(), want)
	}
}

func (h *harness) heartbeat(ms int64, member string, gen int32, want *kerr.Error) {
	h.t.Helper()
	if code := h.g.Heartbeat(h.at(ms), member, nil, gen); code != codeOf(want) {
		h.t.Fatalf("heartbeat %s gen %d at %dms: %v, want %v", member, gen, ms, kerr.ErrorForCode(code), want)
	}
}

func codeOf(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

// stableGroup brings members c1..cN to a Stable generation 1 with the
// KIP-394 dance; it returns their member ids (c1 is the leader).
func stableGroup(h *harness, n int) []string {
	h.t.Helper()
	var ids, toks []string
	for i := 1; i <= n; i++ {
		first := h.join(0, 9, "", fmt.Sprintf("c%d", i))
		ids = append(ids, h.joined(first, kerr.MemberIDRequired).MemberID)
	}
	for _, id := range ids {
		toks = append(toks, h.join(10, 9, id, strings.SplitN(id, "-", 2)[0]))
	}
	h.state(PreparingRebalance)
	for _, tok := range toks {
		h.parked(tok) // the initial delay holds everyone
	}
	h.tick(110)
	leader := h.joined(toks[0], nil)
	if leader.Leader != ids[0] || len(leader.Members) != n || leader.Generation != 1 || leader.Protocol != "range" {
		h.t.Fatalf("leader answer: %+v", leader)
	}
	assign := map[string][]byte{}
	for _, id := range ids {
		assign[id] = []byte("a:" + id)
	}
	var syncs []string
	for i, id := range ids[1:] {
		if len(h.joined(toks[i+1], nil).Members) != 0 {
			h.t.Fatal("a follower got the member list")
		}
		syncs = append(syncs, h.sync(120, id, 1, nil))
	}
	for _, s := range syncs {
		h.parked(s) // followers wait for the leader
	}
	ls := h.sync(130, ids[0], 1, assign)
	h.state(Stable)
	for i, s := range append([]string{ls}, syncs...) {
		if got := string(h.synced(s, nil).Assignment); got != "a:"+ids[i] {
			h.t.Fatalf("member %s assignment %q", ids[i], got)
		}
	}
	return ids
}

// KIP-394: a v4+ join without member id gets MEMBER_ID_REQUIRED; the
// initial delay (group.initial.rebalance.delay.ms) gathers all three.
func TestJoinSyncThreeMembers(t *testing.T) {
	h := newHarness(t)
	ids := stableGroup(h, 3)
	if h.persist != 1 {
		t.Fatalf("persisted %d times, want once (at Stable)", h.persist)
	}
	for _, id := range ids {
		h.heartbeat(200, id, 1, nil)
	}
}

// Before v4 a new member is admitted at once.
func TestJoinV3NoMemberIDRequired(t *testing.T) {
	h := newHarness(t)
	tok := h.join(0, 3, "", "old")
	h.parked(tok)
	h.tick(100)
	res := h.joined(tok, nil)
	if res.MemberID != "old-1" || res.Leader != "old-1" || res.Generation != 1 {
		t.Fatalf("%+v", res)
	}
}

func TestHeartbeatErrors(t *testing.T) {
	h := newHarness(t)
	ids := stableGroup(h, 2)
	h.heartbeat(200, "nobody", 1, kerr.UnknownMemberID)
	h.heartbeat(200, ids[1], 7, kerr.IllegalGeneration)
	// A member rejoining with new metadata starts a rebalance; the other
	// learns it from its heartbeat.
	h.apply(h.g.Join(h.at(300), JoinRequest{Version: 9, MemberID: ids[0], ClientID: "c1", SessionTimeout: 10 * time.Second,
		RebalanceTimeout: 5 * time.Second, ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte("new")}}}, "rj"))
	h.state(PreparingRebalance)
	h.heartbeat(310, ids[1], 1, kerr.RebalanceInProgress)
	h.parked("rj")
	j := h.join(320, 9, ids[1], "c2")
	if r := h.joined(j, nil); r.Generation != 2 {
		t.Fatalf("generation %d, want 2", r.Generation)
	}
	h.joined("rj", nil)
	h.state(CompletingRebalance)
	h.heartbeat(330, ids[1], 2, nil)
}

// A member that stops heartbeating is removed when its session ends; the
// survivor is told to rejoin and becomes leader of generation 3.
func TestSessionExpiry(t *testing.T) {
	h := newHarness(t)
	ids := stableGroup(h, 2)
	for ms := int64(1000); ms <= 9000; ms += 1000 {
		h.heartbeat(ms, ids[0], 1, nil)
	}
	if d := h.g.Deadline(); !d.Equal(h.at(120 + 10000)) {
		t.Fatalf("deadline %v, want the session end of %s", d.Sub(h.t0), ids[1])
	}
	h.tick(10120)
	h.state(PreparingRebalance)
	h.heartbeat(10200, ids[1], 1, kerr.UnknownMemberID)
	h.heartbeat(10200, ids[0], 1, kerr.RebalanceInProgress)
	j := h.join(10300, 9, ids[0], "c1")
	res := h.joined(j, nil)
	if res.Generation != 2 || res.Leader != ids[0] || len(res.Members) != 1 {
		t.Fatalf("%+v", res)
	}
}

// A member that does not rejoin within the rebalance timeout is dropped.
func TestRebalanceTimeoutDropsLaggard(t *testing.T) {
	h := newHarness(t)
	ids := stableGroup(h, 2)
	leave, eff := h.g.Leave(h.at(200), "ghost", nil)
	if leave != kerr.UnknownMemberID.Code || len(eff.Replies) != 0 {
		t.Fatal("leaving with an unknown id must fail and change nothing")
	}
	j := h.join(300, 9, ids[0], "c1-changed")
	h.join(300, 9, ids[0], "c1") // same metadata as before: still a rejoin in PreparingRebalance
	h.joined(j, kerr.RebalanceInProgress)
	h.state(PreparingRebalance)
	h.heartbeat(1000, ids[1], 1, kerr.RebalanceInProgress) // alive but not rejoining
	h.tick(5299)
	h.state(PreparingRebalance)
	h.tick(5300) // rebalance timeout (5 s) after the rebalance began
	h.state(CompletingRebalance)
	if len(h.g.Members()) != 1 || h.g.Generation() != 2 {
		t.Fatalf("members %d generation %d", len(h.g.Members()), h.g.Generation())
	}
}

// The leader leaves: the follower rejoins and leads; when it leaves too
// the group is Empty and persisted.
func TestLeaveToEmpty(t *testing.T) {
	h := newHarness(t)
	ids := stableGroup(h, 2)
	code, eff := h.g.Leave(h.at(200), ids[0], nil)
	h.apply(eff)
	if code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	h.state(PreparingRebalance)
	j := h.join(210, 9, ids[1], "c2")
	if r := h.joined(j, nil); r.Leader != ids[1] || r.Generation != 2 {
		t.Fatalf("%+v", r)
	}
	code, eff = h.g.Leave(h.at(300), ids[1], nil)
	h.apply(eff)
	h.state(Empty)
	if code != 0 || h.persist != 2 || h.g.Generation() != 3 {
		t.Fatalf("code %d persist %d generation %d", code, h.persist, h.g.Generation())
	}
	if h.g.CanDelete() != 0 {
		t.Fatal("an empty group can be deleted")
	}
}

// The leader never sends SyncGroup: after the rebalance timeout the
// members that did not sync are removed and the rest rebalance.
func TestSyncTimeout(t *testing.T) {
	h := newHarness(t)
	a := h.joined(h.join(0, 9, "", "a"), kerr.MemberIDRequired).MemberID
	b := h.joined(h.join(0, 9, "", "b"), kerr.MemberIDRequired).MemberID
	ja, jb := h.join(1, 9, a, "a"), h.join(1, 9, b, "b")
	h.tick(101)
	h.joined(ja, nil)
	h.joined(jb, nil)
	sb := h.sync(200, b, 1, nil)
	h.parked(sb)
	h.tick(101 + 5000)
	h.synced(sb, kerr.RebalanceInProgress)
	h.state(PreparingRebalance)
	if len(h.g.Members()) != 1 || h.g.Members()[0].ID != b {
		t.Fatal("the leader that never synced should be gone")
	}
}

// KIP-345: a static member that restarts (join with its instance id and
// no member id) replaces its old id without a rebalance; the old id is
// fenced.
func TestStaticMemberReplacement(t *testing.T) {
	h := newHarness(t)
	j1 := h.join(0, 5, "", "s", "inst-1") // static: no MEMBER_ID_REQUIRED
	j2 := h.join(0, 5, "", "d", "inst-2")
	h.tick(100)
	r1, r2 := h.joined(j1, nil), h.joined(j2, nil)
	leader, follower := r1, r2
	if r2.Leader == r2.MemberID {
		leader, follower = r2, r1
	}
	h.sync(110, follower.MemberID, 1, nil)
	h.synced(h.sync(110, leader.MemberID, 1, map[string][]byte{leader.MemberID: []byte("L"), follower.MemberID: []byte("F")}), nil)
	h.state(Stable)
	persisted := h.persist

	inst := "inst-1"
	if follower == r2 {
		inst = "inst-2"
	}
	client := strings.SplitN(follower.MemberID, "-", 2)[0]
	j3 := h.join(500, 5, "", client, inst)
	res := h.joined(j3, nil)
	h.state(Stable)
	if res.MemberID == follower.MemberID || res.Generation != 1 || h.persist != persisted+1 {
		t.Fatalf("replacement: %+v persist %d", res, h.persist)
	}
	if code := h.g.Heartbeat(h.at(510), follower.MemberID, &inst, 1); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old id heartbeat: %v", kerr.ErrorForCode(code))
	}
	if got := string(h.synced(h.sync(520, res.MemberID, 1, nil), nil).Assignment); got != "F" {
		t.Fatalf("the new id should keep the old assignment, got %q", got)
	}
	// The same instance with different metadata: a rebalance.
	h.join(600, 5, "", "zzz", inst)
	h.state(PreparingRebalance)
}

func TestJoinValidation(t *testing.T) {
	h := newHarness(t)
	stableGroup(h, 1)
	bad := JoinRequest{Version: 9, ClientID: "x", SessionTimeout: 10 * time.Second, ProtocolType: "connect",
		Protocols: []Protocol{{Name: "range"}}}
	h.apply(h.g.Join(h.at(0), bad, "type"))
	h.joined("type", kerr.InconsistentGroupProtocol)
	bad.ProtocolType, bad.Protocols = "consumer", []Protocol{{Name: "roundrobin"}}
	h.apply(h.g.Join(h.at(0), bad, "proto"))
	h.joined("proto", kerr.InconsistentGroupProtocol)
	bad.Protocols, bad.SessionTimeout = []Protocol{{Name: "range"}}, 10*time.Minute
	h.apply(h.g.Join(h.at(0), bad, "session"))
	h.joined("session", kerr.InvalidSessionTimeout)
	h.joined(h.join(0, 9, "unknown-id", "x"), kerr.UnknownMemberID)
}

func TestValidateCommit(t *testing.T) {
	h := newHarness(t)
	if code := h.g.ValidateCommit(h.at(0), "", nil, -1); code != 0 {
		t.Fatalf("a simple commit on an empty group: %v", kerr.ErrorForCode(code))
	}
	ids := stableGroup(h, 2)
	cases := []struct {
		member string
		gen    int32
		want   *kerr.Error
	}{
		{ids[0], 1, nil},
		{"", -1, kerr.UnknownMemberID},
		{"nobody", 1, kerr.UnknownMemberID},
		{ids[1], 0, kerr.IllegalGeneration},
	}
	for _, c := range cases {
		if code := h.g.ValidateCommit(h.at(200), c.member, nil, c.gen); code != codeOf(c.want) {
			t.Errorf("commit %q gen %d: %v, want %v", c.member, c.gen, kerr.ErrorForCode(code), c.want)
		}
	}
	// During CompletingRebalance commits wait for the new assignment.
	code, eff := h.g.Leave(h.at(300), ids[1], nil)
	h.apply(eff)
	j := h.join(310, 9, ids[0], "c1")
	h.joined(j, nil)
	h.state(CompletingRebalance)
	if code = h.g.ValidateCommit(h.at(320), ids[0], nil, 2); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit during CompletingRebalance: %v", kerr.ErrorForCode(code))
	}
}

// A snapshot goes through the __consumer_offsets record format and
// restores a Stable group whose members can keep heartbeating.
func TestSnapshotRecordRoundTrip(t *testing.T) {
	h := newHarness(t)
	ids := stableGroup(h, 2)
	val := GroupValue(h.g.Snapshot(h.at(200)))
	rec, err := Decode(GroupKey("g"), val)
	if err != nil || rec.IsOffset || rec.Group != "g" || rec.Snapshot == nil {
		t.Fatalf("%+v %v", rec, err)
	}
	g := Restore("g", &h.cfg, *rec.Snapshot, h.at(1000))
	if g.State() != Stable || g.Generation() != 1 || g.Leader() != ids[0] || len(g.Members()) != 2 {
		t.Fatalf("restored %s gen %d leader %s", g.State(), g.Generation(), g.Leader())
	}
	if code := g.Heartbeat(h.at(1100), ids[1], nil, 1); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	if string(g.Members()[1].Assignment) != "a:"+ids[1] {
		t.Fatal("assignment lost")
	}

	off := Offset{Offset: 42, LeaderEpoch: 3, Metadata: "m", CommitTime: 7}
	rec, err = Decode(OffsetKey("g", "t", 5), OffsetValue(off))
	if err != nil || !rec.IsOffset || rec.Topic != "t" || rec.Partition != 5 || *rec.Offset != off {
		t.Fatalf("%+v %v", rec, err)
	}
	rec, err = Decode(OffsetKey("g", "t", 5), nil)
	if err != nil || rec.Offset != nil {
		t.Fatal("a null value is a tombstone")
	}
}

func TestPartitionForMatchesJava(t *testing.T) {
	// "hello".hashCode() == 99162322; "polygenelubricants".hashCode() ==
	// Integer.MIN_VALUE, which Utils.abs maps to 0.
	if got := PartitionFor("hello", 1<<30); got != 99162322 {
		t.Fatalf("hello: %d", got)
	}
	if got := PartitionFor("hello", 50); got != 99162322%50 {
		t.Fatalf("hello %% 50: %d", got)
	}
	if got := PartitionFor("polygenelubricants", 50); got != 0 {
		t.Fatalf("MIN_VALUE hash: %d", got)
	}
}

// KIP-211: offsets of a group with members never expire; once it is empty
// they expire retention after the later of commit and emptying.
func TestOffsetsExpiry(t *testing.T) {
	o := NewOffsets()
	t0 := time.UnixMilli(1_000_000)
	o.Put("g", TopicPartition{"t", 0}, Offset{Offset: 1, CommitTime: t0.UnixMilli()})
	ret := time.Hour
	if len(o.Expired("g", true, time.Time{}, t0.Add(2*ret), ret)) != 0 {
		t.Fatal("expired while the group has members")
	}
	if len(o.Expired("g", false, t0.Add(ret), t0.Add(ret+time.Minute), ret)) != 0 {
		t.Fatal("expired before retention after the group emptied")
	}
	if got := o.Expired("g", false, t0.Add(ret), t0.Add(2*ret), ret); len(got) != 1 {
		t.Fatalf("want one expired offset, got %v", got)
	}
}

// Two members die at once: one Tick removes both and the survivor leads
// the next generation alone.
func TestTwoSessionsExpireInOneTick(t *testing.T) {
	h := newHarness(t)
	ids := stableGroup(h, 3)
	for ms := int64(1000); ms <= 15000; ms += 1000 {
		h.heartbeat(ms, ids[0], 1, nil)
	}
	h.tick(20000)
	h.state(PreparingRebalance)
	if len(h.g.Members()) != 1 {
		t.Fatalf("%d members left, want 1", len(h.g.Members()))
	}
	if r := h.joined(h.join(20010, 9, ids[0], "c1"), nil); r.Generation != 2 || len(r.Members) != 1 {
		t.Fatalf("%+v", r)
	}
}
