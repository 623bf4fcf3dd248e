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
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/samsa-io/samsa/internal/vfs"
)

// StateMachine is what the quorum replicates into. The node goroutine calls
// it, never two calls at once.
type StateMachine interface {
	// Apply applies a committed entry. Indexes increase but are not
	// contiguous (a new leader's empty entry and configuration changes
	// reach no state machine). After Restore(_, i) the next Apply has an
	// index above i. An error stops the node: a replica that cannot apply
	// a committed entry must not go on.
	Apply(index uint64, data []byte) error
	// Snapshot returns the state as of the last index applied (or
	// restored).
	Snapshot() (data []byte, index uint64, err error)
	// Restore replaces the state with a snapshot taken by Snapshot on
	// this or another node at index.
	Restore(data []byte, index uint64) error
}

// Config configures a voter.
type Config struct {
	// NodeID is this node's node.id; it must be a key of Voters.
	NodeID int32
	// Voters is the static quorum (controller.quorum.voters): node id →
	// host:port of its controller listener. Every voter must be given the
	// same set.
	Voters map[int32]string
	// Dir holds the log: <metadata.log.dir>/__cluster_metadata-0.
	Dir string
	// FS is the filesystem (nil: vfs.Default).
	FS vfs.FS
	// StateMachine receives committed entries and snapshots.
	StateMachine StateMachine
	// Bootstrap entries are written after the bootstrap snapshot when the
	// log is created (an old single-node metadata log imported once).
	// Every voter must be given the same ones; they commit with the first
	// leader's first entry.
	Bootstrap [][]byte

	// Dial opens a connection to a peer (nil: net.Dialer).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Listener, when set, is served by the node itself (Serve); otherwise
	// the broker hands the node's private API keys to HandleRPC.
	Listener net.Listener
	// Logger (nil: discard).
	Logger *slog.Logger

	// TickInterval is raft's clock (default 100ms). ElectionTicks
	// (default 10: controller.quorum.election.timeout.ms 1000) and
	// HeartbeatTicks (default 1) count ticks; raft randomizes the election
	// timeout in [ElectionTicks, 2*ElectionTicks).
	TickInterval   time.Duration
	ElectionTicks  int
	HeartbeatTicks int

	// SnapshotBytes is how many WAL bytes may be written after a
	// snapshot before the next one (default 20 MiB, Kafka's
	// metadata.log.max.record.bytes.between.snapshots). SnapshotEntries,
	// when positive, also triggers one after that many applied entries.
	SnapshotBytes   int64
	SnapshotEntries uint64
	// CatchUpEntries are kept below a snapshot so that a follower slightly
	// behind still gets entries instead of the snapshot (default 100; a
	// negative value keeps none).
	CatchUpEntries int
	// MaxMessageBytes bounds the entries of one append message (default
	// 1 MiB) and MaxFrameBytes a received RPC frame (default 256 MiB: a
	// voter's snapshot travels in one message).
	MaxMessageBytes uint64
	MaxFrameBytes   int32
}

func (c *Config) setDefaults() {
	c.FS = vfs.Or(c.FS)
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = 1
	}
	if c.SnapshotBytes <= 0 {
		c.SnapshotBytes = 20 << 20
	}
	if c.CatchUpEntries == 0 {
		c.CatchUpEntries = 100
	} else if c.CatchUpEntries < 0 {
		c.CatchUpEntries = 0
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 256 << 20
	}
}

// Errors.
var (
	// ErrNotLeader: the node is not the leader, or lost leadership before
	// the entry committed (then the entry may still commit). Returned
	// errors are *NotLeaderError values naming the known leader.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrClosed: the node was closed (or stopped on an error).
	ErrClosed = errors.New("raft: node closed")
	// ErrTransferAborted: raft gave up moving leadership (the target did
	// not catch up within an election timeout).
	ErrTransferAborted = errors.New("raft: leadership transfer aborted")
)

// NotLeaderError is ErrNotLeader with what the node knows of the leader.
type NotLeaderError struct {
	LeaderID int32 // -1 when unknown
	Epoch    uint64
}

func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("raft: not the leader (leader %d, epoch %d)", e.LeaderID, e.Epoch)
}

