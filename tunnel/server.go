package tunnel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ServerConfig configures the tunnel server: the side inside the private network
// that decrypts, resolves the broker's advertised name and dials it.
type ServerConfig struct {
	// Cipher is the method and key shared with the clients. Required.
	Cipher *Cipher
	// Allow lists the destinations the server may dial. nil or empty allows nothing,
	// so a fresh server is never an open proxy into the private network.
	Allow *Allowlist
	// Resolve turns a host name into addresses. Default: net.DefaultResolver.
	// StaticResolver builds one with overrides (tests map names to 127.0.0.1).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Dial connects to a resolved ip:port. Default: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// HandshakeTimeout bounds the time from accept until salt and header are read.
	// A failed SIP004 handshake is drained until this deadline (never answered, never
	// closed early), so a probe learns nothing from when the connection ends.
	// Default 20 s.
	HandshakeTimeout time.Duration
	// DialTimeout bounds resolving and dialing the destination. Default 10 s.
	DialTimeout time.Duration
	// IdleTimeout closes a relayed connection when neither direction has moved a byte
	// for this long. Default 15 min (above Kafka's 9-10 min connections.max.idle.ms);
	// negative disables it.
	IdleTimeout time.Duration
	// MaxConns caps concurrent client connections. Default 1024.
	MaxConns int
	// MaxConnsPerIP caps concurrent connections from one client IP. Default 256.
	MaxConnsPerIP int
	// ReplayCapacity is how many SIP004 salts each filter generation holds (the
	// filter remembers at least this many, at most twice). Default 1<<17.
	ReplayCapacity int
	// Now is the clock for SIP022 timestamps and the salt store. Default time.Now.
	Now func() time.Time
	// Logger receives one line per refused connection with the reason.
	// Default slog.Default().
	Logger *slog.Logger
}

func (c *ServerConfig) validate() error {
	if c.Cipher == nil {
		return errors.New("tunnel: ServerConfig.Cipher is nil")
	}
	if c.Resolve == nil {
		c.Resolve = systemResolve
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	setDefault(&c.HandshakeTimeout, 20*time.Second)
	setDefault(&c.DialTimeout, 10*time.Second)
	setDefault(&c.IdleTimeout, 15*time.Minute)
	setDefault(&c.MaxConns, 1024)
	setDefault(&c.MaxConnsPerIP, 256)
	setDefault(&c.ReplayCapacity, 1<<17)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func systemResolve(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// StaticResolver returns a resolver that answers the names in hosts (exact,
// case-insensitive) from the map and everything else with fallback (nil: refuse).
// Values are IP literals.
func StaticResolver(hosts map[string]string, fallback func(ctx context.Context, host string) ([]netip.Addr, error)) (func(ctx context.Context, host string) ([]netip.Addr, error), error) {
	m := make(map[string][]netip.Addr, len(hosts))
	for name, v := range hosts {
		for _, s := range strings.Split(v, ",") {
			ip, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("tunnel: host override %s=%s: %w", name, v, err)
			}
			k := strings.TrimSuffix(strings.ToLower(name), ".")
			m[k] = append(m[k], ip)
		}
	}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		if ips, ok := m[strings.TrimSuffix(strings.ToLower(host), ".")]; ok {
			return ips, nil
		}
		if fallback == nil {
			return nil, fmt.Errorf("tunnel: no address for %q", host)
		}
		return fallback(ctx, host)
	}, nil
}

// Stats counts what the server did. Every refusal is counted under its reason.
type Stats struct {
	Accepted   uint64 // connections accepted
	Relayed    uint64 // handshakes that reached a destination
	Active     int64  // connections open now
	AuthFailed uint64 // first chunk did not authenticate: wrong key or probe
	Replayed   uint64 // salt seen before
	ClockSkew  uint64 // SIP022 timestamp more than 30 s off
	BadHeader  uint64 // malformed address or SIP022 header
	Incomplete uint64 // handshake not finished before the deadline or EOF
	NotAllowed uint64 // destination not on the allowlist
	DialFailed uint64 // resolving or dialing the destination failed
	OverLimit  uint64 // MaxConns or MaxConnsPerIP reached
}

type serverStats struct {
	accepted, relayed                 atomic.Uint64
	active                            atomic.Int64
	authFailed, replayed, clockSkew   atomic.Uint64
	badHeader, incomplete, notAllowed atomic.Uint64
	dialFailed, overLimit             atomic.Uint64
}

// Server is a Shadowsocks AEAD (SIP004) or 2022 (SIP022) server.
type Server struct {
	cfg   ServerConfig
	salts *saltFilter
	stats serverStats
	wg    sync.WaitGroup

	// mu guards the following.
	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	perIP     map[netip.Addr]int
}

// NewServer checks cfg, fills in defaults and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	salts := newSaltFilter(cfg.ReplayCapacity, 0)
	if cfg.Cipher.Is2022() {
		// SIP022: an exact store of every salt for 60 s; the ±30 s timestamp check
		// refuses anything older.
		salts = newSaltFilter(0, saltMemory2022)
	}
	return &Server{
		cfg: cfg, salts: salts,
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
		perIP:     map[netip.Addr]int{},
	}, nil
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("tunnel: server closed")

// ListenAndServe listens on addr (TCP) and serves.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until Close. It closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	if !s.trackListener(ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.trackListener(ln, false)
	return acceptLoop(ln, s.isClosed, func(c net.Conn) {
		s.stats.accepted.Add(1)
		if !s.admit(c) {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.release(c)
			s.handle(c)
		}()
	})
}

