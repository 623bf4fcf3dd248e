package raft

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/samsa-io/samsa/internal/vfs"
)

// diskStorage keeps raft's log, HardState and snapshot on disk in one
// directory and mirrors them into a raft.MemoryStorage that raft reads.
//
// Files:
//
//	raft-<seq>.wal             the active WAL segment: a marker naming the
//	                           snapshot, the retained entries, HardStates
//	snapshot-<index>-<term>.snap  the snapshot the segment's marker names
//
// A segment is only ever created whole: written as raft-<seq>.wal.tmp,
// synced, renamed, and the directory synced. It starts with a marker, so
// the newest segment alone rebuilds the state; older segments and snapshot
// files are deleted once a newer segment is durable. Appends go to the end
// of the newest segment; a crash can tear only its tail, which open
// truncates.
//
// Every method is called by the node goroutine only. mem is also read by
// RPC handlers (observer fetches) through its own mutex.
type diskStorage struct {
	fs  vfs.FS
	dir string
	mem *raft.MemoryStorage

	seg     vfs.File // the active segment, written at segSize
	segSeq  uint64
	segSize int64
	hs      hardState // the last HardState written
	snap    *snapFile // the snapshot named by the active segment's marker
	buf     []byte

	// sinceSnap counts WAL bytes appended since the last roll (snapshot
	// threshold).
	sinceSnap int64
}

func segName(seq uint64) string { return fmt.Sprintf("raft-%020d.wal", seq) }
func snapName(index, term uint64) string {
	return fmt.Sprintf("snapshot-%020d-%020d.snap", index, term)
}
func (s *diskStorage) path(name string) string { return filepath.Join(s.dir, name) }

