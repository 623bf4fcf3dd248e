package tunnel

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
)

// Chunk framing shared by SIP004 and SIP022 (after their headers):
//
//	[Seal(n, u16be len) : 2+16][Seal(n+1, payload[len]) : len+16] ...
//
// SIP004 caps len at 0x3FFF and reserves the top two bits (masked on read, as
// go-shadowsocks2 and Outline do); SIP022 allows the full 0xFFFF.
const (
	tagSize        = 16
	lenChunkSize   = 2 + tagSize
	maxPayloadAEAD = 0x3FFF
	maxPayload2022 = 0xFFFF
	// maxRespHeader is the SIP022 response header without its length:
	// [type][timestamp u64be][request salt up to 32].
	maxRespHeader = 1 + 8 + 32
)

// chunkWriter seals a plaintext stream into chunks. Every Write of the caller
// becomes one Write on the wire (or one per writeBatch bytes), so a small Kafka
// request is one TCP segment and a large one is written in big batches rather than
// one syscall per 16 KiB chunk.
type chunkWriter struct {
	w          io.Writer
	s          *aeadState
	maxPayload int
	batch      int // plaintext bytes sealed per underlying Write
	// prefix goes out in front of the next chunks, in the same Write: the salt and,
	// for SIP022 requests, the sealed header chunks.
	prefix []byte
	// firstHeader, when set, is called once to build the bytes sealed in front of the
	// first chunk's length (the SIP022 response header, whose timestamp must be taken
	// when it is sent, not when the connection was accepted).
	firstHeader func(dst []byte) []byte
	out         []byte // reusable output buffer
	in          []byte // plaintext staging buffer for ReadFrom
}

func newChunkWriter(w io.Writer, s *aeadState, maxPayload int) *chunkWriter {
	// About 128 KiB of plaintext per syscall: measured on loopback, fewer and
	// larger writes matter more than the chunk size (64 KiB batches were ~15 % slower).
	batch := 2 * maxPayload
	if maxPayload == maxPayloadAEAD {
		batch = 8 * maxPayloadAEAD
	}
	chunks := (batch + maxPayload - 1) / maxPayload
	return &chunkWriter{
		w: w, s: s, maxPayload: maxPayload, batch: batch,
		out: make([]byte, 0, 64+maxRespHeader+batch+chunks*(lenChunkSize+tagSize)),
	}
}

// appendChunks seals p (any length) as chunks and appends them to out.
func (w *chunkWriter) appendChunks(out, p []byte) []byte {
	var lenBuf [maxRespHeader + 2]byte
	for len(p) > 0 {
		n := min(len(p), w.maxPayload)
		l := lenBuf[:0]
		if w.firstHeader != nil {
			l = w.firstHeader(l)
			w.firstHeader = nil
		}
		l = binary.BigEndian.AppendUint16(l, uint16(n))
		out = w.s.seal(out, l)
		out = w.s.seal(out, p[:n])
		p = p[n:]
	}
	return out
}

// Write seals p. An empty p writes nothing: a zero-length chunk is never sent, and
// a lone salt would be a fingerprint.
func (w *chunkWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), w.batch)
		out := append(w.out[:0], w.prefix...)
		out = w.appendChunks(out, p[:n])
		w.prefix = nil
		w.out = out[:0]
		if _, err := w.w.Write(out); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// ReadFrom reads r straight into a staging buffer and seals each read as one batch.