func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Raft ids are node ids plus one: Kafka's node ids start at 0, raft
// reserves 0 for "none".
func raftID(id int32) uint64 { return uint64(id) + 1 }
func nodeID(id uint64) int32 { return int32(id) - 1 }

// Node is one voter of the controller quorum.
type Node struct {
	cfg Config
	id  uint64
	log *slog.Logger

	// Owned by the node goroutine (run) once Start returns.
	rn        *raft.RawNode
	st        *diskStorage
	confState *pb.ConfState
	applied   uint64 // the last entry applied (or the snapshot restored)
	lead      uint64
	role      raft.StateType
	// activeTerm is the term in which this node leads and has applied an
	// entry of its own term (so every entry before it too): the term it
	// may decide in as the active controller. Zero otherwise.
	activeTerm uint64
	seq        uint64               // the last proposal number
	pending    map[uint64]*proposal // by proposal number (each records its term)
	transfers  []*transfer
	contact    map[uint64]time.Time // last message from each voter
	caughtUp   map[uint64]time.Time // last time a voter's match reached our last index
	after      []func()             // raft calls deferred to after Advance

	recvc   chan *pb.Message
	propc   chan *proposal
	ctlc    chan func()
	reportc chan func() // from peer senders: ReportUnreachable / ReportSnapshot
	stopc   chan struct{}
	donec   chan struct{}
	ctx     context.Context // done when Close starts (peer dials)
	cancel  context.CancelFunc

	peers map[uint64]*peer // fixed at Start

	// mu guards what the node goroutine publishes for RPC handlers and
	// callers. Lock order: mu is a leaf (nothing is called while held).
	mu        sync.Mutex
	pub       published
	applyc    chan struct{} // closed and replaced when pub.applied moves
	changec   chan struct{} // closed and replaced when pub.lead or pub.active changes
	snap      *snapFile     // the current snapshot (immutable once published)
	observers map[int32]replicaPos
	err       error // why the node stopped

	srv server
	wg  sync.WaitGroup // peer senders
}

type published struct {
	applied, commit, term uint64
	lead                  uint64
	active                uint64 // activeTerm
}

type replicaPos struct {
	index    uint64
	at       time.Time // the last fetch
	caughtUp time.Time // the last fetch that had everything applied here
}

type proposal struct {
	data []byte
	term uint64
	done chan proposeResult // buffered 1
}

type proposeResult struct {
	index uint64
	err   error
}

type transfer struct {
	to   uint64
	done chan error // buffered 1
}

