package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn is one TCP connection to a broker with pipelined requests: writers
// take wmu, reserve a slot by sending their promise on pending (the send
// blocks while MaxInFlightRequestsPerConn requests are unanswered, which is
// the in-flight limiter), then write; the reader goroutine takes promises off
// pending in the same order and matches them with responses by correlation
// id.
//
// Invariant: every promise put on pending has its callback run exactly once,
// by the reader (response or read error) or by kill (connection died).
type conn struct {
	addr     string
	nodeID   int32
	nc       net.Conn
	clientID string
	timeout  time.Duration // RequestTimeout
	logf     func(string, ...any)

	// versions[key] is the broker's max version for the key, -1 if absent.
	versions [128]int16

	pending chan *promise
	dead    chan struct{}
	once    sync.Once
	deadErr error // set before dead is closed

	// tcp is nc when it is a plain TCP connection: Produce requests are
	// then written with writev, the record batches straight from their
	// own buffers (net.Buffers), not copied into wbuf.
	tcp *net.TCPConn

	// wmu guards the following.
	wmu  sync.Mutex
	corr int32
	wbuf []byte
	cuts []int
	recs [][]byte
	iov  net.Buffers
	iovw net.Buffers
}

// promise is one request waiting for its response.
type promise struct {
	corr     int32
	req      kmsg.Request
	noResp   bool // acks=0 Produce: the broker sends nothing back
	deadline time.Time
	// cb runs on the reader goroutine (or in kill). It must not block.
	cb func(kmsg.Response, error)
	// raw, if set, replaces cb: it gets the response body undecoded (after
	// the response header), valid only during the call, or an error; a
	// nil body and error mean "sent, no response expected" (acks=0). The
	// producer decodes Produce responses itself, allocation-free.
	raw rawHandler
}

// rawHandler receives an undecoded response (see promise.raw).
type rawHandler interface {
	onResponse(body []byte, err error)
}

func (p *promise) fail(err error) {
	if p.raw != nil {
		p.raw.onResponse(nil, err)
	} else {
		p.cb(nil, err)
	}
}

func dialConn(ctx context.Context, cfg *config, addr string, nodeID int32) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, cfg.dialTimeout)
	defer cancel()
	dial := cfg.dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("samsa/client: dial %s: %w", addr, err)
	}
	if cfg.tls != nil {
		tc := cfg.tls.Clone()
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tconn := tlsClient(nc, tc)
		if err := tconn.HandshakeContext(dctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("samsa/client: tls handshake %s: %w", addr, err)
		}
		nc = tconn
	}
	c := &conn{
		addr: addr, nodeID: nodeID, nc: nc, clientID: cfg.clientID,
		timeout: cfg.requestTimeout, logf: cfg.logf,
		pending: make(chan *promise, cfg.maxInFlightConn),
		dead:    make(chan struct{}),
	}
	c.tcp, _ = nc.(*net.TCPConn)
	for i := range c.versions {
		c.versions[i] = -1
	}
	go c.readLoop()
	if err := c.negotiate(dctx); err != nil {
		c.kill(err)
		return nil, fmt.Errorf("samsa/client: ApiVersions to %s: %w", addr, err)
	}
	return c, nil
}

// negotiate asks the broker for its versions (ApiVersions v3, falling back
// to v0 when the broker answers UNSUPPORTED_VERSION, KIP-511).
func (c *conn) negotiate(ctx context.Context) error {
	for _, v := range []int16{3, 0} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName = "samsa"
		req.ClientSoftwareVersion = "0.1.0"
		kresp, err := c.request(ctx, req, true)
		if err != nil {
			if v != 0 && !errors.Is(err, ErrConnDead) {
				continue
			}
			return err
		}
		resp := kresp.(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode == ErrUnsupportedVersion.Code && v != 0 {
			continue
		}
		if err := ErrorForCode(resp.ErrorCode); err != nil {
			return err
		}
		for _, k := range resp.ApiKeys {
			if k.ApiKey >= 0 && int(k.ApiKey) < len(c.versions) {
				c.versions[k.ApiKey] = k.MaxVersion
			}
		}
		return nil
	}
	return ErrUnsupportedVersion
}

// setVersion picks min(our max, the broker's max, cap) for req.
func (c *conn) setVersion(req kmsg.Request, cap int16) error {
	v := req.MaxVersion()
	if cap >= 0 && cap < v {
		v = cap
	}
	bv := c.versions[req.Key()]
	if bv < 0 {
		return fmt.Errorf("samsa/client: broker %s does not support api key %d: %w", c.addr, req.Key(), ErrUnsupportedVersion)
	}
	if bv < v {
		v = bv
	}
	req.SetVersion(v)
	return nil
}

