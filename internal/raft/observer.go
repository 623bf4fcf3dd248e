package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

const maxFetchWait = 30 * time.Second

// handleFetch answers a MetadataFetch: the committed (and locally applied)
// state-machine entries from q.from, waiting up to q.maxWaitMs for one to
// exist, or the snapshot to fetch first when q.from is below the log.
func (n *Node) handleFetch(q fetchRequest) fetchResponse {
	from := max(q.from, 1)
	now := time.Now()
	n.mu.Lock()
	pos := n.observers[q.observerID]
	pos.index, pos.at = from-1, now
	if pos.index >= n.pub.applied {
		// It has everything this node has applied: caught up (Kafka's
		// lastCaughtUpTimestamp for an observer).
		pos.caughtUp = now
	}
	n.observers[q.observerID] = pos
	n.mu.Unlock()
	deadline := time.NewTimer(min(time.Duration(q.maxWaitMs)*time.Millisecond, maxFetchWait))
	defer deadline.Stop()
	maxBytes := uint64(max(q.maxBytes, 1))
	for {
		n.mu.Lock()
		pub, applyc, snap := n.pub, n.applyc, n.snap
		n.mu.Unlock()
		resp := fetchResponse{leaderID: nodeID(pub.lead), epoch: pub.term, commit: pub.commit, next: from}
		if from <= pub.applied {
			ents, err := n.st.mem.Entries(from, pub.applied+1, maxBytes)
			if errors.Is(err, raft.ErrCompacted) {
				resp.snapIndex, resp.snapTerm, resp.snapSize = snap.index, snap.term, uint64(len(snap.data))
				return resp
			}
			if err == nil {
				for _, e := range ents {
					resp.next = e.GetIndex() + 1
					if e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 {
						continue
					}
					_, payload, err := unwrap(e.GetData())
					if err != nil {
						break // the node goroutine stops on it too
					}
					resp.entries = append(resp.entries, fetchedEntry{index: e.GetIndex(), data: payload})
				}
				return resp
			}
		}
		select {
		case <-applyc:
		case <-deadline.C:
			return resp
		case <-n.donec:
			resp.errorCode = errBrokerNotAvailable
			return resp
		}
	}
}

// handleSnapshotFetch answers a chunk of the current snapshot.
func (n *Node) handleSnapshotFetch(q snapRequest) snapResponse {
	n.mu.Lock()
	snap := n.snap
	n.mu.Unlock()
	if snap.index != q.index || snap.term != q.term {
		return snapResponse{errorCode: errSnapshotNotFound}
	}
	size := uint64(len(snap.data))
	if q.position > size {
		return snapResponse{errorCode: errPositionOutOfRange, size: size}
	}
	end := min(size, q.position+uint64(q.maxBytes))
	return snapResponse{size: size, chunk: snap.data[q.position:end]}
}

// ObserverConfig configures an Observer.
type ObserverConfig struct {
	// NodeID identifies the observer to the voters (DescribeQuorum).
	NodeID int32
	// Voters: node id → host:port of its controller listener.
	Voters map[int32]string
	// StateMachine receives the committed entries, as on a voter.
	StateMachine StateMachine
	Dial         func(ctx context.Context, addr string) (net.Conn, error)
	Logger       *slog.Logger
	// MaxWait is how long a voter holds a fetch with nothing new (default
	// 500ms); MaxBytes bounds one answer (default 1 MiB).
	MaxWait  time.Duration
	MaxBytes int32
}

// Observer follows the metadata log without being in the quorum: a
// broker-only node (or one not yet a voter). It fetches committed entries
// from a voter, preferring the leader the answers name, and applies them
// to its state machine in log order; below a voter's first index it
// fetches that voter's snapshot first. It keeps nothing on disk: after a
// restart it starts from the newest snapshot.
//
// One goroutine (run) owns the connection, the fetch position and the
// state machine; mu guards what it publishes.
type Observer struct {
	cfg   ObserverConfig
	ids   []int32
	log   *slog.Logger
	ctx   context.Context // done on Close
	stop  context.CancelFunc
	donec chan struct{}

	mu       sync.Mutex
	applied  uint64
	leaderID int32
	epoch    uint64
	applyc   chan struct{} // closed and replaced when applied moves
	err      error
}

