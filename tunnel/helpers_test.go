package tunnel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPassword is long enough not to be a toy, and the 2022 keys are fixed so
// failures reproduce.
const testPassword = "samsa-test-password-0123456789"

var testKeys2022 = map[string]string{
	Method2022AES128GCM:        "AAECAwQFBgcICQoLDA0ODw==",
	Method2022AES256GCM:        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	Method2022Chacha20Poly1305: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
}

func testCipher(t testing.TB, method string) *Cipher {
	t.Helper()
	secret := testPassword
	if k, ok := testKeys2022[method]; ok {
		secret = k
	}
	c, err := NewCipher(method, secret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// logBuffer collects log lines so tests can assert the reason of a refusal.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startEcho runs a TCP echo server that half-closes after echoing EOF.
func startEcho(t testing.TB) string {
	t.Helper()
	ln := listen(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

// startServer runs a tunnel server that allows "echo.internal:<echo port>", with
// echo.internal resolving to 127.0.0.1 only inside the server.
func startServer(t testing.TB, cfg ServerConfig) (*Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Resolve == nil {
		r, err := StaticResolver(map[string]string{"echo.internal": "127.0.0.1", "kafka-internal.test": "127.0.0.1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Resolve = r
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

func allow(t testing.TB, patterns ...string) *Allowlist {
	t.Helper()
	a, err := ParseAllowlist(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func echoPort(echo string) string {
	_, p, _ := net.SplitHostPort(echo)
	return p
}

func newDialer(t testing.TB, c *Cipher, server string) *Dialer {
	t.Helper()
	d, err := NewDialer(DialerConfig{Server: server, Cipher: c})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func startLocal(t testing.TB, d *Dialer) string {
	t.Helper()
	l, err := NewLocal(LocalConfig{Dialer: d, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	go l.Serve(ln)
	t.Cleanup(func() { l.Close() })
	return ln.Addr().String()
}

// roundTrip writes msg, half-closes and expects the echo back, then EOF.
func roundTrip(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	errc := make(chan error, 1)
	cw, canHalfClose := c.(interface{ CloseWrite() error })
	go func() {
		_, err := c.Write(msg)
		if err == nil && canHalfClose {
			err = cw.CloseWrite()
		}
		errc <- err
	}()
	var got []byte
	var err error
	if canHalfClose {
		got, err = io.ReadAll(c)
	} else { // x/net's SOCKS5 conn hides CloseWrite: read exactly the echo
		got = make([]byte, len(msg))
		_, err = io.ReadFull(c, got)
	}
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo mismatch: got %d bytes, want %d", len(got), len(msg))
	}
}

// pattern returns n bytes of a recognisable pattern.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// expectClosedWithoutAnswer reads from c until EOF/reset or timeout and fails if
// any byte arrives. It returns how long it waited and whether the end was a reset.
func expectClosedWithoutAnswer(t testing.TB, c net.Conn, within time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n > 0 {
		t.Fatalf("server answered %d bytes: %x", n, buf[:n])
	}
	if isTimeout(err) {
		t.Fatalf("connection still open after %v", within)
	}
	return time.Since(start), err != nil && strings.Contains(err.Error(), "reset")
}

func dialCtx(t testing.TB, d *Dialer, addr string) net.Conn {
	t.Helper()
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
