package raft

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func TestSingleVoter(t *testing.T) {
	c := newCluster(t, 1, nil)
	c.waitLeader(5 * time.Second)
	for i := range 10 {
		c.propose(fmt.Sprint("e", i))
	}
	got := payloads(c.checkSame())
	if want := []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"}; !slices.Equal(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
}

// Every voter applies the same entries in the same order, and Propose
// returns each entry's index once it is applied on the leader.
func TestReplicate(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size, "voters"), func(t *testing.T) {
			c := newCluster(t, size, nil)
			c.waitLeader(10 * time.Second)
			var wg sync.WaitGroup
			var mu sync.Mutex
			indexes := map[string]uint64{}
			for w := range 4 {
				wg.Go(func() {
					for i := range 25 {
						d := fmt.Sprintf("w%d-%d", w, i)
						idx := c.propose(d)
						mu.Lock()
						indexes[d] = idx
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			var last uint64
			for _, idx := range indexes {
				last = max(last, idx)
			}
			c.waitApplied(last, 10*time.Second)
			ents := c.checkSame()
			if len(ents) != 100 {
				t.Fatalf("applied %d entries, want 100", len(ents))
			}
			for _, e := range ents {
				if indexes[e.data] != e.index {
					t.Fatalf("%q applied at %d, Propose returned %d", e.data, e.index, indexes[e.data])
				}
			}
		})
	}
}

func TestProposeOnFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead, epoch := c.waitLeader(10 * time.Second)
	f := (lead + 1) % 3
	_, err := c.nodes[f].n.Propose(context.Background(), []byte("x"))
	var nl *NotLeaderError
	if !errors.As(err, &nl) || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Propose on follower: %v, want NotLeaderError", err)
	}
	if nl.LeaderID != lead || nl.Epoch != epoch {
		t.Fatalf("NotLeaderError names %d@%d, leader is %d@%d", nl.LeaderID, nl.Epoch, lead, epoch)
	}
}

// Killing the leader elects another within the election timeout bound and
// proposals go on; the old leader rejoins as a follower and catches up.
func TestLeaderKill(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.waitLeader(10 * time.Second)
	for round := range 3 {
		c.propose(fmt.Sprint("before-", round))
		lead, _ := c.waitLeader(10 * time.Second)
		c.stop(lead)
		start := time.Now()
		newLead, _ := c.waitLeader(10 * time.Second)
		took := time.Since(start)
		if newLead == lead {
			t.Fatalf("leader %d still leads after being stopped", lead)
		}
		// The randomized timeout is below 2 election timeouts (400 ms);
		// allow pre-vote and vote round trips on a loaded machine.
		if took > 3*time.Second {
			t.Errorf("round %d: new leader after %v", round, took)
		}
		t.Logf("round %d: leader %d killed, %d elected after %v", round, lead, newLead, took)
		idx := c.propose(fmt.Sprint("after-", round))
		c.nodes[lead].sm = &testSM{} // its state comes back from its disk
		c.start(lead)
		c.waitApplied(idx, 10*time.Second)
	}
	got := payloads(c.checkSame())
	want := []string{"before-0", "after-0", "before-1", "after-1", "before-2", "after-2"}
	if !slices.Equal(got, want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
}

// A follower cut off from everyone comes back without deposing the leader:
// PreVote keeps its term from growing while it is alone, CheckQuorum keeps
// the others from granting it votes.
func TestIsolatedRejoins(t *testing.T) {
	// Slower ticks than the other tests (election timeout 0.5-1 s): on a
	// loaded machine a 200 ms stall of the leader would start a real
	// election, which is not what this test is about.
	c := newCluster(t, 3, func(cfg *Config) { cfg.TickInterval = 50 * time.Millisecond })
	lead, epoch := c.waitLeader(10 * time.Second)
	f := (lead + 1) % 3
	for _, o := range []int32{0, 1, 2} {
		if o != f {
			c.net.setCut(f, o, true)
		}
	}
	c.propose("during")
	time.Sleep(3 * time.Second) // several election timeouts
	st, err := c.nodes[f].n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != epoch {
		t.Errorf("isolated follower's epoch went from %d to %d", epoch, st.Epoch)
	}
	for _, o := range []int32{0, 1, 2} {
		c.net.setCut(f, o, false)
	}
	idx := c.propose("after")
	c.waitApplied(idx, 10*time.Second)
	if l, e := c.waitLeader(5 * time.Second); l != lead || e != epoch {
		t.Fatalf("leader %d@%d after the rejoin, was %d@%d", l, e, lead, epoch)
	}
	if got := payloads(c.checkSame()); !slices.Equal(got, []string{"during", "after"}) {
		t.Fatalf("applied %v", got)
	}
}

// A follower down while the leader snapshots and compacts its log catches
// up by snapshot (MsgSnap), then by entries.
func TestSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 10
		cfg.CatchUpEntries = -1
	})
	lead, _ := c.waitLeader(10 * time.Second)
	c.propose("first")
	down := (lead + 1) % 3
	c.stop(down)
	var idx uint64
	for i := range 50 {
		idx = c.propose(fmt.Sprint("e", i))
	}
	c.waitApplied(idx, 10*time.Second)
	st, err := c.nodes[lead].n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.SnapshotIndex < idx-15 {
		t.Fatalf("leader snapshot at %d, applied %d: no compaction", st.SnapshotIndex, idx)
	}
	c.restart(down)
	idx = c.propose("last")
	c.waitApplied(idx, 10*time.Second)
	got := c.checkSame()
	if len(got) != 52 {
		t.Fatalf("applied %d entries, want 52", len(got))
	}
	if _, restores, _ := c.nodes[down].sm.snapshot(); restores == 0 {
		t.Fatalf("node %d caught up without a snapshot", down)
	}
}

