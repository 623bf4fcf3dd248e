package seglog

import (
	"math"

	"github.com/samsa-io/samsa/internal/batch"
)

// maxProducerBatches is how many recent batches per producer are kept for
// duplicate detection: the producer's max.in.flight.requests.per.connection
// limit with idempotence (KIP-98).
const maxProducerBatches = 5

// maxEvicted bounds the set of producer ids removed by retention; past it the
// set is cleared and such producers get ErrOutOfOrderSequence instead of
// ErrUnknownProducerID.
const maxEvicted = 10000

// batchMeta is what is remembered about one appended idempotent batch.
type batchMeta struct {
	epoch                   int16
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	timestamp               int64 // maxTimestamp as written
}

// producerEntry is one producer id's state, like Kafka's ProducerStateEntry.
type producerEntry struct {
	epoch      int16
	lastOffset int64       // last offset of its last batch, control batches included
	batches    []batchMeta // oldest first, at most maxProducerBatches
}

func (e *producerEntry) clone() *producerEntry {
	c := *e
	c.batches = append([]batchMeta(nil), e.batches...)
	return &c
}

// add records an appended batch.
func (e *producerEntry) add(h *batch.Header) {
	if h.ProducerEpoch != e.epoch {
		e.epoch, e.batches = h.ProducerEpoch, nil
	}
	e.lastOffset = h.LastOffset()
	if h.IsControl() {
		return
	}
	if len(e.batches) == maxProducerBatches {
		e.batches = append(e.batches[:0], e.batches[1:]...)
	}
	e.batches = append(e.batches, batchMeta{epoch: h.ProducerEpoch, firstSeq: h.BaseSequence,
		lastSeq: h.LastSequence(), firstOffset: h.BaseOffset, lastOffset: h.LastOffset(),
		timestamp: h.MaxTimestamp})
}

// duplicateOf returns the remembered batch that h repeats, if any.
func (e *producerEntry) duplicateOf(h *batch.Header) *batchMeta {
	if h.ProducerEpoch != e.epoch {
		return nil
	}
	for i := range e.batches {
		b := &e.batches[i]
		if b.firstSeq == h.BaseSequence && b.lastSeq == h.LastSequence() {
			return b
		}
	}
	return nil
}

// lastSeq is the last sequence appended in the current epoch, -1 if none.
func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastSeq
}

// producerState holds every producer id's entry. Log.appendMu guards it: only
// the writer path reads or changes it.
type producerState struct {
	m       map[int64]*producerEntry
	evicted map[int64]struct{} // removed because the log start passed them
}

func newProducerState() producerState {
	return producerState{m: map[int64]*producerEntry{}, evicted: map[int64]struct{}{}}
}

// inSequence reports whether next follows last, wrapping at MaxInt32.
func inSequence(last, next int32) bool {
	return next == last+1 || (last == math.MaxInt32 && next == 0)
}

// check validates an idempotent batch against the producer's entry e (nil if
// unknown), as Kafka's ProducerAppendInfo does, duplicates first. It returns
// the original batch for a duplicate.
func (ps *producerState) check(e *producerEntry, h *batch.Header) (*batchMeta, error) {
	if e == nil {
		if h.IsControl() || h.BaseSequence == 0 {
			return nil, nil
		}
		if _, ok := ps.evicted[h.ProducerID]; ok {
			return nil, ErrUnknownProducerID
		}
		return nil, ErrOutOfOrderSequence
	}
	if dup := e.duplicateOf(h); dup != nil && !h.IsControl() {
		return dup, nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return nil, ErrInvalidProducerEpoch
	case h.IsControl():
		return nil, nil
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return nil, ErrOutOfOrderSequence
		}
		return nil, nil
	}
	last := e.lastSeq()
	if last == -1 && h.BaseSequence != 0 || last != -1 && !inSequence(last, h.BaseSequence) {
		return nil, ps.sequenceError(e, h)
	}
	return nil, nil
}

// sequenceError tells an old duplicate we no longer remember (its sequences
// lie inside the remembered, non-wrapping range) from a gap.
func (ps *producerState) sequenceError(e *producerEntry, h *batch.Header) error {
	if len(e.batches) > 0 {
		oldest, newest := e.batches[0], e.batches[len(e.batches)-1]
		if oldest.firstSeq <= newest.lastSeq && h.BaseSequence < oldest.firstSeq && h.LastSequence() < oldest.firstSeq && h.BaseSequence <= h.LastSequence() {
			return ErrDuplicateSequence
		}
	}
	return ErrOutOfOrderSequence
}

// replay applies a batch found on disk while rebuilding state, without
// checks. Batches at or below what the producer's entry already covers are
// skipped, so replaying a segment twice is harmless.
func (ps *producerState) replay(h *batch.Header) {
	if !h.HasProducerID() {
		return
	}
	e := ps.m[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch, lastOffset: -1}
		ps.m[h.ProducerID] = e
	} else if h.LastOffset() <= e.lastOffset {
		return
	}
	e.add(h)
}

// truncateTo forgets batches at or after offset (a recovery cut the log there).
func (ps *producerState) truncateTo(offset int64) {
	for pid, e := range ps.m {
		if e.lastOffset < offset {
			continue
		}
		n := len(e.batches)
		for n > 0 && e.batches[n-1].lastOffset >= offset {
			n--
		}
		e.batches = e.batches[:n]
		if n == 0 {
			delete(ps.m, pid)
			continue
		}
		e.epoch, e.lastOffset = e.batches[n-1].epoch, e.batches[n-1].lastOffset
	}
}

// evictBefore removes producers whose last batch is below the log start, and
// remembers them so that they get ErrUnknownProducerID (KIP-360).
func (ps *producerState) evictBefore(logStart int64) {
	for pid, e := range ps.m {
		if e.lastOffset >= logStart {
			continue
		}
		delete(ps.m, pid)
		if len(ps.evicted) >= maxEvicted {
			clear(ps.evicted)
		}
		ps.evicted[pid] = struct{}{}
	}
}
