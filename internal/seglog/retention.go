package seglog

import (
	"strconv"
)

// ApplyRetention deletes the oldest segments that retention.ms (a segment's
// largest timestamp, or its file's mtime if it has none, is older than now -
// RetentionMs) or retention.bytes (whole segments while the rest stays >=
// RetentionBytes; never the active one) allow, and segments wholly below the
// log start offset. An expired non-empty active segment is rolled first, as
// Kafka does, so that time retention can empty the log. The log start offset
// moves to the first remaining segment and is persisted before any file is
// removed.
func (l *Log) ApplyRetention() (deletedSegments int, err error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err = l.checkUsableLocked()
	opts := l.opts
	l.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	// appendMu: the segment list and sizes cannot change under us.
	n := l.countRetained(opts)
	if n == 0 {
		return 0, nil
	}
	if n == len(l.segs) {
		if err := l.roll(); err != nil {
			return 0, err
		}
	}
	return n, l.removeOldest(n, max(l.logStart, l.segs[n].base))
}

// countRetained returns how many of the oldest segments may go.
func (l *Log) countRetained(opts Options) int {
	n := 0
	for n+1 < len(l.segs) && l.segs[n+1].base <= l.logStart {
		n++
	}
	if opts.RetentionMs >= 0 {
		limit := opts.nowMs() - opts.RetentionMs
		for n < len(l.segs) && (l.segs[n].size > 0 && segmentTimestamp(l.segs[n]) < limit ||
			l.segs[n].size == 0 && n+1 < len(l.segs)) { // compaction emptied it: nothing to keep
			n++
		}
	}
	if opts.RetentionBytes >= 0 {
		var rest int64
		for _, s := range l.segs[n:] {
			rest += s.size
		}
		for n+1 < len(l.segs) && rest-l.segs[n].size >= opts.RetentionBytes {
			rest -= l.segs[n].size
			n++
		}
	}
	return n
}

// segmentTimestamp is what retention.ms compares: the largest batch
// timestamp, or the file's modification time if no batch had one.
func segmentTimestamp(s *segment) int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	st, err := s.fs.Stat(s.path)
	if err != nil {
		return 0
	}
	return st.ModTime().UnixMilli()
}

// DeleteRecordsBefore moves the log start offset up to offset
// (DeleteRecords): reads below it fail with ErrOffsetOutOfRange and segments
// wholly below it are removed. It returns the new log start offset, which is
// unchanged if offset is not above it. offset above the log end is
// ErrOffsetOutOfRange.
func (l *Log) DeleteRecordsBefore(offset int64) (newLogStart int64, err error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err = l.checkUsableLocked()
	logStart, leo := l.logStart, l.leoLocked()
	l.mu.RUnlock()
	switch {
	case err != nil:
		return logStart, err
	case offset > leo:
		return logStart, ErrOffsetOutOfRange
	case offset <= logStart:
		return logStart, nil
	}
	n := 0
	for n+1 < len(l.segs) && l.segs[n+1].base <= offset {
		n++
	}
	return offset, l.removeOldest(n, offset)
}

// removeOldest persists newStart as the log start offset, then drops the n
// oldest segments, trims the leader-epoch cache and forgets producers whose
// batches are all below the new start. A segment's files disappear when its
// last reader lets go of it. Caller holds appendMu.
func (l *Log) removeOldest(n int, newStart int64) error {
	if err := writeCheckpoint(l.fs, l.dir, logStartFile, []string{strconv.FormatInt(newStart, 10)}); err != nil {
		return err
	}
	l.mu.Lock()
	gone := l.segs[:n]
	l.segs = append([]*segment(nil), l.segs[n:]...)
	l.logStart = newStart
	epochsChanged := l.epochs.truncateFromStart(newStart)
	lines := l.epochs.lines()
	// A removed segment needs no sync: drop Sync's reference too.
	var stillUnsynced, unpinned []*segment
	for _, s := range l.unsynced {
		if s.base < l.segs[0].base {
			unpinned = append(unpinned, s)
		} else {
			stillUnsynced = append(stillUnsynced, s)
		}
	}
	l.unsynced = stillUnsynced
	l.mu.Unlock()
	for _, s := range unpinned {
		s.release()
	}
	for _, s := range gone {
		s.retire(true)
	}
	l.producers.evictBefore(newStart)
	if epochsChanged {
		return writeCheckpoint(l.fs, l.dir, epochFile, lines)
	}
	return nil
}