// Start opens (or creates) the log in cfg.Dir, restores the state machine
// from the newest snapshot and starts the node goroutine. Entries after the
// snapshot are applied again by the node goroutine as raft reports them
// committed.
func Start(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if _, ok := cfg.Voters[cfg.NodeID]; !ok {
		return nil, fmt.Errorf("raft: node %d is not one of the voters", cfg.NodeID)
	}
	if cfg.StateMachine == nil || cfg.Dir == "" {
		return nil, errors.New("raft: Config needs a StateMachine and a Dir")
	}
	var voters []uint64
	for id := range cfg.Voters {
		if id < 0 {
			return nil, fmt.Errorf("raft: voter id %d is negative", id)
		}
		voters = append(voters, raftID(id))
	}
	slices.Sort(voters)
	var boot []*pb.Entry
	for i, b := range cfg.Bootstrap {
		boot = append(boot, &pb.Entry{Index: new(uint64(i + 2)), Term: new(uint64(1)), Type: pb.EntryNormal.Enum(), Data: wrap(0, b)})
	}
	st, err := openStorage(cfg.FS, cfg.Dir, &pb.ConfState{Voters: voters}, boot)
	if err != nil {
		return nil, err
	}
	got := slices.Sorted(slices.Values(st.snap.cs.GetVoters()))
	if !slices.Equal(got, voters) {
		st.close()
		return nil, fmt.Errorf("raft: the log's voters %v differ from the configured ones %v (raft ids are node ids + 1)", got, voters)
	}
	if st.snap.index > 1 {
		if err := cfg.StateMachine.Restore(st.snap.data, st.snap.index); err != nil {
			st.close()
			return nil, fmt.Errorf("raft: restore snapshot %d: %w", st.snap.index, err)
		}
	}
	n := &Node{
		cfg:       cfg,
		id:        raftID(cfg.NodeID),
		log:       cfg.Logger.With("raft", cfg.NodeID),
		st:        st,
		confState: cloneConfState(st.snap.cs),
		applied:   st.snap.index,
		pending:   map[uint64]*proposal{},
		contact:   map[uint64]time.Time{},
		caughtUp:  map[uint64]time.Time{},
		recvc:     make(chan *pb.Message, 1024),
		propc:     make(chan *proposal, 256),
		ctlc:      make(chan func()),
		reportc:   make(chan func(), 64),
		stopc:     make(chan struct{}),
		donec:     make(chan struct{}),
		peers:     map[uint64]*peer{},
		applyc:    make(chan struct{}),
		changec:   make(chan struct{}),
		snap:      st.snap,
		observers: map[int32]replicaPos{},
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.rn, err = raft.NewRawNode(&raft.Config{
		ID:                        n.id,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   st.mem,
		Applied:                   st.snap.index,
		MaxSizePerMsg:             cfg.MaxMessageBytes,
		MaxInflightMsgs:           256,
		MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: true,
		Logger:                    raftLogger{n.log},
	})
	if err != nil {
		n.cancel()
		st.close()
		return nil, err
	}
	hs := st.hs
	n.pub = published{applied: n.applied, commit: hs.commit, term: hs.term}
	for id, addr := range cfg.Voters {
		if rid := raftID(id); rid != n.id {
			p := newPeer(n, rid, addr)
			n.peers[rid] = p
			n.wg.Go(p.run)
		}
	}
	if len(voters) == 1 {
		// Alone, there is nobody to wait for.
		n.rn.Campaign()
	}
	go n.run()
	if cfg.Listener != nil {
		n.srv.start(n, cfg.Listener)
	}
	return n, nil
}

// run is the node goroutine: the only one that touches rn, st, the state
// machine and the fields marked as its own.
func (n *Node) run() {
	tick := time.NewTicker(n.cfg.TickInterval)
	defer tick.Stop()
	var err error
	// A lone voter campaigned before run started: persist its vote and
	// become leader now, not on the first event (a tick later).
	for err == nil && n.rn.HasReady() {
		err = n.handleReady()
	}
	for err == nil {
		select {
		case <-tick.C:
			n.rn.Tick()
			n.onTick()
		case m := <-n.recvc:
			err = n.step(m)
		case p := <-n.propc:
			n.propose(p)
		case f := <-n.ctlc:
			f()
		case f := <-n.reportc:
			f()
		case <-n.stopc:
			err = ErrClosed
		}
		// Take whatever else is waiting before persisting, so one fsync
		// covers it (group commit).
	more:
		for i := 0; i < 256 && err == nil; i++ {
			select {
			case m := <-n.recvc:
				err = n.step(m)
			case p := <-n.propc:
				n.propose(p)
			default:
				break more
			}
		}
		for err == nil && n.rn.HasReady() {
			err = n.handleReady()
		}
	}
	n.shutdown(err)
}

func (n *Node) shutdown(err error) {
	if err != ErrClosed {
		n.log.Error("raft node stopped", "err", err)
	}
	for _, p := range n.pending {
		p.done <- proposeResult{err: ErrClosed}
	}
	n.pending = nil
	for _, t := range n.transfers {
		t.done <- ErrClosed
	}
	n.transfers = nil
	if cerr := n.st.close(); err == ErrClosed && cerr != nil {
		err = cerr
	}
	n.mu.Lock()
	n.err = err
	n.mu.Unlock()
	close(n.donec)
}

// step hands a message from a peer to raft. A message raft cannot take
// (it panics on some inconsistent inputs) stops the node rather than the
// process.
func (n *Node) step(m *pb.Message) (err error) {
	if m.GetTo() != n.id || n.peers[m.GetFrom()] == nil {
		return nil
	}
	n.contact[m.GetFrom()] = time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("raft: message %v from %d: %v", m.GetType(), nodeID(m.GetFrom()), r)
		}
	}()
	if err := n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) && !errors.Is(err, raft.ErrStepLocalMsg) {
		n.log.Debug("raft step", "type", m.GetType(), "from", nodeID(m.GetFrom()), "err", err)
	}
	return nil
}

