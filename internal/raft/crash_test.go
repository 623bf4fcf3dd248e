package raft

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/samsa-io/samsa/internal/vfs"
	"github.com/samsa-io/samsa/internal/vfs/vfstest"
)

// crash tests: a workload runs on the crashable filesystem and is stopped
// at each of its sync points in turn (the sync does not happen); after the
// crash, recovery must succeed and keep everything raft was told is
// durable.

type entID struct{ index, term uint64 }

// crashModel is what the log must hold after an operation completed.
type crashModel struct {
	snapIndex, snapTerm uint64
	ents                []entID // the log after the snapshot
	hs                  hardState
}

func (m crashModel) after(s uint64) []entID {
	var out []entID
	for _, e := range m.ents {
		if e.index > s {
			out = append(out, e)
		}
	}
	return out
}

type crashOp struct {
	name string
	do   func(s *diskStorage) error
	// model: the state after the operation, from the one before.
	model func(m crashModel) crashModel
}

func ents(from, to, term uint64) []*pb.Entry {
	var out []*pb.Entry
	for i := from; i <= to; i++ {
		out = append(out, ent(i, term, fmt.Sprint("e", i, "t", term)))
	}
	return out
}

// appendModel is the model after writing es: each entry replaces its
// index and everything after.
func appendModel(m crashModel, es []*pb.Entry, h hardState) crashModel {
	log := slices.Clone(m.ents)
	for _, e := range es {
		for len(log) > 0 && log[len(log)-1].index >= e.GetIndex() {
			log = log[:len(log)-1]
		}
		log = append(log, entID{e.GetIndex(), e.GetTerm()})
	}
	m.ents, m.hs = log, h
	return m
}

func appendOp(name string, es []*pb.Entry, h hardState) crashOp {
	return crashOp{name, func(s *diskStorage) error { return s.append(es, h.pb(), true) },
		func(m crashModel) crashModel { return appendModel(m, es, h) }}
}

func localSnapOp(index, catchUp uint64) crashOp {
	return crashOp{fmt.Sprint("snapshot@", index),
		func(s *diskStorage) error {
			return s.createSnapshot(index, testCS, []byte(fmt.Sprint("state@", index)), catchUp)
		},
		func(m crashModel) crashModel {
			for _, e := range m.ents {
				if e.index == index {
					m.snapIndex, m.snapTerm = index, e.term
				}
			}
			m.hs.commit = max(m.hs.commit, index)
			return m
		}}
}

func receivedSnapOp(index, term uint64, es []*pb.Entry, h hardState) crashOp {
	return crashOp{fmt.Sprint("received snapshot@", index),
		func(s *diskStorage) error {
			snap := (&snapFile{index: index, term: term, cs: testCS, data: []byte(fmt.Sprint("leader@", index))}).pb()
			return s.saveSnapshot(snap, es, h.pb())
		},
		func(m crashModel) crashModel {
			m = crashModel{snapIndex: index, snapTerm: term}
			return appendModel(m, es, h)
		}}
}

var crashWorkload = []crashOp{
	appendOp("append 2-4", ents(2, 4, 2), hardState{2, 1, 1}),
	appendOp("append 5-6", ents(5, 6, 2), hardState{2, 1, 4}),
	appendOp("conflicting 5-7", ents(5, 7, 3), hardState{3, 2, 4}),
	localSnapOp(6, 1),
	appendOp("append 8-9", ents(8, 9, 3), hardState{3, 2, 8}),
	appendOp("new term", nil, hardState{4, 0, 8}),
	appendOp("vote", nil, hardState{4, 3, 8}),
	receivedSnapOp(12, 4, ents(13, 13, 4), hardState{4, 3, 12}),
	appendOp("append 14-15", ents(14, 15, 4), hardState{4, 3, 13}),
	localSnapOp(14, 0),
	appendOp("append 16", ents(16, 16, 4), hardState{4, 3, 15}),
}

const crashDir = "/data/__cluster_metadata-0"

// runCrashWorkload opens the log on fsys and runs the workload, returning
// how many operations completed (-1: the open failed).
func runCrashWorkload(fsys vfs.FS) int {
	s, err := openStorage(fsys, crashDir, testCS, nil)
	if err != nil {
		return -1
	}
	defer s.close()
	for i, op := range crashWorkload {
		if err := op.do(s); err != nil {
			return i
		}
	}
	return len(crashWorkload)
}

func recoveredModel(t testing.TB, s *diskStorage) crashModel {
	m := crashModel{snapIndex: s.snap.index, snapTerm: s.snap.term, hs: s.hs}
	first, _ := s.mem.FirstIndex()
	last, _ := s.mem.LastIndex()
	if last >= first {
		es, err := s.mem.Entries(first, last+1, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			m.ents = append(m.ents, entID{e.GetIndex(), e.GetTerm()})
		}
	}
	return m
}

