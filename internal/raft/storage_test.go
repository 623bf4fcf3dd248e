package raft

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/samsa-io/samsa/internal/vfs"
)

func ent(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: new(index), Term: new(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func hs(term, vote, commit uint64) *pb.HardState { return hardState{term, vote, commit}.pb() }

var testCS = &pb.ConfState{Voters: []uint64{1, 2, 3}}

func openTest(t *testing.T, fsys vfs.FS, dir string) *diskStorage {
	t.Helper()
	s, err := openStorage(fsys, dir, testCS, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logOf returns mem's entries as "index/term:data" strings.
func logOf(t *testing.T, s *diskStorage) []string {
	t.Helper()
	first, _ := s.mem.FirstIndex()
	last, _ := s.mem.LastIndex()
	if last < first {
		return nil
	}
	ents, err := s.mem.Entries(first, last+1, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, entString(e))
	}
	return out
}

func entString(e *pb.Entry) string {
	return fmt.Sprintf("%d/%d:%s", e.GetIndex(), e.GetTerm(), e.GetData())
}

func segments(t *testing.T, dir string) (segs, snaps []string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		switch filepath.Ext(de.Name()) {
		case ".wal":
			segs = append(segs, de.Name())
		case ".snap":
			snaps = append(snaps, de.Name())
		default:
			t.Errorf("stray file %s", de.Name())
		}
	}
	return segs, snaps
}

func TestStorageReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, vfs.OS{}, dir)
	if got := logOf(t, s); got != nil {
		t.Fatalf("fresh log %v", got)
	}
	if s.snap.index != 1 || s.snap.term != 1 || s.hs != (hardState{1, 0, 1}) {
		t.Fatalf("bootstrap snapshot (%d, %d), hard state %+v", s.snap.index, s.snap.term, s.hs)
	}
	must(t, s.append([]*pb.Entry{ent(2, 2, "a"), ent(3, 2, "b")}, hs(2, 1, 1), true))
	must(t, s.append([]*pb.Entry{ent(4, 2, "c")}, hs(2, 1, 3), true))
	// A follower's conflicting tail is replaced from index 3.
	must(t, s.append([]*pb.Entry{ent(3, 3, "B"), ent(4, 3, "C"), ent(5, 3, "D")}, hs(3, 2, 3), true))
	must(t, s.append(nil, hs(3, 2, 4), false))
	want := []string{"2/2:a", "3/3:B", "4/3:C", "5/3:D"}
	if got := logOf(t, s); !slices.Equal(got, want) {
		t.Fatalf("log %v, want %v", got, want)
	}
	s.close()
	s = openTest(t, vfs.OS{}, dir)
	defer s.close()
	if got := logOf(t, s); !slices.Equal(got, want) {
		t.Fatalf("reopened log %v, want %v", got, want)
	}
	if s.hs != (hardState{3, 2, 4}) {
		t.Fatalf("reopened hard state %+v", s.hs)
	}
	hsGot, cs, _ := s.mem.InitialState()
	if hardStateOf(hsGot) != s.hs || !slices.Equal(cs.GetVoters(), testCS.Voters) {
		t.Fatalf("raft's initial state %v %v", hsGot, cs)
	}
}

// A torn tail (a record cut short or with a bad checksum) is truncated on
// open; everything before it stays.
func TestStorageTornTail(t *testing.T) {
	for name, tear := range map[string]func(b []byte) []byte{
		"cut":     func(b []byte) []byte { return b[:len(b)-3] },
		"garbage": func(b []byte) []byte { return append(b, 0, 0, 0, 40, 1, 2, 3) },
		"crc":     func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTest(t, vfs.OS{}, dir)
			must(t, s.append([]*pb.Entry{ent(2, 2, "a")}, hs(2, 1, 1), true))
			size := s.segSize
			must(t, s.append([]*pb.Entry{ent(3, 2, "b")}, nil, true))
			seg := filepath.Join(dir, segName(s.segSeq))
			s.close()
			b, err := os.ReadFile(seg)
			must(t, err)
			must(t, os.WriteFile(seg, tear(b), 0o644))
			s = openTest(t, vfs.OS{}, dir)
			defer s.close()
			want := []string{"2/2:a"}
			if name == "garbage" {
				want = append(want, "3/2:b")
			}
			if got := logOf(t, s); !slices.Equal(got, want) {
				t.Fatalf("log %v, want %v", got, want)
			}
			if fi, _ := os.Stat(seg); name != "garbage" && fi.Size() != size {
				t.Fatalf("segment %d bytes after recovery, want %d", fi.Size(), size)
			}
			// Appends go on after the truncated tail.
			must(t, s.append([]*pb.Entry{ent(uint64(len(want))+2, 2, "z")}, nil, true))
		})
	}
}

