package raft

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/samsa-io/samsa/internal/wire"
)

const (
	peerQueue        = 1024            // messages queued per peer; beyond, raft's are dropped
	peerBatchBytes   = 4 << 20         // bytes of messages per request
	peerWriteTimeout = 5 * time.Second // a peer that does not read is dropped
	backoffMin       = 50 * time.Millisecond
	backoffMax       = time.Second // controller.quorum.election.backoff.max.ms
)

type outMsg struct {
	b    []byte
	snap bool // a MsgSnap: its fate is reported to raft
}

// peer sends raft messages to one voter over one long-lived connection,
// pipelined (requests are written without waiting for responses). Its
// goroutine owns the connection; the node goroutine only enqueues, never
// blocking: a full queue drops the message and raft hears the peer is
// unreachable, then retries on its own.
type peer struct {
	n    *Node
	id   uint64
	addr string
	q    chan outMsg
}

func newPeer(n *Node, id uint64, addr string) *peer {
	return &peer{n: n, id: id, addr: addr, q: make(chan outMsg, peerQueue)}
}

// send marshals raft's messages (in the node goroutine: raft's messages
// are not safe to marshal elsewhere) and queues them on their peers.
func (n *Node) send(msgs []*pb.Message) {
	for _, m := range msgs {
		p := n.peers[m.GetTo()]
		if p == nil {
			continue
		}
		b, err := proto.Marshal(m)
		if err != nil {
			n.log.Error("raft marshal", "err", err)
			continue
		}
		om := outMsg{b: b, snap: m.GetType() == pb.MsgSnap}
		select {
		case p.q <- om:
		default:
			id := p.id
			n.after = append(n.after, func() {
				n.rn.ReportUnreachable(id)
				if om.snap {
					n.rn.ReportSnapshot(id, raft.SnapshotFailure)
				}
			})
		}
	}
}

// report runs f in the node goroutine (raft's ReportUnreachable,
// ReportSnapshot). It blocks until the node takes it or stops: a lost
// snapshot report would leave the peer paused.
func (p *peer) report(f func()) {
	select {
	case p.n.reportc <- f:
	case <-p.n.donec:
	}
}

func (p *peer) unreachable(snaps int) {
	p.report(func() {
		p.n.rn.ReportUnreachable(p.id)
		for range snaps {
			p.n.rn.ReportSnapshot(p.id, raft.SnapshotFailure)
		}
	})
}

func (p *peer) run() {
	backoff := backoffMin
	for {
		ctx, cancel := context.WithTimeout(p.n.ctx, p.n.cfg.TickInterval*time.Duration(p.n.cfg.ElectionTicks))
		conn, err := p.n.cfg.Dial(ctx, p.addr)
		cancel()
		select {
		case <-p.n.stopc:
			if conn != nil {
				conn.Close()
			}
			return
		default:
		}
		if err != nil {
			// What was queued is stale by the time the peer returns:
			// drop it and let raft resend.
			p.unreachable(p.drain())
			if errors.Is(err, syscall.ECONNREFUSED) {
				p.refused()
			}
			select {
			case <-time.After(backoff):
			case <-p.n.stopc:
				return
			}
			backoff = min(2*backoff, backoffMax)
			continue
		}
		backoff = backoffMin
		err = p.serve(conn)
		if err != nil {
			p.n.log.Debug("raft peer connection", "peer", nodeID(p.id), "err", err)
		}
		select {
		case <-p.n.stopc:
			return
		default:
		}
	}
}

// refused: nothing listens on the peer's address, so its process is gone.
// If it was our leader, forget it and campaign now instead of after an
// election timeout: with PreVote and CheckQuorum a follower refuses votes
// while it has heard from a leader within the timeout, but a leaderless
// one grants them, and the other followers see the same refusal at the
// same moment. A node that is merely unreachable (a timeout, a cut
// network) is left to raft's timers. Safety does not depend on this;
// raft's terms and votes still decide.
func (p *peer) refused() {
	p.report(func() {
		n := p.n
		if n.role == raft.StateFollower && n.lead == p.id {
			n.log.Info("raft leader's address refuses connections: electing now", "leader", nodeID(p.id))
			n.rn.ForgetLeader()
			n.rn.Campaign()
		}
	})
}

func (p *peer) drain() (snaps int) {
	for {
		select {
		case m := <-p.q:
			if m.snap {
				snaps++
			}
		default:
			return snaps
		}
	}
}

