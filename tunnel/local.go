package tunnel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// LocalConfig configures the local side: a SOCKS5 server on the user's machine
// whose connections go through the tunnel.
type LocalConfig struct {
	// Dialer reaches the tunnel server. Required.
	Dialer *Dialer
	// HandshakeTimeout bounds the SOCKS5 greeting and request. Default 10 s.
	HandshakeTimeout time.Duration
	// FirstPayloadWait is how long to wait, after the SOCKS5 reply, for the client's
	// first bytes so that salt, header and payload leave in one write. Kafka is
	// client-first (ApiVersions), so the wait normally ends at once. Default 10 ms
	// (the Outline SDK's ClientDataWait).
	FirstPayloadWait time.Duration
	// IdleTimeout closes a connection when neither direction has moved a byte for
	// this long. Default 15 min; negative disables it.
	IdleTimeout time.Duration
	// MaxConns caps concurrent SOCKS5 connections. Default 1024.
	MaxConns int
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Local is the SOCKS5 side of the tunnel.
type Local struct {
	cfg LocalConfig
	wg  sync.WaitGroup

	// mu guards the following.
	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	active    int // SOCKS5 connections open now
}

// NewLocal checks cfg, fills in defaults and returns a Local.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Dialer == nil {
		return nil, errors.New("tunnel: LocalConfig.Dialer is nil")
	}
	setDefault(&cfg.HandshakeTimeout, 10*time.Second)
	setDefault(&cfg.FirstPayloadWait, 10*time.Millisecond)
	setDefault(&cfg.IdleTimeout, 15*time.Minute)
	setDefault(&cfg.MaxConns, 1024)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Local{cfg: cfg, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}, nil
}

// ListenAndServe listens on addr (TCP) and serves SOCKS5.
func (l *Local) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Serve(ln)
}

// Serve accepts SOCKS5 connections on ln until Close.
func (l *Local) Serve(ln net.Listener) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	l.listeners[ln] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.listeners, ln)
		l.mu.Unlock()
		ln.Close()
	}()
	closed := func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.closed
	}
	return acceptLoop(ln, closed, func(c net.Conn) {
		if !l.track(c, true) {
			l.cfg.Logger.Warn("tunnel: refused SOCKS5 connection", "client", c.RemoteAddr().String(), "reason", "connection limit reached")
			c.Close()
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.untrack(c, true)
			l.handle(c)
		}()
	})
}

// track registers c so that Close can interrupt it. SOCKS5 connections count
// against MaxConns; their tunnel-side connections are tracked but not counted.
func (l *Local) track(c net.Conn, counted bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || counted && l.active >= l.cfg.MaxConns {
		return false
	}
	l.conns[c] = struct{}{}
	if counted {
		l.active++
	}
	return true
}

func (l *Local) untrack(c net.Conn, counted bool) {
	c.Close()
	l.mu.Lock()
	delete(l.conns, c)
	if counted {
		l.active--
	}
	l.mu.Unlock()
}

// Close stops the listeners, closes every connection and waits for the handlers.
func (l *Local) Close() error {
	l.mu.Lock()
	l.closed = true
	for ln := range l.listeners {
		ln.Close()
	}
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return nil
}

func (l *Local) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(l.cfg.HandshakeTimeout))
	target, err := socksHandshake(c)
	if err != nil {
		l.cfg.Logger.Info("tunnel: SOCKS5 handshake failed", "client", c.RemoteAddr().String(), "err", err)
		return
	}
	log := l.cfg.Logger.With("client", c.RemoteAddr().String(), "target", target.String())
	d := l.cfg.Dialer
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.HandshakeTimeout)
	raw, err := d.cfg.Dial(ctx, "tcp", d.cfg.Server)
	cancel()
	if err != nil {
		socksReply(c, socksGeneralFailure)
		log.Warn("tunnel: cannot reach the tunnel server", "server", d.cfg.Server, "err", err)
		return
	}
	if !l.track(raw, false) {
		raw.Close()
		return
	}
	defer l.untrack(raw, false)
	// Success before the far dial: Shadowsocks has no way to report its outcome.
	// An unreachable or refused destination shows up as EOF; Kafka clients retry.
	if err := socksReply(c, socksSucceeded); err != nil {
		return
	}
	c.SetDeadline(time.Time{})

	var act activity
	act.touch()
	tc := d.client(raw, newIdleReader(raw, l.cfg.IdleTimeout, &act), target)
	defer tc.r.release() // after relay: no goroutine reads tc any more
	if err := l.sendFirstFlight(c, tc); err != nil {
		log.Info("tunnel: connection failed", "err", err)
		return
	}
	_, _, err = relay(
		leg{r: newIdleReader(c, l.cfg.IdleTimeout, &act), w: c, conn: c, closeWrite: tcpCloseWrite(c)},
		leg{r: tc, w: tc, conn: raw, closeWrite: tc.CloseWrite},
	)
	if err != nil && !isClosedErr(err) {
		log.Debug("tunnel: relay ended", "err", err)
	}
}

// sendFirstFlight waits up to FirstPayloadWait for the client's first bytes and
// sends them with salt and header in one write.
func (l *Local) sendFirstFlight(c net.Conn, tc *Conn) error {
	buf := make([]byte, tc.d.cfg.Cipher.maxPayload())
	c.SetReadDeadline(time.Now().Add(l.cfg.FirstPayloadWait))
	n, err := c.Read(buf)
	c.SetReadDeadline(time.Time{})
	if err != nil && !isTimeout(err) && !errors.Is(err, io.EOF) {
		return err
	}
	if n == 0 {
		return tc.Flush()
	}
	_, err = tc.Write(buf[:n])
	return err
}
