package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// SIP022 header constants (2022-1-shadowsocks-2022-edition.md §3.1.3).
const (
	headerTypeRequest  = 0
	headerTypeResponse = 1
	fixedRequestHeader = 1 + 8 + 2 // type, timestamp, length of the variable header
	maxTimeSkew        = 30 * time.Second
	maxPadding         = 900
	saltMemory2022     = 60 * time.Second
)

func checkTimestamp(ts uint64, now time.Time) error {
	d := now.Sub(time.Unix(int64(ts), 0))
	if d > maxTimeSkew || d < -maxTimeSkew {
		return ErrClockSkew
	}
	return nil
}

// DialerConfig configures a Dialer.
type DialerConfig struct {
	// Server is the tunnel server's host:port.
	Server string
	// Cipher is the method and key shared with the server.
	Cipher *Cipher
	// Dial reaches the tunnel server. Default: a net.Dialer with a 10 s timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// SeparateAddressChunk (SIP004 only) seals the target address as a chunk of its
	// own, as go-shadowsocks2's client does; by default it shares the first chunk
	// with the first payload, as the Outline SDK does. Either way salt, address and
	// first payload leave in one write. Tests use it to cover both placements.
	SeparateAddressChunk bool
	// Now is the clock for SIP022 timestamps. Default time.Now.
	Now func() time.Time
}

// Dialer opens connections through a tunnel server: the client half of the
// Shadowsocks protocol. It is safe for concurrent use.
type Dialer struct {
	cfg DialerConfig
	// salts remembers SIP022 response salts for 60 s (the spec asks clients, too,
	// to store incoming salts).
	salts *saltFilter
}

// NewDialer checks cfg and returns a Dialer.
func NewDialer(cfg DialerConfig) (*Dialer, error) {
	if cfg.Cipher == nil {
		return nil, errors.New("tunnel: DialerConfig.Cipher is nil")
	}
	if cfg.Server == "" {
		return nil, errors.New("tunnel: DialerConfig.Server is empty")
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		cfg.Dial = d.DialContext
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Dialer{cfg: cfg, salts: newSaltFilter(0, saltMemory2022)}, nil
}

// DialContext connects to addr ("host:port"; the host name is resolved by the tunnel
// server) through the tunnel. It has the signature of net.Dialer.DialContext, so it
// plugs into franz-go's kgo.Dialer and similar hooks. Only TCP is supported.
//
// The returned connection sends nothing until its first Write, which carries the
// salt, the header and the payload in one TCP write. Shadowsocks cannot report
// whether the server reached addr: a refused destination shows up as EOF.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, errors.New("tunnel: only tcp is supported, not " + network)
	}
	target, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	raw, err := d.cfg.Dial(ctx, "tcp", d.cfg.Server)
	if err != nil {
		return nil, err
	}
	return d.Client(raw, target), nil
}

// Client wraps an established connection to the tunnel server.
func (d *Dialer) Client(raw net.Conn, target Addr) *Conn {
	return d.client(raw, raw, target)
}

// client is Client with the reader of raw supplied (an idle-timeout wrapper).
func (d *Dialer) client(raw net.Conn, rd io.Reader, target Addr) *Conn {
	c := &Conn{Conn: raw, d: d, target: target}
	c.r = newChunkReader(rd, d.cfg.Cipher.maxPayload())
	c.r.init = c.readResponseHeader
	return c
}

// Conn is a client connection through the tunnel.
type Conn struct {
	net.Conn // the connection to the tunnel server
	d        *Dialer
	target   Addr

	// sent is set, under wmu, once the first flight is out; Read checks it without
	// the lock because ReadFrom holds wmu for as long as its copy runs.
	sent atomic.Bool
	// wmu guards the following (Write, ReadFrom and the lazy first flight).
	wmu sync.Mutex
	w   *chunkWriter

	reqSalt []byte // written once, before sent is set

	r *chunkReader // used by Read/WriteTo only
}

// Target returns the destination the tunnel server is asked to dial.
func (c *Conn) Target() Addr { return c.target }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}

// writeFirstLocked sends salt, header and as much of p as fits one batch in a
// single write, and returns how much of p it sent.
func (c *Conn) writeFirstLocked(p []byte) (int, error) {
	ci := c.d.cfg.Cipher
	salt := randomBytes(ci.KeySize())
	st, err := ci.session(salt)
	if err != nil {
		return 0, err
	}
	w := newChunkWriter(c.Conn, st, ci.maxPayload())
	first := p[:min(len(p), w.batch)]
	out := append(w.out[:0], salt...)
	if ci.Is2022() {
		out = c.appendRequestHeader(out, w, first)
	} else if c.d.cfg.SeparateAddressChunk {
		out = w.appendChunks(out, c.target)
		out = w.appendChunks(out, first)
	} else {
		merged := make([]byte, 0, len(c.target)+len(first))
		out = w.appendChunks(out, append(append(merged, c.target...), first...))
	}
	c.w, c.reqSalt = w, salt
	c.sent.Store(true)
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(first), nil
}

