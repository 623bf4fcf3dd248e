package tunnel

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// sendRaw writes b to addr, optionally half-closes, and returns the connection.
func sendRaw(t *testing.T, addr string, b []byte, halfClose bool) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if len(b) > 0 {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestReplayRefused: a recorded first flight is relayed once; its replay gets no
// answer and is counted, for both editions. Several concurrent replays of a fresh
// flight let exactly one through (test-and-add is atomic).
func TestReplayRefused(t *testing.T) {
	echo := startEcho(t)
	for _, m := range []string{MethodAES128GCM, MethodChacha20Poly1305, Method2022AES256GCM} {
		t.Run(m, func(t *testing.T) {
			var logs logBuffer
			c := testCipher(t, m)
			srv, addr := startServer(t, ServerConfig{Cipher: c, Allow: allow(t, "127.0.0.1:*"), HandshakeTimeout: time.Second, Logger: logs.logger()})
			flight := recordFirstFlight(t, c, echo, []byte("produce v9"))

			first := sendRaw(t, addr, flight, true)
			first.SetReadDeadline(time.Now().Add(5 * time.Second))
			if got, _ := io.ReadAll(first); len(got) == 0 {
				t.Fatal("first use not answered")
			}
			replay := sendRaw(t, addr, flight, false)
			expectClosedWithoutAnswer(t, replay, 3*time.Second)
			if s := srv.Stats(); s.Replayed != 1 || s.Relayed != 1 {
				t.Fatalf("stats %+v", s)
			}
			if !strings.Contains(logs.String(), "replayed salt") {
				t.Fatalf("log does not say why: %s", logs.String())
			}

			fresh := recordFirstFlight(t, c, echo, []byte("produce v9"))
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial("tcp", addr)
					if err != nil {
						return
					}
					defer c.Close()
					c.Write(fresh)
					c.(*net.TCPConn).CloseWrite()
					c.SetReadDeadline(time.Now().Add(3 * time.Second))
					io.Copy(io.Discard, c)
				}()
			}
			wg.Wait()
			if s := srv.Stats(); s.Relayed != 2 || s.Replayed != 8 {
				t.Fatalf("concurrent replays: stats %+v (want 2 relayed, 8 replayed)", s)
			}
		})
	}
}

// TestReflectionRefused: a SIP004 response stream sent back to the server as a
// request is refused, because the server's own salts are in its filter.
func TestReflectionRefused(t *testing.T) {
	echo := startEcho(t)
	c := testCipher(t, MethodAES256GCM)
	srv, addr := startServer(t, ServerConfig{Cipher: c, Allow: allow(t, "127.0.0.1:*"), HandshakeTimeout: time.Second})
	// Capture the raw response of one session: a wire tap between client and server.
	tap := listen(t)
	defer tap.Close()
	responses := make(chan []byte, 1)
	go func() {
		in, err := tap.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		go func() { io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
		b, _ := io.ReadAll(out)
		in.Write(b)
		in.Close()
		responses <- b
	}()
	d := newDialer(t, c, tap.Addr().String())
	roundTrip(t, dialCtx(t, d, echo), []byte("a response worth reflecting"))
	resp := <-responses

	conn := sendRaw(t, addr, resp, true)
	expectClosedWithoutAnswer(t, conn, 3*time.Second)
	waitFor(t, "refusal", func() bool { return srv.Stats().Replayed+srv.Stats().AuthFailed == 1 })
	if s := srv.Stats(); s.Replayed != 1 {
		t.Fatalf("reflection not caught as a replay: %+v", s)
	}
}

// TestProbeResistance: random bytes of every interesting length get no answer. On
// SIP004 the server keeps reading until the handshake deadline, however many bytes
// it got, and then closes; on SIP022 it resets.
func TestProbeResistance(t *testing.T) {
	const hs = 300 * time.Millisecond
	for _, m := range []string{MethodAES256GCM, MethodAES128GCM, Method2022AES128GCM} {
		t.Run(m, func(t *testing.T) {
			c := testCipher(t, m)
			var logs logBuffer
			srv, addr := startServer(t, ServerConfig{Cipher: c, Allow: allow(t, "*:*"), HandshakeTimeout: hs, Logger: logs.logger()})
			ks := c.KeySize()
			sizes := []int{1, ks, ks + 17, ks + 18, ks + 19, ks + 27, ks + 100, 5000}
			var wg sync.WaitGroup
			for _, n := range sizes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					probe := make([]byte, n)
					rand.Read(probe)
					start := time.Now()
					conn := sendRaw(t, addr, probe, false)
					elapsed, reset := expectClosedWithoutAnswer(t, conn, 5*time.Second)
					elapsed = time.Since(start)
					full := n >= ks+fixedRequestHeader+tagSize
					switch {
					case !c.Is2022():
						// Drained: the close comes at the deadline, never early, and as a FIN.
						if elapsed < hs-20*time.Millisecond || elapsed > hs+time.Second || reset {
							t.Errorf("%d-byte probe: closed after %v (reset=%v), want FIN at ≈%v", n, elapsed, reset, hs)
						}
					case full:
						if !reset || elapsed > time.Second {
							t.Errorf("%d-byte probe: reset=%v after %v, want a prompt reset", n, reset, elapsed)
						}
					default:
						if !reset || elapsed < hs-20*time.Millisecond || elapsed > hs+time.Second {
							t.Errorf("%d-byte probe: reset=%v after %v, want a reset at ≈%v", n, reset, elapsed, hs)
						}
					}
				}()
			}
			wg.Wait()
			s := srv.Stats()
			if s.AuthFailed+s.Incomplete != uint64(len(sizes)) || s.Relayed != 0 {
				t.Fatalf("stats %+v", s)
			}
			if !strings.Contains(logs.String(), "authentication failed") {
				t.Fatalf("log does not say why: %s", logs.String())
			}
		})
	}
}