// StartObserver starts following the log.
func StartObserver(cfg ObserverConfig) (*Observer, error) {
	if len(cfg.Voters) == 0 || cfg.StateMachine == nil {
		return nil, errors.New("raft: ObserverConfig needs Voters and a StateMachine")
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 500 * time.Millisecond
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	o := &Observer{
		cfg: cfg, log: cfg.Logger.With("observer", cfg.NodeID),
		ids: slices.Sorted(func(yield func(int32) bool) {
			for id := range cfg.Voters {
				if !yield(id) {
					return
				}
			}
		}),
		donec:    make(chan struct{}),
		leaderID: -1, applyc: make(chan struct{}),
	}
	o.ctx, o.stop = context.WithCancel(context.Background())
	go o.run()
	return o, nil
}

// observerConn is the observer goroutine's connection to one voter.
type observerConn struct {
	id   int32
	c    net.Conn
	corr int32
	buf  []byte
}

func (o *Observer) run() {
	defer close(o.donec)
	var (
		next    uint64 = 1
		conn    *observerConn
		rr      int
		backoff = backoffMin
	)
	closeConn := func() {
		if conn != nil {
			conn.c.Close()
			conn = nil
		}
	}
	defer closeConn()
	for {
		if o.ctx.Err() != nil {
			return
		}
		if conn == nil {
			o.mu.Lock()
			target := o.leaderID
			o.mu.Unlock()
			if _, ok := o.cfg.Voters[target]; !ok {
				target = o.ids[rr%len(o.ids)]
				rr++
			}
			c, err := o.dial(target)
			if err != nil {
				o.mu.Lock()
				o.leaderID = -1 // try the next voter
				o.mu.Unlock()
				if !o.sleep(backoff) {
					return
				}
				backoff = min(2*backoff, backoffMax)
				continue
			}
			conn = &observerConn{id: target, c: c}
		}
		resp, err := o.fetch(conn, next)
		if err == nil && resp.errorCode != errNone {
			err = fmt.Errorf("raft: voter %d answered error %d", conn.id, resp.errorCode)
		}
		if err == nil && resp.snapIndex != 0 {
			next, err = o.restore(conn, resp)
		} else if err == nil {
			next, err = o.apply(resp, next)
		}
		if errors.Is(err, errStateMachine) {
			o.fail(err)
			return
		}
		if err != nil {
			o.log.Debug("raft observer fetch", "voter", conn.id, "err", err)
			closeConn()
			o.mu.Lock()
			o.leaderID = -1
			o.mu.Unlock()
			if !o.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, backoffMax)
			continue
		}
		backoff = backoffMin
		o.mu.Lock()
		o.epoch = resp.epoch
		o.leaderID = resp.leaderID
		o.mu.Unlock()
		if _, ok := o.cfg.Voters[resp.leaderID]; !ok || resp.leaderID != conn.id {
			// Prefer the leader; a voter that knows none may be cut off
			// from the quorum, so try the next.
			closeConn()
		}
	}
}

var errStateMachine = errors.New("raft: observer state machine")

func (o *Observer) fail(err error) {
	o.log.Error("raft observer stopped", "err", err)
	o.mu.Lock()
	o.err = err
	o.mu.Unlock()
}

func (o *Observer) sleep(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-o.ctx.Done():
		return false
	}
}

func (o *Observer) dial(id int32) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(o.ctx, 5*time.Second)
	defer cancel()
	return o.cfg.Dial(ctx, o.cfg.Voters[id])
}