// A restart keeps the log: every node comes back with the same state, the
// state machine gets the snapshot and the entries after it once each, and
// proposals go on.
func TestRestartKeepsLog(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries = 7 })
	c.waitLeader(10 * time.Second)
	var idx uint64
	for i := range 20 {
		idx = c.propose(fmt.Sprint("e", i))
	}
	c.waitApplied(idx, 10*time.Second)
	before := c.checkSame()
	for _, id := range c.running() {
		c.stop(id)
	}
	for id := range c.nodes {
		c.nodes[id].sm = &testSM{}
		c.start(id)
	}
	c.waitApplied(idx, 10*time.Second)
	after := c.checkSame()
	if !slices.Equal(after, before) {
		t.Fatalf("after restart %d entries, before %d", len(after), len(before))
	}
	idx = c.propose("more")
	c.waitApplied(idx, 10*time.Second)
	if got := c.checkSame(); len(got) != 21 || got[20].data != "more" {
		t.Fatalf("after restart and a proposal: %v", payloads(got))
	}
}

func TestTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead, _ := c.waitLeader(10 * time.Second)
	c.propose("x")
	to := (lead + 2) % 3
	if err := c.nodes[to].n.TransferLeadership(context.Background(), lead); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("transfer from a follower: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.nodes[lead].n.TransferLeadership(ctx, to); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.waitLeader(5 * time.Second); l != to {
		t.Fatalf("leader %d after transfer to %d", l, to)
	}
	idx := c.propose("y")
	c.waitApplied(idx, 5*time.Second)
	if got := payloads(c.checkSame()); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("applied %v", got)
	}
}