func (n *Node) notLeader() *NotLeaderError {
	return &NotLeaderError{LeaderID: nodeID(n.lead), Epoch: n.rn.BasicStatus().GetTerm()}
}

func (n *Node) propose(p *proposal) {
	if n.role != raft.StateLeader {
		p.done <- proposeResult{err: n.notLeader()}
		return
	}
	n.seq++
	if err := n.rn.Propose(wrap(n.seq, p.data)); err != nil {
		if errors.Is(err, raft.ErrProposalDropped) {
			// Dropped during a leadership transfer or over the
			// uncommitted-size bound.
			err = fmt.Errorf("%w: %w", n.notLeader(), err)
		}
		p.done <- proposeResult{err: err}
		return
	}
	p.term = n.rn.BasicStatus().GetTerm()
	n.pending[n.seq] = p
}

func (n *Node) handleReady() error {
	rd := n.rn.Ready()
	if rd.SoftState != nil {
		n.softState(rd.SoftState)
	}
	snap := !raft.IsEmptySnap(rd.Snapshot)
	if snap {
		if err := n.st.saveSnapshot(rd.Snapshot, rd.Entries, rd.HardState); err != nil {
			return fmt.Errorf("raft: save snapshot: %w", err)
		}
	} else if err := n.st.append(rd.Entries, rd.HardState, rd.MustSync); err != nil {
		return fmt.Errorf("raft: append: %w", err)
	}
	// Entries and HardState are durable: messages that depend on them may
	// go.
	n.send(rd.Messages)
	if snap {
		md := rd.Snapshot.GetMetadata()
		if err := n.cfg.StateMachine.Restore(rd.Snapshot.GetData(), md.GetIndex()); err != nil {
			return fmt.Errorf("raft: restore snapshot %d: %w", md.GetIndex(), err)
		}
		n.applied = md.GetIndex()
		n.confState = cloneConfState(md.GetConfState())
		n.log.Info("raft restored snapshot", "index", md.GetIndex(), "term", md.GetTerm())
	}
	for _, e := range rd.CommittedEntries {
		if err := n.apply(e); err != nil {
			return err
		}
	}
	n.rn.Advance(rd)
	for _, f := range n.after {
		f()
	}
	n.after = n.after[:0]
	if err := n.maybeSnapshot(); err != nil {
		return err
	}
	n.publish()
	return nil
}

func (n *Node) softState(ss *raft.SoftState) {
	if ss.Lead != n.lead {
		n.log.Info("raft leader", "leader", nodeID(ss.Lead), "epoch", n.rn.BasicStatus().GetTerm())
	}
	n.lead, n.role = ss.Lead, ss.RaftState
	if n.role != raft.StateLeader {
		n.activeTerm = 0
	}
	if n.role != raft.StateLeader && len(n.pending) > 0 {
		nl := n.notLeader()
		for seq, p := range n.pending {
			p.done <- proposeResult{err: nl}
			delete(n.pending, seq)
		}
	}
	n.checkTransfers()
}

func (n *Node) apply(e *pb.Entry) error {
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.GetData()) == 0 {
			break
		}
		seq, payload, err := unwrap(e.GetData())
		if err != nil {
			return fmt.Errorf("raft: entry %d: %w", e.GetIndex(), err)
		}
		if err := n.cfg.StateMachine.Apply(e.GetIndex(), payload); err != nil {
			return fmt.Errorf("raft: apply entry %d: %w", e.GetIndex(), err)
		}
		if p := n.pending[seq]; p != nil && p.term == e.GetTerm() {
			p.done <- proposeResult{index: e.GetIndex()}
			delete(n.pending, seq)
		}
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("raft: entry %d: %w", e.GetIndex(), err)
		}
		n.confState = n.rn.ApplyConfChange(&cc)
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("raft: entry %d: %w", e.GetIndex(), err)
		}
		n.confState = n.rn.ApplyConfChange(&cc)
	}
	n.applied = e.GetIndex()
	if n.role == raft.StateLeader && n.activeTerm == 0 && e.GetTerm() == n.rn.BasicStatus().GetTerm() {
		// The first entry of our own term (raft's empty entry on
		// election) is applied: so is everything committed before it.
		n.activeTerm = e.GetTerm()
	}
	return nil
}

