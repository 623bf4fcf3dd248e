package raft

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func (c *cluster) startObserver(id int32, sm *testSM) *Observer {
	c.t.Helper()
	o, err := StartObserver(ObserverConfig{
		NodeID:       id,
		Voters:       c.voters,
		StateMachine: sm,
		Dial:         c.net.dialer(id),
		Logger:       testLogger(c.t),
		MaxWait:      200 * time.Millisecond,
		MaxBytes:     4096,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { o.Close() })
	return o
}

func waitObserver(t *testing.T, o *Observer, index uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.WaitApplied(ctx, index); err != nil {
		t.Fatalf("observer at %d, want %d: %v", o.Applied(), index, err)
	}
}

// An observer applies the same committed entries as the voters, and the
// voters report its position.
func TestObserverFollows(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead, _ := c.waitLeader(10 * time.Second)
	sm := &testSM{}
	o := c.startObserver(100, sm)
	var idx uint64
	for i := range 30 {
		idx = c.propose(fmt.Sprint("e", i))
	}
	waitObserver(t, o, idx)
	c.waitApplied(idx, 10*time.Second)
	want := c.checkSame()
	got, _, err := sm.snapshot()
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("observer applied %d entries (err %v), voters %d", len(got), err, len(want))
	}
	if l, _ := o.Leader(); l != lead {
		t.Errorf("observer names leader %d, want %d", l, lead)
	}
	time.Sleep(300 * time.Millisecond) // the next fetch reports the position
	st, err := c.nodes[lead].n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Observers) != 1 || st.Observers[0].ID != 100 || st.Observers[0].MatchIndex < idx || st.Observers[0].LastContact.IsZero() {
		t.Fatalf("leader's observers: %+v (want 100 at ≥ %d)", st.Observers, idx)
	}
}

// An observer that starts after the voters compacted their logs gets a
// snapshot in chunks, then the tail.
func TestObserverSnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 10
		cfg.CatchUpEntries = -1
	})
	c.waitLeader(10 * time.Second)
	var idx uint64
	for i := range 40 {
		idx = c.propose(fmt.Sprint(strings.Repeat("x", 200), i)) // a snapshot of several 4 KiB chunks
	}
	c.waitApplied(idx, 10*time.Second)
	sm := &testSM{}
	o := c.startObserver(100, sm)
	waitObserver(t, o, idx)
	idx = c.propose("tail")
	waitObserver(t, o, idx)
	c.waitApplied(idx, 10*time.Second)
	want := c.checkSame()
	got, restores, err := sm.snapshot()
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("observer applied %d entries (err %v), voters %d", len(got), err, len(want))
	}
	if restores == 0 {
		t.Fatal("observer caught up without a snapshot")
	}
}

// An observer never applies an entry that is not committed: it keeps
// fetching from a leader cut off from the other voters, whose new entries
// never commit and are later replaced.
func TestObserverNeverSeesUncommitted(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("a")
	lead, _ := c.waitLeader(10 * time.Second)
	sm := &testSM{}
	o := c.startObserver(100, sm)
	waitObserver(t, o, 1)
	deadline := time.Now().Add(5 * time.Second)
	for l, _ := o.Leader(); l != lead; l, _ = o.Leader() {
		if time.Now().After(deadline) {
			t.Fatalf("observer follows %d, leader is %d", l, lead)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var others []int32
	for _, id := range []int32{0, 1, 2} {
		if id != lead {
			others = append(others, id)
			c.net.setCut(lead, id, true)
		}
	}
	// The cut-off leader appends these but cannot commit them.
	stale := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		committed := 0
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := c.nodes[lead].n.Propose(ctx, []byte(fmt.Sprint("stale-", i))); err == nil {
				committed++
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
		stale <- committed
	}()
	newLead, _ := c.waitLeader(10*time.Second, others...)
	var idx uint64
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		idx, err = c.nodes[newLead].n.Propose(ctx, []byte(fmt.Sprint("b", i)))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := <-stale; n != 0 {
		t.Fatalf("%d proposals on the cut-off leader committed", n)
	}
	if st, err := c.nodes[lead].n.Status(context.Background()); err != nil || st.LastIndex <= st.Commit || st.Applied > st.Commit {
		t.Fatalf("cut-off leader: %+v, %v; want uncommitted entries in its log", st, err)
	}
	for _, id := range others {
		c.net.setCut(lead, id, false)
	}
	waitObserver(t, o, idx)
	c.waitApplied(idx, 10*time.Second)
	want := c.checkSame()
	got, _, err := sm.snapshot()
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("observer %v (err %v), voters %v", payloads(got), err, payloads(want))
	}
	for _, e := range got {
		if strings.HasPrefix(e.data, "stale") {
			t.Fatalf("observer applied uncommitted %q", e.data)
		}
	}
}

// Bad bytes on the controller listener close that connection; the node
// goes on.
func TestHostileRPC(t *testing.T) {
	c := newCluster(t, 1, nil)
	c.waitLeader(5 * time.Second)
	c.net.mu.Lock()
	addr := c.net.addrs[0]
	c.net.mu.Unlock()
	for name, frame := range map[string][]byte{
		"garbage":       []byte("\x00\x00\x00\x10not a kafka frame"),
		"unknown key":   appendRequest(nil, 9999, 0, 1, []byte{0, 0, 0, 0}),
		"bad version":   appendRequest(nil, KeyRaftMessage, 7, 1, []byte{0, 0, 0, 0}),
		"bad count":     appendRequest(nil, KeyRaftMessage, 0, 1, []byte{0x7f, 0xff, 0xff, 0xff}),
		"bad message":   appendRequest(nil, KeyRaftMessage, 0, 1, []byte{0, 0, 0, 1, 0, 0, 0, 3, 0xff, 0xff, 0xff}),
		"local message": appendRequest(nil, KeyRaftMessage, 0, 1, appendMessages(nil, [][]byte{{0x08, 0x00}})), // MsgHup
		"short fetch":   appendRequest(nil, KeyMetadataFetch, 0, 1, []byte{0, 0}),
		"huge frame":    {0x7f, 0xff, 0xff, 0xff, 0, 0},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write(frame)
		var b [1]byte
		if n, err := conn.Read(b[:]); err == nil {
			t.Errorf("%s: got a %d-byte answer, want the connection closed", name, n)
		}
		conn.Close()
	}
	if idx := c.propose("still here"); idx == 0 {
		t.Fatal("no index")
	}
	if err := c.nodes[0].n.Err(); err != nil {
		t.Fatalf("node stopped: %v", err)
	}
}