// call sends one request on c and reads its response.
func (o *Observer) call(c *observerConn, key int16, body []byte, wait time.Duration) ([]byte, error) {
	c.corr++
	c.c.SetDeadline(time.Now().Add(wait + 10*time.Second))
	if _, err := c.c.Write(appendRequest(nil, key, 0, c.corr, body)); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(o.ctx, func() { c.c.SetDeadline(time.Now()) })
	defer stop()
	corr, resp, buf, err := readResponse(c.c, c.buf, 256<<20)
	c.buf = buf
	if err != nil {
		return nil, err
	}
	if corr != c.corr {
		return nil, fmt.Errorf("raft: response correlation id %d, want %d", corr, c.corr)
	}
	return resp, nil
}

func (o *Observer) fetch(c *observerConn, from uint64) (fetchResponse, error) {
	q := fetchRequest{observerID: o.cfg.NodeID, from: from, maxBytes: o.cfg.MaxBytes, maxWaitMs: int32(o.cfg.MaxWait / time.Millisecond)}
	b, err := o.call(c, KeyMetadataFetch, q.append(nil), o.cfg.MaxWait)
	if err != nil {
		return fetchResponse{}, err
	}
	return decodeFetchResponse(b, from)
}

func (o *Observer) apply(resp fetchResponse, next uint64) (uint64, error) {
	for _, e := range resp.entries {
		if err := o.cfg.StateMachine.Apply(e.index, e.data); err != nil {
			return next, fmt.Errorf("%w: apply %d: %w", errStateMachine, e.index, err)
		}
	}
	if resp.next > next {
		o.published(resp.next - 1)
		return resp.next, nil
	}
	return next, nil
}

// restore fetches the snapshot resp names, in chunks, and restores it.
func (o *Observer) restore(c *observerConn, resp fetchResponse) (uint64, error) {
	if resp.snapSize > 1<<34 {
		return 0, fmt.Errorf("raft: snapshot of %d bytes", resp.snapSize)
	}
	data := make([]byte, 0, resp.snapSize)
	for uint64(len(data)) < resp.snapSize {
		q := snapRequest{index: resp.snapIndex, term: resp.snapTerm, position: uint64(len(data)), maxBytes: o.cfg.MaxBytes}
		b, err := o.call(c, KeyFetchSnapshot, q.append(nil), 0)
		if err != nil {
			return 0, err
		}
		p, err := decodeSnapResponse(b)
		if err != nil {
			return 0, err
		}
		if p.errorCode != errNone {
			return 0, fmt.Errorf("raft: snapshot fetch answered error %d", p.errorCode)
		}
		if p.size != resp.snapSize || len(p.chunk) == 0 {
			return 0, fmt.Errorf("raft: snapshot chunk of %d bytes, size %d", len(p.chunk), p.size)
		}
		data = append(data, p.chunk...)
	}
	if uint64(len(data)) != resp.snapSize {
		return 0, fmt.Errorf("raft: snapshot of %d bytes, want %d", len(data), resp.snapSize)
	}
	// Index 1 is the bootstrap snapshot: no state.
	if resp.snapIndex > 1 {
		if err := o.cfg.StateMachine.Restore(data, resp.snapIndex); err != nil {
			return 0, fmt.Errorf("%w: restore %d: %w", errStateMachine, resp.snapIndex, err)
		}
	}
	o.published(resp.snapIndex)
	return resp.snapIndex + 1, nil
}

func (o *Observer) published(applied uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if applied != o.applied {
		o.applied = applied
		close(o.applyc)
		o.applyc = make(chan struct{})
	}
}

// Applied is the index of the last entry the observer applied.
func (o *Observer) Applied() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.applied
}

// Leader is the leader and epoch named by the last answer (-1: unknown).
func (o *Observer) Leader() (int32, uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.leaderID, o.epoch
}

// WaitApplied waits until the observer has applied index.
func (o *Observer) WaitApplied(ctx context.Context, index uint64) error {
	for {
		o.mu.Lock()
		applied, c, err := o.applied, o.applyc, o.err
		o.mu.Unlock()
		if err != nil {
			return err
		}
		if applied >= index {
			return nil
		}
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		case <-o.donec:
			return ErrClosed
		}
	}
}

// Close stops the observer; it returns the error that stopped it, if any.
func (o *Observer) Close() error {
	o.stop()
	<-o.donec
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}