// acceptLoop is shared by Server and Local: it retries temporary accept errors with
// a short backoff and returns ErrServerClosed once closed reports true.
func acceptLoop(ln net.Listener, closed func() bool, handle func(net.Conn)) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if closed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		handle(c)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) trackListener(ln net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closed {
			return false
		}
		s.listeners[ln] = struct{}{}
	} else {
		delete(s.listeners, ln)
		ln.Close()
	}
	return true
}

// trackConn registers c so that Close can interrupt it; it fails after Close.
func (s *Server) trackConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrackConn(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// admit applies the connection limits. Over a limit the connection is closed at
// once, without reading: this is overload, not a probe, and reading would let a
// flood hold goroutines.
func (s *Server) admit(c net.Conn) bool {
	ip := remoteIP(c)
	s.mu.Lock()
	ok := !s.closed && len(s.conns) < s.cfg.MaxConns && s.perIP[ip] < s.cfg.MaxConnsPerIP
	if ok {
		s.conns[c] = struct{}{}
		s.perIP[ip]++
	}
	s.mu.Unlock()
	if !ok {
		s.stats.overLimit.Add(1)
		s.cfg.Logger.Warn("tunnel: refused connection", "client", c.RemoteAddr().String(), "reason", "connection limit reached",
			"max_conns", s.cfg.MaxConns, "max_conns_per_ip", s.cfg.MaxConnsPerIP)
		c.Close()
		return false
	}
	s.stats.active.Add(1)
	return true
}

func (s *Server) release(c net.Conn) {
	ip := remoteIP(c)
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
	s.stats.active.Add(-1)
}

// Close stops the listeners, closes every connection and waits for the handlers.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	t := &s.stats
	return Stats{
		Accepted: t.accepted.Load(), Relayed: t.relayed.Load(), Active: t.active.Load(),
		AuthFailed: t.authFailed.Load(), Replayed: t.replayed.Load(), ClockSkew: t.clockSkew.Load(),
		BadHeader: t.badHeader.Load(), Incomplete: t.incomplete.Load(), NotAllowed: t.notAllowed.Load(),
		DialFailed: t.dialFailed.Load(), OverLimit: t.overLimit.Load(),
	}
}

// session is an authenticated client connection after the handshake.
type session struct {
	target Addr
	r      *chunkReader // request stream, positioned after the header
	w      *chunkWriter // response stream
}