func (w *chunkWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.in == nil {
		w.in = make([]byte, w.batch)
	}
	var total int64
	for {
		n, err := r.Read(w.in)
		if n > 0 {
			if _, werr := w.Write(w.in[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// chunkReader opens a chunked stream. It reads the wire in large blocks and keeps
// whatever arrives buffered, so the number of bytes it consumes from the kernel never
// depends on how far a handshake got (probe resistance), and WriteTo can hand
// several decrypted chunks to one writev.
type chunkReader struct {
	r    io.Reader
	s    *aeadState // nil until the peer's salt has been read
	mask uint16     // 0x3FFF for SIP004, 0xFFFF for SIP022
	// init, when set, runs before the first read: the client side reads the
	// response salt (and the SIP022 response header) there.
	init func(*chunkReader) error

	buf        []byte
	start, end int    // buffered ciphertext is buf[start:end]
	nextLen    int    // length of the next payload chunk, or -1: a length chunk comes next
	plain      []byte // decrypted, undelivered payload (aliases buf)
	err        error  // sticky; timeouts are not sticky
	iov        [][]byte
}

// Read buffers are pooled by the server and Local, which own every goroutine that
// touches a connection and so know when its buffer is free again. A Conn handed to
// a user is never released: its Read may still be running after Close.
var readBufPools = map[int]*sync.Pool{}

func readBufSize(maxPayload int) int {
	return max(128<<10, 2*(maxPayload+lenChunkSize+tagSize)+128)
}

func init() {
	for _, mp := range []int{maxPayloadAEAD, maxPayload2022} {
		size := readBufSize(mp)
		readBufPools[size] = &sync.Pool{New: func() any { b := make([]byte, size); return &b }}
	}
}

func newChunkReader(r io.Reader, maxPayload int) *chunkReader {
	mask := uint16(0xFFFF)
	if maxPayload == maxPayloadAEAD {
		mask = 0x3FFF
	}
	buf := readBufPools[readBufSize(maxPayload)].Get().(*[]byte)
	return &chunkReader{r: r, mask: mask, buf: *buf, nextLen: -1}
}

// release returns the buffer to its pool. The reader must not be used afterwards.
func (r *chunkReader) release() {
	if b := r.buf; b != nil {
		r.buf, r.plain, r.err = nil, nil, net.ErrClosed
		readBufPools[len(b)].Put(&b)
	}
}

// compact moves the buffered bytes to the front of buf. It invalidates every slice
// previously returned by take, including plain.
func (r *chunkReader) compact() {
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
}

// fill makes at least n bytes available, reading as much as the peer has sent.
func (r *chunkReader) fill(n int) error {
	if r.end-r.start >= n {
		return nil
	}
	if len(r.buf)-r.start < n {
		r.compact()
	}
	for r.end-r.start < n {
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if r.end-r.start >= n {
			return nil
		}
		if err != nil {
			if err == io.EOF && r.end > r.start {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// take returns the next n buffered bytes and consumes them. The slice stays valid
// until the next fill.
func (r *chunkReader) take(n int) ([]byte, error) {
	if err := r.fill(n); err != nil {
		return nil, err
	}
	b := r.buf[r.start : r.start+n]
	r.start += n
	return b, nil
}

// readLen reads and opens a length chunk unless one is already pending.
func (r *chunkReader) readLen() error {
	if r.nextLen >= 0 {
		return nil
	}
	b, err := r.take(lenChunkSize)
	if err != nil {
		return err
	}
	l, err := r.s.open(b)
	if err != nil {
		return err
	}
	r.nextLen = int(binary.BigEndian.Uint16(l) & r.mask)
	return nil
}

// readChunk reads the next chunk into plain.
func (r *chunkReader) readChunk() error {
	if err := r.readLen(); err != nil {
		return err
	}
	b, err := r.take(r.nextLen + tagSize)
	if err != nil {
		return err
	}
	p, err := r.s.open(b)
	if err != nil {
		return err
	}
	r.nextLen = -1
	r.plain = p
	return nil
}

func (r *chunkReader) setErr(err error) error {
	var ne net.Error
	if !(errors.As(err, &ne) && ne.Timeout()) {
		r.err = err
	}
	return err
}

func (r *chunkReader) runInit() error {
	if r.init == nil {
		return nil
	}
	f := r.init
	r.init = nil
	if err := f(r); err != nil {
		r.err = err
		return err
	}
	return nil
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if err := r.runInit(); err != nil {
			return 0, err
		}
		if len(r.plain) > 0 {
			break
		}
		if err := r.readChunk(); err != nil {
			return 0, r.setErr(err)
		}
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// WriteTo decrypts every complete chunk that one read brought in and writes them
// with a single writev when w is a *net.TCPConn.
func (r *chunkReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if r.err == nil {
		if err := r.runInit(); err != nil {
			return 0, err
		}
	}
	if len(r.plain) > 0 {
		n, err := w.Write(r.plain)
		total += int64(n)
		r.plain = r.plain[n:]
		if err != nil {
			return total, err
		}
	}
	for {
		if r.err != nil {
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		bufs, err := r.openBuffered(r.iov[:0])
		if err != nil {
			return total, r.setErr(err)
		}
		if len(bufs) > 0 {
			r.iov = bufs[:0]
			nb := net.Buffers(bufs)
			n, err := nb.WriteTo(w)
			total += n
			if err != nil {
				return total, err
			}
			continue
		}
		need := lenChunkSize
		if r.nextLen >= 0 {
			need = r.nextLen + tagSize
		}
		r.compact()
		if err := r.fill(need); err != nil {
			if err == io.EOF {
				r.err = io.EOF
				return total, nil
			}
			return total, r.setErr(err)
		}
	}
}

// openBuffered opens every complete chunk already in the buffer and appends the
// non-empty payloads to bufs.
func (r *chunkReader) openBuffered(bufs [][]byte) ([][]byte, error) {
	for {
		if r.nextLen < 0 {
			if r.end-r.start < lenChunkSize {
				return bufs, nil
			}
			if err := r.readLen(); err != nil {
				return bufs, err
			}
		}
		if r.end-r.start < r.nextLen+tagSize {
			return bufs, nil
		}
		if err := r.readChunk(); err != nil {
			return bufs, err
		}
		if len(r.plain) > 0 {
			bufs = append(bufs, r.plain)
		}
		r.plain = nil
	}
}