// A snapshot compacts the log and rolls the WAL: one segment and one
// snapshot file remain, and a reopen starts from them.
func TestStorageSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, vfs.OS{}, dir)
	var ents []*pb.Entry
	for i := uint64(2); i <= 9; i++ {
		ents = append(ents, ent(i, 2, "e"))
	}
	must(t, s.append(ents, hs(2, 1, 9), true))
	must(t, s.createSnapshot(6, testCS, []byte("state@6"), 2))
	if got := logOf(t, s); !slices.Equal(got, []string{"5/2:e", "6/2:e", "7/2:e", "8/2:e", "9/2:e"}) {
		t.Fatalf("log after compaction %v", got)
	}
	segs, snaps := segments(t, dir)
	if !slices.Equal(segs, []string{segName(2)}) || !slices.Equal(snaps, []string{snapName(6, 2)}) {
		t.Fatalf("files %v %v", segs, snaps)
	}
	must(t, s.append([]*pb.Entry{ent(10, 3, "f")}, hs(3, 2, 10), true))
	s.close()
	s = openTest(t, vfs.OS{}, dir)
	defer s.close()
	if s.snap.index != 6 || string(s.snap.data) != "state@6" {
		t.Fatalf("snapshot (%d, %q)", s.snap.index, s.snap.data)
	}
	// raft sees the log from the snapshot on.
	if got := logOf(t, s); !slices.Equal(got, []string{"7/2:e", "8/2:e", "9/2:e", "10/3:f"}) {
		t.Fatalf("reopened log %v", got)
	}
	if s.hs != (hardState{3, 2, 10}) {
		t.Fatalf("hard state %+v", s.hs)
	}
}

// A snapshot from the leader replaces the whole log, even entries past it
// that a later marker would otherwise keep.
func TestStorageReceivedSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, vfs.OS{}, dir)
	must(t, s.append([]*pb.Entry{ent(2, 2, "a"), ent(3, 2, "b"), ent(4, 2, "c")}, hs(2, 1, 2), true))
	snap := (&snapFile{index: 7, term: 4, cs: testCS, data: []byte("leader@7")}).pb()
	must(t, s.saveSnapshot(snap, []*pb.Entry{ent(8, 4, "h")}, hs(4, 0, 7)))
	s.close()
	s = openTest(t, vfs.OS{}, dir)
	defer s.close()
	if got := logOf(t, s); !slices.Equal(got, []string{"8/4:h"}) {
		t.Fatalf("log %v", got)
	}
	if s.snap.index != 7 || string(s.snap.data) != "leader@7" || s.hs != (hardState{4, 0, 7}) {
		t.Fatalf("snapshot %d %q, hard state %+v", s.snap.index, s.snap.data, s.hs)
	}
}

// Damage a crash cannot cause is an error on open, never a panic or a
// silently shorter log.
func TestStorageCorrupt(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, dir string, seq uint64){
		"snapshot missing": func(t *testing.T, dir string, seq uint64) {
			must(t, os.Remove(filepath.Join(dir, snapName(1, 1))))
		},
		"snapshot damaged": func(t *testing.T, dir string, seq uint64) {
			p := filepath.Join(dir, snapName(1, 1))
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			must(t, os.WriteFile(p, b, 0o644))
		},
		"no marker": func(t *testing.T, dir string, seq uint64) {
			must(t, os.WriteFile(filepath.Join(dir, segName(seq)), appendHardState(nil, hardState{1, 0, 1}), 0o644))
		},
		"gap": func(t *testing.T, dir string, seq uint64) {
			f, _ := os.OpenFile(filepath.Join(dir, segName(seq)), os.O_WRONLY|os.O_APPEND, 0)
			f.Write(appendEntry(nil, ent(9, 2, "gap")))
			f.Close()
		},
		"commit beyond log": func(t *testing.T, dir string, seq uint64) {
			f, _ := os.OpenFile(filepath.Join(dir, segName(seq)), os.O_WRONLY|os.O_APPEND, 0)
			f.Write(appendHardState(nil, hardState{2, 1, 50}))
			f.Close()
		},
		"bad record kind": func(t *testing.T, dir string, seq uint64) {
			f, _ := os.OpenFile(filepath.Join(dir, segName(seq)), os.O_WRONLY|os.O_APPEND, 0)
			f.Write(appendRecord(nil, 77, func(b []byte) []byte { return b }))
			f.Close()
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTest(t, vfs.OS{}, dir)
			must(t, s.append([]*pb.Entry{ent(2, 2, "a")}, hs(2, 1, 2), true))
			seq := s.segSeq
			s.close()
			damage(t, dir, seq)
			if s, err := openStorage(vfs.OS{}, dir, testCS, nil); err == nil {
				s.close()
				t.Fatal("open succeeded")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	sf := &snapFile{index: 9, term: 3, cs: &pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{5}, AutoLeave: new(true)}, data: []byte("data")}
	got, err := decodeSnapFile(encodeSnapFile(sf))
	if err != nil || got.index != 9 || got.term != 3 || string(got.data) != "data" ||
		!slices.Equal(got.cs.GetVoters(), []uint64{1, 2}) || !slices.Equal(got.cs.GetLearners(), []uint64{5}) || !got.cs.GetAutoLeave() {
		t.Fatalf("%+v %v", got, err)
	}
	seq, payload, err := unwrap(wrap(300, []byte("p")))
	if err != nil || seq != 300 || string(payload) != "p" {
		t.Fatalf("envelope: %d %q %v", seq, payload, err)
	}
	if _, _, err := unwrap([]byte{2, 1}); !errors.Is(err, errCorrupt) {
		t.Fatalf("bad envelope: %v", err)
	}
}
