package seglog

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/vfs"
)

// segment is one %020d.log file and its in-memory indexes.
type segment struct {
	base int64
	fs   vfs.FS
	path string   // the .log file
	f    vfs.File // read-write; written only by the appender at the end
	// refs counts the Log's own reference (dropped when the segment leaves the
	// log) plus one per reader or syncer using f. The last release closes f,
	// and removes the files if the segment was deleted.
	refs    atomic.Int32
	deleted atomic.Bool

	// Log.mu guards the following. The appender (holding Log.appendMu) is
	// their only writer, so it may read them without mu.
	size        int64 // bytes of whole batches in the file
	next        int64 // offset after the last batch (== base when empty)
	maxTs       int64 // largest batch maxTimestamp, -1 when empty
	maxTsOffset int64 // base offset of the batch holding maxTs
	index       []indexEntry
	timeIndex   []timeEntry
	sinceIndex  int   // bytes appended since the last index entry
	rollBaseMs  int64 // segment.ms counts from here; -1 until the first append

	// gaps: the segment's gap marker is durable (see gaps.go). Written
	// under Log.appendMu (or before the Log is shared), read by its holders.
	gaps bool
}

func segmentName(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

func newSegment(fsys vfs.FS, dir string, base int64, f vfs.File) *segment {
	s := &segment{base: base, fs: fsys, path: filepath.Join(dir, segmentName(base, ".log")), f: f,
		next: base, maxTs: -1, maxTsOffset: -1, rollBaseMs: -1}
	s.refs.Store(1)
	return s
}

// createSegment makes a new empty segment file; it must not exist yet. Its
// name is durable once the directory is synced (Log.dirDirty).
func createSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, segmentName(base, ".log")), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return newSegment(fsys, dir, base, f), nil
}

func (s *segment) indexPath() string     { return s.path[:len(s.path)-4] + ".index" }
func (s *segment) timeIndexPath() string { return s.path[:len(s.path)-4] + ".timeindex" }

// acquire pins the segment's file; the caller holds Log.mu (so the Log's own
// reference is still held and refs cannot be 0).
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference; the last one closes the file and, for a deleted
// segment, removes its files.
func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.f.Close()
	if s.deleted.Load() {
		s.removeFiles()
	}
}

// removeFiles removes the segment's files. The removals are durable once
// the directory is synced; until then a crash may bring them back, which
// recovery handles (segments below the log start are skipped, segments
// that do not chain are dropped, index files without a segment removed).
func (s *segment) removeFiles() {
	s.fs.Remove(s.path)
	s.fs.Remove(s.indexPath())
	s.fs.Remove(s.timeIndexPath())
	s.fs.Remove(s.gapsPath())
}

// retire drops the Log's reference to a segment that left the log.
func (s *segment) retire(remove bool) {
	if remove {
		s.deleted.Store(true)
	}
	s.release()
}

// addBatch updates the in-memory indexes and counters for a batch that now
// sits at pos. Kafka's rule: index a batch when more than interval bytes were
// appended since the previous entry.
func (s *segment) addBatch(h *batch.Header, pos int64, interval int) {
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.BaseOffset
	}
	if s.sinceIndex > interval {
		s.index = append(s.index, indexEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)})
		s.appendTimeEntry()
		s.sinceIndex = 0
	}
	s.sinceIndex += h.Size()
	s.size = pos + int64(h.Size())
	s.next = h.LastOffset() + 1
}

// appendTimeEntry records the current largest timestamp if it grew since the
// last time-index entry, keeping the index monotonic.
func (s *segment) appendTimeEntry() {
	if s.maxTs < 0 {
		return
	}
	if n := len(s.timeIndex); n > 0 && s.timeIndex[n-1].ts >= s.maxTs {
		return
	}
	s.timeIndex = append(s.timeIndex, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOffset - s.base)})
}

// resetIndexes clears everything derived from the segment's contents, before
// a rebuild by scanning.
func (s *segment) resetIndexes() {
	s.size, s.next = 0, s.base
	s.maxTs, s.maxTsOffset = -1, -1
	s.index, s.timeIndex = nil, nil
	s.sinceIndex = 0
}

// writeIndexes replaces the segment's index files with the in-memory indexes
// and fsyncs them. The caller passes snapshots taken under Log.mu.
//
// Index files are written in place (vfs.WriteFileSync), not atomically:
// they are only trusted once the recovery point, written atomically after
// them, has passed their segment, and every other index is rebuilt.
func writeIndexes(s *segment, index []indexEntry, timeIndex []timeEntry) error {
	if err := vfs.WriteFileSync(s.fs, s.indexPath(), encodeIndex(index), 0o644); err != nil {
		return err
	}
	return vfs.WriteFileSync(s.fs, s.timeIndexPath(), encodeTimeIndex(timeIndex), 0o644)
}
