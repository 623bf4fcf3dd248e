package seglog

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/samsa-io/samsa/internal/batch"
)

// ReadResult is the answer to Read.
type ReadResult struct {
	// Records holds whole batches, byte for byte, copied from the segment
	// files with pread; its first batch contains the requested offset. A
	// later zero-copy path can return the (file, position, length) slices
	// that segView.read computes instead.
	Records []byte
	// NextOffset is the offset after the last batch in Records (where the
	// next fetch continues); the requested offset when Records is empty.
	NextOffset int64
}

// segView is a segment pinned for reading (its file stays open until
// release) with a snapshot of its fields: the bytes below size are written
// and never change, so they can be read without locks.
type segView struct {
	s                  *segment
	size, next         int64
	index              []indexEntry
	timeIndex          []timeEntry
	maxTs, maxTsOffset int64
}

// viewLocked pins s. Caller holds l.mu.
func viewLocked(s *segment) segView {
	s.acquire()
	return segView{s: s, size: s.size, next: s.next, index: s.index, timeIndex: s.timeIndex,
		maxTs: s.maxTs, maxTsOffset: s.maxTsOffset}
}

func (v *segView) release() { v.s.release() }

// Read returns whole batches starting with the batch that contains offset
// (a fetch inside a batch gets the whole batch; the client skips the records
// below its offset), none reaching maxOffset (exclusive: the high
// watermark), and at most maxBytes of them unless the first batch alone is
// larger (KIP-74: one whole batch is always returned). Every batch returned
// passed its CRC check; a failure is ErrCorrupt. offset below the log start
// or above the log end is ErrOffsetOutOfRange; offset == log end or >=
// maxOffset gives no records.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) (ReadResult, error) {
	return l.ReadInto(nil, offset, maxBytes, maxOffset)
}

// ReadInto is Read with the records read into buf's spare capacity (from
// buf[:0]) when it is large enough, so a caller can pool read buffers;
// Records may still be a new slice (a first batch larger than buf).
func (l *Log) ReadInto(buf []byte, offset int64, maxBytes int, maxOffset int64) (ReadResult, error) {
	res := ReadResult{NextOffset: offset, Records: buf[:0]}
	if err := l.checkReadOffset(offset); err != nil {
		return res, err
	}
	// pos only grows: a gap left by compaction moves it to the next segment.
	for pos := offset; pos < maxOffset; {
		v, ok, err := l.pinForRead(pos)
		if err != nil {
			return ReadResult{NextOffset: offset}, err
		}
		if !ok {
			break
		}
		out, next, more, err := v.read(res.Records, pos, maxBytes, maxOffset)
		v.release()
		if err != nil {
			return ReadResult{NextOffset: offset}, err
		}
		if len(out) > len(res.Records) {
			res.NextOffset = next
		}
		res.Records = out
		if !more || next <= pos {
			break
		}
		pos = next
	}
	return res, nil
}

// checkReadOffset applies Read's range check.
func (l *Log) checkReadOffset(offset int64) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if offset < l.logStart || offset > l.leoLocked() {
		return ErrOffsetOutOfRange
	}
	return nil
}

// pinForRead pins the segment holding the first batch whose last offset is
// >= offset; ok is false at the log end, or if retention removed the segment
// since the range check (which just ends the read). After compaction a
// segment may end before the next one starts, or be empty: an offset in such
// a gap is served from the next segment.
func (l *Log) pinForRead(offset int64) (v segView, ok bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return v, false, ErrClosed
	}
	if offset >= l.leoLocked() || offset < l.segs[0].base {
		return v, false, nil
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	for i+1 < len(l.segs) && (l.segs[i].size == 0 || l.segs[i].next <= offset) {
		i++
	}
	if l.segs[i].size == 0 {
		return v, false, nil
	}
	return viewLocked(l.segs[i]), true, nil
}

// corrupt wraps a failed check of on-disk data.
func (v *segView) corrupt(pos int64, cause error) error {
	return fmt.Errorf("%w: segment %d position %d: %v", ErrCorrupt, v.s.base, pos, cause)
}