// TestProbeClosedByClient: a SIP004 probe that gives up is released at once (the
// drain ends at the client's EOF), so probes do not pile up until the deadline.
func TestProbeClosedByClient(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{Cipher: testCipher(t, MethodAES128GCM), HandshakeTimeout: time.Minute})
	probe := make([]byte, 100)
	rand.Read(probe)
	conn := sendRaw(t, addr, probe, true)
	expectClosedWithoutAnswer(t, conn, 3*time.Second)
	waitFor(t, "release", func() bool { return srv.Stats().Active == 0 })
}

// TestAllowlistRefused: an authenticated request for a destination outside the
// allowlist is not dialled; the default (empty) allowlist refuses everything.
func TestAllowlistRefused(t *testing.T) {
	echo := startEcho(t)
	for _, a := range []*Allowlist{nil, allow(t, "echo.internal:1", "kafka-*:9092", "10.0.0.0/8:*")} {
		var logs logBuffer
		c := testCipher(t, Method2022AES128GCM)
		dialled := 0
		srv, addr := startServer(t, ServerConfig{Cipher: c, Allow: a, Logger: logs.logger(),
			Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dialled++
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}})
		d := newDialer(t, c, addr)
		for _, target := range []string{"echo.internal:" + echoPort(echo), echo, "localhost:" + echoPort(echo)} {
			conn := dialCtx(t, d, target)
			conn.Write([]byte("hello"))
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			if got, err := io.ReadAll(conn); len(got) != 0 || err != nil {
				t.Fatalf("%s: got %q, %v; want a plain EOF", target, got, err)
			}
		}
		waitFor(t, "refusals", func() bool { return srv.Stats().NotAllowed == 3 })
		if dialled != 0 {
			t.Fatalf("dialled %d times", dialled)
		}
		if !strings.Contains(logs.String(), "destination not on the allowlist") {
			t.Fatalf("log does not say why: %s", logs.String())
		}
	}
}

func TestAllowlist(t *testing.T) {
	a := allow(t, "kafka-*:19092", "broker.internal:9092-9094", "10.1.0.0/16:*", "[fd00::1]:9092", "Exact.Name.:80")
	for target, want := range map[string]bool{
		"kafka-1:19092":          true,
		"KAFKA-2:19092":          true,
		"kafka-1:19093":          false,
		"zookeeper:19092":        false,
		"broker.internal:9093":   true,
		"broker.internal:9095":   false,
		"10.1.2.3:22":            true,
		"10.2.0.1:22":            false,
		"[fd00::1]:9092":         true,
		"[fd00::2]:9092":         false,
		"exact.name:80":          true,
		"exact.name.:80":         true,
		"sub.exact.name:80":      false,
		"kafka-1.evil.com:19092": true, // globs span dots: write "kafka-?:19092" to be strict
	} {
		addr, err := ParseAddr(target)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := a.Allowed(addr); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", target, got, want)
		}
	}
	// A name that spells an IP is judged as that IP.
	name := Addr(append([]byte{atypDomain, 8}, "10.1.0.9\x00\x16"...))
	if ok, _ := a.Allowed(name); !ok {
		t.Error("IP-literal name not matched by CIDR")
	}
	for _, bad := range []string{"nohost", "host:", "host:abc", "h:5-1", "[::1/200]:1", "a[:1"} {
		if _, err := ParseAllowlist([]string{bad}); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted", bad)
		}
	}
	var empty *Allowlist
	addr, _ := ParseAddr("kafka-1:19092")
	if ok, _ := empty.Allowed(addr); ok {
		t.Error("nil allowlist allows")
	}
}

