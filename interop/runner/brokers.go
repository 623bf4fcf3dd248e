package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// broker is one running column.
type broker struct {
	name      string
	bootstrap string
	err       string // why it did not start; "" when it runs
	stop      func()
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
	b := &broker{name: name, stop: func() {
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
	return b
}

// startSamsa runs `samsa serve` with the same server.properties the
// reference broker gets (Kafka's key names), plus the essentials again as
// --override flags.
func startSamsa(e *env, bin, buildErr string) *broker {
	b := &broker{name: "samsa", stop: func() {}}
	stopOnSignal(b)
	if buildErr != "" {
		b.err = buildErr
		return b
	}
	ports := freePorts(2)
	dir := filepath.Join(e.tmp, "samsa")
	o := e.run(time.Minute, "", "scripts/kafka-reference", "config", "--dir", dir,
		"--port", strconv.Itoa(ports[0]), "--controller-port", strconv.Itoa(ports[1]))
	if o.err != nil {
		b.err = "writing server.properties: " + o.why()
		return b
	}
	listeners := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[0], ports[1])
	args := []string{"serve", "-c", filepath.Join(dir, "server.properties"),
		"--override", "log.dirs=" + filepath.Join(dir, "data"),
		"--override", "listeners=" + listeners,
		"--override", fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", ports[0]),
		"--override", fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", ports[1]),
	}
	logPath := filepath.Join(dir, "samsa.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.err = err.Error()
		return b
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CLUSTER_ID=4L6g3nShT-eMCtK--X86sw")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		b.err = err.Error()
		return b
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	b.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, err := metadataBrokers(addr); err == nil && n >= 1 {
			b.bootstrap = addr
			return b
		}
		select {
		case err := <-exited:
			exited <- err
			b.err = fmt.Sprintf("samsa serve exited (%v): %s", err, tail(logPath))
			return b
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.stop()
			b.err = "no Metadata answer within 30s: " + tail(logPath)
			return b
		}
	}
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