// find returns the position and header of the first batch whose last offset
// is >= offset (the batch containing offset, or the next one after a
// compaction gap), from the nearest index entry on, checking that offsets
// increase. The caller ensures offset < v.next.
func (v *segView) find(offset int64, window int) (int64, batch.Header, error) {
	offset = max(offset, v.s.base)
	e := lookupIndex(v.index, uint32(offset-v.s.base))
	pos, expect := int64(e.pos), v.s.base+int64(e.rel)
	exact := e.pos != 0 // an index entry names its batch's base offset exactly
	sc := newScanner(v.s.f, v.size)
	sc.win = window
	for {
		h, err := sc.header(pos)
		if err == nil && (h.BaseOffset < expect || exact && h.BaseOffset != expect) {
			err = fmt.Errorf("base offset %d, want %d", h.BaseOffset, expect)
		}
		exact = false
		if err != nil {
			return pos, h, v.corrupt(pos, err)
		}
		if h.LastOffset() >= offset {
			return pos, h, nil
		}
		pos += int64(h.Size())
		expect = h.LastOffset() + 1
	}
}

// read appends to out the batches of this segment from the one containing
// offset, within the bounds of Read. more says it reached the end of the
// segment with budget left, so the next segment may add to out.
func (v *segView) read(out []byte, offset int64, maxBytes int, maxOffset int64) ([]byte, int64, bool, error) {
	pos, h, err := v.find(offset, findWindow(len(v.index), v.size))
	if err != nil {
		return out, offset, false, err
	}
	budget := maxBytes - len(out)
	if h.LastOffset() >= maxOffset || len(out) > 0 && h.Size() > budget {
		return out, offset, false, nil
	}
	n := int(min(int64(max(budget, h.Size())), v.size-pos))
	old := len(out)
	out = slices.Grow(out, n)[:old+n]
	got, err := v.s.f.ReadAt(out[old:], pos)
	if err != nil && !errors.Is(err, io.EOF) {
		return out[:old], offset, false, err
	}
	// A short read: TruncateTo cut the file after the pin; the whole
	// batches before the cut are still good.
	out = out[:old+got]
	kept, next, stopped, err := v.wholeBatches(out[old:], pos, h.BaseOffset, maxOffset)
	if err != nil {
		return out[:old], offset, false, err
	}
	return out[:old+kept], next, !stopped && pos+int64(kept) == v.size, nil
}

// findWindow sizes the header scan of find: about two index intervals of a
// segment (the distance from an index entry to the target), within limits.
func findWindow(entries int, size int64) int {
	w := int64(scanWindow)
	if entries > 0 {
		w = 2 * size / int64(entries+1)
	}
	return int(min(max(w, 4096), scanWindow))
}

// wholeBatches checks the batches at the start of buf (read from file
// position pos) and returns how many bytes of whole, CRC-valid batches below
// maxOffset it holds. stopped says maxOffset ended it.
func (v *segView) wholeBatches(buf []byte, pos, expect, maxOffset int64) (kept int, next int64, stopped bool, err error) {
	for kept+batch.HeaderSize <= len(buf) {
		h, err := batch.ParseHeader(buf[kept:])
		if err == nil && (h.BaseOffset < expect || h.LastOffsetDelta < 0) {
			err = fmt.Errorf("base offset %d, want %d", h.BaseOffset, expect)
		}
		if err != nil {
			return kept, expect, true, v.corrupt(pos+int64(kept), err)
		}
		if kept+h.Size() > len(buf) {
			break
		}
		if h.LastOffset() >= maxOffset {
			return kept, expect, true, nil
		}
		if err := batch.CheckCRC(buf[kept : kept+h.Size()]); err != nil {
			return kept, expect, true, v.corrupt(pos+int64(kept), err)
		}
		kept += h.Size()
		expect = h.LastOffset() + 1
	}
	return kept, expect, false, nil
}