func TestStatus(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead, epoch := c.waitLeader(10 * time.Second)
	idx := c.propose("x")
	c.waitApplied(idx, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // a few heartbeats: match indexes settle
	st, err := c.nodes[lead].n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.LeaderID != lead || st.Epoch != epoch || st.Role != "Leader" || st.Commit < idx || st.Applied < idx {
		t.Fatalf("leader status %+v", st)
	}
	if len(st.Voters) != 3 {
		t.Fatalf("voters %+v", st.Voters)
	}
	for _, v := range st.Voters {
		if v.MatchIndex < idx || v.LastCaughtUp.IsZero() || v.LastContact.IsZero() {
			t.Errorf("voter %+v: want match ≥ %d and contact times", v, idx)
		}
	}
	f := (lead + 1) % 3
	st, err = c.nodes[f].n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Role != "Follower" || st.LeaderID != lead {
		t.Fatalf("follower status %+v", st)
	}
}

// A leader cut off from the others (no refused connection to hint at its
// death) is replaced through raft's timers: it steps down (CheckQuorum),
// the others elect a leader, and on its return it follows.
func TestLeaderCutOff(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("a")
	lead, epoch := c.waitLeader(10 * time.Second)
	var others []int32
	for _, id := range []int32{0, 1, 2} {
		if id != lead {
			others = append(others, id)
			c.net.setCut(lead, id, true)
		}
	}
	start := time.Now()
	newLead, newEpoch := c.waitLeader(10*time.Second, others...)
	t.Logf("leader %d cut off, %d elected after %v", lead, newLead, time.Since(start))
	if newEpoch <= epoch {
		t.Fatalf("new leader %d at epoch %d, old epoch %d", newLead, newEpoch, epoch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	idx, err := c.nodes[newLead].n.Propose(ctx, []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range others {
		c.net.setCut(lead, id, false)
	}
	c.waitApplied(idx, 10*time.Second)
	if l, _ := c.waitLeader(5 * time.Second); l != newLead {
		t.Fatalf("leader %d after the old one returned, want %d", l, newLead)
	}
	if got := payloads(c.checkSame()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("applied %v", got)
	}
}

// Bootstrap entries (an imported single-node log) are the first entries
// every voter applies, at indexes 2, 3, …, before any proposal.
func TestBootstrapEntries(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.Bootstrap = [][]byte{[]byte("old-1"), []byte("old-2")} })
	idx := c.propose("new")
	c.waitApplied(idx, 10*time.Second)
	got := c.checkSame()
	if len(got) != 3 || got[0] != (smEntry{2, "old-1"}) || got[1] != (smEntry{3, "old-2"}) || got[2].data != "new" {
		t.Fatalf("applied %v", got)
	}
	// A restart does not bootstrap again.
	c.restart(0)
	c.waitApplied(idx, 10*time.Second)
	if got := c.checkSame(); len(got) != 3 {
		t.Fatalf("after restart %v", got)
	}
}

// A node refuses a log whose voter set differs from its configuration.
func TestVotersMismatch(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.waitLeader(10 * time.Second)
	c.stop(2)
	cfg := c.config(2)
	cfg.Voters = map[int32]string{0: nodeName(0), 1: nodeName(1), 2: nodeName(2), 3: nodeName(3)}
	if n, err := Start(cfg); err == nil {
		n.Close()
		t.Fatal("Start accepted a different voter set")
	}
}

// A message raft cannot take (a heartbeat claiming a commit index beyond
// the log: raft panics on it) stops that node with an error; the process
// goes on.
func TestRaftPanicStopsNode(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead, epoch := c.waitLeader(10 * time.Second)
	f := (lead + 1) % 3
	m := &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(raftID(f)), From: new(raftID(lead)), Term: new(epoch), Commit: new(uint64(1000))}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[f].n.HandleRPC(KeyRaftMessage, 0, appendMessages(nil, [][]byte{b})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.nodes[f].n.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("node did not stop")
	}
	if err := c.nodes[f].n.Err(); err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("node stopped with %v", err)
	}
	if err := c.nodes[f].n.Close(); err == nil {
		t.Fatal("Close reported no error")
	}
	c.nodes[f].n = nil
	idx := c.propose("the others go on")
	c.waitApplied(idx, 10*time.Second)
}

// A lone voter leads at once after a start, without waiting for a tick of
// raft's clock (a restart after a crash is that much shorter).
func TestSingleVoterLeadsWithoutTick(t *testing.T) {
	c := newCluster(t, 1, func(cfg *Config) { cfg.TickInterval = time.Hour })
	c.waitLeader(5 * time.Second)
	c.propose("e0")
	c.restart(0)
	c.waitLeader(5 * time.Second)
	c.propose("e1")
}