// TestTimeouts: a silent client is dropped at the handshake deadline; a relayed
// connection with no traffic is dropped at the idle timeout.
func TestTimeouts(t *testing.T) {
	echo := startEcho(t)
	c := testCipher(t, MethodAES128GCM)
	srv, addr := startServer(t, ServerConfig{Cipher: c, Allow: allow(t, "127.0.0.1:*"),
		HandshakeTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	silent := sendRaw(t, addr, nil, false)
	elapsed, _ := expectClosedWithoutAnswer(t, silent, 3*time.Second)
	if elapsed < 150*time.Millisecond {
		t.Fatalf("silent client dropped after %v", elapsed)
	}
	waitFor(t, "incomplete", func() bool { return srv.Stats().Incomplete == 1 })

	d := newDialer(t, c, addr)
	conn := dialCtx(t, d, echo)
	buf := make([]byte, 4)
	for i := 0; i < 4; i++ { // traffic every 150 ms keeps it open past the idle timeout
		conn.Write([]byte("ping"))
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Read(buf); err == nil {
		t.Fatal("idle connection answered")
	}
	if e := time.Since(start); e > 2*time.Second {
		t.Fatalf("idle connection closed after %v", e)
	}
}

// TestConnectionLimits: over MaxConnsPerIP the server closes at once without
// reading, logs it and counts it.
func TestConnectionLimits(t *testing.T) {
	var logs logBuffer
	srv, addr := startServer(t, ServerConfig{Cipher: testCipher(t, MethodAES128GCM), MaxConnsPerIP: 2, HandshakeTimeout: 5 * time.Second, Logger: logs.logger()})
	a := sendRaw(t, addr, nil, false)
	b := sendRaw(t, addr, nil, false)
	waitFor(t, "two active", func() bool { return srv.Stats().Active == 2 })
	third := sendRaw(t, addr, nil, false)
	expectClosedWithoutAnswer(t, third, 2*time.Second)
	if s := srv.Stats(); s.OverLimit != 1 {
		t.Fatalf("stats %+v", s)
	}
	if !strings.Contains(logs.String(), "connection limit reached") {
		t.Fatal("no log line for the limit")
	}
	a.Close()
	b.Close()
}

// TestSaltFilter checks both rotation policies with an injected clock.
func TestSaltFilter(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	f := newSaltFilter(0, 60*time.Second)
	if !f.testAndAdd([]byte("a"), t0) || f.testAndAdd([]byte("a"), t0.Add(time.Second)) {
		t.Fatal("basic test-and-add")
	}
	f.testAndAdd([]byte("b"), t0.Add(59*time.Second))
	// "a" must be remembered for at least 60 s, "b" until at least t0+119.
	if f.testAndAdd([]byte("a"), t0.Add(60*time.Second)) {
		t.Fatal("a forgotten at 60 s")
	}
	if f.testAndAdd([]byte("b"), t0.Add(118*time.Second)) {
		t.Fatal("b forgotten before 60 s")
	}
	if !f.testAndAdd([]byte("a"), t0.Add(300*time.Second)) {
		t.Fatal("a remembered forever")
	}

	g := newSaltFilter(3, 0)
	for _, s := range []string{"1", "2", "3", "4", "5", "6", "7"} {
		g.testAndAdd([]byte(s), t0)
	}
	if g.testAndAdd([]byte("4"), t0) || g.testAndAdd([]byte("6"), t0) {
		t.Fatal("recent salts forgotten")
	}
	if !g.testAndAdd([]byte("1"), t0) {
		t.Fatal("capacity not enforced")
	}
	if n := g.len(); n > 6 {
		t.Fatalf("filter holds %d salts", n)
	}
}

// TestClientRejectsSplicedResponse: a SIP022 response that echoes another request's
// salt is refused by the client.
func TestClientRejectsSplicedResponse(t *testing.T) {
	c := testCipher(t, Method2022AES128GCM)
	ln := listen(t)
	defer ln.Close()
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		defer raw.Close()
		buf := make([]byte, 4096)
		raw.Read(buf)
		// A well-formed response bound to some other request's salt.
		s := newSpecAEAD(t, c.key, make([]byte, 16))
		hdr := append([]byte{1}, make([]byte, 8)...)
		putTime(hdr[1:], time.Now())
		hdr = append(hdr, randomBytes(16)...)
		hdr = append(hdr, 0, 2)
		out := s.seal(append([]byte{}, make([]byte, 16)...), hdr)
		raw.Write(s.seal(out, []byte("hi")))
	}()
	d := newDialer(t, c, ln.Addr().String())
	conn := dialCtx(t, d, "kafka-1:9092")
	conn.Write([]byte("req"))
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Read(make([]byte, 10)); err != ErrSaltMismatch {
		t.Fatalf("got %v, want ErrSaltMismatch", err)
	}
}

func putTime(b []byte, t time.Time) {
	u := uint64(t.Unix())
	for i := 7; i >= 0; i-- {
		b[i] = byte(u)
		u >>= 8
	}
}
