package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clusterID is the id both brokers are formatted with (the reference
// script's default).
const clusterID = "4L6g3nShT-eMCtK--X86sw"

// flavor is one broker configuration compared in the matrix.
type flavor struct {
	name  string // column name in the report
	kafka bool
	fsync bool // samsa's fsync-on-ack default (log.flush.interval.messages=1)
	note  string
}

var (
	kafkaFlavor   = flavor{name: "kafka", kafka: true} // note: set from scripts/kafka-reference version
	samsaFlavor   = flavor{name: "samsa", note: "samsa with log.flush.interval.messages=9223372036854775807 (Kafka's durability)"}
	samsaFsFlavor = flavor{name: "samsa-fsync", fsync: true, note: "samsa's default: acks=all acknowledged after fdatasync"}
)

// node is a running broker process.
type node struct {
	fl        flavor
	dir       string
	bootstrap string
	pid       int
	cmd       *exec.Cmd
	exited    chan error
	startup   time.Duration // exec → first successful acks=1 produce
	idleRSS   int64         // bytes, after the idle wait
	idleCPU   float64       // CPU-seconds per wall second during the idle wait
	logPath   string
}

// env is what every broker start needs.
type env struct {
	root       string // repo root
	samsaBin   string
	kafkaRef   string // scripts/kafka-reference
	kafkaCP    string // classpath
	kafkaCache string // dir holding log4j2-server.properties
	kafkaJVM   []string
	clkTck     float64
	idleWait   time.Duration
	extraProps []string // appended to every server.properties (both brokers)
}

var (
	runningMu sync.Mutex
	running   = map[*node]bool{}
)

func freePorts(n int) []int {
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fatalf("no free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startNode writes Kafka's own server.properties (from kafka-reference
// config) into dir, formats the storage (not timed: an operator formats
// once), then execs the broker and times it to its first successful
// acks=1 produce.
func (e *env) startNode(fl flavor, dir string) (*node, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ports := freePorts(2)
	out, err := exec.Command(e.kafkaRef, "config", "--dir", dir,
		"--port", strconv.Itoa(ports[0]), "--controller-port", strconv.Itoa(ports[1])).Output()
	if err != nil {
		return nil, fmt.Errorf("kafka-reference config: %v", err)
	}
	props := string(out) + strings.Join(e.extraProps, "\n") + "\n"
	propsPath := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsPath, []byte(props), 0o644); err != nil {
		return nil, err
	}
	n := &node{fl: fl, dir: dir, bootstrap: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		logPath: filepath.Join(dir, "broker.log"), exited: make(chan error, 1)}
	var cmd *exec.Cmd
	if fl.kafka {
		if o, err := exec.Command(e.kafkaRef, "tool", "kafka.tools.StorageTool", "format",
			"--ignore-formatted", "-t", clusterID, "-c", propsPath).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("kafka storage format: %v: %s", err, o)
		}
		logs := filepath.Join(dir, "logs")
		os.MkdirAll(logs, 0o755)
		args := append([]string{}, e.kafkaJVM...)
		args = append(args, "-Dkafka.logs.dir="+logs,
			"-Dlog4j2.configurationFile="+filepath.Join(e.kafkaCache, "log4j2-server.properties"),
			"-cp", e.kafkaCP, "kafka.Kafka", propsPath)
		cmd = exec.Command("java", args...)
	} else {
		if o, err := exec.Command(e.samsaBin, "storage", "format", "--ignore-formatted",
			"-t", clusterID, "-c", propsPath).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("samsa storage format: %v: %s", err, o)
		}
		args := []string{"serve", "-c", propsPath}
		if !fl.fsync {
			args = append(args, "--override", "log.flush.interval.messages=9223372036854775807")
		}
		cmd = exec.Command(e.samsaBin, args...)
		cmd.Env = append(os.Environ(), "CLUSTER_ID="+clusterID)
	}
	logFile, err := os.Create(n.logPath)
	if err != nil {
		return nil, err
	}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	n.cmd, n.pid = cmd, cmd.Process.Pid
	go func() { n.exited <- cmd.Wait(); logFile.Close() }()
	runningMu.Lock()
	running[n] = true
	runningMu.Unlock()
	if err := firstProduce(n, 3*time.Minute); err != nil {
		n.stop()
		return nil, fmt.Errorf("%s: no successful produce: %v (log %s: %s)", fl.name, err, n.logPath, tailFile(n.logPath))
	}
	n.startup = time.Since(t0)
	// Idle: connections closed, nothing to do. RSS and CPU after a quiet spell.
	c0 := e.cpuSeconds(n.pid)
	time.Sleep(e.idleWait)
	c1 := e.cpuSeconds(n.pid)
	n.idleCPU = (c1 - c0) / e.idleWait.Seconds()
	n.idleRSS, _ = procMem(n.pid)
	return n, nil
}

// stop sends SIGTERM and waits (SIGKILL after 30 s).
func (n *node) stop() {
	runningMu.Lock()
	delete(running, n)
	runningMu.Unlock()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		n.exited <- err
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		err := <-n.exited
		n.exited <- err
	}
}

func stopAll() {
	runningMu.Lock()
	var ns []*node
	for n := range running {
		ns = append(ns, n)
	}
	runningMu.Unlock()
	for _, n := range ns {
		n.stop()
	}
}

// alive reports whether the broker process is still running.
func (n *node) alive() bool {
	select {
	case err := <-n.exited:
		n.exited <- err
		return false
	default:
		return true
	}
}

// cpuSeconds is utime+stime of pid (every thread) from /proc/pid/stat.
func (e *env) cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields restart after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / e.clkTck
}

// procMem returns VmRSS and VmHWM (peak RSS) in bytes.
func procMem(pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &rss
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &hwm
		default:
			continue
		}
		fs := strings.Fields(line)
		if len(fs) >= 2 {
			v, _ := strconv.ParseInt(fs[1], 10, 64)
			*dst = v * 1024
		}
	}
	return rss, hwm
}

func clkTck() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}

func tailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(string(bytes.TrimSpace(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " / ")
}
