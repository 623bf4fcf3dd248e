package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecondProcessOnSameDirsFails: a second `samsa serve` on a running
// node's log dirs refuses to start, naming the locked directory, instead of
// writing over the first one's logs; once the first is killed (kill -9
// releases its lock) the directory can be served again.
func TestSecondProcessOnSameDirsFails(t *testing.T) {
	dir := t.TempDir()
	p := startSamsa(t, dir)
	port, ctl := freePort(t), freePort(t)
	out, err := runSamsa(t, nil, "serve",
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", port, ctl),
		"--override", fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", port),
		"--override", fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", ctl),
		"--override", "process.roles=broker,controller",
		"--override", "node.id=1",
		"--override", "controller.listener.names=CONTROLLER",
		"--override", "log.dirs="+filepath.Join(dir, "data"))
	if err == nil || !strings.Contains(out, "lock") || !strings.Contains(out, filepath.Join(dir, "data")) {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	if !p.alive() {
		t.Fatal("the first process died")
	}
	p.kill9()
	p.restart()
	adm := kadm.NewClient(newClient(t, p.addr()))
	if _, err := adm.CreateTopic(ctxT(t, 10*time.Second), 1, 1, nil, "after-lock"); err != nil {
		t.Fatal(err)
	}
	produceConsume(t, p.addr(), "after-lock", 10, kgo.DefaultProduceTopic("after-lock"))
}
