package seglog

import (
	"errors"
	"math"
	"strconv"

	"github.com/samsa-io/samsa/internal/batch"
)

// ErrOffsetMismatch means AppendReplicated was given batches that do not
// continue the log: the first base offset is below the log end offset, or
// a batch starts at or below the previous one's last offset (or so far past
// its segment's base that the index cannot hold it).
var ErrOffsetMismatch = errors.New("seglog: replicated batches do not continue the log")

// AppendReplicated appends the leader's batches byte for byte: offsets,
// partition leader epochs, timestamps and CRCs stay as the leader wrote them
// (each CRC is checked). The first batch's base offset must be at or
// above the log end offset and every next batch must start after the
// previous one's last offset, else ErrOffsetMismatch: a compacted leader's
// gaps (before the first batch and between batches) are copied, never an
// overlap or a step back. The log end offset becomes the last batch's last
// offset + 1. The batch base offset is outside the CRC, so before the first
// batch with a gap is written to a segment, that segment's gap marker is
// made durable (gaps.go): recovery accepts gaps in marked segments and
// keeps refusing them as corruption elsewhere. A batch whose base offset
// lies more than 2^32-1 past the base of the segment it would go to is
// refused (ErrOffsetMismatch): the index cannot hold its relative offset.
// Each batch's PartitionLeaderEpoch newer than the latest known one starts
// that epoch in the leader-epoch cache (persisted before the data is
// written, as Append does). Idempotent-producer state is rebuilt from the
// batch headers without sequence checks or duplicate detection, so a
// follower that becomes leader detects the producers' retries. Indexes and
// segment rolls are as for Append. One write; nothing is durable until
// Sync. All or nothing: on any error nothing is appended.
//
// records is not modified. max.message.bytes is not applied: the leader
// already accepted the batches.
func (l *Log) AppendReplicated(records []byte) (AppendResult, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err := l.checkUsableLocked()
	opts, logStart, leo := l.opts, l.logStart, l.leoLocked()
	l.mu.RUnlock()
	res := AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: logStart}
	if err != nil {
		return res, err
	}
	hs, err := parseBatches(l.headers[:0], records, math.MaxInt)
	l.headers = hs[:0]
	if err != nil || len(hs) == 0 {
		return res, err
	}
	next, pos, gap := leo, 0, false
	for i := range hs {
		h := &hs[i]
		if h.BaseOffset < next {
			return res, ErrOffsetMismatch
		}
		gap = gap || h.BaseOffset > next
		if err := batch.CheckCRC(records[pos : pos+h.Size()]); err != nil {
			return res, err
		}
		next, pos = h.LastOffset()+1, pos+h.Size()
	}
	now := opts.nowMs()
	roll := l.shouldRoll(len(records), hs, now, opts)
	base := l.active().base // appendMu: the appender is the only writer of the segment list
	if roll {
		base = leo
	}
	if hs[len(hs)-1].BaseOffset-base > math.MaxUint32 {
		return res, ErrOffsetMismatch
	}
	if roll {
		if err := l.roll(); err != nil {
			return res, err
		}
	}
	if gap {
		if err := markGaps(l.active()); err != nil {
			return res, err
		}
	}
	if err := l.assignReplicatedEpochs(hs); err != nil {
		return res, err
	}
	if err := l.write(records, hs, now, opts.IndexIntervalBytes); err != nil {
		return res, err
	}
	for i := range hs {
		h := &hs[i]
		if h.HasProducerID() {
			l.producers.replay(h)
			delete(l.producers.evicted, h.ProducerID)
		}
	}
	res.BaseOffset, res.LastOffset = hs[0].BaseOffset, hs[len(hs)-1].LastOffset()
	return res, nil
}

// assignReplicatedEpochs starts, in the epoch cache, every leader epoch the
// batches carry that is newer than the latest known, at its first batch,
// and persists the cache once if it changed. Caller holds appendMu.
func (l *Log) assignReplicatedEpochs(hs []batch.Header) error {
	n := len(l.epochs.entries)
	c := epochCache{entries: append([]epochEntry(nil), l.epochs.entries...)}
	for i := range hs {
		c.assign(hs[i].PartitionLeaderEpoch, hs[i].BaseOffset)
	}
	if len(c.entries) == n {
		return nil
	}
	if err := writeCheckpoint(l.fs, l.dir, epochFile, c.lines()); err != nil {
		return err
	}
	l.mu.Lock()
	l.epochs = c
	l.mu.Unlock()
	return nil
}

// AssignLeaderEpoch starts leader epoch epoch at the log end offset in the
// leader-epoch cache and persists it, if it is newer than the latest known
// epoch. A new leader calls it when it takes over (Kafka's
// maybeAssignEpochStartOffset), so that it answers OffsetForLeaderEpoch
// for its own epoch before it appended anything.
func (l *Log) AssignLeaderEpoch(epoch int32) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err := l.checkUsableLocked()
	leo := l.leoLocked()
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	return l.maybeAssignEpoch(epoch, leo)
}

