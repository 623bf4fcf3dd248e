package tunnel

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	outline "github.com/Jigsaw-Code/outline-sdk/transport"
	outliness "github.com/Jigsaw-Code/outline-sdk/transport/shadowsocks"
	ss2core "github.com/shadowsocks/go-shadowsocks2/core"
	ss2socks "github.com/shadowsocks/go-shadowsocks2/socks"
)

// Interop with real peers, in process, for every SIP004 method and both address
// placements (a chunk of its own / merged with the first payload), both directions.
// Neither peer speaks SIP022; that edition is checked against the spec-built peer in
// cipher_test.go.

var sip004Methods = []string{MethodAES128GCM, MethodAES256GCM, MethodChacha20Poly1305}

var outlineNames = map[string]string{
	MethodAES128GCM:        outliness.AES128GCM,
	MethodAES256GCM:        outliness.AES256GCM,
	MethodChacha20Poly1305: outliness.CHACHA20IETFPOLY1305,
}

var interopSizes = []int{1, 1000, 40000}

// Their client → our server.
func TestInteropGoShadowsocks2ClientOurServer(t *testing.T) {
	echo := startEcho(t)
	for _, m := range sip004Methods {
		t.Run(m, func(t *testing.T) {
			_, srv := startServer(t, ServerConfig{Cipher: testCipher(t, m), Allow: allow(t, "echo.internal:"+echoPort(echo))})
			ciph, err := ss2core.PickCipher(m, nil, testPassword)
			if err != nil {
				t.Fatal(err)
			}
			tgt := ss2socks.ParseAddr("echo.internal:" + echoPort(echo))
			for _, merged := range []bool{false, true} {
				for _, n := range interopSizes {
					raw, err := net.Dial("tcp", srv)
					if err != nil {
						t.Fatal(err)
					}
					c := ciph.StreamConn(raw)
					msg := pattern(n)
					if merged {
						c.Write(append(append([]byte{}, tgt...), msg...))
					} else {
						c.Write(tgt) // go-shadowsocks2's own client: the address is its own chunk
						c.Write(msg)
					}
					raw.SetDeadline(time.Now().Add(10 * time.Second))
					got := make([]byte, n)
					if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("merged=%v n=%d: %v", merged, n, err)
					}
					raw.Close()
				}
			}
		})
	}
}

func TestInteropOutlineClientOurServer(t *testing.T) {
	echo := startEcho(t)
	for _, m := range sip004Methods {
		t.Run(m, func(t *testing.T) {
			_, srv := startServer(t, ServerConfig{Cipher: testCipher(t, m), Allow: allow(t, "echo.internal:"+echoPort(echo))})
			key, err := outliness.NewEncryptionKey(outlineNames[m], testPassword)
			if err != nil {
				t.Fatal(err)
			}
			d, err := outliness.NewStreamDialer(&outline.TCPEndpoint{Address: srv}, key)
			if err != nil {
				t.Fatal(err)
			}
			for _, merged := range []bool{true, false} {
				// Outline holds the address back for ClientDataWait and sends it with
				// the first payload; writing only after the wait makes it a chunk of its own.
				d.ClientDataWait = time.Hour
				if !merged {
					d.ClientDataWait = time.Millisecond
				}
				for _, n := range interopSizes {
					c, err := d.DialStream(context.Background(), "echo.internal:"+echoPort(echo))
					if err != nil {
						t.Fatal(err)
					}
					if !merged {
						time.Sleep(20 * time.Millisecond)
					}
					roundTrip(t, c, pattern(n))
					c.Close()
				}
			}
		})
	}
}

// Our client → their server. Their servers resolve names themselves, so the
// target is the echo's IP.
func TestInteropOurClientGoShadowsocks2Server(t *testing.T) {
	echo := startEcho(t)
	for _, m := range sip004Methods {
		t.Run(m, func(t *testing.T) {
			ciph, err := ss2core.PickCipher(m, nil, testPassword)
			if err != nil {
				t.Fatal(err)
			}
			srv := startTheirServer(t, func(c net.Conn) (io.Reader, io.Writer) {
				sc := ciph.StreamConn(c)
				return sc, sc
			})
			for _, sep := range []bool{false, true} {
				d, _ := NewDialer(DialerConfig{Server: srv, Cipher: testCipher(t, m), SeparateAddressChunk: sep})
				for _, n := range interopSizes {
					roundTrip(t, dialCtx(t, d, echo), pattern(n))
				}
			}
		})
	}
}