// checkRecovered: after a crash during the operation taking a to b, the
// recovered state r holds at least a (what was acknowledged) and at most b.
func checkRecovered(r, a, b crashModel) error {
	if (r.hs.term != a.hs.term || r.hs.vote != a.hs.vote) && (r.hs.term != b.hs.term || r.hs.vote != b.hs.vote) {
		return fmt.Errorf("hard state term %d vote %d, acknowledged %d/%d, in flight %d/%d",
			r.hs.term, r.hs.vote, a.hs.term, a.hs.vote, b.hs.term, b.hs.vote)
	}
	snapA, snapB := [2]uint64{a.snapIndex, a.snapTerm}, [2]uint64{b.snapIndex, b.snapTerm}
	snapR := [2]uint64{r.snapIndex, r.snapTerm}
	got := r.after(r.snapIndex)
	switch {
	case snapA != snapB && snapR == snapA:
		if !slices.Equal(got, a.after(r.snapIndex)) {
			return fmt.Errorf("log %v, acknowledged %v", got, a.after(r.snapIndex))
		}
	case snapA != snapB && snapR == snapB:
		if !slices.Equal(got, b.after(r.snapIndex)) {
			return fmt.Errorf("log %v after the new snapshot, want %v", got, b.after(r.snapIndex))
		}
	case snapR == snapA:
		wa, wb := a.after(r.snapIndex), b.after(r.snapIndex)
		lcp := 0
		for lcp < min(len(wa), len(wb)) && wa[lcp] == wb[lcp] {
			lcp++
		}
		ok := slices.Equal(got, wa)
		for j := lcp + 1; j <= len(wb) && !ok; j++ {
			ok = slices.Equal(got, wb[:j])
		}
		if !ok {
			return fmt.Errorf("log %v, acknowledged %v, in flight %v", got, wa, wb)
		}
		if r.hs == b.hs && r.hs != a.hs && !slices.Equal(got, wb) {
			return fmt.Errorf("the in-flight hard state survived without its entries: %v", got)
		}
	default:
		return fmt.Errorf("snapshot %v, acknowledged %v, in flight %v", snapR, snapA, snapB)
	}
	return nil
}

func TestStorageCrash(t *testing.T) {
	models := []crashModel{{snapIndex: 1, snapTerm: 1, hs: hardState{1, 0, 1}}}
	for _, op := range crashWorkload {
		models = append(models, op.model(models[len(models)-1]))
	}
	trial := func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		arm() // creating the log is in the crash window too
		done := runCrashWorkload(m)
		// The crash came during operation done (or after the last).
		a, b := models[max(done, 0)], models[max(done, 0)]
		if done >= 0 && done < len(crashWorkload) {
			b = models[done+1]
		}
		name := "the end"
		if done >= 0 && done < len(crashWorkload) {
			name = crashWorkload[done].name
		}
		return vfstest.Recovery{
			Recover: func(m *vfs.Mem) error {
				s, err := openStorage(m, crashDir, testCS, nil)
				if err == nil {
					err = s.close()
				}
				return err
			},
			Check: func(m *vfs.Mem) {
				s, err := openStorage(m, crashDir, testCS, nil)
				if err != nil {
					t.Fatalf("crash during %q: reopen: %v", name, err)
				}
				defer s.close()
				if err := checkRecovered(recoveredModel(t, s), a, b); err != nil {
					t.Fatalf("crash during %q: %v", name, err)
				}
				// Appends go on after recovery.
				last, _ := s.mem.LastIndex()
				if err := s.append([]*pb.Entry{ent(last+1, 9, "after")}, hardState{9, 0, last}.pb(), true); err != nil {
					t.Fatalf("crash during %q: append after recovery: %v", name, err)
				}
			},
		}
	}
	for _, mode := range []vfstest.Mode{{}, {Random: true, Seed: 1}, {Random: true, Seed: 2, CrashRecovery: true}} {
		points := vfstest.Run(t, mode, trial)
		t.Logf("storage crash points covered (mode %+v): %d", mode, points)
	}
}

// TestNodeCrash: a single voter acknowledges proposals (snapshots and
// compactions among them) and is crashed at each of its sync points; after
// the restart it applies every acknowledged proposal once, in order, and
// takes new ones.
func TestNodeCrash(t *testing.T) {
	const proposals = 14
	config := func(m *vfs.Mem, sm *testSM) Config {
		return Config{NodeID: 0, Voters: map[int32]string{0: "node-0"}, Dir: crashDir, FS: m, StateMachine: sm,
			TickInterval: 10 * time.Millisecond, SnapshotEntries: 5, CatchUpEntries: 2}
	}
	trial := func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		arm()
		var acked []string
		if n, err := Start(config(m, &testSM{})); err == nil {
			for i := range proposals {
				d := fmt.Sprint("p", i)
				if proposeAlone(n, d) != nil {
					break
				}
				acked = append(acked, d)
			}
			n.Close() // after a crash: the error that stopped it
		}
		return vfstest.Recovery{
			Recover: func(m *vfs.Mem) error {
				s, err := openStorage(m, crashDir, &pb.ConfState{Voters: []uint64{1}}, nil)
				if err == nil {
					err = s.close()
				}
				return err
			},
			Check: func(m *vfs.Mem) {
				sm := &testSM{}
				n, err := Start(config(m, sm))
				if err != nil {
					t.Fatalf("restart: %v", err)
				}
				defer n.Close()
				// A proposal after the restart commits everything before it.
				if err := proposeAlone(n, "after"); err != nil {
					t.Fatalf("propose after restart: %v", err)
				}
				got, _, err := sm.snapshot()
				if err != nil {
					t.Fatal(err)
				}
				data := payloads(got)
				if len(data) < len(acked)+1 || !slices.Equal(data[:len(acked)], acked) || data[len(data)-1] != "after" {
					t.Fatalf("acknowledged %v, applied after restart %v", acked, data)
				}
			},
		}
	}
	for _, mode := range []vfstest.Mode{{}, {Random: true, Seed: 3}} {
		points := vfstest.Run(t, mode, trial)
		t.Logf("node crash points covered (mode %+v): %d", mode, points)
	}
}

// proposeAlone proposes on a single voter, waiting while it elects itself.
func proposeAlone(n *Node, d string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err := n.Propose(ctx, []byte(d))
		if err == nil || !errors.Is(err, ErrNotLeader) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}
