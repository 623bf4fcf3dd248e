package killcycle

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/samsa-io/samsa/samsatest"
)

// target is the node a run kills: samsa's (node) or Apache Kafka's.
type target interface {
	start(timeout time.Duration) error
	kill()
	stop(timeout time.Duration) error
	trouble() string
	address() string
}

func (n *node) address() string { return n.addr }

// kafkaNode is a single Apache Kafka node run by scripts/kafka-reference
// (its default configuration: no fsync on the produce path) in dir.
type kafkaNode struct {
	script, dir string
	port        int
	started     bool
}

func newKafkaNode(script, dir string) (*kafkaNode, error) {
	port, err := samsatest.FreePort()
	if err != nil {
		return nil, err
	}
	return &kafkaNode{script: script, dir: dir, port: port}, nil
}

func (k *kafkaNode) address() string { return fmt.Sprintf("127.0.0.1:%d", k.port) }

func (k *kafkaNode) run(timeout time.Duration, args ...string) error {
	cmd := exec.Command(k.script, args...)
	cmd.Env = cleanEnv()
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		err = errors.New("timed out")
	}
	if err != nil {
		return fmt.Errorf("kafka-reference %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (k *kafkaNode) start(timeout time.Duration) error {
	if !k.started {
		ctl, err := samsatest.FreePort()
		if err != nil {
			return err
		}
		k.started = true
		return k.run(timeout, "start", "--dir", k.dir, "--port", strconv.Itoa(k.port), "--controller-port", strconv.Itoa(ctl))
	}
	return k.run(timeout, "start-node", "--dir", k.dir, "1")
}

// kill sends SIGKILL to the node's JVM itself (not through the script, so
// that it lands at the moment the cycle chose) and waits until it is gone.
func (k *kafkaNode) kill() {
	pidf := filepath.Join(k.dir, "node-1", "kafka.pid")
	b, err := os.ReadFile(pidf)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(5 * time.Millisecond)
	}
	os.Remove(pidf)
}

func (k *kafkaNode) stop(timeout time.Duration) error {
	return k.run(timeout, "stop", "--dir", k.dir)
}

func (k *kafkaNode) trouble() string { return "" }
