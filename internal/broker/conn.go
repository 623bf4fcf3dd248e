package broker

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/raft"
	"github.com/samsa-io/samsa/internal/wire"
)

// maxInFlight bounds how many requests of one connection may await their
// responses at once; the reader stops reading past it (backpressure).
const maxInFlight = 256

// conn is one client connection. The reader goroutine (serve) reads and
// handles requests one at a time, in order; a handler either answers at
// once or parks its response (acks=all, fetch long-poll) and completes it
// later. The writer goroutine writes responses strictly in request order.
//
// Handling is sequential so two pipelined Produce requests for the same
// partition append in the order they were sent; only the waiting is
// concurrent.
type conn struct {
	b        *Broker
	listener *boundListener
	nc       net.Conn

	queue     chan *response // reader → writer, in request order
	closeOnce sync.Once
	closed    chan struct{}
}

// response is one request's pending answer.
type response struct {
	hdr  wire.RequestHeader
	done chan struct{} // closed when resp is set (or noResponse)
	resp kmsg.Response
	// noResponse: acks=0 produce; nothing is written.
	noResponse bool
	// bufs hold resp's record bytes (respondBufs); released after encoding.
	bufs [][]byte
	// raw is a response body that is not a kmsg type (the quorum's
	// private keys), written after a v0 response header.
	raw  []byte
	once sync.Once
}

func (r *response) finish(resp kmsg.Response) {
	r.once.Do(func() {
		r.resp = resp
		close(r.done)
	})
}

func newConn(b *Broker, l *boundListener, nc net.Conn) *conn {
	return &conn{b: b, listener: l, nc: nc, queue: make(chan *response, maxInFlight), closed: make(chan struct{})}
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.nc.Close()
	})
}

// serve runs the reader; it starts the writer and waits for it.
func (c *conn) serve() {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	err := c.readLoop()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.b.log.Debug("closing connection", "remote", c.nc.RemoteAddr().String(), "listener", c.listener.Name, "err", err)
	}
	close(c.queue)
	wg.Wait()
	c.close()
}

func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	max := c.b.opts.SocketRequestMaxBytes
	idle := c.b.opts.ConnectionsMaxIdle
	for {
		if idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		bp := getFrame()
		frame, err := wire.ReadFrame(br, *bp, max)
		if err != nil {
			return err
		}
		r, release, err := c.handle(frame)
		if release {
			*bp = frame
			putFrame(bp)
		}
		if r != nil {
			select {
			case c.queue <- r:
			case <-c.closed:
				return net.ErrClosed
			}
		}
		if err != nil {
			return err
		}
	}
}

// framePool recycles request frames of the APIs whose handlers keep no
// reference into the frame once they return (registered releasesFrame in
// the handler table); the others get a fresh buffer each time.
// BenchmarkProduceRequest (process-wide, client included): 23 → 22 allocs
// and 37.9 → 19.5 KB per 16 KiB produce request.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooledFrame keeps huge frames from pinning memory in the pool.
const maxPooledFrame = 2 << 20

func getFrame() *[]byte { return framePool.Get().(*[]byte) }

func putFrame(b *[]byte) {
	if cap(*b) <= maxPooledFrame {
		framePool.Put(b)
	}
}

// handle parses and dispatches one request. release reports that the
// frame may be recycled (the handler table says its handler keeps nothing
// of it). A returned error closes the connection after the responses
// already queued are written.
func (c *conn) handle(frame []byte) (r *response, release bool, err error) {
	hdr, req, body, err := wire.ParseRequest(frame)
	if err != nil {
		return nil, false, err
	}
	r = &response{hdr: hdr, done: make(chan struct{})}
	if raft.IsPrivateKey(hdr.Key) {
		return c.handlePrivate(r, body)
	}
	h := c.b.handlerFor(c.listener, kmsg.Key(hdr.Key))
	if hdr.Key == kmsg.ApiVersions.Int16() {
		// ApiVersions must answer even versions it does not know (KIP-511).
		c.b.handleApiVersions(c, r, req, body)
		return r, bool(h.frame), nil
	}
	if h == nil || req == nil || hdr.Version < h.min || hdr.Version > h.max {
		// Kafka closes the connection on an unsupported key or version
		// it cannot parse; clients learn versions from ApiVersions.
		return nil, false, errUnsupported(hdr)
	}
	if err := req.ReadFrom(body); err != nil {
		return nil, false, errMalformed(hdr, err)
	}
	rc := &request{conn: c, hdr: hdr, resp: r}
	h.fn(c.b, rc, req)
	return r, bool(h.frame), nil
}

