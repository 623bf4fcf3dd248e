package samsatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/server"
)

// Cluster is a real multi-node samsa cluster inside one test process:
// every node is the broker `samsa serve` runs, with its own data
// directory, on its own loopback ports, configured by Kafka's keys
// (controller.quorum.voters naming every controller). Nodes can be killed,
// restarted and cut off from each other; clients use real TCP.
//
//	c := samsatest.StartCluster(t, 3)
//	cl, _ := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
//	c.Node(c.ActiveController()).Kill()
type Cluster struct {
	t     testing.TB
	set   clusterSettings
	nodes []*ClusterNode // by position; ids are 1..n

	mu       sync.Mutex
	isolated map[int32]bool       // mu guards isolated and conns
	conns    map[int32][]net.Conn // connections each node dialed to peers
	byAddr   map[string]int32     // a controller or broker address → node id
}

// ClusterOption configures StartCluster.
type ClusterOption func(*clusterSettings)

type clusterSettings struct {
	controllers int // > 0: that many controller-only nodes, then broker-only ones
	overrides   map[string]string
	perNode     map[int32]map[string]string // NodeConfig, on top of overrides
	logger      *slog.Logger
	dir         string
}

// Separate runs controllers controller-only nodes (ids 1..controllers)
// and the rest as broker-only nodes, Kafka's isolated layout. Without it
// every node is combined (process.roles=broker,controller).
func Separate(controllers int) ClusterOption {
	return func(s *clusterSettings) { s.controllers = controllers }
}

// ClusterConfig sets a Kafka config key on every node.
func ClusterConfig(key, value string) ClusterOption {
	return func(s *clusterSettings) { s.overrides[key] = value }
}

// NodeConfig sets a Kafka config key on node id only (on top of
// ClusterConfig), e.g. each node's broker.rack.
func NodeConfig(id int32, key, value string) ClusterOption {
	return func(s *clusterSettings) {
		if s.perNode == nil {
			s.perNode = map[int32]map[string]string{}
		}
		if s.perNode[id] == nil {
			s.perNode[id] = map[string]string{}
		}
		s.perNode[id][key] = value
	}
}

// ClusterLogger sets the nodes' logger (default: discarded unless
// SAMSATEST_LOG is set); each node's lines carry its node.id.
func ClusterLogger(l *slog.Logger) ClusterOption { return func(s *clusterSettings) { s.logger = l } }

// ClusterNode is one node of a Cluster.
type ClusterNode struct {
	c          *Cluster
	ID         int32
	Broker     bool // process.roles includes broker
	Controller bool // process.roles includes controller
	dir        string
	port, ctl  int // PLAINTEXT and CONTROLLER ports (0: none)

	mu sync.Mutex
	b  *broker.Broker // nil while down; mu guards b
}