// SyncedOffset is the end offset known durable: what Sync returned last
// (after Open, the recovered log end offset; after a truncation, the new log
// end offset).
func (l *Log) SyncedOffset() int64 { return l.syncedMirror.Load() }

// LatestEpoch is the newest leader epoch in the leader-epoch cache, -1 when
// the cache is empty.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, _ := l.epochs.latest()
	return e
}

// lockRewrite takes, in the log's lock order, every lock a rewrite of the
// log's tail excludes (a compaction, appends, a sync) and returns their
// release.
func (l *Log) lockRewrite() (unlock func()) {
	l.cleanMu.Lock()
	l.appendMu.Lock()
	l.syncMu.Lock()
	return func() {
		l.syncMu.Unlock()
		l.appendMu.Unlock()
		l.cleanMu.Unlock()
	}
}

// TruncateTo drops every record at offset >= to, as a follower does when
// its log diverged from the leader's: later segments are removed, the
// segment holding to is cut at the first batch that reaches to (a batch is
// never split, so the new log end offset may be below to), and the indexes,
// the leader-epoch cache, producer state and the cleaner checkpoint follow.
// It is a no-op when to > LogEndOffset; to == LogEndOffset only drops epochs
// that start at the end and hold no data. A to below the first segment
// truncates fully (TruncateFullyAndStartAt(to)); a log start offset above
// the new end comes down to it. Everything below the new end is durable
// when it returns (SyncedOffset is the new end).
//
// Crash safety: the recovery point moves below the cut first, so a crash at
// any moment recovers the affected segments from their batches (the epoch
// cache is re-learned from them); removed segments that a crash brings back
// no longer chain and are dropped; the cut segment is fsynced before the
// call returns. A crash therefore leaves a prefix of the old log. A kept
// segment with offset gaps (compacted, or a compacted leader's copy) gets
// its gap marker before the recovery point moves into it.
func (l *Log) TruncateTo(to int64) error {
	if to < 0 {
		return ErrOffsetOutOfRange
	}
	defer l.lockRewrite()()
	l.mu.RLock()
	err := l.checkUsableLocked()
	leo, logStart, opts := l.leoLocked(), l.logStart, l.opts
	l.mu.RUnlock()
	switch {
	case err != nil:
		return err
	case to > leo:
		return nil
	case to < l.segs[0].base:
		return l.truncateFullyLocked(to)
	}
	k := len(l.segs) - 1
	for l.segs[k].base > to {
		k--
	}
	kept := l.segs[k]
	// Where the cut goes, and the indexes of what stays.
	cut := &segment{base: kept.base, next: kept.base, maxTs: -1, maxTsOffset: -1}
	var pos int64 = -1
	gap := false // the kept part has offset gaps
	res := walk(kept.f, kept.size, kept.base, false, true, func(h *batch.Header, p int64) {
		if pos >= 0 || h.LastOffset() >= to {
			if pos < 0 {
				pos = p
			}
			return
		}
		gap = gap || h.BaseOffset != cut.next
		cut.addBatch(h, p, opts.IndexIntervalBytes)
	})
	if res.err != nil {
		return l.fail(res.err)
	}
	if pos < 0 {
		pos = kept.size
	}
	end := cut.next
	if end == leo && k == len(l.segs)-1 {
		return l.dropEmptyEpochs(end)
	}
	if err := l.lowerCleanerCheckpoint(end); err != nil {
		return err
	}
	// The recovery point goes to the cut, or to the base of the segment
	// holding the old one if that is lower (segments from there on may not
	// be durable yet). Always written: a removed segment that a crash
	// brings back must not lie at or below it, or recovery would trust
	// the gap before it.
	rp := min(end, l.recoveryBase)
	// The recovery point may land in a segment that compaction rewrote
	// (below it so far, so trusted with its gaps): give it a gap marker
	// first, or a crash would recover it as if its gaps were corruption.
	if gap {
		if err := markGaps(kept); err != nil {
			return err
		}
	}
	if err := l.writeRecoveryPoint(rp, false); err != nil {
		return err
	}
	if end < l.recoveryBase {
		l.recoveryBase = kept.base
	}
	if err := l.dropEmptyEpochs(end); err != nil {
		return err
	}
	// Publish the shorter log before touching files, so that no new reader
	// looks past the cut.
	l.mu.Lock()
	gone := append([]*segment(nil), l.segs[k+1:]...)
	l.segs = l.segs[:k+1]
	kept.size, kept.next = pos, end
	kept.maxTs, kept.maxTsOffset = cut.maxTs, cut.maxTsOffset
	kept.index, kept.timeIndex, kept.sinceIndex = cut.index, cut.timeIndex, cut.sinceIndex
	if kept.size == 0 {
		kept.rollBaseMs = -1
	}
	var unpinned []*segment
	still := l.unsynced[:0]
	for _, s := range l.unsynced {
		if s.base >= kept.base {
			unpinned = append(unpinned, s)
		} else {
			still = append(still, s)
		}
	}
	l.unsynced = still
	l.syncedTo = min(l.syncedTo, end)
	l.syncedMirror.Store(l.syncedTo)
	if logStart > end {
		l.logStart = end
	}
	l.mu.Unlock()
	for _, s := range unpinned {
		s.release()
	}
	l.producers.truncateTo(end)
	// Remove the later segments' files now (a reader still holding one
	// keeps reading its open file), so that a segment created later at the
	// same base cannot collide with them.
	for _, s := range gone {
		s.removeFiles()
		s.retire(false)
	}
	if err := kept.f.Truncate(pos); err != nil {
		return l.fail(err)
	}
	if err := kept.f.Sync(); err != nil {
		return l.fail(err)
	}
	if len(gone) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail(err)
		}
	}
	if logStart > end {
		if err := writeCheckpoint(l.fs, l.dir, logStartFile, []string{strconv.FormatInt(end, 10)}); err != nil {
			return l.fail(err)
		}
	}
	_, err = l.syncLocked()
	return err
}