// request sends req and waits for its response. raw skips version selection
// (req.Version already set).
func (c *conn) request(ctx context.Context, req kmsg.Request, raw bool) (kmsg.Response, error) {
	if !raw {
		if err := c.setVersion(req, -1); err != nil {
			return nil, err
		}
	}
	type result struct {
		resp kmsg.Response
		err  error
	}
	ch := make(chan result, 1)
	err := c.send(ctx, req, false, 0, func(r kmsg.Response, err error) { ch <- result{r, err} })
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		// The reader will still consume the response; ch is buffered.
		return nil, ctx.Err()
	}
}

// send writes req (version already set) and registers cb for its response.
// If noResp, cb runs right after the write with a nil response. extra is
// added to the response deadline (the broker-side timeout of the request).
// An error return means cb will not be called.
func (c *conn) send(ctx context.Context, req kmsg.Request, noResp bool, extra time.Duration, cb func(kmsg.Response, error)) error {
	return c.sendPromise(ctx, req, noResp, extra, &promise{cb: cb})
}

// sendPromise is send with a caller-made promise (cb or raw set); the
// caller may reuse p once its callback has run.
func (c *conn) sendPromise(ctx context.Context, req kmsg.Request, noResp bool, extra time.Duration, p *promise) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.dead:
		return c.deadErr
	default:
	}
	c.corr++
	p.corr, p.req, p.noResp = c.corr, req, noResp
	p.deadline = time.Now().Add(c.timeout + extra)
	if !noResp {
		select {
		case c.pending <- p:
		case <-c.dead:
			return c.deadErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	buf := c.wbuf[:0]
	buf = append(buf, 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(p.corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(c.clientID)))
	buf = append(buf, c.clientID...)
	if req.IsFlexible() {
		buf = append(buf, 0) // no tagged fields
	}
	pr, _ := req.(*kmsg.ProduceRequest)
	var err error
	if pr != nil && c.tcp != nil && pr.Version >= 3 {
		err = c.writeProduce(buf, pr)
	} else {
		buf = req.AppendTo(buf)
		binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
		c.keepWbuf(buf)
		c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
		_, err = c.nc.Write(buf)
	}
	if err != nil {
		err = fmt.Errorf("%w: write to %s: %v", ErrConnDead, c.addr, err)
		go c.kill(err) // kill takes wmu; p (if pending) is failed there
		if noResp {
			return err
		}
		return nil
	}
	if noResp {
		if p.raw != nil {
			p.raw.onResponse(nil, nil)
		} else {
			p.cb(nil, nil)
		}
	}
	return nil
}

func (c *conn) keepWbuf(buf []byte) {
	if cap(buf) <= 4<<20 {
		c.wbuf = buf // keep moderate buffers for reuse
	} else {
		c.wbuf = nil
	}
}

// writeProduce writes a Produce request whose header is in buf: the body's
// framing is encoded into buf, and one writev sends it interleaved with
// the record batches, which are not copied.
func (c *conn) writeProduce(buf []byte, pr *kmsg.ProduceRequest) error {
	var total int
	buf, c.cuts, c.recs, total = appendProduceBody(buf, pr, c.cuts[:0], c.recs[:0])
	binary.BigEndian.PutUint32(buf, uint32(total-4))
	c.keepWbuf(buf)
	iov := c.iov[:0]
	at := 0
	for i, cut := range c.cuts {
		iov = append(iov, buf[at:cut])
		if len(c.recs[i]) > 0 {
			iov = append(iov, c.recs[i])
		}
		at = cut
	}
	if at < len(buf) {
		iov = append(iov, buf[at:])
	}
	clear(c.recs)
	c.iov = iov[:0]
	c.iovw = iov // WriteTo consumes (and clears) iovw; iov keeps the array
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.iovw.WriteTo(c.tcp)
	return err
}

// appendProduceBody appends the body of a Produce request (v3+) to buf,
// except the record batches: for each, it appends the offset in buf where
// the batch goes to cuts and the batch to recs. total is the size of the
// whole request, batches included.
func appendProduceBody(buf []byte, r *kmsg.ProduceRequest, cuts []int, recs [][]byte) ([]byte, []int, [][]byte, int) {
	flex := r.Version >= 9
	arrayLen := func(n int) {
		if flex {
			buf = binary.AppendUvarint(buf, uint64(n)+1)
		} else {
			buf = binary.BigEndian.AppendUint32(buf, uint32(n))
		}
	}
	if flex {
		if r.TransactionID == nil {
			buf = append(buf, 0)
		} else {
			buf = binary.AppendUvarint(buf, uint64(len(*r.TransactionID))+1)
			buf = append(buf, *r.TransactionID...)
		}
	} else if r.TransactionID == nil {
		buf = binary.BigEndian.AppendUint16(buf, 0xffff)
	} else {
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(*r.TransactionID)))
		buf = append(buf, *r.TransactionID...)
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(r.Acks))
	buf = binary.BigEndian.AppendUint32(buf, uint32(r.TimeoutMillis))
	arrayLen(len(r.Topics))
	var recBytes int
	for ti := range r.Topics {
		t := &r.Topics[ti]
		if flex {
			buf = binary.AppendUvarint(buf, uint64(len(t.Topic))+1)
		} else {
			buf = binary.BigEndian.AppendUint16(buf, uint16(len(t.Topic)))
		}
		buf = append(buf, t.Topic...)
		arrayLen(len(t.Partitions))
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			buf = binary.BigEndian.AppendUint32(buf, uint32(p.Partition))
			switch {
			case p.Records == nil && flex:
				buf = append(buf, 0)
			case p.Records == nil:
				buf = binary.BigEndian.AppendUint32(buf, 0xffffffff)
			default:
				if flex {
					buf = binary.AppendUvarint(buf, uint64(len(p.Records))+1)
				} else {
					buf = binary.BigEndian.AppendUint32(buf, uint32(len(p.Records)))
				}
				cuts = append(cuts, len(buf))
				recs = append(recs, p.Records)
				recBytes += len(p.Records)
			}
			if flex {
				buf = append(buf, 0) // partition tagged fields
			}
		}
		if flex {
			buf = append(buf, 0) // topic tagged fields
		}
	}
	if flex {
		buf = append(buf, 0) // request tagged fields
	}
	return buf, cuts, recs, len(buf) + recBytes
}

