// Package e2e runs real Kafka clients against a real `samsa serve`
// process over TCP: the binary is built once, each test starts its own
// process with its own ports and data directory, and crash tests kill it
// with SIGKILL.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

var samsaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "samsa-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	samsaBin = filepath.Join(dir, "samsa")
	build := exec.Command("go", "build", "-race", "-o", samsaBin, "../cmd/samsa")
	if os.Getenv("E2E_NORACE") != "" {
		build = exec.Command("go", "build", "-o", samsaBin, "../cmd/samsa")
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building samsa:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one `samsa serve` process.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	dir    string
	port   int
	args   []string
	env    []string // extra environment (KAFKA_*, CLUSTER_ID)
	bin    string   // the binary ("" = samsaBin)
	log    *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort: a port no other listener of this test binary got, below the
// kernel's ephemeral range (samsatest.FreePort).
func freePort(t testing.TB) int {
	port, err := samsatest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startSamsa starts `samsa serve` with its data in dir (a new temp dir if
// ""), extra --override key=value pairs, and waits until it answers.
func startSamsa(t testing.TB, dir string, overrides ...string) *proc {
	t.Helper()
	return startSamsaBin(t, "", dir, overrides...)
}

// startSamsaBin is startSamsa of the binary bin ("" = samsaBin).
func startSamsaBin(t testing.TB, bin, dir string, overrides ...string) *proc {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	p := &proc{t: t, dir: dir, port: freePort(t), bin: bin}
	ctlPort := freePort(t)
	p.args = []string{"serve",
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", p.port, ctlPort),
		"--override", fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", p.port),
		"--override", fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", ctlPort),
		"--override", "process.roles=broker,controller",
		"--override", "node.id=1",
		"--override", "controller.listener.names=CONTROLLER",
		"--override", "log.dirs=" + filepath.Join(dir, "data"),
	}
	for _, o := range overrides {
		p.args = append(p.args, "--override", o)
	}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func (p *proc) start() { p.t.Helper(); p.startIn("") }

// startIn starts the process in working directory dir ("" = the test's).
func (p *proc) startIn(dir string) {
	p.t.Helper()
	p.log = &syncBuffer{}
	bin := p.bin
	if bin == "" {
		bin = samsaBin
	}
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.Env = append(cleanEnv(), p.env...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			p.t.Fatalf("samsa exited at start: %s", p.log.String())
		default:
		}
		if apiVersionsOK(p.addr()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("samsa did not start in time: %s", p.log.String())
}

// cleanEnv drops KAFKA_* variables of the developer's shell so a test's
// configuration is exactly its overrides.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAFKA_") && !strings.HasPrefix(kv, "CLUSTER_ID=") {
			out = append(out, kv)
		}
	}
	return out
}

// stop ends the process with SIGTERM (a clean shutdown) if it still runs.
func (p *proc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("samsa did not stop on SIGTERM: %s", p.log.String())
	}
	if strings.Contains(p.log.String(), "DATA RACE") || strings.Contains(p.log.String(), "panic:") {
		p.t.Errorf("samsa log shows a race or panic:\n%s", p.log.String())
	}
}

// kill9 kills the process without warning.
func (p *proc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	if strings.Contains(p.log.String(), "DATA RACE") || strings.Contains(p.log.String(), "panic:") {
		p.t.Errorf("samsa log shows a race or panic:\n%s", p.log.String())
	}
}

// restart starts the process again with the same arguments and data.
func (p *proc) restart() { p.start() }

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// apiVersionsOK sends an ApiVersions v0 request over a raw socket.
func apiVersionsOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
	if _, err := c.Write(frame); err != nil {
		return false
	}
	br := bufio.NewReader(c)
	var sz [4]byte
	if _, err := io.ReadFull(br, sz[:]); err != nil {
		return false
	}
	return true
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
