package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// broker is one running column.
type broker struct {
	name      string
	bootstrap string
	// controllers are the addresses of the CONTROLLER listeners
	// (kafka-metadata-quorum --bootstrap-controller).
	controllers string
	nodes       int    // how many brokers the column runs
	err         string // why it did not start; "" when it runs
	stop        func()
}

// freePorts returns n ports that were free a moment ago. Never a fixed port:
// a developer may have a broker on 9092.
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

// startKafka starts one Apache Kafka node of the given version with
// scripts/kafka-reference.
func startKafka(e *env, version string) *broker {
	ports := freePorts(2)
	name := "kafka-" + version
	dir := filepath.Join(e.tmp, name)
	b := &broker{name: name, nodes: 1, stop: func() {
		e.run(time.Minute, "", "scripts/kafka-reference", "--version", version, "stop", "--dir", dir)
	}}
	stopOnSignal(b)
	o := e.run(3*time.Minute, "", "scripts/kafka-reference", "--version", version, "start", "--dir", dir,
		"--port", strconv.Itoa(ports[0]), "--controller-port", strconv.Itoa(ports[1]))
	if o.err != nil {
		b.err = o.why()
		return b
	}
	b.bootstrap = strings.TrimSpace(o.stdout)
	b.controllers = fmt.Sprintf("127.0.0.1:%d", ports[1])
	return b
}

// startSamsa runs n combined nodes of `samsa serve`, each with the
// server.properties the reference would get (Kafka's key names; for n > 1
// node i of scripts/kafka-reference's --cluster n), plus the essentials
// again as --override flags. It returns once every node answers Metadata
// listing all n brokers.
func startSamsa(e *env, name string, n int, bin, buildErr string) *broker {
	b := &broker{name: name, nodes: n, stop: func() {}}
	stopOnSignal(b)
	if buildErr != "" {
		b.err = buildErr
		return b
	}
	var ports, ctlPorts []int
	if n == 1 {
		p := freePorts(2)
		ports, ctlPorts = p[:1], p[1:]
	} else {
		ports = freeRun(n, nil)
		ctlPorts = freeRun(n, ports)
	}
	var voters, addrs, ctls []string
	for i := range n {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ctlPorts[i]))
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", ports[i]))
		ctls = append(ctls, fmt.Sprintf("127.0.0.1:%d", ctlPorts[i]))
	}
	type proc struct {
		cmd     *exec.Cmd
		exited  chan error
		logPath string
	}
	var procs []*proc
	stopAll := func() {
		// All at once: a node's controlled shutdown needs the quorum the
		// others form, so none waits for another's exit.
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			select {
			case err := <-p.exited:
				p.exited <- err
			case <-time.After(15 * time.Second):
				_ = p.cmd.Process.Kill()
				p.exited <- <-p.exited
			}
		}
	}
	// Set before the first node starts: an interrupted start-up stops the
	// nodes started so far (stopAll sees procs as it grows).
	b.stop = stopAll
	for i := range n {
		dir := filepath.Join(e.tmp, name)
		if n > 1 {
			dir = filepath.Join(dir, fmt.Sprintf("node-%d", i+1))
		}
		cfg := []string{"config", "--dir", dir, "--port", strconv.Itoa(ports[0]), "--controller-port", strconv.Itoa(ctlPorts[0])}
		if n > 1 {
			cfg = append(cfg, "--cluster", strconv.Itoa(n), "--node", strconv.Itoa(i+1))
		}
		if o := e.run(time.Minute, "", "scripts/kafka-reference", cfg...); o.err != nil {
			stopAll()
			b.err = "writing server.properties: " + o.why()
			return b
		}
		args := []string{"serve", "-c", filepath.Join(dir, "server.properties"),
			"--override", "node.id=" + strconv.Itoa(i+1),
			"--override", "log.dirs=" + filepath.Join(dir, "data"),
			"--override", fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", addrs[i], ctls[i]),
			"--override", "advertised.listeners=PLAINTEXT://" + addrs[i],
			"--override", "controller.quorum.voters=" + strings.Join(voters, ","),
		}
		p := &proc{logPath: filepath.Join(dir, "samsa.log"), exited: make(chan error, 1)}
		logFile, err := os.Create(p.logPath)
		if err != nil {
			stopAll()
			b.err = err.Error()
			return b
		}
		p.cmd = exec.Command(bin, args...)
		p.cmd.Dir = dir
		p.cmd.Env = append(os.Environ(), "CLUSTER_ID=4L6g3nShT-eMCtK--X86sw")
		p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
		if err := p.cmd.Start(); err != nil {
			logFile.Close()
			stopAll()
			b.err = err.Error()
			return b
		}
		go func() { p.exited <- p.cmd.Wait(); logFile.Close() }()
		procs = append(procs, p)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ready := 0; ready < n; {
		if got, err := metadataBrokers(addrs[ready]); err == nil && got >= n {
			ready++
			continue
		}
		for i, p := range procs {
			select {
			case err := <-p.exited:
				p.exited <- err
				stopAll()
				b.err = fmt.Sprintf("samsa serve (node %d) exited (%v): %s", i+1, err, tail(p.logPath))
				return b
			default:
			}
		}
		if time.Now().After(deadline) {
			stopAll()
			b.err = fmt.Sprintf("node %d: no Metadata answer listing %d brokers within 30s: %s", ready+1, n, tail(procs[ready].logPath))
			return b
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.bootstrap, b.controllers = strings.Join(addrs, ","), strings.Join(ctls, ",")
	return b
}

// freeRun returns n consecutive ports that were free a moment ago, below
// the ephemeral range (the reference's --cluster numbering: node i on
// base+i-1), none of them in taken.
func freeRun(n int, taken []int) []int {
	for try := 0; try < 100; try++ {
		base := 20000 + rand.IntN(10000)
		if slices.ContainsFunc(taken, func(p int) bool { return p >= base && p < base+n }) {
			continue
		}
		var ls []net.Listener
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == n {
			ports := make([]int, n)
			for i := range ports {
				ports[i] = base + i
			}
			return ports
		}
	}
	fatalf("no run of %d free ports", n)
	return nil
}

// metadataBrokers sends a Metadata v1 request for all topics and returns the
// number of brokers in the answer: the same readiness test kafka-reference
// uses.
func metadataBrokers(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	req := []byte{0, 0, 0, 19, 0, 3, 0, 1, 0, 0, 0, 1, 0, 5, 'p', 'r', 'o', 'b', 'e', 0xff, 0xff, 0xff, 0xff}
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	var resp [12]byte
	if _, err := io.ReadFull(c, resp[:]); err != nil {
		return 0, err
	}
	if binary.BigEndian.Uint32(resp[4:]) != 1 {
		return 0, fmt.Errorf("wrong correlation id")
	}
	return int(int32(binary.BigEndian.Uint32(resp[8:]))), nil
}

// tail returns the last lines of a log file, on one line.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return clip(strings.Join(lines, " / "))
}