// serve writes batches to conn until it fails or the node stops; a reader
// goroutine reads the responses and reports delivered snapshots.
func (p *peer) serve(conn net.Conn) error {
	var (
		mu      sync.Mutex
		snapIDs = map[int32]bool{} // correlation ids of requests carrying a MsgSnap
	)
	readErr := make(chan error, 1)
	go func() {
		var buf []byte
		for {
			var corr int32
			var body []byte
			var err error
			corr, body, buf, err = readResponse(conn, buf, 1<<20)
			if err == nil && len(body) != 2 {
				err = fmt.Errorf("raft: response of %d bytes", len(body))
			}
			if err != nil {
				readErr <- err
				return
			}
			code := int16(body[0])<<8 | int16(body[1])
			mu.Lock()
			snap := snapIDs[corr]
			delete(snapIDs, corr)
			mu.Unlock()
			if snap {
				st := raft.SnapshotFinish
				if code != errNone {
					st = raft.SnapshotFailure
				}
				p.report(func() { p.n.rn.ReportSnapshot(p.id, st) })
			}
			if code != errNone {
				readErr <- fmt.Errorf("raft: peer %d answered error %d", nodeID(p.id), code)
				return
			}
		}
	}()
	fail := func(err error) error {
		conn.Close()
		<-readErr
		mu.Lock()
		snaps := len(snapIDs)
		mu.Unlock()
		p.unreachable(snaps + p.drain())
		return err
	}
	var (
		corr  int32
		frame []byte
		batch [][]byte
	)
	for {
		var first outMsg
		select {
		case first = <-p.q:
		case err := <-readErr:
			readErr <- err
			return fail(err)
		case <-p.n.stopc:
			conn.Close()
			<-readErr
			return nil
		}
		batch = append(batch[:0], first.b)
		size, snap := len(first.b), first.snap
	more:
		for size < peerBatchBytes {
			select {
			case m := <-p.q:
				batch = append(batch, m.b)
				size += len(m.b)
				snap = snap || m.snap
			default:
				break more
			}
		}
		corr++
		if snap {
			mu.Lock()
			snapIDs[corr] = true
			mu.Unlock()
		}
		frame = appendRequest(frame[:0], KeyRaftMessage, 0, corr, appendMessages(nil, batch))
		conn.SetWriteDeadline(time.Now().Add(peerWriteTimeout))
		if _, err := conn.Write(frame); err != nil {
			return fail(err)
		}
		if cap(frame) > 8<<20 {
			frame = nil
		}
	}
}

// HandleRPC answers a request with one of this package's private API keys
// (IsPrivateKey) that arrived on a controller listener. The returned body
// goes in a response with header v0; an error means the request was
// malformed and the connection should close. Requests of one connection
// must be handled in order (raft messages from a peer arrive in order).
func (n *Node) HandleRPC(key, version int16, body []byte) ([]byte, error) {
	if version != 0 {
		return nil, fmt.Errorf("raft: api key %d version %d unsupported", key, version)
	}
	switch key {
	case KeyRaftMessage:
		msgs, err := decodeMessages(body)
		if err != nil {
			return nil, err
		}
		code := errNone
		for _, m := range msgs {
			if m.GetTo() != n.id {
				code = errInconsistentVoterSet
				continue
			}
			select {
			case n.recvc <- m:
			case <-n.donec:
				code = errBrokerNotAvailable
			}
		}
		return []byte{byte(uint16(code) >> 8), byte(code)}, nil
	case KeyMetadataFetch:
		q, err := decodeFetchRequest(body)
		if err != nil {
			return nil, err
		}
		resp := n.handleFetch(q)
		return resp.append(nil), nil
	case KeyFetchSnapshot:
		q, err := decodeSnapRequest(body)
		if err != nil {
			return nil, err
		}
		resp := n.handleSnapshotFetch(q)
		return resp.append(nil), nil
	}
	return nil, fmt.Errorf("raft: api key %d is not a raft key", key)
}

// server serves HandleRPC on a listener (controller-only nodes and tests;
// a broker's own connection loop calls HandleRPC instead). One goroutine
// accepts; one per connection reads, handles and answers in order.
type server struct {
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (s *server) start(n *Node, ln net.Listener) {
	s.ln = ln
	s.conns = map[net.Conn]struct{}{}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Go(func() {
				serveConn(c, n.HandleRPC, n.cfg.MaxFrameBytes)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			})
		}
	})
}

func (s *server) stop() {
	s.mu.Lock()
	if s.ln == nil || s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serveConn reads requests from c and answers each with handle's body.
func serveConn(c net.Conn, handle func(key, version int16, body []byte) ([]byte, error), maxFrame int32) {
	defer c.Close()
	var buf, out []byte
	for {
		frame, err := wire.ReadFrame(c, buf, maxFrame)
		if err != nil {
			return
		}
		buf = frame
		h, _, body, err := wire.ParseRequest(frame)
		if err != nil {
			return
		}
		resp, err := handle(h.Key, h.Version, body)
		if err != nil {
			return
		}
		out = appendResponse(out[:0], h.CorrelationID, resp)
		if _, err := c.Write(out); err != nil {
			return
		}
		if cap(buf) > 8<<20 {
			buf = nil
		}
	}
}

var errNoVoter = errors.New("raft: no voter reachable")
