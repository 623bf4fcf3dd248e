package seglog

import (
	"encoding/binary"
	"math"

	"github.com/samsa-io/samsa/internal/batch"
)

// AppendResult describes an Append.
type AppendResult struct {
	BaseOffset, LastOffset int64 // assigned; for a duplicate, the original batch's offsets
	LogAppendTime          int64 // the broker timestamp written, -1 unless logAppendTime
	LogStartOffset         int64
	Duplicate              bool // the batch repeats one of the producer's last five; nothing was written
}

// Append writes one Produce partition payload (one or more whole batches)
// at the end of the log with a single write: it assigns offsets, stamps
// leaderEpoch as every batch's partition leader epoch and, with
// logAppendTime, sets the LogAppendTime attribute and maxTimestamp = now
// (recomputing the CRC). The header fields are rewritten IN PLACE in records,
// which the caller must not use concurrently.
//
// The batches must have passed batch.Validate: Append parses their headers
// only. Idempotent batches are sequence-checked (see the package's producer
// rules); a duplicate of one of a producer's last five batches writes nothing
// and returns the original offsets. All or nothing: on any error nothing is
// appended and no state changes.
func (l *Log) Append(records []byte, leaderEpoch int32, now int64, logAppendTime bool) (AppendResult, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err := l.checkUsableLocked()
	opts, logStart, leo := l.opts, l.logStart, l.leoLocked()
	l.mu.RUnlock()
	if err != nil {
		return AppendResult{}, err
	}
	hs, err := parseBatches(l.headers[:0], records, opts.MaxMessageBytes)
	l.headers = hs[:0] // reused by the next Append: no allocation per call
	if err != nil || len(hs) == 0 {
		return AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: logStart}, err
	}
	assignOffsets(hs, leo, leaderEpoch, now, logAppendTime)
	pending, dup, err := l.checkProducers(hs)
	if err != nil {
		return AppendResult{}, err
	}
	res := AppendResult{LogAppendTime: -1, LogStartOffset: logStart}
	if dup != nil {
		res.BaseOffset, res.LastOffset, res.Duplicate = dup.firstOffset, dup.lastOffset, true
		if logAppendTime {
			res.LogAppendTime = dup.timestamp
		}
		return res, nil
	}
	if err := l.prepare(len(records), hs, leaderEpoch, now, opts); err != nil {
		return AppendResult{}, err
	}
	stamp(records, hs, logAppendTime)
	if err := l.write(records, hs, now, opts.IndexIntervalBytes); err != nil {
		return AppendResult{}, err
	}
	l.commitProducers(pending)
	res.BaseOffset, res.LastOffset = hs[0].BaseOffset, hs[len(hs)-1].LastOffset()
	if logAppendTime {
		res.LogAppendTime = now
	}
	return res, nil
}

