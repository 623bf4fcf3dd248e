package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestKcat drives librdkafka through kcat (Debian's package; scripts/test
// installs it): produce keyed records to an auto-created topic, then
// consume to the end of the partition and exit (-e), which needs the
// broker's answer for a partition with no more data to parse.
func TestKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed (scripts/test installs it with apt-get): ", err)
	}
	p := startSamsa(t, "")
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(kcat, append([]string{"-b", p.addr()}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		done := make(chan struct{})
		var out []byte
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("kcat %v hung: %s", args, out)
		}
		if err != nil {
			t.Fatalf("kcat %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	run("k1:hello\nk2:world\nk3:!\n", "-P", "-t", "kcat-topic", "-K:", "-z", "snappy")
	out := run("", "-C", "-t", "kcat-topic", "-e", "-q", "-f", "%k=%s@%o\n")
	if out != "k1=hello@0\nk2=world@1\nk3=!@2\n" {
		t.Fatalf("kcat read back %q", out)
	}
	if strings.Contains(out, "PROTOERR") {
		t.Fatalf("protocol error: %s", out)
	}
	meta := run("", "-L", "-t", "kcat-topic")
	if !strings.Contains(meta, "topic \"kcat-topic\" with 1 partitions") || !strings.Contains(meta, p.addr()) {
		t.Fatalf("metadata: %s", meta)
	}
}