// handlePrivate hands a request of the quorum's private keys to the raft
// node. Only controller listeners of a voter take them; anywhere else the
// connection closes, as for any unknown key.
func (c *conn) handlePrivate(r *response, body []byte) (*response, bool, error) {
	n := c.b.raft
	if !c.listener.controller || n == nil {
		return nil, false, errUnsupported(r.hdr)
	}
	out, err := n.HandleRPC(r.hdr.Key, r.hdr.Version, body)
	if err != nil {
		return nil, false, errMalformed(r.hdr, err)
	}
	if out == nil {
		out = []byte{}
	}
	r.raw = out
	r.once.Do(func() { close(r.done) })
	return r, false, nil
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var (
		buf  []byte
		cuts []int       // appendFetchFrame's record positions in buf
		recs [][]byte    // and the record bytes that go there
		iov  net.Buffers // writeFetch's scratch
	)
	for r := range c.queue {
		select {
		case <-r.done:
		default:
			// The next response is still parked (a long poll or an
			// acks=all wait): send what is buffered before waiting.
			if bw.Buffered() > 0 && bw.Flush() != nil {
				c.close()
			}
			select {
			case <-r.done:
			case <-c.closed:
				// Drain so the reader never blocks on a full queue.
				for range c.queue {
				}
				return
			}
		}
		if r.noResponse {
			if len(c.queue) == 0 && bw.Flush() != nil {
				c.close()
			}
			continue
		}
		if r.raw != nil {
			buf = appendRawResponse(buf[:0], r.hdr.CorrelationID, r.raw)
			r.raw = nil
			if _, err := bw.Write(buf); err != nil {
				c.close()
				continue
			}
			if len(c.queue) == 0 && bw.Flush() != nil {
				c.close()
			}
			continue
		}
		if r.resp == nil { // every answered request has a response; never expected
			bw.Flush()
			c.close()
			continue
		}
		flexHdr := wire.ResponseHeaderFlexible(r.hdr.Key, r.hdr.Flexible)
		if fr, ok := r.resp.(*kmsg.FetchResponse); ok && fetchFastOK(fr) {
			// Records go out with one writev straight from the read
			// buffers; only the framing is encoded (fetchwrite.go).
			buf, cuts, recs, _ = appendFetchFrame(buf[:0], r.hdr.CorrelationID, flexHdr, fr, cuts[:0], recs[:0])
			if len(recs) > 0 {
				err := bw.Flush()
				if err == nil {
					err = writeFetch(c.nc, buf, cuts, recs, &iov)
				}
				clear(recs)
				releaseBufs(r.bufs)
				r.bufs, r.resp = nil, nil
				if err != nil {
					c.close()
				}
				continue
			}
		} else {
			if fr, ok := r.resp.(*kmsg.FetchResponse); ok {
				if need := fetchResponseBound(fr); cap(buf) < need {
					putBuf(buf)
					buf = getBuf(need)
				}
			}
			buf = wire.AppendResponse(buf[:0], r.hdr.CorrelationID, flexHdr, r.resp)
		}
		releaseBufs(r.bufs)
		r.bufs, r.resp = nil, nil
		if _, err := bw.Write(buf); err != nil {
			c.close()
			continue
		}
		if len(c.queue) == 0 {
			if err := bw.Flush(); err != nil {
				c.close()
			}
		}
		if cap(buf) > 1<<20 {
			// Do not pin a huge fetch buffer for the connection's life:
			// back to the pool, where idle ones are collected.
			putBuf(buf)
			buf = nil
		}
	}
	bw.Flush()
}

// writeFetch writes a Fetch frame whose records are not in buf (see
// appendFetchFrame) with writev: buf's pieces between the cuts, and the
// records at each cut.
func writeFetch(nc net.Conn, buf []byte, cuts []int, recs [][]byte, iov *net.Buffers) error {
	v := (*iov)[:0]
	at := 0
	for i, c := range cuts {
		v = append(v, buf[at:c], recs[i])
		at = c
	}
	if at < len(buf) {
		v = append(v, buf[at:])
	}
	*iov = v[:0]
	w := v // WriteTo consumes the slice it is called on
	_, err := w.WriteTo(nc)
	clear(v)
	return err
}

// appendRawResponse frames a raw body with a v0 response header.
func appendRawResponse(dst []byte, corr int32, body []byte) []byte {
	n := 4 + len(body)
	dst = append(dst, byte(n>>24), byte(n>>16), byte(n>>8), byte(n),
		byte(corr>>24), byte(corr>>16), byte(corr>>8), byte(corr))
	return append(dst, body...)
}
