package seglog

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/vfs"
)

// writeRecoveryPoint persists the recovery point; clean says the log was
// closed cleanly at exactly that offset.
func (l *Log) writeRecoveryPoint(off int64, clean bool) error {
	c := "0"
	if clean {
		c = "1"
	}
	return writeCheckpoint(l.fs, l.dir, recoveryPointFile, []string{strconv.FormatInt(off, 10), c})
}

func readRecoveryPoint(fsys vfs.FS, dir string) (off int64, clean bool, err error) {
	off, rest, err := readOffsetCheckpoint(fsys, dir, recoveryPointFile, 0)
	return off, len(rest) > 0 && rest[0] == "1", err
}

// listSegments returns the base offsets of the .log files in dir, ascending,
// and removes leftovers: temporary checkpoint files and index files without
// a segment, gap markers without a segment.
func listSegments(fsys vfs.FS, dir string) ([]int64, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	logs := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			fsys.Remove(filepath.Join(dir, name))
			continue
		}
		stem, ok := strings.CutSuffix(name, ".log")
		if !ok || len(stem) != 20 {
			continue
		}
		base, err := strconv.ParseInt(stem, 10, 64)
		if err != nil || base < 0 {
			return nil, fmt.Errorf("seglog: unexpected file %s", name)
		}
		bases = append(bases, base)
		logs[stem] = true
	}
	for _, e := range ents {
		stem, _ := strings.CutSuffix(e.Name(), ".timeindex")
		stem, _ = strings.CutSuffix(stem, ".index")
		stem, _ = strings.CutSuffix(stem, ".gaps")
		if stem != e.Name() && !logs[stem] {
			fsys.Remove(filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// load opens the files of the log and recovers it. It runs before the Log is
// shared, so it takes no locks.
func (l *Log) load() error {
	if err := recoverSwaps(l.fs, l.dir); err != nil {
		return err
	}
	bases, err := listSegments(l.fs, l.dir)
	if err != nil {
		return err
	}
	defaultStart := int64(0)
	if len(bases) > 0 {
		defaultStart = bases[0]
	}
	if l.logStart, _, err = readOffsetCheckpoint(l.fs, l.dir, logStartFile, defaultStart); err != nil {
		return err
	}
	rp, clean, err := readRecoveryPoint(l.fs, l.dir)
	if err != nil {
		return err
	}
	lines, err := readCheckpoint(l.fs, l.dir, epochFile)
	if err == nil {
		l.epochs, err = parseEpochs(lines)
	}
	if err != nil {
		return err
	}
	if err := l.openSegments(bases); err != nil {
		return err
	}
	recovered, err := l.recoverSegments(rp, clean)
	if err != nil {
		return err
	}
	return l.finishLoad(recovered)
}

// openSegments opens the segment files, skipping segments wholly below the
// log start offset (a crash between persisting the log start and deleting
// them), and creates the first segment of an empty log.
func (l *Log) openSegments(bases []int64) error {
	for i, base := range bases {
		path := filepath.Join(l.dir, segmentName(base, ".log"))
		if i+1 < len(bases) && bases[i+1] <= l.logStart {
			newSegment(l.fs, l.dir, base, nil).removeFiles()
			continue
		}
		f, err := l.fs.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		s := newSegment(l.fs, l.dir, base, f)
		l.segs = append(l.segs, s)
		if s.gaps, err = hasGapMarker(s); err != nil {
			return err
		}
	}
	if len(l.segs) == 0 {
		s, err := createSegment(l.fs, l.dir, l.logStart)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
	}
	return nil
}

// recoverSegments trusts the segments before the one containing the recovery
// point (all of them after a clean close) and recovers the rest. It returns
// the segments it recovered.
func (l *Log) recoverSegments(rp int64, clean bool) ([]*segment, error) {
	trusted := len(l.segs)
	if !clean {
		trusted = 0
		for i, s := range l.segs {
			if s.base <= rp {
				trusted = i
			}
		}
	}
	var recovered []*segment
	for i := 0; i < len(l.segs); i++ {
		s := l.segs[i]
		// Compaction rewrites only segments below the recovery point; it
		// may leave a gap after them, never an overlap. Anywhere else a gap
		// or an overlap means nothing after it can be trusted. Inside a
		// segment, offsets may jump forward below the recovery point and in
		// a segment with a gap marker (gaps.go); elsewhere they must be
		// contiguous.
		sealed := i < trusted || s.gaps
		if i > 0 && (s.base < l.segs[i-1].next || i > trusted && s.base != l.segs[i-1].next) {
			l.dropFrom(i)
			break
		}
		if i < trusted {
			next := rp
			if i+1 < len(l.segs) {
				next = l.segs[i+1].base
			}
			if err := l.loadTrusted(s, next); err == nil {
				continue
			}
			l.producers.truncateTo(s.base)
		}
		complete, err := l.recoverSegment(s, sealed)
		if err != nil {
			return nil, err
		}
		recovered = append(recovered, s)
		if !complete {
			l.dropFrom(i + 1)
		}
	}
	return recovered, nil
}

// dropFrom removes segments i and later from the log and from disk.
func (l *Log) dropFrom(i int) {
	for _, s := range l.segs[i:] {
		s.retire(true)
	}
	l.segs = l.segs[:i]
}

// loadTrusted sets up a segment below the recovery point from its index files
// and walks its batch headers (no CRCs) to rebuild producer state and check
// that its offsets increase from base, stay below next (the following
// segment's base; a compacted segment may end earlier) and fill the file.
// Any doubt is an error, and the caller recovers the segment instead.
func (l *Log) loadTrusted(s *segment, next int64) error {
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if err := loadIndexes(s, size, next); err != nil {
		return err
	}
	maxTs := int64(-1)
	res := walk(s.f, size, s.base, false, true, func(h *batch.Header, _ int64) {
		maxTs = max(maxTs, h.MaxTimestamp)
		l.producers.replay(h)
	})
	if res.err != nil || res.end != size || res.next > next {
		return fmt.Errorf("seglog: trusted segment %d inconsistent", s.base)
	}
	next = res.next
	// The last time-index entry is written at roll and close with the
	// segment's largest timestamp; anything else means a torn index file.
	n := len(s.timeIndex)
	if n == 0 && maxTs >= 0 || n > 0 && s.timeIndex[n-1].ts != maxTs {
		return fmt.Errorf("seglog: time index of segment %d incomplete", s.base)
	}
	s.size, s.next = size, next
	s.sinceIndex = int(size) // bytes since the last index entry, for a clean active segment
	if k := len(s.index); k > 0 {
		s.sinceIndex = int(size - int64(s.index[k-1].pos))
	}
	if n > 0 {
		s.maxTs, s.maxTsOffset = maxTs, s.base+int64(s.timeIndex[n-1].rel)
	}
	return nil
}

func loadIndexes(s *segment, size, next int64) error {
	b, err := s.fs.ReadFile(s.indexPath())
	if err != nil {
		return err
	}
	if s.index, err = decodeIndex(b, size, next-s.base); err != nil {
		return err
	}
	if b, err = s.fs.ReadFile(s.timeIndexPath()); err != nil {
		return err
	}
	s.timeIndex, err = decodeTimeIndex(b, next-s.base)
	return err
}

// recoverSegment checks every batch of s (header, CRC, contiguous offsets,
// or increasing ones for a sealed segment, which compaction may have
// rewritten or which has a gap marker), rebuilds its indexes and truncates
// the file after the last good batch. It reports whether the segment was
// whole.
func (l *Log) recoverSegment(s *segment, sealed bool) (complete bool, err error) {
	st, err := s.f.Stat()
	if err != nil {
		return false, err
	}
	s.resetIndexes()
	interval := l.opts.IndexIntervalBytes
	res := walk(s.f, st.Size(), s.base, true, sealed, func(h *batch.Header, pos int64) {
		s.addBatch(h, pos, interval)
		l.producers.replay(h)
		l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
	})
	if res.end == st.Size() {
		return true, nil
	}
	if err := s.f.Truncate(res.end); err != nil {
		return false, err
	}
	l.producers.truncateTo(res.next)
	return false, nil
}

// finishLoad settles what recovery found and makes it durable: indexes of
// recovered segments, log start, epoch cache, and a recovery point at the
// log end marked not clean (a crash from now on must be recovered).
func (l *Log) finishLoad(recovered []*segment) error {
	leo := l.leoLocked()
	if l.logStart > leo {
		// The log start was persisted but the data up to it was lost: start
		// over there, as Kafka's truncateFullyAndStartAt does.
		l.dropFrom(0)
		s, err := createSegment(l.fs, l.dir, l.logStart)
		if err != nil {
			return err
		}
		l.segs, leo, recovered = []*segment{s}, l.logStart, nil
	}
	l.logStart = max(l.logStart, l.segs[0].base)
	l.producers.evictBefore(l.logStart)
	l.epochs.truncateFromEnd(leo)
	l.epochs.truncateFromStart(l.logStart)
	// Always rewritten: recovery may also have learned epochs from the
	// batches it scanned, and those segments are trusted from now on.
	if err := writeCheckpoint(l.fs, l.dir, epochFile, l.epochs.lines()); err != nil {
		return err
	}
	for _, s := range recovered {
		if err := s.f.Sync(); err != nil {
			return err
		}
		if err := writeIndexes(s, s.index, s.timeIndex); err != nil {
			return err
		}
	}
	if err := writeCheckpoint(l.fs, l.dir, logStartFile, []string{strconv.FormatInt(l.logStart, 10)}); err != nil {
		return err
	}
	if err := l.writeRecoveryPoint(leo, false); err != nil {
		return err
	}
	l.syncedTo, l.recoveryBase = leo, l.active().base
	l.syncedMirror.Store(leo)
	l.initRollBase()
	return nil
}

// initRollBase starts the active segment's segment.ms clock at its first
// batch's timestamp (Kafka's rule), or now if that is in the future or the
// segment is empty.
func (l *Log) initRollBase() {
	act := l.active()
	if act.size == 0 {
		return
	}
	now := l.opts.nowMs()
	act.rollBaseMs = now
	if h, err := newScanner(act.f, act.size).header(0); err == nil && h.MaxTimestamp >= 0 && h.MaxTimestamp < now {
		act.rollBaseMs = h.MaxTimestamp
	}
}