func (s *Server) handle(c net.Conn) {
	deadline := time.Now().Add(s.cfg.HandshakeTimeout)
	c.SetReadDeadline(deadline)
	sess, err := s.handshake(c)
	if err != nil {
		s.refuseHandshake(c, err)
		return
	}
	defer sess.r.release()
	c.SetReadDeadline(time.Time{})
	log := s.cfg.Logger.With("client", c.RemoteAddr().String(), "target", sess.target.String())
	if ok, _ := s.cfg.Allow.Allowed(sess.target); !ok {
		s.stats.notAllowed.Add(1)
		log.Warn("tunnel: refused connection", "reason", "destination not on the allowlist", "allow", s.cfg.Allow.String())
		return
	}
	dst, err := s.dialTarget(sess.target)
	if err != nil {
		s.stats.dialFailed.Add(1)
		log.Warn("tunnel: refused connection", "reason", "cannot reach destination", "err", err)
		return
	}
	if !s.trackConn(dst) {
		dst.Close()
		return
	}
	defer s.untrackConn(dst)
	s.stats.relayed.Add(1)
	log.Debug("tunnel: relaying", "dst", dst.RemoteAddr().String())

	var act activity
	act.touch()
	sess.r.r = newIdleReader(c, s.cfg.IdleTimeout, &act)
	up, down, err := relay(
		leg{r: sess.r, w: sess.w, conn: c, closeWrite: tcpCloseWrite(c)},
		leg{r: newIdleReader(dst, s.cfg.IdleTimeout, &act), w: dst, conn: dst, closeWrite: tcpCloseWrite(dst)},
	)
	if err != nil && !isClosedErr(err) {
		log.Debug("tunnel: relay ended", "up", up, "down", down, "err", err)
	}
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}

// refuseHandshake logs why and ends the connection without ever writing to it.
// SIP004: keep reading and discarding until the client gives up or the handshake
// deadline (set at accept) passes, so the moment of the close says nothing about
// how many bytes were needed (Outline's absorbProbe; Frolov et al., NDSS 2020).
// SIP022: reset (SO_LINGER 0), which the spec allows and which looks the same
// whatever was consumed.
func (s *Server) refuseHandshake(c net.Conn, err error) {
	reason := s.countRefusal(err)
	s.cfg.Logger.Warn("tunnel: refused connection", "client", c.RemoteAddr().String(), "reason", reason, "err", err)
	if s.cfg.Cipher.Is2022() {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		return // release closes c
	}
	io.Copy(io.Discard, c)
}

func (s *Server) countRefusal(err error) string {
	switch {
	case errors.Is(err, ErrAuth):
		s.stats.authFailed.Add(1)
		return "authentication failed (wrong key or probe)"
	case errors.Is(err, ErrReplay):
		s.stats.replayed.Add(1)
		return "replayed salt"
	case errors.Is(err, ErrClockSkew):
		s.stats.clockSkew.Add(1)
		return "timestamp more than 30 s off (replay or client clock)"
	case errors.Is(err, ErrBadHeader), errors.Is(err, ErrBadAddr):
		s.stats.badHeader.Add(1)
		return "malformed header"
	case isTimeout(err):
		s.stats.incomplete.Add(1)
		return "handshake timeout"
	default:
		s.stats.incomplete.Add(1)
		return "handshake incomplete"
	}
}

// handshake reads the salt and the request header and returns the session.
func (s *Server) handshake(c net.Conn) (sess *session, err error) {
	ci := s.cfg.Cipher
	r := newChunkReader(c, ci.maxPayload())
	defer func() {
		if err != nil {
			r.release()
		}
	}()
	b, err := r.take(ci.KeySize())
	if err != nil {
		return nil, err
	}
	salt := bytes.Clone(b)
	if r.s, err = ci.session(salt); err != nil {
		return nil, err
	}
	var target Addr
	if ci.Is2022() {
		target, err = s.readRequestHeader2022(r, salt)
	} else {
		target, err = s.readRequestHeaderAEAD(r, salt)
	}
	if err != nil {
		return nil, err
	}
	w, err := s.responseWriter(c, salt)
	if err != nil {
		return nil, err
	}
	return &session{target: target, r: r, w: w}, nil
}

