package tunnel

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestRoundTrip sends echo traffic through Dialer → Server → echo for every method,
// with payloads that hit the chunk boundaries of both editions.
func TestRoundTrip(t *testing.T) {
	echo := startEcho(t)
	for _, m := range Methods() {
		t.Run(m, func(t *testing.T) {
			c := testCipher(t, m)
			_, srv := startServer(t, ServerConfig{Cipher: c, Allow: allow(t, "echo.internal:"+echoPort(echo))})
			for _, sep := range []bool{false, true} {
				d, err := NewDialer(DialerConfig{Server: srv, Cipher: c, SeparateAddressChunk: sep})
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []int{1, 100, maxPayloadAEAD - 20, maxPayloadAEAD, maxPayloadAEAD + 1, maxPayload2022 + 7, 1 << 20} {
					roundTrip(t, dialCtx(t, d, "echo.internal:"+echoPort(echo)), pattern(n))
				}
			}
		})
	}
}

// TestServerFirst: the client reads before writing; the header goes out alone
// (SIP022 with padding) and the reply still arrives.
func TestServerFirst(t *testing.T) {
	ln := listen(t)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("hello from the broker"))
		c.Close()
	}()
	for _, m := range []string{MethodAES256GCM, Method2022AES128GCM} {
		c := testCipher(t, m)
		_, srv := startServer(t, ServerConfig{Cipher: c, Allow: allow(t, "127.0.0.1:*")})
		d := newDialer(t, c, srv)
		conn := dialCtx(t, d, ln.Addr().String())
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(conn)
		if err != nil || string(got) != "hello from the broker" {
			t.Fatalf("%s: got %q, %v", m, got, err)
		}
		if m == MethodAES256GCM {
			go func() { // serve the second method too
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("hello from the broker"))
				c.Close()
			}()
		}
	}
}

// TestSOCKS5Local goes client → SOCKS5 (x/net/proxy via SOCKS5Dialer) → Local →
// Server → echo, with the echo's host name resolvable only inside the server.
func TestSOCKS5Local(t *testing.T) {
	echo := startEcho(t)
	for _, m := range []string{MethodChacha20Poly1305, Method2022AES256GCM} {
		t.Run(m, func(t *testing.T) {
			c := testCipher(t, m)
			_, srv := startServer(t, ServerConfig{Cipher: c, Allow: allow(t, "echo.internal:"+echoPort(echo))})
			local := startLocal(t, newDialer(t, c, srv))
			dial, err := SOCKS5Dialer("socks5://" + local)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{5, 70000, 3 << 20} {
				conn, err := dial(context.Background(), "tcp", "echo.internal:"+echoPort(echo))
				if err != nil {
					t.Fatal(err)
				}
				roundTrip(t, conn, pattern(n))
				conn.Close()
			}
		})
	}
}

// TestSOCKS5Errors covers the SOCKS5 refusals that Local answers itself.
func TestSOCKS5Errors(t *testing.T) {
	c := testCipher(t, MethodAES128GCM)
	local := startLocal(t, newDialer(t, c, "127.0.0.1:1")) // nothing listens on port 1
	exchange := func(greeting, request []byte) []byte {
		conn, err := net.Dial("tcp", local)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write(greeting)
		if request != nil {
			m := make([]byte, 2)
			if _, err := io.ReadFull(conn, m); err != nil {
				t.Fatal(err)
			}
			conn.Write(request)
		}
		got, _ := io.ReadAll(conn)
		return got
	}
	if got := exchange([]byte{5, 1, 2}, nil); string(got) != "\x05\xff" {
		t.Errorf("no acceptable method: got %x", got)
	}
	if got := exchange([]byte{5, 1, 0}, []byte{5, 2, 0, 1, 127, 0, 0, 1, 0, 80}); len(got) < 2 || got[1] != socksCmdNotSupported {
		t.Errorf("BIND: got %x", got)
	}
	if got := exchange([]byte{5, 1, 0}, []byte{5, 1, 0, 9, 127, 0, 0, 1, 0, 80}); len(got) < 2 || got[1] != socksAddrTypeNotSupport {
		t.Errorf("bad ATYP: got %x", got)
	}
	if got := exchange([]byte{5, 1, 0}, []byte{5, 1, 0, 1, 127, 0, 0, 1, 0, 80}); len(got) < 2 || got[1] != socksGeneralFailure {
		t.Errorf("tunnel server down: got %x", got)
	}
}

func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		wire string
	}{
		{"10.0.0.1:9092", "\x01\x0a\x00\x00\x01\x23\x84"},
		{"[::1]:443", "\x04" + string(make([]byte, 15)) + "\x01\x01\xbb"},
		{"kafka-1:19092", "\x03\x07kafka-1\x4a\x94"},
	} {
		a, err := ParseAddr(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != tc.wire {
			t.Errorf("%s: wire %x, want %x", tc.in, []byte(a), tc.wire)
		}
		if a.String() != tc.in {
			t.Errorf("String() = %s, want %s", a, tc.in)
		}
	}
	for _, bad := range []string{"nohost", "a:99999", ":1"} {
		if _, err := ParseAddr(bad); err == nil {
			t.Errorf("ParseAddr(%q) succeeded", bad)
		}
	}
}
