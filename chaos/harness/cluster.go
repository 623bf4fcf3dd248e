package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Layouts of a three-node cluster.
const (
	Combined = "combined" // three nodes, each broker and controller
	Isolated = "isolated" // controllers 1-3, brokers 4-6
)

// Ports inside each node's own namespace: no other process binds there,
// so they are fixed.
const (
	brokerPort     = 9092
	controllerPort = 9093
)

// Timeouts of the nodes, shortened so that a fault is noticed within a
// few seconds of a short run. A pause must outlast brokerSessionTimeout.
const (
	brokerSessionTimeout = 3 * time.Second
	replicaLagTimeMax    = 4 * time.Second
)

// Node is one `samsa serve` process in its namespace.
type Node struct {
	ID         int32
	Broker     bool
	Controller bool
	Dir        string // config, data (Dir/data) and the log file
	bin        string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
	starts int
	// wanted is false while the harness keeps the node down (a kill
	// fault); an exit while wanted is a crash.
	wanted  bool
	crashes int
	pids    []int // of every start
}

// Addr is the node's broker address ("" for a controller-only node).
func (n *Node) Addr() string {
	if !n.Broker {
		return ""
	}
	return fmt.Sprintf("%s:%d", NodeIP(n.ID), brokerPort)
}

func (n *Node) confPath() string { return filepath.Join(n.Dir, "server.properties") }

// LogPath is the node's log, all its runs appended.
func (n *Node) LogPath() string { return filepath.Join(n.Dir, "node.log") }

// DataDir is the node's log.dirs.
func (n *Node) DataDir() string { return filepath.Join(n.Dir, "data") }

// start launches the node (it must not be running).
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("node %d already running", n.ID)
	}
	lf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.starts++
	fmt.Fprintf(lf, "==== chaos harness: start %d of node %d at %s ====\n", n.starts, n.ID, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command("ip", "netns", "exec", nsName(n.ID), n.bin, "serve", "-c", n.confPath())
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = nodeEnv()
	// Its own process group (a terminal's ^C reaches the harness only,
	// which then kills the nodes), and killed if the harness dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	exited := make(chan struct{})
	n.cmd, n.exited, n.paused, n.wanted = cmd, exited, false, true
	n.pids = append(n.pids, cmd.Process.Pid)
	go func() {
		cmd.Wait()
		lf.Close()
		n.mu.Lock()
		if n.cmd == cmd {
			if n.wanted {
				n.crashes++
			}
			n.cmd = nil
		}
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

// nodeEnv is the harness's environment without KAFKA_* variables (they
// would configure the node), one Go thread per node to share the CPUs.
// CHAOS_NODE_LOG_LEVEL (DEBUG, INFO, ...) sets the nodes' log level, as
// KAFKA_LOG4J_ROOT_LOGLEVEL does for one node.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAFKA_") && !strings.HasPrefix(kv, "CLUSTER_ID=") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	if lvl := os.Getenv("CHAOS_NODE_LOG_LEVEL"); lvl != "" {
		env = append(env, "KAFKA_LOG4J_ROOT_LOGLEVEL="+lvl)
	}
	return append(env, "GOMAXPROCS=1")
}

// Pids returns the process id of every start of the node, in order.
func (n *Node) Pids() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.pids)
}

// Running reports whether the node's process runs (paused counts).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Pid is the process id, 0 when not running.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// signal sends sig and, for SIGKILL and SIGTERM, waits for the exit (up
// to wait, then SIGKILL).
func (n *Node) signal(sig syscall.Signal, wait time.Duration) {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	if cmd == nil {
		n.mu.Unlock()
		return
	}
	switch sig {
	case syscall.SIGSTOP:
		n.paused = true
	case syscall.SIGCONT:
		n.paused = false
	case syscall.SIGKILL, syscall.SIGTERM:
		n.wanted = false
	}
	n.mu.Unlock()
	_ = cmd.Process.Signal(sig)
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return
	}
	// A paused process must run to act on SIGTERM; SIGKILL works anyway.
	_ = cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-exited:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (n *Node) kill() { n.signal(syscall.SIGKILL, time.Minute) }

// Cluster is the nodes of one run.
type Cluster struct {
	Layout string
	Nodes  []*Node
}