func (n *Node) maybeSnapshot() error {
	since := n.applied - n.st.snap.index
	if n.applied <= n.st.snap.index ||
		(n.st.sinceSnap < n.cfg.SnapshotBytes && (n.cfg.SnapshotEntries == 0 || since < n.cfg.SnapshotEntries)) {
		return nil
	}
	data, idx, err := n.cfg.StateMachine.Snapshot()
	if err != nil {
		return fmt.Errorf("raft: state machine snapshot: %w", err)
	}
	if idx > n.applied {
		return fmt.Errorf("raft: state machine snapshot at %d, beyond the applied index %d", idx, n.applied)
	}
	// The state as of idx is the state as of applied: nothing between
	// them reached the state machine.
	if err := n.st.createSnapshot(n.applied, n.confState, data, uint64(n.cfg.CatchUpEntries)); err != nil {
		return fmt.Errorf("raft: write snapshot: %w", err)
	}
	n.log.Info("raft snapshot", "index", n.applied)
	return nil
}

// publish makes the node goroutine's progress visible to handlers.
func (n *Node) publish() {
	bs := n.rn.BasicStatus()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.snap = n.st.snap
	p := published{applied: n.applied, commit: bs.GetCommit(), term: bs.GetTerm(), lead: n.lead, active: n.activeTerm}
	if p.applied != n.pub.applied {
		close(n.applyc)
		n.applyc = make(chan struct{})
	}
	if p.lead != n.pub.lead || p.active != n.pub.active || p.term != n.pub.term {
		close(n.changec)
		n.changec = make(chan struct{})
	}
	n.pub = p
}

func (n *Node) onTick() {
	if n.role == raft.StateLeader {
		last, _ := n.st.mem.LastIndex()
		n.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
			if pr.Match >= last {
				// Caught up as of the last message from it, not now: a
				// dead voter's stale match must not look fresh.
				if at := n.contact[id]; !at.IsZero() {
					n.caughtUp[id] = at
				}
			}
		})
	}
	n.checkTransfers()
}

func (n *Node) checkTransfers() {
	if len(n.transfers) == 0 {
		return
	}
	bs := n.rn.BasicStatus()
	keep := n.transfers[:0]
	for _, t := range n.transfers {
		switch {
		case n.lead == t.to:
			t.done <- nil
		case n.role == raft.StateLeader && bs.LeadTransferee == raft.None:
			t.done <- ErrTransferAborted
		default:
			keep = append(keep, t)
		}
	}
	n.transfers = keep
}

// do runs f in the node goroutine.
func (n *Node) do(ctx context.Context, f func()) error {
	select {
	case n.ctlc <- f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrClosed
	}
}

// Propose replicates data and returns its index once it is committed and
// applied to the local state machine. On a node that is not the leader, or
// that loses leadership before the entry commits, it returns a
// *NotLeaderError; in the second case, and when ctx ends first, the entry
// may still commit.
func (n *Node) Propose(ctx context.Context, data []byte) (uint64, error) {
	p := &proposal{data: data, done: make(chan proposeResult, 1)}
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		return 0, ErrClosed
	}
	select {
	case r := <-p.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		return 0, ErrClosed
	}
}

// TransferLeadership asks the leader (this node) to hand leadership to
// voter to and waits until to leads. It is how an active controller shuts
// down in a controlled way.
func (n *Node) TransferLeadership(ctx context.Context, to int32) error {
	t := &transfer{to: raftID(to), done: make(chan error, 1)}
	err := n.do(ctx, func() {
		switch {
		case n.peers[t.to] == nil && t.to != n.id:
			t.done <- fmt.Errorf("raft: %d is not a voter", to)
		case n.role != raft.StateLeader:
			t.done <- n.notLeader()
		case t.to == n.id:
			t.done <- nil
		default:
			n.rn.TransferLeader(t.to)
			n.transfers = append(n.transfers, t)
		}
	})
	if err != nil {
		return err
	}
	select {
	case err := <-t.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrClosed
	}
}

