package tunnel

import (
	"io"
	"net"
	"testing"
)

// Throughput on loopback, one connection, client → sink, side by side:
//
//	plain        client ─TCP─▶ sink
//	plain-relay  client ─TCP─▶ io.Copy proxy ─TCP─▶ sink   (same hop count as the tunnel)
//	<method>     Dialer ─Shadowsocks─▶ Server ─TCP─▶ sink
//
//	go test -run '^$' -bench Throughput -benchtime 2s ./tunnel/
//
// The bar is ≥ 40-50 % of plain loopback, what mature Shadowsocks servers reach.

const benchWrite = 1 << 20

// startSink accepts one connection at a time and discards it; done receives the
// byte count when a connection reaches EOF.
func startSink(b *testing.B) (string, chan int64) {
	ln := listen(b)
	b.Cleanup(func() { ln.Close() })
	done := make(chan int64, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				n, _ := io.Copy(io.Discard, c)
				c.Close()
				done <- n
			}()
		}
	}()
	return ln.Addr().String(), done
}

func startPlainRelay(b *testing.B, target string) string {
	ln := listen(b)
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				d, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go func() { io.Copy(c, d); c.(*net.TCPConn).CloseWrite() }()
				io.Copy(d, c)
				d.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

func pump(b *testing.B, c net.Conn, done chan int64) {
	buf := pattern(benchWrite)
	b.SetBytes(benchWrite)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	if n := <-done; n != int64(b.N)*benchWrite {
		b.Fatalf("sink got %d bytes, want %d", n, int64(b.N)*benchWrite)
	}
	b.StopTimer()
	c.Close()
}

func BenchmarkThroughput(b *testing.B) {
	b.Run("plain", func(b *testing.B) {
		sink, done := startSink(b)
		c, err := net.Dial("tcp", sink)
		if err != nil {
			b.Fatal(err)
		}
		pump(b, c, done)
	})
	b.Run("plain-relay", func(b *testing.B) {
		sink, done := startSink(b)
		c, err := net.Dial("tcp", startPlainRelay(b, sink))
		if err != nil {
			b.Fatal(err)
		}
		pump(b, c, done)
	})
	for _, m := range []string{MethodAES128GCM, MethodAES256GCM, MethodChacha20Poly1305, Method2022AES128GCM, Method2022AES256GCM} {
		b.Run(m, func(b *testing.B) {
			sink, done := startSink(b)
			ci := testCipher(b, m)
			_, srv := startServer(b, ServerConfig{Cipher: ci, Allow: allow(b, "127.0.0.1:*")})
			d := newDialer(b, ci, srv)
			pump(b, dialCtx(b, d, sink), done)
		})
	}
}
