package tunnel

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// activity is the last time either direction of a relayed connection moved bytes.
type activity struct{ last atomic.Int64 }

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }
func (a *activity) idleFor() time.Duration {
	return time.Duration(time.Now().UnixNano() - a.last.Load())
}

// idleReader reads from conn and fails with a timeout only when neither direction
// of the relay has moved bytes for idle. Only reads are wrapped: the write side
// stays the bare *net.TCPConn so that writev and splice keep working, and a writer
// stuck on a peer that stopped reading is unblocked when the idle read on the other
// direction times out and the relay closes both connections.
type idleReader struct {
	conn net.Conn
	idle time.Duration
	act  *activity
}

func (r *idleReader) Read(p []byte) (int, error) {
	for {
		r.conn.SetReadDeadline(time.Now().Add(r.idle))
		n, err := r.conn.Read(p)
		if n > 0 {
			r.act.touch()
		}
		if n == 0 && isTimeout(err) && r.act.idleFor() < r.idle {
			continue // the other direction is busy: the connection is not idle
		}
		return n, err
	}
}

func newIdleReader(conn net.Conn, idle time.Duration, act *activity) io.Reader {
	if idle <= 0 {
		return conn
	}
	return &idleReader{conn: conn, idle: idle, act: act}
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded))
}

// leg is one side of a relay: where to read its plaintext from, where to write
// plaintext to it, and how to half-close and close it.
type leg struct {
	r    io.Reader
	w    io.Writer
	conn net.Conn
	// closeWrite propagates EOF to this side (a FIN on its TCP connection).
	closeWrite func() error
}

func tcpCloseWrite(c net.Conn) func() error {
	return func() error {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			return cw.CloseWrite()
		}
		return c.Close()
	}
}

// relay copies a→b and b→a in two goroutines until both directions end. A clean
// EOF on one side is passed on as a half-close of the other; an error (including
// the idle timeout) closes both connections, which ends the other direction too.
// It returns the bytes copied each way and the first error.
func relay(a, b leg) (aToB, bToA int64, err error) {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	fail := func(e error) {
		once.Do(func() {
			first = e
			a.conn.Close()
			b.conn.Close()
		})
	}
	copyDir := func(dst leg, src leg, n *int64) {
		defer wg.Done()
		var e error
		*n, e = io.Copy(dst.w, src.r)
		if e == nil {
			e = dst.closeWrite()
		}
		if e != nil {
			fail(e)
		}
	}
	wg.Add(2)
	go copyDir(b, a, &aToB)
	go copyDir(a, b, &bToA)
	wg.Wait()
	a.conn.Close()
	b.conn.Close()
	return aToB, bToA, first
}
