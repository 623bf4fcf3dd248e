package seglog

import (
	"errors"
	"io"

	"github.com/samsa-io/samsa/internal/batch"
)

// scanWindow is how much a scanner reads at once: large enough that small
// batches cost one pread per window, not one per batch.
const scanWindow = 64 << 10

// errTorn means the file ends inside a batch (or its header): a torn write.
var errTorn = errors.New("seglog: torn batch at end of segment")

// scanner walks the batches of a segment file through a read-ahead window.
type scanner struct {
	win  int // bytes to read at once
	r    io.ReaderAt
	size int64  // file bytes that may be read
	buf  []byte // window contents
	wpos int64  // file position of buf[0]
}

func newScanner(r io.ReaderAt, size int64) *scanner {
	return &scanner{win: scanWindow, r: r, size: size}
}

// window returns the file bytes [pos, pos+n), reading a new window if the
// current one does not cover them.
func (sc *scanner) window(pos int64, n int) ([]byte, error) {
	if pos+int64(n) > sc.size {
		return nil, errTorn
	}
	if pos >= sc.wpos && pos+int64(n) <= sc.wpos+int64(len(sc.buf)) {
		return sc.buf[pos-sc.wpos : pos-sc.wpos+int64(n)], nil
	}
	want := max(n, sc.win)
	if rest := sc.size - pos; int64(want) > rest {
		want = int(rest)
	}
	if cap(sc.buf) < want {
		sc.buf = make([]byte, want)
	}
	sc.buf = sc.buf[:want]
	got, err := sc.r.ReadAt(sc.buf, pos)
	// A file cut shorter meanwhile (TruncateTo) may end the window early;
	// what is needed may still be there.
	if err != nil && !(errors.Is(err, io.EOF) && got >= n) {
		sc.buf = sc.buf[:0]
		return nil, err
	}
	sc.buf = sc.buf[:got]
	sc.wpos = pos
	return sc.buf[:n], nil
}

// header returns the parsed header of the batch at pos. errTorn if the file
// ends before the whole batch; batch's errors for a bad header.
func (sc *scanner) header(pos int64) (batch.Header, error) {
	b, err := sc.window(pos, batch.HeaderSize)
	if err != nil {
		return batch.Header{}, err
	}
	h, err := batch.ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.LastOffsetDelta < 0 {
		return h, batch.ErrCorrupt
	}
	if pos+int64(h.Size()) > sc.size {
		return h, errTorn
	}
	return h, nil
}

// full returns the header and the whole CRC-checked batch at pos.
func (sc *scanner) full(pos int64) (batch.Header, []byte, error) {
	h, err := sc.header(pos)
	if err != nil {
		return h, nil, err
	}
	b, err := sc.window(pos, h.Size())
	if err != nil {
		return h, nil, err
	}
	if err := batch.CheckCRC(b); err != nil {
		return h, nil, err
	}
	return h, b, nil
}

// walkResult says where a walk stopped.
type walkResult struct {
	end  int64 // position after the last good batch
	next int64 // offset after the last good batch
	err  error // why it stopped before the end of the file; nil if it did not
}

// walk visits the batches of a segment from position 0 while they are sound:
// header parses, batch complete, CRC good when verify is set, base offsets
// contiguous from base, or only increasing with gaps set (a segment that
// compaction may have rewritten). It stops at the first batch that is not.
func walk(r io.ReaderAt, size, base int64, verify, gaps bool, fn func(h *batch.Header, pos int64)) walkResult {
	sc := newScanner(r, size)
	res := walkResult{next: base}
	for res.end < size {
		var h batch.Header
		var err error
		if verify {
			h, _, err = sc.full(res.end)
		} else {
			h, err = sc.header(res.end)
		}
		if err == nil && (h.BaseOffset < res.next || !gaps && h.BaseOffset != res.next) {
			err = batch.ErrCorrupt
		}
		if err != nil {
			res.err = err
			return res
		}
		fn(&h, res.end)
		res.end += int64(h.Size())
		res.next = h.LastOffset() + 1
	}
	return res
}
