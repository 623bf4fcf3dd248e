package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	crashfsOnce sync.Once
	crashfsBin  string
	crashfsErr  error
)

// crashfsSamsa builds, once, samsa with -tags crashfs: its data goes
// through vfs.CrashDisk, so kill -9 loses every write not yet fsynced.
func crashfsSamsa(t *testing.T) string {
	t.Helper()
	crashfsOnce.Do(func() {
		crashfsBin = filepath.Join(filepath.Dir(samsaBin), "samsa-crashfs")
		args := []string{"build", "-tags", "crashfs", "-o", crashfsBin, "../cmd/samsa"}
		if os.Getenv("E2E_NORACE") == "" {
			args = append(args[:1], append([]string{"-race"}, args[1:]...)...)
		}
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			crashfsErr = fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, out)
		}
	})
	if crashfsErr != nil {
		t.Fatal(crashfsErr)
	}
	return crashfsBin
}

// TestCrashFSKillLosesOnlyUnsynced runs samsa built with -tags crashfs,
// produces with acks=all to a topic with the default flush policy (fsync
// before the ack) and to one that never flushes, kills the process with
// SIGKILL and restarts it: every record of the first topic is there, and
// the second lost what it had not synced, as after a power cut (a plain
// build keeps it all in the page cache).
func TestCrashFSKillLosesOnlyUnsynced(t *testing.T) {
	const n = 300
	dir := t.TempDir()
	p := startSamsaBin(t, crashfsSamsa(t), dir)
	if !strings.Contains(p.log.String(), "crash filesystem in use") {
		t.Fatalf("no crash filesystem line in the log:\n%s", p.log.String())
	}
	ctx := ctxT(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, p.addr()))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "durable"); err != nil {
		t.Fatal(err)
	}
	lax := "1000000000"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"flush.messages": &lax}, "lax"); err != nil {
		t.Fatal(err)
	}
	pr := newClient(t, p.addr(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < n; i += 30 {
		var recs []*kgo.Record
		for j := i; j < i+30; j++ {
			v := []byte(fmt.Sprint(j))
			recs = append(recs, &kgo.Record{Topic: "durable", Value: v}, &kgo.Record{Topic: "lax", Value: v})
		}
		if err := pr.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, "durable", "lax")
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range []string{"durable", "lax"} {
		if o, _ := ends.Lookup(tp, 0); o.Offset != n {
			t.Fatalf("%s ends at %d before the kill, want %d", tp, o.Offset, n)
		}
	}
	// On disk, the never-synced segment is still as it was created.
	seg := filepath.Join(dir, "data", "lax-0", "00000000000000000000.log")
	if st, err := os.Stat(seg); err != nil || st.Size() != 0 {
		t.Fatalf("the unsynced segment on disk: %v %v, want it empty", st, err)
	}
	adm.Close()
	pr.Close()
	p.kill9()
	p.restart()

	ctx = ctxT(t, 60*time.Second)
	adm = kadm.NewClient(newClient(t, p.addr()))
	ends, err = adm.ListEndOffsets(ctx, "durable", "lax")
	if err != nil {
		t.Fatal(err)
	}
	durEnd, _ := ends.Lookup("durable", 0)
	laxEnd, _ := ends.Lookup("lax", 0)
	if durEnd.Err != nil || durEnd.Offset != n {
		t.Fatalf("durable ends at %d (%v) after the kill, want %d", durEnd.Offset, durEnd.Err, n)
	}
	if laxEnd.Err != nil || laxEnd.Offset >= n {
		t.Fatalf("lax ends at %d (%v) after the kill: the unsynced records survived", laxEnd.Offset, laxEnd.Err)
	}
	c := newClient(t, p.addr(), kgo.ConsumeTopics("durable"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < n {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records after the restart", len(got), n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if v != fmt.Sprint(i) {
			t.Fatalf("durable record %d is %q after the restart", i, v)
		}
	}
	// The lax log goes on at its recovered end.
	pr = newClient(t, p.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res := pr.ProduceSync(ctx, &kgo.Record{Topic: "lax", Value: []byte("after")})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	if off := res[0].Record.Offset; off != laxEnd.Offset {
		t.Fatalf("first lax offset after the restart: %d, want %d", off, laxEnd.Offset)
	}
	t.Logf("after kill -9: durable kept %d of %d acknowledged records, lax (never fsynced) kept %d", durEnd.Offset, n, laxEnd.Offset)
}
