package killcycle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

// Build compiles `samsa` from the module this package belongs to (the
// working directory must be inside it) into dir and returns the binary's
// path. race adds the race detector.
func Build(dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "samsa")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/samsa-io/samsa/cmd/samsa")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build samsa: %v\n%s", err, out)
	}
	return bin, nil
}

// node is one `samsa serve` process on a fixed data dir and fixed ports,
// started again after each kill: the embedded default configuration, but
// for the listeners and log.dirs.
type node struct {
	bin  string
	args []string
	addr string
	log  io.Writer // every run's output, appended

	cmd    *exec.Cmd
	out    *tailBuffer
	exited chan struct{}
}

func newNode(bin, dataDir string, log io.Writer) (*node, error) {
	port, err := samsatest.FreePort()
	if err != nil {
		return nil, err
	}
	ctl, err := samsatest.FreePort()
	if err != nil {
		return nil, err
	}
	return &node{
		bin:  bin,
		addr: fmt.Sprintf("127.0.0.1:%d", port),
		log:  log,
		args: []string{"serve",
			"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", port, ctl),
			"--override", "log.dirs=" + dataDir,
		},
	}, nil
}

// start runs the process and waits until its broker listener answers
// ApiVersions (it does only once the broker is unfenced), or timeout.
func (n *node) start(timeout time.Duration) error {
	n.out = &tailBuffer{}
	n.cmd = exec.Command(n.bin, n.args...)
	w := io.MultiWriter(n.out, n.log)
	n.cmd.Stdout, n.cmd.Stderr = w, w
	n.cmd.Env = cleanEnv()
	if err := n.cmd.Start(); err != nil {
		return err
	}
	n.exited = make(chan struct{})
	cmd, exited := n.cmd, n.exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-n.exited:
			return fmt.Errorf("samsa exited at start: %v\n%s", n.cmd.ProcessState, n.out.String())
		default:
		}
		if apiVersionsOK(n.addr) {
			return nil
		}
		if time.Now().After(deadline) {
			n.kill()
			return fmt.Errorf("samsa did not serve within %v\n%s", timeout, n.out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// stop ends the process with SIGTERM (a clean shutdown), SIGKILL after
// timeout.
func (n *node) stop(timeout time.Duration) error {
	if n.cmd == nil || n.cmd.Process == nil {
		return nil
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		return nil
	case <-time.After(timeout):
		n.kill()
		return errors.New("samsa did not stop on SIGTERM")
	}
}

// trouble returns a line of the last run's output that shows a crash of
// the process itself (a panic, a data race), or "".
func (n *node) trouble() string {
	if n.out == nil {
		return ""
	}
	s := n.out.String()
	for _, marker := range []string{"panic:", "DATA RACE", "fatal error:"} {
		if i := strings.Index(s, marker); i >= 0 {
			line, _, _ := strings.Cut(s[i:], "\n")
			return line
		}
	}
	return ""
}

// cleanEnv drops the KAFKA_* variables of the caller's environment so that
// the node's configuration is exactly the embedded default and the
// overrides.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAFKA_") && !strings.HasPrefix(kv, "CLUSTER_ID=") {
			out = append(out, kv)
		}
	}
	return out
}

func apiVersionsOK(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		return false
	}
	var sz [4]byte
	_, err = io.ReadFull(bufio.NewReader(c), sz[:])
	return err == nil
}

// tailBuffer keeps the last 64 KiB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailMax = 64 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*tailMax {
		t.b = append([]byte(nil), t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) > tailMax {
		return string(t.b[len(t.b)-tailMax:])
	}
	return string(t.b)
}