// dropEmptyEpochs drops the epochs starting at or after end from the cache
// and persists it if it changed. Caller holds appendMu.
func (l *Log) dropEmptyEpochs(end int64) error {
	c := epochCache{entries: append([]epochEntry(nil), l.epochs.entries...)}
	if !c.truncateFromEnd(end) {
		return nil
	}
	if err := writeCheckpoint(l.fs, l.dir, epochFile, c.lines()); err != nil {
		return err
	}
	l.mu.Lock()
	l.epochs = c
	l.mu.Unlock()
	return nil
}

// lowerCleanerCheckpoint moves the cleaner's first dirty offset down to end
// if it is above: data appended there later is dirty. Caller holds cleanMu.
func (l *Log) lowerCleanerCheckpoint(end int64) error {
	l.mu.RLock()
	logStart := l.logStart
	l.mu.RUnlock()
	if err := l.loadCleanerState(logStart); err != nil {
		return err
	}
	if l.cleaner.firstDirty <= end {
		return nil
	}
	if err := writeCheckpoint(l.fs, l.dir, cleanerFile, []string{strconv.FormatInt(end, 10)}); err != nil {
		return err
	}
	l.cleaner.firstDirty = end
	return nil
}

// TruncateFullyAndStartAt deletes every segment and restarts the log, empty,
// at offset: log start and end offset become offset, the leader-epoch cache,
// producer state and cleaner checkpoint are cleared. A follower does this
// when the leader's log starts past its end. Durable on return.
//
// Crash safety: the recovery point first moves to the first segment (a
// crash recovers everything from its batches), the epoch cache is emptied,
// every segment file is cut to zero and fsynced from the last to the first
// (a crash leaves a prefix of the old log), then the files are removed, the
// new segment created, and the log start persisted (its directory sync
// makes the names durable).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return ErrOffsetOutOfRange
	}
	defer l.lockRewrite()()
	l.mu.RLock()
	err := l.checkUsableLocked()
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	return l.truncateFullyLocked(offset)
}

// truncateFullyLocked is TruncateFullyAndStartAt; the caller holds cleanMu,
// appendMu and syncMu.
func (l *Log) truncateFullyLocked(offset int64) error {
	first := l.segs[0].base
	if err := l.writeRecoveryPoint(first, false); err != nil {
		return err
	}
	l.recoveryBase = first
	if err := writeCheckpoint(l.fs, l.dir, epochFile, (&epochCache{}).lines()); err != nil {
		return err
	}
	if err := writeCheckpoint(l.fs, l.dir, cleanerFile, []string{strconv.FormatInt(offset, 10)}); err != nil {
		return err
	}
	l.cleaner = cleanerState{loaded: true, firstDirty: offset}
	l.mu.Lock()
	l.epochs = epochCache{}
	old, unsynced := l.segs, l.unsynced
	l.unsynced = nil
	l.syncedTo = min(l.syncedTo, first)
	l.syncedMirror.Store(l.syncedTo)
	l.mu.Unlock()
	for _, s := range unsynced {
		s.release()
	}
	for i := len(old) - 1; i >= 0; i-- {
		s := old[i]
		if err := s.f.Truncate(0); err != nil {
			return l.fail(err)
		}
		if err := s.f.Sync(); err != nil {
			return l.fail(err)
		}
	}
	for _, s := range old {
		s.removeFiles()
	}
	s, err := createSegment(l.fs, l.dir, offset)
	if err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	l.segs = []*segment{s}
	l.logStart = offset
	l.dirDirty = false
	l.syncedTo = offset
	l.syncedMirror.Store(offset)
	l.mu.Unlock()
	for _, o := range old {
		o.retire(false)
	}
	l.producers = newProducerState()
	if err := writeCheckpoint(l.fs, l.dir, logStartFile, []string{strconv.FormatInt(offset, 10)}); err != nil {
		return l.fail(err)
	}
	if err := l.writeRecoveryPoint(offset, false); err != nil {
		return l.fail(err)
	}
	l.recoveryBase = offset
	return nil
}
