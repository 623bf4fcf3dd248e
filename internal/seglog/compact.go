package seglog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/vfs"
)

// cleanerFile persists the first dirty offset: every offset below it has
// been through a compaction (Kafka's cleaner-offset-checkpoint, per
// partition here).
const cleanerFile = "cleaner-offset-checkpoint"

// CompactOptions are a compacted topic's cleaner settings (see the package
// documentation, "Compaction").
type CompactOptions struct {
	// MaxOffset bounds the cleaned data (exclusive): the high watermark, so
	// that nothing a consumer cannot see yet is rewritten. 0 means no bound.
	MaxOffset int64
	// DeleteRetentionMs (delete.retention.ms) is how long a tombstone
	// survives after the first compaction that saw it; negative means 0.
	DeleteRetentionMs int64
	// MinCompactionLagMs (min.compaction.lag.ms): a segment holding a
	// record newer than this, and everything after it, is not cleaned.
	MinCompactionLagMs int64
	// MinCleanableRatio (min.cleanable.dirty.ratio): clean only when the
	// dirty bytes are at least this fraction of the cleanable bytes.
	MinCleanableRatio float64
}

// CompactStats describes one Compact call.
type CompactStats struct {
	Cleaned         bool    // segments were rewritten (or found clean) and the dirty offset moved
	DirtyRatio      float64 // dirty bytes / cleanable bytes when the call looked
	SegmentsRead    int     // source segments scanned
	SegmentsWritten int     // cleaned segments swapped in
	BytesRead       int64
	BytesWritten    int64
	RecordsRemoved  int64 // superseded records, expired tombstones, keyless records
}

// cleanerState is what the cleaner remembers between runs; Log.cleanMu
// guards it.
type cleanerState struct {
	loaded     bool
	firstDirty int64 // offsets below were compacted; persisted in cleanerFile
	// horizon is the earliest delete horizon of a tombstone kept by a
	// previous run (0: none known): once it passes, the log is worth
	// cleaning even if nothing new is dirty (KIP-534).
	horizon int64
}

// compactPlan is one run's input: the cleanable segments, pinned.
type compactPlan struct {
	fs         vfs.FS
	dir        string
	opts       Options
	copts      CompactOptions
	now        int64
	srcs       []segView // the cleanable segments, oldest first
	firstDirty int64
	end        int64           // first offset not cleaned (base of the first uncleanable segment)
	lastBatch  map[int64]int64 // producer id → last offset of its last batch
	keys       map[string]int64
	limit      int // bound on a decompressed batch
	stats      CompactStats
	horizon    int64 // earliest horizon of a tombstone written by this run
}

func (p *compactPlan) release() {
	for i := range p.srcs {
		p.srcs[i].release()
	}
}

// cleanedGroup is the output replacing a run of consecutive sources.
type cleanedGroup struct {
	from, to int      // sources [from, to)
	seg      *segment // nil: the sources are kept unchanged
}

// Compact cleans the log as Kafka's log cleaner does for cleanup.policy
// compact: it rewrites the non-active segments below the first uncleanable
// offset, keeping per key only the record with the highest offset (offsets
// never change), and swaps the result in crash-safely. See the package
// documentation for what is kept and for the swap protocol. Compact runs
// the heavy work without blocking appends or reads; concurrent calls are
// serialized.
func (l *Log) Compact(opts CompactOptions) (CompactStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	p, err := l.planCompaction(opts)
	if err != nil || p.srcs == nil {
		return p.stats, err
	}
	defer p.release()
	if err := l.buildKeyMap(p); err != nil {
		return p.stats, err
	}
	groups, err := l.writeCleaned(p)
	if err != nil {
		discardCleaned(groups)
		return p.stats, err
	}
	return p.stats, l.swapIn(p, groups)
}