// parseBatches splits records into batch headers, checking only what the
// append path relies on: each header parses and each batch is complete and
// no larger than maxBytes.
func parseBatches(hs []batch.Header, records []byte, maxBytes int) ([]batch.Header, error) {
	for pos := 0; pos < len(records); {
		h, err := batch.ParseHeader(records[pos:])
		if err != nil {
			return nil, err
		}
		if h.Size() > len(records)-pos || h.LastOffsetDelta < 0 {
			return nil, batch.ErrShort
		}
		if h.Size() > maxBytes {
			return nil, ErrMessageTooLarge
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs, nil
}

// assignOffsets sets the header fields the log decides, in the parsed
// headers only; stamp copies them into the bytes once the append is sure.
func assignOffsets(hs []batch.Header, next int64, leaderEpoch int32, now int64, logAppendTime bool) {
	for i := range hs {
		h := &hs[i]
		h.BaseOffset = next
		h.PartitionLeaderEpoch = leaderEpoch
		if logAppendTime {
			h.Attributes |= batch.TimestampTypeBit
			h.MaxTimestamp = now
		}
		next = h.LastOffset() + 1
	}
}

// attributesOffset is where a batch's attributes live (see batch's layout).
const attributesOffset = 21

// stamp writes the assigned header fields into the batches.
func stamp(records []byte, hs []batch.Header, logAppendTime bool) {
	pos := 0
	for i := range hs {
		h := &hs[i]
		b := records[pos : pos+h.Size()]
		batch.SetBaseOffset(b, h.BaseOffset)
		batch.SetPartitionLeaderEpoch(b, h.PartitionLeaderEpoch)
		if logAppendTime {
			// The attribute must be set before SetMaxTimestamp recomputes the CRC.
			binary.BigEndian.PutUint16(b[attributesOffset:], uint16(h.Attributes))
			batch.SetMaxTimestamp(b, h.MaxTimestamp)
		}
		pos += h.Size()
	}
}

// checkProducers sequence-checks the idempotent batches in order, staging
// the state each would leave in pending (later batches of the same producer
// are checked against it). A duplicate ends the check: Kafka answers the
// whole append with the original batch's offsets.
func (l *Log) checkProducers(hs []batch.Header) (pending map[int64]*producerEntry, dup *batchMeta, err error) {
	for i := range hs {
		h := &hs[i]
		if !h.HasProducerID() {
			continue
		}
		e := pending[h.ProducerID]
		if e == nil {
			e = l.producers.m[h.ProducerID]
		}
		d, err := l.producers.check(e, h)
		if err != nil || d != nil {
			return nil, d, err
		}
		if e == nil {
			e = &producerEntry{epoch: h.ProducerEpoch}
		} else if pending[h.ProducerID] == nil {
			e = e.clone()
		}
		e.add(h)
		if pending == nil {
			pending = map[int64]*producerEntry{}
		}
		pending[h.ProducerID] = e
	}
	return pending, nil, nil
}

// commitProducers installs the staged producer state after a successful write.
func (l *Log) commitProducers(pending map[int64]*producerEntry) {
	for pid, e := range pending {
		l.producers.m[pid] = e
		delete(l.producers.evicted, pid)
	}
}

// prepare does what must happen before the write: roll if the active
// segment is full or old, and persist a new leader epoch.
func (l *Log) prepare(n int, hs []batch.Header, leaderEpoch int32, now int64, opts Options) error {
	if l.shouldRoll(n, hs, now, opts) {
		if err := l.roll(); err != nil {
			return err
		}
	}
	return l.maybeAssignEpoch(leaderEpoch, hs[0].BaseOffset)
}

// shouldRoll applies segment.bytes, segment.ms and the u32 relative-offset
// limit of the index. An empty segment never rolls, so one oversized append
// still fits somewhere.
func (l *Log) shouldRoll(n int, hs []batch.Header, now int64, opts Options) bool {
	act := l.active() // appendMu: the appender is the only writer of the segment list
	if act.size == 0 {
		return false
	}
	lastRel := hs[len(hs)-1].BaseOffset - act.base
	return act.size+int64(n) > opts.SegmentBytes ||
		(act.rollBaseMs >= 0 && now-act.rollBaseMs > opts.SegmentMs) ||
		lastRel > math.MaxUint32
}

// roll starts a new active segment at the log end offset. The old one joins
// l.unsynced, so the next Sync flushes it and writes its index files.
func (l *Log) roll() error {
	old := l.active()
	s, err := createSegment(l.fs, l.dir, old.next)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old.appendTimeEntry()
	old.acquire()
	l.unsynced = append(l.unsynced, old)
	l.segs = append(l.segs, s)
	l.dirDirty = true
	l.mu.Unlock()
	return nil
}

// maybeAssignEpoch records the first offset of a new leader epoch and
// persists the cache before the batch is written, so the cache never misses
// an epoch present in the log. An entry whose data then fails to be written
// starts at the log end offset, which stays true.
func (l *Log) maybeAssignEpoch(epoch int32, start int64) error {
	// Every writer of the cache holds appendMu, so this read needs no mu.
	if latest, ok := l.epochs.latest(); epoch < 0 || ok && epoch <= latest {
		return nil
	}
	l.mu.Lock()
	l.epochs.assign(epoch, start)
	lines := l.epochs.lines()
	l.mu.Unlock()
	if err := writeCheckpoint(l.fs, l.dir, epochFile, lines); err != nil {
		l.mu.Lock()
		l.epochs.entries = l.epochs.entries[:len(l.epochs.entries)-1]
		l.mu.Unlock()
		return err
	}
	return nil
}

// write appends records to the active segment with one WriteAt and then
// publishes the batches to readers.
func (l *Log) write(records []byte, hs []batch.Header, now int64, interval int) error {
	act := l.active()
	pos := act.size
	if _, err := act.f.WriteAt(records, pos); err != nil {
		// Take back a partial write so the file ends at a batch boundary.
		if terr := act.f.Truncate(pos); terr != nil {
			return l.fail(terr)
		}
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if act.rollBaseMs < 0 {
		act.rollBaseMs = now
	}
	for i := range hs {
		act.addBatch(&hs[i], pos, interval)
		pos += int64(hs[i].Size())
	}
	return nil
}