// appendRequestHeader appends the two SIP022 request header chunks, carrying as
// much of p as fits as the initial payload, then the rest of p as chunks.
func (c *Conn) appendRequestHeader(out []byte, w *chunkWriter, p []byte) []byte {
	pad := 0
	if len(p) == 0 {
		n, _ := rand.Int(rand.Reader, big.NewInt(maxPadding))
		pad = 1 + int(n.Int64())
	}
	initial := p[:min(len(p), maxPayload2022-len(c.target)-2-pad)]
	varHdr := make([]byte, 0, len(c.target)+2+pad+len(initial))
	varHdr = append(varHdr, c.target...)
	varHdr = binary.BigEndian.AppendUint16(varHdr, uint16(pad))
	varHdr = append(varHdr, make([]byte, pad)...)
	varHdr = append(varHdr, initial...)

	var fixed [fixedRequestHeader]byte
	fixed[0] = headerTypeRequest
	binary.BigEndian.PutUint64(fixed[1:], uint64(c.d.cfg.Now().Unix()))
	binary.BigEndian.PutUint16(fixed[9:], uint16(len(varHdr)))
	out = w.s.seal(out, fixed[:])
	out = w.s.seal(out, varHdr)
	return w.appendChunks(out, p[len(initial):])
}

// Write sends p through the tunnel. The first Write also sends salt and header.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	if c.w == nil {
		if len(p) == 0 {
			return 0, nil
		}
		var err error
		if n, err = c.writeFirstLocked(p); err != nil {
			return 0, err
		}
	}
	m, err := c.w.Write(p[n:])
	return n + m, err
}

// ReadFrom copies r into the tunnel; the first read is coalesced with the header.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	if !c.sent.Load() {
		// The first read happens without the lock so that a concurrent Read can
		// still flush the header on its own.
		buf := make([]byte, c.d.cfg.Cipher.maxPayload())
		n, err := r.Read(buf)
		if _, werr := c.Write(buf[:n]); werr != nil {
			return 0, werr
		}
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := c.w.ReadFrom(r)
	return total + n, err
}

// Flush sends the salt and header now, with padding for SIP022 or an address-only
// chunk for SIP004, if nothing has been written yet. Read calls it, so server-first
// protocols work.
func (c *Conn) Flush() error {
	if c.sent.Load() {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.w != nil {
		return nil
	}
	_, err := c.writeFirstLocked(nil)
	return err
}

// CloseWrite sends the header if needed, then a FIN.
func (c *Conn) CloseWrite() error {
	if err := c.Flush(); err != nil {
		return err
	}
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *Conn) Read(p []byte) (int, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// WriteTo copies the tunnel's plaintext to w.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	return c.r.WriteTo(w)
}

// readResponseHeader reads the server's salt and, for SIP022, checks the response
// header: type, timestamp, and the echo of our request salt, which binds this
// response to this request (it defeats response splicing, shadowsocks-org#183).
func (c *Conn) readResponseHeader(r *chunkReader) error {
	ci := c.d.cfg.Cipher
	b, err := r.take(ci.KeySize())
	if err != nil {
		return err
	}
	salt := bytes.Clone(b)
	if r.s, err = ci.session(salt); err != nil {
		return err
	}
	if !ci.Is2022() {
		return nil
	}
	reqSalt := c.reqSalt // written before sent was set; Read and WriteTo flushed first
	b, err = r.take(1 + 8 + len(salt) + 2 + tagSize)
	if err != nil {
		return err
	}
	h, err := r.s.open(b)
	if err != nil {
		return err
	}
	if h[0] != headerTypeResponse {
		return ErrBadHeader
	}
	now := c.d.cfg.Now()
	if err := checkTimestamp(binary.BigEndian.Uint64(h[1:9]), now); err != nil {
		return err
	}
	if !bytes.Equal(h[9:9+len(salt)], reqSalt) {
		return ErrSaltMismatch
	}
	if !c.d.salts.testAndAdd(salt, now) {
		return ErrReplay
	}
	r.nextLen = int(binary.BigEndian.Uint16(h[9+len(salt):]))
	return nil
}
