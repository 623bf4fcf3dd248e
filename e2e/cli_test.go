package e2e

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsumeGroupLeavesOnSIGTERM: `samsa consume -group` stopped with
// SIGTERM (kill, a container stop) commits and leaves its group as on
// Ctrl-C, so the group can be reset right away.
func TestConsumeGroupLeavesOnSIGTERM(t *testing.T) {
	p := startSamsa(t, "", "num.partitions=2", "offsets.topic.replication.factor=1", "group.initial.rebalance.delay.ms=0")
	cl := newClient(t, p.addr(), kgo.DefaultProduceTopic("term"), kgo.AllowAutoTopicCreation())
	ctx := ctxT(t, 60*time.Second)
	for _, v := range []string{"a", "b", "c"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, protocol := range []string{"classic", "consumer"} {
		group := "term-" + protocol
		var out, errb syncBuffer
		cmd := exec.Command(samsaBin, "consume", "-brokers", p.addr(), "-topic", "term", "-group", group, "-group-protocol", protocol)
		cmd.Stdout, cmd.Stderr, cmd.Env = &out, &errb, cleanEnv()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		for strings.Count(out.String(), "\n") < 3 {
			select {
			case err := <-exited:
				t.Fatalf("%s: consume exited: %v\n%s", protocol, err, errb.String())
			case <-time.After(50 * time.Millisecond):
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: consumed %q\n%s", protocol, out.String(), errb.String())
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil || !strings.Contains(errb.String(), "3 records consumed") {
				t.Fatalf("%s: consume after SIGTERM: %v\n%s", protocol, err, errb.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%s: consume did not stop on SIGTERM", protocol)
		}
		res, err := runSamsa(t, nil, "group", "reset-offsets", "-brokers", p.addr(), "-group", group, "-topic", "term", "-to", "earliest", "-execute")
		if err != nil || !strings.Contains(res, "committed") {
			t.Fatalf("%s: reset after SIGTERM: %v\n%s", protocol, err, res)
		}
	}
}