func TestInteropOurClientOutlineServer(t *testing.T) {
	echo := startEcho(t)
	for _, m := range sip004Methods {
		t.Run(m, func(t *testing.T) {
			key, err := outliness.NewEncryptionKey(outlineNames[m], testPassword)
			if err != nil {
				t.Fatal(err)
			}
			srv := startTheirServer(t, func(c net.Conn) (io.Reader, io.Writer) {
				return outliness.NewReader(c, key), outliness.NewWriter(c, key)
			})
			for _, sep := range []bool{false, true} {
				d, _ := NewDialer(DialerConfig{Server: srv, Cipher: testCipher(t, m), SeparateAddressChunk: sep})
				for _, n := range interopSizes {
					roundTrip(t, dialCtx(t, d, echo), pattern(n))
				}
			}
		})
	}
}

// startTheirServer is a minimal Shadowsocks server around a peer's stream
// decryptor/encryptor: read the target address from the decrypted stream, dial it,
// copy both ways, propagate half-close.
func startTheirServer(t *testing.T, wrap func(net.Conn) (io.Reader, io.Writer)) string {
	ln := listen(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer raw.Close()
				r, w := wrap(raw)
				tgt, err := ss2socks.ReadAddr(r)
				if err != nil {
					return
				}
				dst, err := net.Dial("tcp", tgt.String())
				if err != nil {
					return
				}
				defer dst.Close()
				done := make(chan struct{})
				go func() {
					io.Copy(dst, r)
					dst.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				io.Copy(w, dst)
				raw.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// TestGoShadowsocks2ReplayGap checks a known gap of
// go-shadowsocks2 v0.1.5: its server only tests incoming salts against a filter
// that holds its own outgoing salts, so an exact replay of a client's first flight
// is accepted. That is why our replay tests use our own server as the oracle, and
// why ours is checked against the same replay here.
func TestGoShadowsocks2ReplayGap(t *testing.T) {
	echo := startEcho(t)
	ciph, _ := ss2core.PickCipher(MethodAES256GCM, nil, testPassword)
	theirs := startTheirServer(t, func(c net.Conn) (io.Reader, io.Writer) {
		sc := ciph.StreamConn(c)
		return sc, sc
	})
	// Record one first flight of our client (the flight is ours; the server is theirs).
	flight := recordFirstFlight(t, testCipher(t, MethodAES256GCM), echo, []byte("produce"))

	replayTo := func(addr string) []byte {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(flight)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		got, _ := io.ReadAll(c)
		return got
	}
	for i := 0; i < 2; i++ {
		if got := replayTo(theirs); len(got) == 0 {
			t.Fatalf("go-shadowsocks2 refused attempt %d: the replay gap seems fixed; update this test and its comment", i)
		}
	}
	t.Log("confirmed: go-shadowsocks2 v0.1.5 answers an exact replay of a client first flight")

	srv, ours := startServer(t, ServerConfig{Cipher: testCipher(t, MethodAES256GCM), Allow: allow(t, "127.0.0.1:*"), HandshakeTimeout: 500 * time.Millisecond})
	if got := replayTo(ours); len(got) == 0 {
		t.Fatal("our server refused the first use")
	}
	if got := replayTo(ours); len(got) != 0 {
		t.Fatal("our server answered a replay")
	}
	if srv.Stats().Replayed != 1 {
		t.Fatalf("Replayed = %d", srv.Stats().Replayed)
	}
}

// recordFirstFlight returns the bytes our client sends for one connection to target
// with payload.
func recordFirstFlight(t *testing.T, c *Cipher, target string, payload []byte) []byte {
	ln := listen(t)
	defer ln.Close()
	d, _ := NewDialer(DialerConfig{Server: ln.Addr().String(), Cipher: c})
	conn := dialCtx(t, d, target)
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn.Write(payload)
	conn.(*Conn).CloseWrite()
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(srv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