// planCompaction picks and pins the cleanable segments, or returns a plan
// without sources when cleaning is not due.
func (l *Log) planCompaction(copts CompactOptions) (*compactPlan, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.syncMu.Lock()
	recoveryBase := l.recoveryBase
	l.syncMu.Unlock()
	l.mu.RLock()
	err := l.checkUsableLocked()
	opts, logStart := l.opts, l.logStart
	l.mu.RUnlock()
	p := &compactPlan{fs: l.fs, dir: l.dir, opts: opts, copts: copts, now: opts.nowMs(),
		limit: max(batch.DefaultMaxDecompressed, 16*opts.MaxMessageBytes)}
	if err != nil {
		return p, err
	}
	if err := l.loadCleanerState(logStart); err != nil {
		return p, err
	}
	// appendMu: the segment list cannot change under us.
	k := l.cleanableCount(p, recoveryBase)
	if k == 0 {
		return p, nil
	}
	p.end = l.segs[k].base
	p.firstDirty = max(l.cleaner.firstDirty, l.segs[0].base)
	var dirty, total int64
	for _, s := range l.segs[:k] {
		total += s.size
		if s.next > p.firstDirty {
			dirty += s.size
		}
	}
	if total > 0 {
		p.stats.DirtyRatio = float64(dirty) / float64(total)
	}
	horizonDue := l.cleaner.horizon > 0 && l.cleaner.horizon <= p.now
	if !horizonDue && (dirty == 0 || p.stats.DirtyRatio < copts.MinCleanableRatio) {
		return p, nil
	}
	p.lastBatch = make(map[int64]int64, len(l.producers.m))
	for pid, e := range l.producers.m {
		p.lastBatch[pid] = e.lastOffset
	}
	l.mu.RLock()
	for _, s := range l.segs[:k] {
		p.srcs = append(p.srcs, viewLocked(s))
	}
	l.mu.RUnlock()
	return p, nil
}

// cleanableCount is how many of the oldest segments may be cleaned: never
// the active one, only segments the recovery point passed (durable, with
// index files, so no Sync touches them), wholly below MaxOffset, and none
// from the first one holding a record newer than min.compaction.lag.ms.
// Caller holds appendMu.
func (l *Log) cleanableCount(p *compactPlan, recoveryBase int64) int {
	// As in Kafka, a zero lag skips the timestamp check (timestamps may lie
	// in the future).
	lag := p.copts.MinCompactionLagMs > 0
	lagLimit := p.now - p.copts.MinCompactionLagMs
	k := 0
	for k+1 < len(l.segs) {
		s := l.segs[k]
		if s.base >= recoveryBase || p.copts.MaxOffset > 0 && s.next > p.copts.MaxOffset || lag && s.maxTs > lagLimit {
			break
		}
		k++
	}
	return k
}

// loadCleanerState reads the cleaner checkpoint on the first run.
func (l *Log) loadCleanerState(logStart int64) error {
	if l.cleaner.loaded {
		return nil
	}
	off, _, err := readOffsetCheckpoint(l.fs, l.dir, cleanerFile, logStart)
	if err != nil {
		return err
	}
	l.cleaner = cleanerState{loaded: true, firstDirty: off}
	return nil
}