// openStorage opens dir, or creates a log in it: a bootstrap snapshot at
// index 1, term 1 holding cs and no data, followed by ents (which must
// start at index 2).
func openStorage(fsys vfs.FS, dir string, cs *pb.ConfState, ents []*pb.Entry) (*diskStorage, error) {
	s := &diskStorage{fs: fsys, dir: dir, mem: raft.NewMemoryStorage()}
	if err := vfs.MkdirAllSync(fsys, dir, 0o755); err != nil {
		return nil, err
	}
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []uint64
	var junk []string
	for _, de := range des {
		name := de.Name()
		var seq, a, b uint64
		switch {
		case strings.HasSuffix(name, ".tmp"):
			junk = append(junk, name)
		case scan(name, "raft-%020d.wal", &seq) && segName(seq) == name:
			segs = append(segs, seq)
		case scan(name, "snapshot-%020d-%020d.snap", &a, &b) && snapName(a, b) == name:
			junk = append(junk, name) // kept below if the segment names it
		}
	}
	if len(segs) == 0 {
		if err := s.bootstrap(cs, ents); err != nil {
			return nil, err
		}
	} else if err := s.recover(segs[len(segs)-1]); err != nil {
		return nil, err
	} else {
		for _, seq := range segs[:len(segs)-1] {
			junk = append(junk, segName(seq))
		}
	}
	if err := s.removeExcept(junk); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func scan(name, format string, args ...any) bool {
	n, err := fmt.Sscanf(name, format, args...)
	return err == nil && n == len(args)
}

// removeExcept removes the named files except the active segment and the
// current snapshot, then syncs the directory.
func (s *diskStorage) removeExcept(names []string) error {
	keep := map[string]bool{segName(s.segSeq): true, snapName(s.snap.index, s.snap.term): true}
	removed := false
	for _, name := range names {
		if keep[name] {
			continue
		}
		if err := s.fs.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed = true
	}
	if removed {
		return s.fs.SyncDir(s.dir)
	}
	return nil
}

func (s *diskStorage) bootstrap(cs *pb.ConfState, ents []*pb.Entry) error {
	s.snap = &snapFile{index: 1, term: 1, cs: cloneConfState(cs)}
	if err := vfs.WriteFileAtomic(s.fs, s.path(snapName(1, 1)), encodeSnapFile(s.snap), 0o644); err != nil {
		return err
	}
	if err := s.mem.ApplySnapshot(s.snap.pb()); err != nil {
		return err
	}
	if err := s.mem.Append(ents); err != nil {
		return err
	}
	s.hs = hardState{term: 1, commit: 1}
	s.mem.SetHardState(s.hs.pb())
	return s.roll()
}

// recover rebuilds the state from segment seq, truncating a torn tail.
func (s *diskStorage) recover(seq uint64) error {
	name := s.path(segName(seq))
	data, err := s.fs.ReadFile(name)
	if err != nil {
		return err
	}
	st, err := replay(data)
	if err != nil {
		return fmt.Errorf("raft: %s: %w", name, err)
	}
	snapBytes, err := s.fs.ReadFile(s.path(snapName(st.snapIndex, st.snapTerm)))
	if err != nil {
		return fmt.Errorf("raft: %s names snapshot (%d, %d): %w", name, st.snapIndex, st.snapTerm, err)
	}
	snap, err := decodeSnapFile(snapBytes)
	if err != nil {
		return fmt.Errorf("raft: snapshot (%d, %d): %w", st.snapIndex, st.snapTerm, err)
	}
	if snap.index != st.snapIndex || snap.term != st.snapTerm {
		return fmt.Errorf("raft: %w: snapshot file holds (%d, %d), named (%d, %d)", errCorrupt, snap.index, snap.term, st.snapIndex, st.snapTerm)
	}
	s.snap = snap
	if err := s.mem.ApplySnapshot(snap.pb()); err != nil {
		return err
	}
	var keep []*pb.Entry
	for _, e := range st.ents {
		if e.GetIndex() > snap.index {
			keep = append(keep, e)
		} else if e.GetIndex() == snap.index && e.GetTerm() != snap.term {
			return fmt.Errorf("raft: %w: entry %d has term %d, the snapshot there %d", errCorrupt, e.GetIndex(), e.GetTerm(), snap.term)
		}
	}
	if err := s.mem.Append(keep); err != nil {
		return err
	}
	last, _ := s.mem.LastIndex()
	// A HardState written before the segment's snapshot may lag it; the
	// snapshot is committed by definition.
	st.hs.commit = max(st.hs.commit, snap.index)
	if st.hs.commit > last {
		return fmt.Errorf("raft: %w: commit index %d beyond the last entry %d", errCorrupt, st.hs.commit, last)
	}
	s.hs = st.hs
	s.mem.SetHardState(s.hs.pb())

	f, err := s.fs.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if st.good < int64(len(data)) {
		if err := f.Truncate(st.good); err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	s.seg, s.segSeq, s.segSize = f, seq, st.good
	return nil
}

// replayed is what a segment holds.
type replayed struct {
	snapIndex, snapTerm uint64
	ents                []*pb.Entry
	hs                  hardState
	good                int64 // bytes up to the end of the last whole record
}

// replay decodes a segment. The first record must be a marker; a torn
// record ends the segment (its tail was never synced).
func replay(data []byte) (replayed, error) {
	var st replayed
	marked := false
	off := 0
	for off < len(data) {
		r, n, err := decodeRecord(data[off:])
		if errors.Is(err, errTorn) {
			break
		}
		if err != nil {
			return st, err
		}
		if !marked && r.kind != recMarker {
			return st, fmt.Errorf("%w: segment does not start with a marker", errCorrupt)
		}
		switch r.kind {
		case recMarker:
			if r.index == 0 {
				return st, fmt.Errorf("%w: marker at index 0", errCorrupt)
			}
			marked = true
			st.snapIndex, st.snapTerm = r.index, r.term
			st.ents = st.ents[:0]
		case recHardState:
			st.hs = r.hs
		case recEntry:
			i := r.ent.GetIndex()
			switch {
			case len(st.ents) == 0 || i <= st.ents[0].GetIndex():
				if i > st.snapIndex+1 {
					return st, fmt.Errorf("%w: entry %d after snapshot %d", errCorrupt, i, st.snapIndex)
				}
				st.ents = st.ents[:0]
			default:
				first, last := st.ents[0].GetIndex(), st.ents[len(st.ents)-1].GetIndex()
				if i > last+1 {
					return st, fmt.Errorf("%w: entry %d after %d", errCorrupt, i, last)
				}
				// Writing entry i discards every entry from i on (a
				// follower's conflicting tail).
				st.ents = st.ents[:i-first]
			}
			st.ents = append(st.ents, r.ent)
		}
		off += n
	}
	if !marked {
		return st, fmt.Errorf("%w: segment has no marker", errCorrupt)
	}
	st.good = int64(off)
	return st, nil
}

// append writes entries and a changed HardState to the active segment,
// syncing when sync is set, and only then hands them to mem.
func (s *diskStorage) append(ents []*pb.Entry, hs *pb.HardState, sync bool) error {
	buf := s.buf[:0]
	for _, e := range ents {
		buf = appendEntry(buf, e)
	}
	if hs != nil {
		buf = appendHardState(buf, hardStateOf(hs))
	}
	if len(buf) == 0 {
		return nil
	}
	if _, err := s.seg.WriteAt(buf, s.segSize); err != nil {
		return err
	}
	s.segSize += int64(len(buf))
	s.sinceSnap += int64(len(buf))
	if cap(buf) <= 1<<20 {
		s.buf = buf
	}
	if sync {
		if err := s.seg.Sync(); err != nil {
			return err
		}
	}
	if err := s.mem.Append(ents); err != nil {
		return err
	}
	if hs != nil {
		s.hs = hardStateOf(hs)
		s.mem.SetHardState(hs)
	}
	return nil
}

// saveSnapshot persists a snapshot received from the leader with the
// entries and HardState of the same Ready: the snapshot file, then a new
// segment that starts from it.
func (s *diskStorage) saveSnapshot(snap *pb.Snapshot, ents []*pb.Entry, hs *pb.HardState) error {
	md := snap.GetMetadata()
	sf := &snapFile{index: md.GetIndex(), term: md.GetTerm(), cs: cloneConfState(md.GetConfState()), data: snap.GetData()}
	if err := vfs.WriteFileAtomic(s.fs, s.path(snapName(sf.index, sf.term)), encodeSnapFile(sf), 0o644); err != nil {
		return err
	}
	if err := s.mem.ApplySnapshot(snap); err != nil {
		return err
	}
	if err := s.mem.Append(ents); err != nil {
		return err
	}
	if hs != nil {
		s.hs = hardStateOf(hs)
		s.mem.SetHardState(hs)
	}
	s.snap = sf
	return s.roll()
}

// createSnapshot persists the state machine's snapshot at index (applied,
// so in the log), compacts the log below index-catchUp and rolls the WAL.
func (s *diskStorage) createSnapshot(index uint64, cs *pb.ConfState, data []byte, catchUp uint64) error {
	term, err := s.mem.Term(index)
	if err != nil {
		return err
	}
	sf := &snapFile{index: index, term: term, cs: cloneConfState(cs), data: data}
	if err := vfs.WriteFileAtomic(s.fs, s.path(snapName(index, term)), encodeSnapFile(sf), 0o644); err != nil {
		return err
	}
	if _, err := s.mem.CreateSnapshot(index, cs, data); err != nil {
		return err
	}
	first, _ := s.mem.FirstIndex()
	if index > catchUp && index-catchUp >= first {
		if err := s.mem.Compact(index - catchUp); err != nil {
			return err
		}
	}
	s.snap = sf
	return s.roll()
}

// roll writes a new segment holding a marker for s.snap, every entry mem
// retains and the HardState, makes it durable, switches appends to it and
// removes the older segment and snapshot files.
func (s *diskStorage) roll() error {
	buf := appendMarker(nil, s.snap.index, s.snap.term)
	first, _ := s.mem.FirstIndex()
	last, _ := s.mem.LastIndex()
	if last >= first {
		ents, err := s.mem.Entries(first, last+1, math.MaxUint64)
		if err != nil {
			return err
		}
		for _, e := range ents {
			buf = appendEntry(buf, e)
		}
	}
	hs := s.hs
	hs.commit = max(hs.commit, s.snap.index)
	buf = appendHardState(buf, hs)

	seq := s.segSeq + 1
	name := s.path(segName(seq))
	f, err := s.fs.OpenFile(name+".tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(buf, 0)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = s.fs.Rename(name+".tmp", name)
	}
	if err == nil {
		err = s.fs.SyncDir(s.dir)
	}
	if err != nil {
		f.Close()
		s.fs.Remove(name + ".tmp")
		return err
	}
	old, oldSeq := s.seg, s.segSeq
	s.seg, s.segSeq, s.segSize, s.sinceSnap = f, seq, int64(len(buf)), 0
	var junk []string
	if old != nil {
		old.Close()
		junk = append(junk, segName(oldSeq))
	}
	des, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "snapshot-") && strings.HasSuffix(de.Name(), ".snap") {
			junk = append(junk, de.Name())
		}
	}
	return s.removeExcept(junk)
}

func (s *diskStorage) close() error {
	if s.seg == nil {
		return nil
	}
	err := s.seg.Close()
	s.seg = nil
	return err
}
