// Package samsatest starts a real samsa node inside a Go test: the same
// broker `samsa serve` runs, on an ephemeral loopback port, with its data
// in t.TempDir(), in milliseconds, stopped by t.Cleanup. Point any Kafka
// client at Node.Addr().
//
//	n := samsatest.Start(t)
//	cl, _ := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
//
// Options take Kafka's own config keys (samsatest.Config("num.partitions",
// "3")), so a test configures the node the way an operator would.
package samsatest

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/server"
)

// Option configures a test node.
type Option func(*settings)

type settings struct {
	overrides map[string]string
	dir       string
	advHost   string
	port      int
	logger    *slog.Logger
}

// Config sets a Kafka config key (for example "auto.create.topics.enable").
func Config(key, value string) Option {
	return func(s *settings) { s.overrides[key] = value }
}

// Dir keeps the node's data in dir instead of a fresh temporary directory
// (restart tests reuse a directory).
func Dir(dir string) Option { return func(s *settings) { s.dir = dir } }

// AdvertisedHost makes the node advertise host instead of 127.0.0.1, for
// tests of clients that must resolve the name some other way (a tunnel).
func AdvertisedHost(host string) Option { return func(s *settings) { s.advHost = host } }

// Port binds the client listener to a fixed port (0 = ephemeral).
func Port(port int) Option { return func(s *settings) { s.port = port } }

// Logger sets the node's logger (default: discarded unless SAMSATEST_LOG is set).
func Logger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// Node is a running samsa node.
type Node struct {
	b    *broker.Broker
	set  settings
	addr string
}

// Start starts a node for t and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Node {
	t.Helper()
	s := settings{overrides: map[string]string{}}
	for _, o := range opts {
		o(&s)
	}
	if s.dir == "" {
		s.dir = t.TempDir()
	}
	n, err := start(s)
	if err != nil {
		t.Fatalf("samsatest: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// New starts a node outside a test (benchmarks, examples). dir must exist
// or be creatable; the caller closes the node.
func New(dir string, opts ...Option) (*Node, error) {
	s := settings{overrides: map[string]string{}, dir: dir}
	for _, o := range opts {
		o(&s)
	}
	return start(s)
}

func start(s settings) (*Node, error) {
	if s.logger == nil {
		var w io.Writer = io.Discard
		if os.Getenv("SAMSATEST_LOG") != "" {
			w = os.Stderr
		}
		s.logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// Bind the client port first so the advertised listener names it.
	port := s.port
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	s.port = port
	cfg, err := s.config()
	if err != nil {
		return nil, err
	}
	b, err := server.Start(cfg, server.Options{Logger: s.logger})
	if err != nil {
		return nil, err
	}
	select {
	case <-b.Ready():
	case <-b.Failed():
		b.Close()
		return nil, b.Err()
	case <-time.After(30 * time.Second):
		b.Close()
		return nil, fmt.Errorf("samsatest: node not ready (registered and unfenced) after 30s")
	}
	return &Node{b: b, set: s, addr: b.Addrs()["PLAINTEXT"]}, nil
}

func (s settings) config() (*config.Config, error) {
	adv := s.advHost
	if adv == "" {
		adv = "127.0.0.1"
	}
	kv := map[string]string{
		"process.roles":                            "broker,controller",
		"node.id":                                  "1",
		"listeners":                                fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:0", s.port),
		"advertised.listeners":                     fmt.Sprintf("PLAINTEXT://%s:%d", adv, s.port),
		"controller.listener.names":                "CONTROLLER",
		"controller.quorum.voters":                 "1@127.0.0.1:9093",
		"log.dirs":                                 s.dir,
		"offsets.topic.replication.factor":         "1",
		"transaction.state.log.replication.factor": "1",
		"transaction.state.log.min.isr":            "1",
		"group.initial.rebalance.delay.ms":         "0",
	}
	for k, v := range s.overrides {
		kv[k] = v
	}
	var ov []string
	for k, v := range kv {
		ov = append(ov, k+"="+v)
	}
	cfg, _, err := config.Load(config.LoadOptions{Overrides: ov})
	return cfg, err
}

// Addr is the host:port of the node's PLAINTEXT listener.
func (n *Node) Addr() string { return n.addr }

// Port is the PLAINTEXT listener's port.
func (n *Node) Port() int { return n.set.port }

// Dir is the node's log directory.
func (n *Node) Dir() string { return n.set.dir }

// Broker returns the running broker (for tests that look inside).
func (n *Node) Broker() *broker.Broker { return n.b }

// Close stops the node cleanly (idempotent).
func (n *Node) Close() error {
	if n.b == nil {
		return nil
	}
	err := n.b.Close()
	n.b = nil
	return err
}

// Restart stops the node and starts it again on the same port and data,
// as an operator's restart would.
func (n *Node) Restart() error {
	if err := n.Close(); err != nil {
		return err
	}
	nn, err := start(n.set)
	if err != nil {
		return err
	}
	*n = *nn
	return nil
}