// buildKeyMap maps every key in the dirty part of the sources to its
// highest offset. Records below firstDirty were deduplicated by an earlier
// run, so they need no entry: a record survives unless a higher offset
// carries its key.
func (l *Log) buildKeyMap(p *compactPlan) error {
	p.keys = map[string]int64{}
	for i := range p.srcs {
		v := &p.srcs[i]
		if v.next <= p.firstDirty {
			continue
		}
		if err := l.checkOpen(); err != nil {
			return err
		}
		err := eachBatch(v, func(h *batch.Header, b []byte) error {
			if h.IsControl() || h.IsTransactional() || h.LastOffset() < p.firstDirty {
				return nil
			}
			return batch.ReadRecords(h, b[batch.HeaderSize:], p.limit, func(r batch.Record) error {
				if off := h.BaseOffset + int64(r.OffsetDelta); r.Key != nil && off >= p.firstDirty {
					p.keys[string(r.Key)] = off
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// checkOpen lets a long compaction stop early when the log is closed.
func (l *Log) checkOpen() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.checkUsableLocked()
}

// eachBatch calls fn with every CRC-checked batch of a pinned segment.
func eachBatch(v *segView, fn func(h *batch.Header, b []byte) error) error {
	sc := newScanner(v.s.f, v.size)
	for pos := int64(0); pos < v.size; {
		h, b, err := sc.full(pos)
		if err != nil {
			return v.corrupt(pos, err)
		}
		if err := fn(&h, b); err != nil {
			return err
		}
		pos += int64(h.Size())
	}
	return nil
}

// writeCleaned filters the sources into ".cleaned" files, one per group of
// consecutive sources whose combined size fits segment.bytes (and whose
// offsets fit the index's u32 relative offsets), fsynced. A group of one
// source that nothing changed is left alone.
func (l *Log) writeCleaned(p *compactPlan) ([]cleanedGroup, error) {
	var groups []cleanedGroup
	for from := 0; from < len(p.srcs); {
		to, size := from+1, p.srcs[from].size
		for to < len(p.srcs) && size+p.srcs[to].size <= p.opts.SegmentBytes &&
			p.srcs[to].next-p.srcs[from].s.base <= math.MaxUint32 {
			size += p.srcs[to].size
			to++
		}
		g := cleanedGroup{from: from, to: to}
		seg, changed, err := l.cleanGroup(p, p.srcs[from:to])
		g.seg = seg
		if err == nil && !changed && to-from == 1 {
			discardCleaned([]cleanedGroup{g})
			g.seg = nil
		}
		groups = append(groups, g)
		if err != nil {
			return groups, err
		}
		from = to
	}
	return groups, nil
}

// cleanedPath is where a group's output is written before the swap.
func cleanedPath(dir string, base int64) string {
	return filepath.Join(dir, segmentName(base, ".log.cleaned"))
}

func swapPath(dir string, base int64) string {
	return filepath.Join(dir, segmentName(base, ".log.swap"))
}

// cleanGroup writes the records of srcs that survive into a new segment
// named after the first source, with in-memory indexes, and fsyncs it.
// changed reports whether any batch differs from its source.
func (l *Log) cleanGroup(p *compactPlan, srcs []segView) (seg *segment, changed bool, err error) {
	base := srcs[0].s.base
	path := cleanedPath(p.dir, base)
	p.fs.Remove(path) // a leftover of a failed run
	f, err := p.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, false, err
	}
	seg = newSegment(p.fs, p.dir, base, f)
	w := bufio.NewWriterSize(f, 256<<10)
	var scratch []byte
	for i := range srcs {
		if err := l.checkOpen(); err != nil {
			return seg, changed, err
		}
		p.stats.SegmentsRead++
		p.stats.BytesRead += srcs[i].size
		err := eachBatch(&srcs[i], func(h *batch.Header, b []byte) error {
			out, same, err := p.filterBatch(h, b, scratch[:0])
			if !same && out != nil {
				scratch = out[:0] // reuse the buffer; when same, out is the scan window
			}
			if err != nil || out == nil {
				changed = changed || out == nil
				return err
			}
			changed = changed || !same
			return appendCleaned(seg, w, out, p.opts.IndexIntervalBytes)
		})
		if err != nil {
			return seg, changed, err
		}
	}
	if err := w.Flush(); err != nil {
		return seg, changed, err
	}
	seg.appendTimeEntry() // as at a roll: the time index ends with the segment's largest timestamp
	p.stats.BytesWritten += seg.size
	return seg, changed, f.Sync()
}

// appendCleaned writes one batch to the cleaned segment and indexes it.
func appendCleaned(seg *segment, w *bufio.Writer, b []byte, interval int) error {
	h, err := batch.ParseHeader(b)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	seg.addBatch(&h, seg.size, interval)
	return nil
}

// filterBatch decides what of one batch survives. It returns b itself when
// the batch is kept whole (same), a rebuilt batch in dst when some records
// go or a tombstone needs its delete horizon, and nil when nothing is kept.
// Control and transactional batches are kept as they are.
func (p *compactPlan) filterBatch(h *batch.Header, b []byte, dst []byte) (out []byte, same bool, err error) {
	if h.IsControl() || h.IsTransactional() {
		return b, true, nil
	}
	body := b[batch.HeaderSize:]
	var keep []int32 // offset deltas of the records that stay
	tombstones := 0
	err = batch.ReadRecords(h, body, p.limit, func(r batch.Record) error {
		if p.keepRecord(h, &r) {
			keep = append(keep, r.OffsetDelta)
			if r.Value == nil {
				tombstones++
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	removed := int(h.NumRecords) - len(keep)
	p.stats.RecordsRemoved += int64(removed)
	needHorizon := tombstones > 0 && h.Attributes&batch.DeleteHorizonBit == 0
	if tombstones > 0 && !needHorizon {
		p.noteHorizon(h.BaseTimestamp)
	}
	switch {
	case h.NumRecords == 0 && !p.isProducersLast(h):
		return nil, false, nil // an emptied batch kept for a producer that wrote since
	case removed == 0 && !needHorizon:
		return b, true, nil
	case len(keep) == 0 && p.isProducersLast(h):
		return emptyBatch(dst, h)
	case len(keep) == 0:
		return nil, false, nil
	}
	return p.rebuild(h, body, keep, needHorizon, dst)
}

// keepRecord applies the compaction rule to one record: it has a key, no
// higher offset carries that key, and it is not a tombstone whose delete
// horizon passed.
func (p *compactPlan) keepRecord(h *batch.Header, r *batch.Record) bool {
	if r.Key == nil {
		return false // Kafka's cleaner drops keyless records of a compacted topic
	}
	if latest, ok := p.keys[string(r.Key)]; ok && h.BaseOffset+int64(r.OffsetDelta) < latest {
		return false
	}
	return r.Value != nil || h.Attributes&batch.DeleteHorizonBit == 0 || h.BaseTimestamp > p.now
}

// isProducersLast says h is the last batch of an idempotent producer: it is
// kept, emptied if need be, so that the producer's sequence and epoch
// survive a restart (state is rebuilt from the batch headers).
func (p *compactPlan) isProducersLast(h *batch.Header) bool {
	last, ok := p.lastBatch[h.ProducerID]
	return h.HasProducerID() && ok && last == h.LastOffset()
}

func (p *compactPlan) noteHorizon(h int64) {
	if p.horizon == 0 || h < p.horizon {
		p.horizon = h
	}
}

// rebuild writes a batch holding only the kept records, with the same codec,
// producer fields and offset range (lastOffsetDelta is preserved, so the
// producer's last sequence and the offsets after the batch stay as they
// were). With needHorizon the batch gets Kafka's delete horizon (KIP-534):
// the DeleteHorizon attribute and baseTimestamp = now + delete.retention.ms,
// record timestamp deltas adjusted so every record keeps its timestamp.
func (p *compactPlan) rebuild(h *batch.Header, body []byte, keep []int32, needHorizon bool, dst []byte) ([]byte, bool, error) {
	spec := batch.BatchSpec{BaseOffset: h.BaseOffset, PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Attributes: h.Attributes &^ batch.CodecMask, Codec: h.Codec(), BaseTimestamp: h.BaseTimestamp,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence}
	if needHorizon {
		spec.Attributes |= batch.DeleteHorizonBit
		spec.BaseTimestamp = p.now + max(p.copts.DeleteRetentionMs, 0)
		p.noteHorizon(spec.BaseTimestamp)
	}
	bl := batch.NewBuilder(spec)
	maxTs, i := int64(-1), 0
	err := batch.ReadRecords(h, body, p.limit, func(r batch.Record) error {
		if i >= len(keep) || r.OffsetDelta != keep[i] {
			return nil
		}
		i++
		ts := h.BaseTimestamp + r.TimestampDelta
		maxTs = max(maxTs, ts)
		r.TimestampDelta = ts - spec.BaseTimestamp
		bl.Add(&r)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	out, err := bl.Finish(dst)
	if err != nil {
		return nil, false, err
	}
	if h.LogAppendTime() {
		maxTs = h.MaxTimestamp
	}
	patchHeader(out, h.LastOffsetDelta, maxTs)
	return out, false, nil
}

// Header fields patchHeader rewrites (batch's layout; see package batch).
const (
	lastOffsetDeltaOffset = 23
	maxTimestampOffset    = 35
	crcOffset             = 17
)

// patchHeader sets lastOffsetDelta and maxTimestamp of a built batch and
// recomputes its CRC (which covers attributes onwards).
func patchHeader(b []byte, lastOffsetDelta int32, maxTs int64) {
	be := binary.BigEndian
	be.PutUint32(b[lastOffsetDeltaOffset:], uint32(lastOffsetDelta))
	be.PutUint64(b[maxTimestampOffset:], uint64(maxTs))
	be.PutUint32(b[crcOffset:], batch.CRC32C(b[attributesOffset:]))
}

// emptyBatch is the header of h with no records, uncompressed, as Kafka
// retains a producer's last batch once compaction removed all its records.
func emptyBatch(dst []byte, h *batch.Header) ([]byte, bool, error) {
	spec := batch.BatchSpec{BaseOffset: h.BaseOffset, PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Attributes: h.Attributes &^ (batch.CodecMask | batch.DeleteHorizonBit), BaseTimestamp: h.MaxTimestamp,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence}
	out, err := batch.Build(dst, spec)
	if err != nil {
		return nil, false, err
	}
	patchHeader(out, h.LastOffsetDelta, h.MaxTimestamp)
	return out, false, nil
}

// discardCleaned removes the output of groups that will not be swapped in.
func discardCleaned(groups []cleanedGroup) {
	for _, g := range groups {
		if g.seg != nil {
			g.seg.f.Close()
			g.seg.fs.Remove(cleanedPath(filepath.Dir(g.seg.path), g.seg.base))
		}
	}
}

// errCompactionRaced means retention or a close changed the log while the
// cleaned segments were written; the run is abandoned and retried later.
var errCompactionRaced = errors.New("seglog: log changed during compaction")

// swapIn replaces the sources with the cleaned segments: on disk with the
// swap protocol, in memory under one mu critical section, so a reader sees
// either all old or all new segments (and keeps reading the old files it
// pinned). Once the first rename happened, a failure is sticky: reopening
// the log completes the swap.
func (l *Log) swapIn(p *compactPlan, groups []cleanedGroup) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.checkSources(p); err != nil {
		discardCleaned(groups)
		if errors.Is(err, errCompactionRaced) {
			return nil
		}
		return err
	}
	if err := l.renameSwap(p, groups); err != nil {
		discardCleaned(groups)
		return l.fail(err)
	}
	l.publishCleaned(p, groups)
	for _, g := range groups {
		if g.seg != nil {
			if err := writeIndexes(g.seg, g.seg.index, g.seg.timeIndex); err != nil {
				return l.fail(err)
			}
		}
	}
	return l.finishRun(p, groups)
}

// checkSources verifies that the sources are still the log's oldest
// segments. Caller holds appendMu.
func (l *Log) checkSources(p *compactPlan) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.checkUsableLocked(); err != nil {
		return err
	}
	if len(l.segs) <= len(p.srcs) {
		return errCompactionRaced
	}
	for i := range p.srcs {
		if l.segs[i] != p.srcs[i].s {
			return errCompactionRaced
		}
	}
	return nil
}

// renameSwap runs the on-disk swap: every ".cleaned" becomes ".swap" (from
// here on Open completes the swap), the sources' index files and all their
// ".log" files but the first are removed, and each ".swap" is renamed over
// the first source's ".log". The directory is synced after each step.
func (l *Log) renameSwap(p *compactPlan, groups []cleanedGroup) error {
	steps := []func(g cleanedGroup) error{
		func(g cleanedGroup) error {
			return p.fs.Rename(cleanedPath(p.dir, g.seg.base), swapPath(p.dir, g.seg.base))
		},
		func(g cleanedGroup) error { return removeSources(p.fs, p.srcs[g.from:g.to]) },
		func(g cleanedGroup) error { return p.fs.Rename(swapPath(p.dir, g.seg.base), g.seg.path) },
	}
	l.runSwapHook(0)
	for i, step := range steps {
		for _, g := range groups {
			if g.seg == nil {
				continue
			}
			if err := step(g); err != nil {
				return err
			}
		}
		if err := p.fs.SyncDir(p.dir); err != nil {
			return err
		}
		l.runSwapHook(i + 1)
	}
	return nil
}

// runSwapHook lets a test copy the directory as a crash at that step would
// leave it: 0 = cleaned files written, 1 = renamed to ".swap", 2 = sources
// removed, 3 = swapped in.
func (l *Log) runSwapHook(step int) {
	if l.swapHook != nil {
		l.swapHook(step)
	}
}

// removeSources removes what the cleaned segment replaces; the first
// source's ".log" stays until the ".swap" is renamed over it, so the
// directory always holds a complete log or a ".swap" to complete it.
func removeSources(fsys vfs.FS, srcs []segView) error {
	for i := range srcs {
		s := srcs[i].s
		for _, path := range []string{s.indexPath(), s.timeIndexPath()} {
			if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if i > 0 {
			// The gap marker after the .log: a source without its marker
			// that survives a crash is one the swap replaces anyway. The
			// first source's marker stays with the cleaned segment.
			for _, path := range []string{s.path, s.gapsPath()} {
				if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
	}
	return nil
}

// publishCleaned makes readers see the cleaned segments, all at once. The
// old segments' files are already gone or replaced, so retiring them only
// closes their descriptors once the last reader lets go.
func (l *Log) publishCleaned(p *compactPlan, groups []cleanedGroup) {
	var segs, old []*segment
	for _, g := range groups {
		if g.seg == nil {
			for i := g.from; i < g.to; i++ {
				segs = append(segs, p.srcs[i].s)
			}
			continue
		}
		// The first source's gap marker is now the cleaned segment's.
		g.seg.gaps = p.srcs[g.from].s.gaps
		segs = append(segs, g.seg)
		for i := g.from; i < g.to; i++ {
			old = append(old, p.srcs[i].s)
		}
	}
	l.mu.Lock()
	l.segs = append(segs, l.segs[len(p.srcs):]...)
	l.mu.Unlock()
	for _, s := range old {
		s.retire(false)
	}
}

// finishRun persists the new first dirty offset and records the run.
func (l *Log) finishRun(p *compactPlan, groups []cleanedGroup) error {
	for _, g := range groups {
		if g.seg != nil {
			p.stats.SegmentsWritten++
		}
	}
	p.stats.Cleaned = true
	if err := writeCheckpoint(l.fs, l.dir, cleanerFile, []string{strconv.FormatInt(p.end, 10)}); err != nil {
		return err
	}
	l.cleaner.firstDirty, l.cleaner.horizon = p.end, p.horizon
	return nil
}

// recoverSwaps settles an interrupted compaction before the segments are
// listed: ".cleaned" files were never committed and are removed (roll
// back); a ".swap" file was committed and is completed (roll forward).
func recoverSwaps(fsys vfs.FS, dir string) error {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return err
	}
	changed := false
	for _, e := range ents {
		name := e.Name()
		if filepath.Ext(name) == ".cleaned" {
			if err := fsys.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
			changed = true
		}
	}
	for _, e := range ents {
		stem, ok := strings.CutSuffix(e.Name(), ".log.swap")
		if !ok || len(stem) != 20 {
			continue
		}
		base, err := strconv.ParseInt(stem, 10, 64)
		if err != nil || base < 0 {
			return fmt.Errorf("seglog: unexpected file %s", e.Name())
		}
		if err := completeSwap(fsys, dir, base); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		return fsys.SyncDir(dir)
	}
	return nil
}

// completeSwap finishes the swap of base's ".swap" file: the segments it
// replaces are those whose base offset lies in [base, end of the swap's
// data); they are removed with every index file of the range (rebuilt by
// recovery), the directory is synced, and the ".swap" is renamed to base's
// ".log" (made durable by recoverSwaps). A source emptied
// entirely by the cleaning lies past that range and may survive: it holds
// only records that later ones supersede, so the log stays consistent and
// the next run cleans it again.
func completeSwap(fsys vfs.FS, dir string, base int64) error {
	swap := swapPath(dir, base)
	end, err := swapEnd(fsys, swap, base)
	if err != nil {
		return err
	}
	bases, err := logBases(fsys, dir)
	if err != nil {
		return err
	}
	for _, b := range bases {
		if b < base || b >= end && b != base {
			continue
		}
		s := newSegment(fsys, dir, b, nil)
		for _, path := range []string{s.indexPath(), s.timeIndexPath()} {
			if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if b != base {
			if err := fsys.Remove(s.path); err != nil {
				return err
			}
			if err := fsys.Remove(s.gapsPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	// The removals must be durable before the rename can be: a replaced
	// source that came back next to the renamed segment would overlap it.
	if err := fsys.SyncDir(dir); err != nil {
		return err
	}
	return fsys.Rename(swap, filepath.Join(dir, segmentName(base, ".log")))
}

// swapEnd is the offset after the last sound batch of a swap file.
func swapEnd(fsys vfs.FS, path string, base int64) (int64, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	// The file was fsynced before it was renamed, so it should be whole;
	// anything after a bad batch is left to the segment's recovery.
	return walk(f, st.Size(), base, false, true, func(*batch.Header, int64) {}).next, nil
}

// logBases lists the base offsets of the ".log" files in dir.
func logBases(fsys vfs.FS, dir string) ([]int64, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range ents {
		stem, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || len(stem) != 20 {
			continue
		}
		if b, err := strconv.ParseInt(stem, 10, 64); err == nil && b >= 0 {
			bases = append(bases, b)
		}
	}
	return bases, nil
}
