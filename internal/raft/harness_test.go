package raft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSM is a state machine whose state is every entry applied, in order:
// two replicas agree exactly when their sequences do. It records any index
// applied out of order (twice) and any restore.
type testSM struct {
	mu       sync.Mutex
	entries  []smEntry
	base     uint64 // index of the last restored snapshot
	restores int
	err      error
}

type smEntry struct {
	index uint64
	data  string
}

func (s *testSM) last() uint64 {
	if len(s.entries) > 0 {
		return s.entries[len(s.entries)-1].index
	}
	return s.base
}

func (s *testSM) Apply(index uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.last() {
		s.err = fmt.Errorf("entry %d applied after %d", index, s.last())
		return s.err
	}
	s.entries = append(s.entries, smEntry{index, string(data)})
	return nil
}

func (s *testSM) Snapshot() ([]byte, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	for _, e := range s.entries {
		b = binary.BigEndian.AppendUint64(b, e.index)
		b = binary.BigEndian.AppendUint32(b, uint32(len(e.data)))
		b = append(b, e.data...)
	}
	return b, s.last(), nil
}

func (s *testSM) Restore(data []byte, index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ents []smEntry
	for len(data) > 0 {
		if len(data) < 12 {
			return errors.New("short snapshot")
		}
		i, n := binary.BigEndian.Uint64(data), binary.BigEndian.Uint32(data[8:])
		if uint64(n) > uint64(len(data)-12) {
			return errors.New("short snapshot entry")
		}
		ents = append(ents, smEntry{i, string(data[12 : 12+n])})
		data = data[12+n:]
	}
	if len(ents) > 0 && ents[len(ents)-1].index > index {
		return fmt.Errorf("snapshot at %d holds entry %d", index, ents[len(ents)-1].index)
	}
	s.entries, s.base = ents, index
	s.restores++
	return nil
}

func (s *testSM) snapshot() ([]smEntry, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries), s.restores, s.err
}

// network routes dials between test nodes by name ("node-<id>") and can
// cut the link between two nodes (dials fail, open connections close).
type network struct {
	mu    sync.Mutex
	addrs map[int32]string
	cut   map[[2]int32]bool
	conns map[[2]int32][]net.Conn
}

func newNetwork() *network {
	return &network{addrs: map[int32]string{}, cut: map[[2]int32]bool{}, conns: map[[2]int32][]net.Conn{}}
}

func pair(a, b int32) [2]int32 {
	if a > b {
		a, b = b, a
	}
	return [2]int32{a, b}
}

func nodeName(id int32) string { return "node-" + strconv.Itoa(int(id)) }

func (nw *network) dialer(from int32) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		id, err := strconv.Atoi(strings.TrimPrefix(addr, "node-"))
		if err != nil {
			return nil, err
		}
		to := int32(id)
		nw.mu.Lock()
		real, ok := nw.addrs[to]
		cut := nw.cut[pair(from, to)]
		nw.mu.Unlock()
		if !ok || cut {
			return nil, fmt.Errorf("dial %s from %d: unreachable", addr, from)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", real)
		if err != nil {
			return nil, err
		}
		nw.mu.Lock()
		defer nw.mu.Unlock()
		if nw.cut[pair(from, to)] {
			c.Close()
			return nil, fmt.Errorf("dial %s from %d: unreachable", addr, from)
		}
		nw.conns[pair(from, to)] = append(nw.conns[pair(from, to)], c)
		return c, nil
	}
}

func (nw *network) setCut(a, b int32, cut bool) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	p := pair(a, b)
	nw.cut[p] = cut
	if cut {
		for _, c := range nw.conns[p] {
			c.Close()
		}
		delete(nw.conns, p)
	}
}

// cluster is a set of voters on loopback TCP in this process.
type cluster struct {
	t      testing.TB
	net    *network
	voters map[int32]string
	nodes  map[int32]*clusterNode
	opts   func(*Config)
}