// Status is the quorum as this node sees it: what DescribeQuorum reports.
type Status struct {
	NodeID   int32
	LeaderID int32 // -1 when unknown
	Epoch    uint64
	Role     string // Leader, Follower, Candidate, PreCandidate
	// Commit is the high watermark: entries up to it are committed.
	Commit        uint64
	Applied       uint64
	LastIndex     uint64
	SnapshotIndex uint64
	// Voters, sorted by id. MatchIndex and LastCaughtUp are the leader's
	// view (zero on other nodes, except for the node itself).
	Voters []ReplicaStatus
	// Observers that fetched from this node, sorted by id: MatchIndex is
	// the last index they had, LastContact the time of their last fetch.
	Observers []ReplicaStatus
}

// ReplicaStatus is one replica of the metadata log.
type ReplicaStatus struct {
	ID           int32
	MatchIndex   uint64
	LastContact  time.Time
	LastCaughtUp time.Time
}

// Status reports the quorum state (from the node goroutine).
func (n *Node) Status(ctx context.Context) (Status, error) {
	var s Status
	done := make(chan struct{})
	err := n.do(ctx, func() {
		defer close(done)
		rs := n.rn.Status()
		last, _ := n.st.mem.LastIndex()
		now := time.Now()
		s = Status{
			NodeID:        n.cfg.NodeID,
			LeaderID:      nodeID(rs.Lead),
			Epoch:         rs.GetTerm(),
			Role:          rs.RaftState.String()[len("State"):],
			Commit:        rs.GetCommit(),
			Applied:       n.applied,
			LastIndex:     last,
			SnapshotIndex: n.st.snap.index,
		}
		for _, id := range slices.Sorted(slices.Values(n.confState.GetVoters())) {
			r := ReplicaStatus{ID: nodeID(id), LastContact: n.contact[id], LastCaughtUp: n.caughtUp[id]}
			if pr, ok := rs.Progress[id]; ok {
				r.MatchIndex = pr.Match
			}
			if id == n.id {
				r.MatchIndex, r.LastContact, r.LastCaughtUp = last, now, now
			}
			s.Voters = append(s.Voters, r)
		}
	})
	if err != nil {
		return s, err
	}
	select {
	case <-done:
	case <-n.donec:
		return s, ErrClosed
	}
	n.mu.Lock()
	for id, o := range n.observers {
		s.Observers = append(s.Observers, ReplicaStatus{ID: id, MatchIndex: o.index, LastContact: o.at, LastCaughtUp: o.caughtUp})
	}
	n.mu.Unlock()
	slices.SortFunc(s.Observers, func(a, b ReplicaStatus) int { return int(a.ID) - int(b.ID) })
	return s, nil
}

// Leader returns the leader this node knows (-1 when none) and the epoch.
func (n *Node) Leader() (int32, uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return nodeID(n.pub.lead), n.pub.term
}

// Active reports whether this node is the leader and has applied every
// entry committed before its term (the first entry of its own term is
// applied): only then may the active controller decide on its image. It
// returns the term.
func (n *Node) Active() (uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pub.active, n.pub.active != 0
}

// Changed returns a channel closed at the next change of the leader, the
// epoch or this node's activity (Active). Take it before reading the state
// it guards, so no change is missed between the read and the wait.
func (n *Node) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changec
}

// Applied returns the index of the last entry applied on this node.
func (n *Node) Applied() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pub.applied
}

// Done is closed when the node goroutine has stopped; Err says why.
func (n *Node) Done() <-chan struct{} { return n.donec }

// Err is why the node stopped (ErrClosed after Close), or nil while it runs.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// Close stops the node: its goroutine, peers and server. Nothing is handed
// over (TransferLeadership first for a controlled shutdown). It returns
// the error that stopped the node earlier, if one did.
func (n *Node) Close() error {
	select {
	case <-n.stopc:
	default:
		close(n.stopc)
		n.cancel()
	}
	<-n.donec
	n.srv.stop()
	n.wg.Wait()
	if err := n.Err(); err != ErrClosed {
		return err
	}
	return nil
}

// raftLogger adapts slog to raft's logger. raft's Fatal and Panic mean an
// invariant broke: they panic, and the node goroutine stops.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)              { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(f string, v ...any)   { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Info(v ...any)               { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(f string, v ...any)    { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Warning(v ...any)            { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.l.Warn(fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.l.Error(fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
func (r raftLogger) Panic(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