// newCluster lays out the nodes under dir and writes their
// configuration; formatting their storage needs the binary.
func newCluster(layout, dir, bin string) (*Cluster, error) {
	c := &Cluster{Layout: layout}
	switch layout {
	case Combined:
		for id := int32(1); id <= 3; id++ {
			c.Nodes = append(c.Nodes, &Node{ID: id, Broker: true, Controller: true})
		}
	case Isolated:
		for id := int32(1); id <= 6; id++ {
			c.Nodes = append(c.Nodes, &Node{ID: id, Broker: id > 3, Controller: id <= 3})
		}
	default:
		return nil, fmt.Errorf("chaos harness: layout %q: want %s or %s", layout, Combined, Isolated)
	}
	out, err := output(bin, "storage", "random-uuid")
	if err != nil {
		return nil, err
	}
	clusterID := strings.TrimSpace(out)
	var voters []string
	for _, n := range c.Nodes {
		if n.Controller {
			voters = append(voters, fmt.Sprintf("%d@%s:%d", n.ID, NodeIP(n.ID), controllerPort))
		}
	}
	for _, n := range c.Nodes {
		n.bin = bin
		n.Dir = filepath.Join(dir, fmt.Sprintf("node-%d", n.ID))
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(n.confPath(), []byte(n.properties(strings.Join(voters, ","))), 0o644); err != nil {
			return nil, err
		}
		if _, err := output(bin, "storage", "format", "-t", clusterID, "-c", n.confPath()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// properties is the node's server.properties, in Kafka's keys.
func (n *Node) properties(voters string) string {
	var roles, listeners []string
	if n.Broker {
		roles = append(roles, "broker")
		listeners = append(listeners, fmt.Sprintf("PLAINTEXT://%s:%d", NodeIP(n.ID), brokerPort))
	}
	if n.Controller {
		roles = append(roles, "controller")
		listeners = append(listeners, fmt.Sprintf("CONTROLLER://%s:%d", NodeIP(n.ID), controllerPort))
	}
	kv := [][2]string{
		{"node.id", fmt.Sprint(n.ID)},
		{"process.roles", strings.Join(roles, ",")},
		{"listeners", strings.Join(listeners, ",")},
		{"controller.listener.names", "CONTROLLER"},
		{"listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"},
		{"controller.quorum.voters", voters},
		{"log.dirs", n.DataDir()},
		{"num.partitions", "3"},
		{"default.replication.factor", "3"},
		{"min.insync.replicas", "2"},
		{"unclean.leader.election.enable", "false"},
		{"auto.create.topics.enable", "false"},
		{"offsets.topic.replication.factor", "3"},
		{"offsets.topic.num.partitions", "3"},
		{"transaction.state.log.replication.factor", "3"},
		{"group.initial.rebalance.delay.ms", "0"},
		{"broker.session.timeout.ms", fmt.Sprint(brokerSessionTimeout.Milliseconds())},
		{"broker.heartbeat.interval.ms", "500"},
		{"replica.lag.time.max.ms", fmt.Sprint(replicaLagTimeMax.Milliseconds())},
	}
	if n.Broker {
		kv = append(kv,
			[2]string{"advertised.listeners", fmt.Sprintf("PLAINTEXT://%s:%d", NodeIP(n.ID), brokerPort)},
			[2]string{"inter.broker.listener.name", "PLAINTEXT"})
	}
	var b strings.Builder
	b.WriteString("# written by the samsa chaos harness\n")
	for _, p := range kv {
		fmt.Fprintf(&b, "%s=%s\n", p[0], p[1])
	}
	return b.String()
}

// Node returns node id.
func (c *Cluster) Node(id int32) *Node { return c.Nodes[id-1] }

// IDs returns every node id.
func (c *Cluster) IDs() []int32 {
	var ids []int32
	for _, n := range c.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// Bootstrap returns every broker's address.
func (c *Cluster) Bootstrap() []string {
	var out []string
	for _, n := range c.Nodes {
		if n.Broker {
			out = append(out, n.Addr())
		}
	}
	return out
}

func (c *Cluster) brokers() int {
	return len(c.Bootstrap())
}

// startAll launches every node.
func (c *Cluster) startAll() error {
	for _, n := range c.Nodes {
		if err := n.start(); err != nil {
			return fmt.Errorf("node %d: %w", n.ID, err)
		}
	}
	return nil
}

// waitReady waits until every broker's own metadata lists every broker.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, n := range c.Nodes {
		if !n.Broker {
			continue
		}
		if err := c.waitNodeSees(ctx, n, timeout); err != nil {
			return err
		}
	}
	return nil
}

// waitNodeSees waits until node n's Metadata answer lists every broker.
func (c *Cluster) waitNodeSees(ctx context.Context, n *Node, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	var last error
	for {
		select {
		case <-n.exitedChan():
			return fmt.Errorf("node %d exited during start (see %s)", n.ID, n.LogPath())
		default:
		}
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err := cl.SeedBrokers()[0].Request(rctx, kmsg.NewPtrMetadataRequest())
		rcancel()
		if err == nil {
			m := resp.(*kmsg.MetadataResponse)
			if len(m.Brokers) == c.brokers() {
				return nil
			}
			var ids []int32
			for _, b := range m.Brokers {
				ids = append(ids, b.NodeID)
			}
			err = fmt.Errorf("its metadata lists brokers %v of %d", ids, c.brokers())
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready after %v: node %d: %v", timeout, n.ID, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (n *Node) exitedChan() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.exited == nil {
		return nil
	}
	return n.exited
}