type clusterNode struct {
	id  int32
	dir string
	sm  *testSM
	n   *Node // nil while down
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("RAFT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// fastTimings: a 20 ms tick, elections after 200-400 ms.
func fastTimings(c *Config) {
	c.TickInterval = 20 * time.Millisecond
	c.ElectionTicks = 10
	c.HeartbeatTicks = 1
}

func newCluster(t testing.TB, size int, opts func(*Config)) *cluster {
	c := &cluster{t: t, net: newNetwork(), voters: map[int32]string{}, nodes: map[int32]*clusterNode{}, opts: opts}
	for i := range size {
		id := int32(i)
		c.voters[id] = nodeName(id)
		c.nodes[id] = &clusterNode{id: id, dir: t.TempDir(), sm: &testSM{}}
	}
	for id := range c.nodes {
		c.start(id)
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	return c
}

func (c *cluster) config(id int32) Config {
	cn := c.nodes[id]
	cfg := Config{
		NodeID:       id,
		Voters:       c.voters,
		Dir:          cn.dir,
		StateMachine: cn.sm,
		Dial:         c.net.dialer(id),
		Logger:       testLogger(c.t),
	}
	fastTimings(&cfg)
	if c.opts != nil {
		c.opts(&cfg)
	}
	return cfg
}

// start starts node id (with a fresh state machine when restarting: the
// state comes back from its disk).
func (c *cluster) start(id int32) {
	c.t.Helper()
	cn := c.nodes[id]
	if cn.n != nil {
		c.t.Fatalf("node %d already running", id)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := c.config(id)
	cfg.Listener = ln
	n, err := Start(cfg)
	if err != nil {
		ln.Close()
		c.t.Fatalf("start node %d: %v", id, err)
	}
	cn.n = n
	c.net.mu.Lock()
	c.net.addrs[id] = ln.Addr().String()
	c.net.mu.Unlock()
}

// stop closes node id without any handover, as a crash would.
func (c *cluster) stop(id int32) {
	cn := c.nodes[id]
	if cn.n == nil {
		return
	}
	// The address stays: dials to it are refused, as for a killed
	// process.
	if err := cn.n.Close(); err != nil {
		c.t.Errorf("close node %d: %v", id, err)
	}
	cn.n = nil
}

// restart stops node id and starts it again on a fresh state machine.
func (c *cluster) restart(id int32) {
	c.stop(id)
	c.nodes[id].sm = &testSM{}
	c.start(id)
}

func (c *cluster) running() []int32 {
	var ids []int32
	for id, cn := range c.nodes {
		if cn.n != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// waitLeader waits until every node in among (running nodes by default)
// names the same leader, which names itself.
func (c *cluster) waitLeader(timeout time.Duration, among ...int32) (int32, uint64) {
	c.t.Helper()
	if len(among) == 0 {
		among = c.running()
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if id, epoch, ok := c.agreedLeader(among); ok {
			return id, epoch
		}
		time.Sleep(5 * time.Millisecond)
	}
	var views []string
	for _, id := range among {
		if n := c.nodes[id].n; n != nil {
			l, e := n.Leader()
			views = append(views, fmt.Sprintf("%d→%d@%d", id, l, e))
		}
	}
	c.t.Fatalf("no agreed leader within %v: %v", timeout, views)
	return -1, 0
}

func (c *cluster) agreedLeader(among []int32) (int32, uint64, bool) {
	var lead int32 = -1
	var epoch uint64
	for _, id := range among {
		n := c.nodes[id].n
		if n == nil {
			return -1, 0, false
		}
		l, e := n.Leader()
		if l < 0 || (lead >= 0 && (l != lead || e != epoch)) {
			return -1, 0, false
		}
		lead, epoch = l, e
	}
	if lead < 0 || !slices.Contains(among, lead) {
		return -1, 0, false
	}
	return lead, epoch, true
}

// propose proposes data on the leader, following leadership changes.
func (c *cluster) propose(data string) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		lead, _ := c.waitLeader(10 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		idx, err := c.nodes[lead].n.Propose(ctx, []byte(data))
		cancel()
		if err == nil {
			return idx
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, context.DeadlineExceeded) {
			c.t.Fatalf("propose %q: %v", data, err)
		}
	}
	c.t.Fatalf("propose %q: no leader took it", data)
	return 0
}

// waitApplied waits until every running node has applied index.
func (c *cluster) waitApplied(index uint64, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, id := range c.running() {
		for c.nodes[id].n.Applied() < index {
			if time.Now().After(deadline) {
				c.t.Fatalf("node %d applied %d, want %d", id, c.nodes[id].n.Applied(), index)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// checkSame checks that every running node's state machine holds the same
// sequence, with no index applied twice, and returns it.
func (c *cluster) checkSame() []smEntry {
	c.t.Helper()
	var want []smEntry
	var from int32 = -1
	for _, id := range c.running() {
		got, _, err := c.nodes[id].sm.snapshot()
		if err != nil {
			c.t.Fatalf("node %d: %v", id, err)
		}
		if from < 0 {
			want, from = got, id
			continue
		}
		if !slices.Equal(got, want) {
			c.t.Fatalf("node %d applied %d entries, node %d %d; first difference at %d", id, len(got), from, len(want), firstDiff(got, want))
		}
	}
	return want
}

func firstDiff(a, b []smEntry) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// payloads returns the data of entries.
func payloads(ents []smEntry) []string {
	var s []string
	for _, e := range ents {
		s = append(s, e.data)
	}
	return s
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s)-1) * p)
	return s[i]
}