// inFlightFull reports whether MaxInFlightRequestsPerConn requests are
// unanswered (a send would wait).
func (c *conn) inFlightFull() bool { return len(c.pending) == cap(c.pending) }

func (c *conn) readLoop() {
	var (
		hdr  [4]byte
		body []byte
	)
	for {
		var p *promise
		select {
		case p = <-c.pending:
		case <-c.dead:
			return
		}
		c.nc.SetReadDeadline(p.deadline)
		if _, err := io.ReadFull(c.nc, hdr[:]); err != nil {
			c.failAndKill(p, fmt.Errorf("%w: read from %s: %v", ErrConnDead, c.addr, err))
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n < 4 || n > 1<<30 {
			c.failAndKill(p, fmt.Errorf("%w: bad response size %d from %s", ErrConnDead, n, c.addr))
			return
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(c.nc, body); err != nil {
			c.failAndKill(p, fmt.Errorf("%w: read from %s: %v", ErrConnDead, c.addr, err))
			return
		}
		if corr := int32(binary.BigEndian.Uint32(body)); corr != p.corr {
			c.failAndKill(p, fmt.Errorf("%w: correlation id %d, expected %d, from %s", ErrConnDead, corr, p.corr, c.addr))
			return
		}
		b := body[4:]
		if p.req.IsFlexible() && p.req.Key() != 18 {
			var ok bool
			if b, ok = skipTags(b); !ok {
				c.failAndKill(p, fmt.Errorf("%w: bad response header from %s", ErrConnDead, c.addr))
				return
			}
		}
		if p.raw != nil {
			p.raw.onResponse(b, nil)
			if len(body) > 1<<20 {
				body = nil
			}
			continue
		}
		resp := p.req.ResponseKind()
		if err := resp.ReadFrom(b); err != nil {
			p.cb(nil, fmt.Errorf("samsa/client: decoding response key %d v%d from %s: %w", p.req.Key(), p.req.GetVersion(), c.addr, err))
			continue
		}
		// kmsg decodes []byte fields (record batches, group member
		// metadata) as slices of body: the response owns it now, and the
		// next response gets a fresh buffer. Only the raw path above, whose
		// callback is done with the bytes when it returns, reuses body.
		body = nil
		p.cb(resp, nil)
	}
}

func (c *conn) failAndKill(p *promise, err error) {
	p.fail(err)
	c.kill(err)
}

// kill closes the connection and fails every pending promise. Safe to call
// many times and from any goroutine.
func (c *conn) kill(err error) {
	c.once.Do(func() {
		c.deadErr = err
		close(c.dead)
		c.nc.Close()
		if c.logf != nil {
			c.logf("connection to %s closed: %v", c.addr, err)
		}
	})
	// Writers check dead under wmu, so after taking it no promise can be
	// added; drain what is there (the reader has exited or will see dead).
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for {
		select {
		case p := <-c.pending:
			p.fail(c.deadErr)
		default:
			return
		}
	}
}

func (c *conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

func skipTags(b []byte) ([]byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, false
	}
	b = b[w:]
	for ; n > 0; n-- {
		_, w = binary.Uvarint(b)
		if w <= 0 {
			return nil, false
		}
		b = b[w:]
		size, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < size {
			return nil, false
		}
		b = b[w+int(size):]
	}
	return b, true
}