// StartCluster starts an n-node cluster for t, waits until every broker is
// registered and unfenced, and stops it when the test ends.
func StartCluster(t testing.TB, n int, opts ...ClusterOption) *Cluster {
	t.Helper()
	s := clusterSettings{overrides: map[string]string{}}
	for _, o := range opts {
		o(&s)
	}
	if s.dir == "" {
		s.dir = t.TempDir()
	}
	if s.logger == nil {
		var w io.Writer = io.Discard
		if os.Getenv("SAMSATEST_LOG") != "" {
			w = os.Stderr
		}
		s.logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c := &Cluster{t: t, set: s, isolated: map[int32]bool{}, conns: map[int32][]net.Conn{}, byAddr: map[string]int32{}}
	for i := 1; i <= n; i++ {
		nd := &ClusterNode{c: c, ID: int32(i), dir: filepath.Join(s.dir, fmt.Sprintf("node-%d", i))}
		nd.Controller = s.controllers == 0 || i <= s.controllers
		nd.Broker = s.controllers == 0 || i > s.controllers
		var err error
		if nd.Broker {
			if nd.port, err = FreePort(); err != nil {
				t.Fatalf("samsatest: %v", err)
			}
			c.byAddr[fmt.Sprintf("127.0.0.1:%d", nd.port)] = nd.ID
		}
		if nd.Controller {
			if nd.ctl, err = FreePort(); err != nil {
				t.Fatalf("samsatest: %v", err)
			}
			c.byAddr[fmt.Sprintf("127.0.0.1:%d", nd.ctl)] = nd.ID
		}
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(func() { c.Close() })
	// Start them together, as an operator's cold start does: controllers
	// need a quorum before any of them is ready.
	errs := make(chan error, n)
	for _, nd := range c.nodes {
		go func() { errs <- nd.start() }()
	}
	for range c.nodes {
		if err := <-errs; err != nil {
			t.Fatalf("samsatest: %v", err)
		}
	}
	if err := c.WaitReady(60 * time.Second); err != nil {
		t.Fatalf("samsatest: %v", err)
	}
	return c
}

// Nodes returns every node, by id.
func (c *Cluster) Nodes() []*ClusterNode { return c.nodes }

// Node returns the node with id (ids start at 1).
func (c *Cluster) Node(id int32) *ClusterNode { return c.nodes[id-1] }

// Bootstrap returns the PLAINTEXT address of every broker node.
func (c *Cluster) Bootstrap() []string {
	var out []string
	for _, nd := range c.nodes {
		if nd.Broker {
			out = append(out, nd.Addr())
		}
	}
	return out
}

// voters is controller.quorum.voters for the cluster.
func (c *Cluster) voters() string {
	var vs []string
	for _, nd := range c.nodes {
		if nd.Controller {
			vs = append(vs, fmt.Sprintf("%d@127.0.0.1:%d", nd.ID, nd.ctl))
		}
	}
	return strings.Join(vs, ",")
}

// WaitReady waits until every running broker node is registered and
// unfenced, and every running node's metadata says so.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	deadline := time.After(timeout)
	var up []int32
	for _, nd := range c.nodes {
		b := nd.broker()
		if b == nil {
			continue
		}
		select {
		case <-b.Ready():
		case <-b.Failed():
			return fmt.Errorf("node %d stopped: %v", nd.ID, b.Err())
		case <-deadline:
			return fmt.Errorf("node %d not ready after %v", nd.ID, timeout)
		}
		if nd.Broker {
			up = append(up, nd.ID)
		}
	}
	for _, nd := range c.nodes {
		for {
			b := nd.broker()
			if b == nil {
				break
			}
			im, all := b.Image(), true
			for _, id := range up {
				if br := im.Broker(id); br == nil || br.Fenced {
					all = false
				}
			}
			if all {
				break
			}
			select {
			case <-deadline:
				return fmt.Errorf("node %d does not see brokers %v unfenced after %v", nd.ID, up, timeout)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	return nil
}

// ActiveController returns the id of the active controller as a running
// controller node sees it (-1 when none is known yet).
func (c *Cluster) ActiveController() int32 {
	for _, nd := range c.nodes {
		if b := nd.broker(); b != nil && nd.Controller {
			if id := b.QuorumLeader(); id >= 0 {
				return id
			}
		}
	}
	return -1
}

// WaitActiveController waits until the running controllers agree on an
// active controller other than not (-1: any) and returns it.
func (c *Cluster) WaitActiveController(not int32, timeout time.Duration) (int32, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		agree, leader := true, int32(-1)
		for _, nd := range c.nodes {
			b := nd.broker()
			if b == nil || !nd.Controller || c.isIsolated(nd.ID) {
				continue
			}
			id := b.QuorumLeader()
			if leader == -1 {
				leader = id
			}
			if id != leader {
				agree = false
			}
		}
		if agree && leader >= 0 && leader != not {
			if lb := c.Node(leader).broker(); lb != nil && lb.ActiveController() {
				return leader, nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return -1, fmt.Errorf("no active controller (other than %d) within %v", not, timeout)
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, nd := range c.nodes {
		nd.Kill()
	}
}

// Isolate cuts node id off from every other node: its connections to
// them and theirs to it are closed, and new ones refused, until Heal.
// Clients can still reach it.
func (c *Cluster) Isolate(id int32) {
	c.mu.Lock()
	c.isolated[id] = true
	var drop []net.Conn
	for from, cs := range c.conns {
		for _, nc := range cs {
			if from == id || c.byAddr[nc.RemoteAddr().String()] == id {
				drop = append(drop, nc)
			}
		}
	}
	c.mu.Unlock()
	for _, nc := range drop {
		nc.Close()
	}
}

// Heal ends every isolation.
func (c *Cluster) Heal() {
	c.mu.Lock()
	c.isolated = map[int32]bool{}
	c.mu.Unlock()
}

func (c *Cluster) isIsolated(id int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isolated[id]
}

// dialer is node from's dialer to its peers: refused across an isolation.
func (c *Cluster) dialer(from int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c.mu.Lock()
		to, known := c.byAddr[addr]
		cut := c.isolated[from] || (known && c.isolated[to])
		c.mu.Unlock()
		if cut {
			return nil, fmt.Errorf("samsatest: node %d is cut off from %s: %w", from, addr, errIsolated)
		}
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: nc}
		c.mu.Lock()
		live := c.conns[from][:0]
		for _, x := range c.conns[from] {
			if !isClosed(x) {
				live = append(live, x)
			}
		}
		c.conns[from] = append(live, tc)
		c.mu.Unlock()
		return tc, nil
	}
}

var errIsolated = errors.New("isolated")

// trackedConn remembers that it was closed, so the tracking list drops it.
type trackedConn struct {
	net.Conn
	mu     sync.Mutex
	closed bool // mu guards closed
}

func (t *trackedConn) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return t.Conn.Close()
}

func isClosed(nc net.Conn) bool {
	t, ok := nc.(*trackedConn)
	if !ok {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func (nd *ClusterNode) broker() *broker.Broker {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.b
}

// Addr is the node's PLAINTEXT address ("" on a controller-only node).
func (nd *ClusterNode) Addr() string {
	if !nd.Broker {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", nd.port)
}

// ControllerAddr is the node's CONTROLLER address ("" on a broker-only node).
func (nd *ClusterNode) ControllerAddr() string {
	if !nd.Controller {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", nd.ctl)
}

// Dir is the node's log directory.
func (nd *ClusterNode) Dir() string { return nd.dir }

// Running reports whether the node is up.
func (nd *ClusterNode) Running() bool { return nd.broker() != nil }

// Kill stops the node at once, like kill -9 as far as its peers can
// tell: no controlled shutdown, no leadership handed over. (Its files are
// closed cleanly; kill -9 and power-loss tests run real processes or the
// crashable filesystem.)
func (nd *ClusterNode) Kill() {
	nd.mu.Lock()
	b := nd.b
	nd.b = nil
	nd.mu.Unlock()
	if b != nil {
		b.Close()
	}
}

// Stop is Kafka's controlled shutdown (SIGTERM): leaderships move away
// first, then the node stops.
func (nd *ClusterNode) Stop(ctx context.Context) error {
	b := nd.broker()
	if b == nil {
		return nil
	}
	err := b.Shutdown(ctx)
	nd.Kill()
	return err
}

// Restart starts a stopped node again with its data (it waits until the
// node's broker is unfenced, when it has one).
func (nd *ClusterNode) Restart() error {
	nd.Kill()
	if err := nd.start(); err != nil {
		return err
	}
	b := nd.broker()
	select {
	case <-b.Ready():
	case <-b.Failed():
		return b.Err()
	case <-time.After(60 * time.Second):
		return fmt.Errorf("node %d not ready after restart", nd.ID)
	}
	return nd.c.WaitReady(60 * time.Second)
}

// ActiveController reports whether this node is the active controller.
func (nd *ClusterNode) ActiveController() bool {
	b := nd.broker()
	return b != nil && b.ActiveController()
}

// BrokerHandle returns the node's running broker (nil while down), for
// tests that look inside.
func (nd *ClusterNode) BrokerHandle() *broker.Broker { return nd.broker() }

func (nd *ClusterNode) config() (*config.Config, error) {
	c := nd.c
	roles := []string{}
	var ls, adv []string
	if nd.Broker {
		roles = append(roles, "broker")
		ls = append(ls, fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", nd.port))
		adv = append(adv, fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", nd.port))
	}
	if nd.Controller {
		roles = append(roles, "controller")
		ls = append(ls, fmt.Sprintf("CONTROLLER://127.0.0.1:%d", nd.ctl))
	}
	kv := map[string]string{
		"process.roles":                    strings.Join(roles, ","),
		"node.id":                          fmt.Sprint(nd.ID),
		"listeners":                        strings.Join(ls, ","),
		"controller.listener.names":        "CONTROLLER",
		"controller.quorum.voters":         c.voters(),
		"listener.security.protocol.map":   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs":                         nd.dir,
		"group.initial.rebalance.delay.ms": "0",
	}
	if nd.Broker {
		kv["advertised.listeners"] = strings.Join(adv, ",")
		kv["inter.broker.listener.name"] = "PLAINTEXT"
	}
	for k, v := range c.set.overrides {
		kv[k] = v
	}
	for k, v := range c.set.perNode[nd.ID] {
		kv[k] = v
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ov []string
	for _, k := range keys {
		ov = append(ov, k+"="+kv[k])
	}
	cfg, _, err := config.Load(config.LoadOptions{Overrides: ov})
	if err != nil {
		return nil, fmt.Errorf("node %d config: %w", nd.ID, err)
	}
	return cfg, nil
}

func (nd *ClusterNode) start() error {
	cfg, err := nd.config()
	if err != nil {
		return err
	}
	if cfg.ClusterID == "" {
		cfg.ClusterID = clusterID
	}
	var b *broker.Broker
	// A restarted node binds the ports it had; while it was down another
	// connection on this machine may have taken one as its ephemeral local
	// port, so retry that for a while.
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err = server.Start(cfg, server.Options{
			Logger: nd.c.set.logger.With("node", nd.ID),
			Dial:   nd.c.dialer(nd.ID),
		})
		if err == nil {
			break
		}
		if !addrInUse(err) || time.Now().After(deadline) {
			return fmt.Errorf("node %d: %w", nd.ID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	nd.mu.Lock()
	nd.b = b
	nd.mu.Unlock()
	return nil
}

func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// clusterID is the cluster id of every test cluster (Kafka's docs' example).
const clusterID = "4L6g3nShT-eMCtK--X86sw"