// readRequestHeaderAEAD: the first length chunk authenticates the key; only then is
// the salt tested and added. The address is read from the decrypted stream, so it
// may be a chunk of its own (go-shadowsocks2) or share one with the payload
// (Outline), or even span chunks.
func (s *Server) readRequestHeaderAEAD(r *chunkReader, salt []byte) (Addr, error) {
	if err := r.readLen(); err != nil {
		return nil, err
	}
	if !s.salts.testAndAdd(salt, s.cfg.Now()) {
		return nil, ErrReplay
	}
	target, err := ReadAddr(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return target, nil
}

// readRequestHeader2022 reads the fixed header (type, timestamp, length) and the
// variable header (address, padding, initial payload), SIP022 §3.1.3.
func (s *Server) readRequestHeader2022(r *chunkReader, salt []byte) (Addr, error) {
	b, err := r.take(fixedRequestHeader + tagSize)
	if err != nil {
		return nil, err
	}
	h, err := r.s.open(b)
	if err != nil {
		return nil, err
	}
	if h[0] != headerTypeRequest {
		return nil, ErrBadHeader
	}
	now := s.cfg.Now()
	if err := checkTimestamp(binary.BigEndian.Uint64(h[1:9]), now); err != nil {
		return nil, err
	}
	if !s.salts.testAndAdd(salt, now) {
		return nil, ErrReplay
	}
	varLen := int(binary.BigEndian.Uint16(h[9:11]))
	if b, err = r.take(varLen + tagSize); err != nil {
		return nil, err
	}
	v, err := r.s.open(b)
	if err != nil {
		return nil, err
	}
	target, rest, err := SplitAddr(v)
	if err != nil || len(rest) < 2 {
		return nil, ErrBadHeader
	}
	pad := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if pad > len(rest) || pad == 0 && len(rest) == 0 {
		return nil, ErrBadHeader
	}
	r.plain = rest[pad:] // initial payload
	return bytes.Clone(target), nil
}

// responseWriter prepares the response stream. SIP004: our salt goes into the salt
// filter too, so a recorded response replayed at us as a request is refused
// (reflection). SIP022: the header [1][timestamp][request salt] is sealed with the
// first length, so the client can bind the response to its request.
func (s *Server) responseWriter(c net.Conn, reqSalt []byte) (*chunkWriter, error) {
	ci := s.cfg.Cipher
	salt := randomBytes(ci.KeySize())
	st, err := ci.session(salt)
	if err != nil {
		return nil, err
	}
	w := newChunkWriter(c, st, ci.maxPayload())
	w.prefix = salt
	if !ci.Is2022() {
		s.salts.add(salt, s.cfg.Now())
		return w, nil
	}
	w.firstHeader = func(dst []byte) []byte {
		dst = append(dst, headerTypeResponse)
		dst = binary.BigEndian.AppendUint64(dst, uint64(s.cfg.Now().Unix()))
		return append(dst, reqSalt...)
	}
	return w, nil
}

// dialTarget resolves the destination inside the private network and dials it.
func (s *Server) dialTarget(target Addr) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DialTimeout)
	defer cancel()
	port := strconv.Itoa(int(target.Port()))
	var ips []netip.Addr
	if ip, ok := target.IP(); ok {
		ips = []netip.Addr{ip}
	} else if ip, err := netip.ParseAddr(target.Host()); err == nil {
		ips = []netip.Addr{ip}
	} else {
		if ips, err = s.cfg.Resolve(ctx, target.Host()); err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("no address for %s", target.Host())
		}
	}
	var firstErr error
	for _, ip := range ips {
		c, err := s.cfg.Dial(ctx, "tcp", net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}
