package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// clusterID is the id every node is formatted with (the reference script's).
const clusterID = "4L6g3nShT-eMCtK--X86sw"

// system is one implementation under test: how to format a node's storage
// and the command that runs a node from its server.properties.
type system struct {
	Name    string
	kafka   bool
	samsa   string   // samsa binary
	javaCP  string   // Kafka's classpath
	log4j   string   // Kafka's log4j2-server.properties
	jvmOpts []string // Kafka's JVM options (heap, GC, as kafka-server-start.sh)
}

// format prepares a node's storage, as an operator does once before the
// first start (not timed).
func (s *system) format(props, logDir string) error {
	var cmd *exec.Cmd
	if s.kafka {
		cmd = exec.Command("java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-Dkafka.logs.dir="+logDir, "-Dlog4j2.configurationFile="+s.log4j,
			"-cp", s.javaCP, "kafka.tools.StorageTool", "format", "--ignore-formatted", "-t", clusterID, "-c", props)
	} else {
		cmd = exec.Command(s.samsa, "storage", "format", "--ignore-formatted", "-t", clusterID, "-c", props)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s storage format %s: %v: %s", s.Name, props, err, bytes.TrimSpace(out))
	}
	return nil
}

// command is the node process for props, logging under logDir.
func (s *system) command(props, logDir string) *exec.Cmd {
	if s.kafka {
		args := append([]string{}, s.jvmOpts...)
		args = append(args, "-Dkafka.logs.dir="+logDir, "-Dlog4j2.configurationFile="+s.log4j,
			"-cp", s.javaCP, "kafka.Kafka", props)
		return exec.Command("java", args...)
	}
	return exec.Command(s.samsa, "serve", "-c", props)
}

// nodeConf is one node's place in the cluster.
type nodeConf struct {
	ID             int32
	Port, CtlPort  int
	Dir            string // holds server.properties, data/ and logs/
	Voters         string // controller.quorum.voters
	Nodes, RF, ISR int
	Extra          []string // more key=value lines, appended as given
}

// serverProperties is a combined node's server.properties in Kafka's own
// keys: the same file for Kafka and for samsa (the keys
// scripts/kafka-reference writes for its cluster mode).
func serverProperties(n nodeConf) string {
	var b strings.Builder
	p := func(k string, v any) { fmt.Fprintf(&b, "%s=%v\n", k, v) }
	fmt.Fprintf(&b, "# bench/cluster: KRaft combined node %d of %d\n", n.ID, n.Nodes)
	p("process.roles", "broker,controller")
	p("node.id", n.ID)
	p("controller.quorum.voters", n.Voters)
	p("listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.Port, n.CtlPort))
	p("advertised.listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.Port))
	p("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT")
	p("controller.listener.names", "CONTROLLER")
	p("inter.broker.listener.name", "PLAINTEXT")
	p("log.dirs", filepath.Join(n.Dir, "data"))
	p("num.partitions", 1)
	p("default.replication.factor", n.RF)
	p("offsets.topic.replication.factor", n.RF)
	p("transaction.state.log.replication.factor", n.RF)
	p("transaction.state.log.min.isr", n.ISR)
	p("share.coordinator.state.topic.replication.factor", n.RF)
	p("share.coordinator.state.topic.min.isr", n.ISR)
	p("group.initial.rebalance.delay.ms", 0)
	for _, kv := range n.Extra {
		fmt.Fprintln(&b, kv)
	}
	return b.String()
}

// voterList is controller.quorum.voters for node ids 1..len(ctlPorts).
func voterList(ctlPorts []int) string {
	var vs []string
	for i, p := range ctlPorts {
		vs = append(vs, fmt.Sprintf("%d@127.0.0.1:%d", i+1, p))
	}
	return strings.Join(vs, ",")
}

// node is one running (or killed) node process.
type node struct {
	conf  nodeConf
	props string
	sys   *system

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	killed bool          // by the harness: its death is expected
}

func (n *node) addr() string    { return fmt.Sprintf("127.0.0.1:%d", n.conf.Port) }
func (n *node) logDir() string  { return filepath.Join(n.conf.Dir, "logs") }
func (n *node) logPath() string { return filepath.Join(n.logDir(), "stdout.log") }

var (
	liveMu sync.Mutex
	live   = map[*node]bool{}
)

// start execs the node (appending to its log).
func (n *node) start() error {
	if err := os.MkdirAll(n.logDir(), 0o755); err != nil {
		return err
	}
	lf, err := os.OpenFile(n.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := n.sys.command(n.props, n.logDir())
	cmd.Dir = n.conf.Dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); lf.Close(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done, n.killed = cmd, done, false
	n.mu.Unlock()
	liveMu.Lock()
	live[n] = true
	liveMu.Unlock()
	return nil
}

func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// alive reports whether the process runs.
func (n *node) alive() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (a crash) and waits until the process is gone.
func (n *node) kill() {
	n.signalKill()
	n.wait()
}

// signalKill sends SIGKILL to the node's process group without waiting.
func (n *node) signalKill() {
	n.mu.Lock()
	cmd := n.cmd
	n.killed = true
	n.mu.Unlock()
	if cmd != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

func (n *node) wait() {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done != nil {
		<-done
	}
	liveMu.Lock()
	delete(live, n)
	liveMu.Unlock()
}

// killAll kills every node this program started (on exit or interrupt).
func killAll() {
	liveMu.Lock()
	var ns []*node
	for n := range live {
		ns = append(ns, n)
	}
	liveMu.Unlock()
	for _, n := range ns {
		n.kill()
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// memStatus is VmRSS and VmHWM of a process, in bytes.
type memStatus struct {
	RSS int64 `json:"vm_rss"`
	HWM int64 `json:"vm_hwm"`
}

func readMem(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	return parseStatus(f)
}

// parseStatus reads VmRSS and VmHWM from a /proc/PID/status file (values
// in kB).
func parseStatus(r io.Reader) (memStatus, error) {
	var m memStatus
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return memStatus{}, fmt.Errorf("/proc status: %s: unexpected value %q", key, strings.TrimSpace(val))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return memStatus{}, fmt.Errorf("/proc status: %s: bad size %q", key, f[0])
		}
		if key == "VmRSS" {
			m.RSS, haveRSS = kb*1024, true
		} else {
			m.HWM, haveHWM = kb*1024, true
		}
	}
	if err := sc.Err(); err != nil {
		return memStatus{}, err
	}
	if !haveRSS || !haveHWM {
		return memStatus{}, fmt.Errorf("/proc status: no VmRSS/VmHWM (a kernel thread or a zombie?)")
	}
	return m, nil
}

// tail is the last lines of a log file, for error messages.
func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	ls := strings.Split(string(bytes.TrimSpace(b)), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
