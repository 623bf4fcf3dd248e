package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/vfs"
)

func testConfig(t testing.TB, dir string) *config.Config {
	t.Helper()
	kv := []string{
		"process.roles=broker,controller", "node.id=1",
		"listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
		"advertised.listeners=PLAINTEXT://127.0.0.1:0",
		"controller.listener.names=CONTROLLER", "controller.quorum.voters=1@127.0.0.1:9093",
		"log.dirs=" + dir, "offsets.topic.replication.factor=1", "group.initial.rebalance.delay.ms=0",
	}
	cfg, _, err := config.Load(config.LoadOptions{Overrides: kv})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startNode starts a node and waits until its broker is unfenced.
func startNode(t testing.TB, dir string, fsys vfs.FS) (*broker.Broker, error) {
	b, err := Start(testConfig(t, dir), Options{FS: fsys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	select {
	case <-b.Ready():
		return b, nil
	case <-b.Failed():
		b.Close()
		return nil, b.Err()
	case <-time.After(20 * time.Second):
		b.Close()
		return nil, errors.New("node not ready after 20s")
	}
}

// nodeWorkload creates a topic on a node on m and produces n records one
// at a time with acks=all, returning the values acknowledged per partition.
// It stops at the first failure (the filesystem froze).
func nodeWorkload(t testing.TB, m *vfs.Mem, n int) (acked map[int32][]string) {
	acked = map[int32][]string{}
	b, err := startNode(t, "/data", m)
	if err != nil {
		return acked
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()["PLAINTEXT"]), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequestRetries(0),
		kgo.RecordRetries(1), kgo.ProduceRequestTimeout(500*time.Millisecond), kgo.RecordDeliveryTimeout(time.Second),
		kgo.MetadataMinAge(10*time.Millisecond)) // KAFKA_STORAGE_ERROR is retried after a metadata refresh
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "t"); err != nil {
		return acked
	}
	for i := range n {
		r := &kgo.Record{Topic: "t", Partition: int32(i % 2), Value: fmt.Appendf(nil, "v%d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return acked
		}
		acked[r.Partition] = append(acked[r.Partition], string(r.Value))
	}
	return acked
}

// consumeNode restarts a node on m and reads partition p of t from the start.
func consumeNode(t testing.TB, m *vfs.Mem) map[int32][]string {
	t.Helper()
	b, err := startNode(t, "/data", m)
	if err != nil {
		t.Fatalf("restart after the crash: %v", err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()["PLAINTEXT"]), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[int32][]string{}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			want += int(o.Offset)
		}
	})
	for n := 0; n < want; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", n, want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
	}
	return got
}

// TestNodeCrashOnTwin runs a whole node (metadata log, meta.properties,
// partition directories, partition.metadata, segment logs) on the
// crashable twin: a topic is created and records produced with acks=all;
// the filesystem freezes at a sync point, the node dies, the power goes;
// a new node on what was durable must hold every acknowledged record, in
// order, and nothing that was never produced. The broker's goroutines
// (flushers) make the order of sync points vary a little between runs, so
// crash point k is the k-th sync of that run, for every k the first run
// reached.
func TestNodeCrashOnTwin(t *testing.T) {
	const records = 12
	m := vfs.NewCrashableMem()
	full := nodeWorkload(t, m, records)
	if len(full[0])+len(full[1]) != records {
		t.Fatalf("uninterrupted run acknowledged %v", full)
	}
	total := m.SyncCount()
	m.Crash()
	check := func(acked, got map[int32][]string) {
		t.Helper()
		for p := int32(0); p < 2; p++ {
			if len(got[p]) < len(acked[p]) {
				t.Fatalf("partition %d: %d records survived, %d acknowledged", p, len(got[p]), len(acked[p]))
			}
			for i, v := range got[p] {
				if want := fmt.Sprint(i*2 + int(p)); v != "v"+want {
					t.Fatalf("partition %d record %d is %q, want v%s", p, i, v, want)
				}
			}
		}
	}
	check(full, consumeNode(t, m))
	points := 0
	for k := 1; k <= total; k++ {
		m := vfs.NewCrashableMem()
		m.OnSync(func(n int, _ string) {
			if n == k {
				m.Freeze()
			}
		})
		acked := nodeWorkload(t, m, records)
		m.OnSync(nil)
		m.Crash()
		check(acked, consumeNode(t, m))
		points++
	}
	t.Logf("node on the twin: %d crash points (every sync point of the first run, and its end)", points+1)
}

// TestSecondNodeOnSameDirsFails: the .lock in each log dir keeps a second
// node off a running node's directories, on the real filesystem and on the
// twin.
func TestSecondNodeOnSameDirsFails(t *testing.T) {
	for name, fsys := range map[string]vfs.FS{"OS": nil, "Mem": vfs.NewCrashableMem()} {
		t.Run(name, func(t *testing.T) {
			dir := "/data"
			if fsys == nil {
				dir = t.TempDir()
			}
			b, err := startNode(t, dir, fsys)
			if err != nil {
				t.Fatal(err)
			}
			_, err = startNode(t, dir, fsys)
			if !errors.Is(err, vfs.ErrLocked) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("second node: %v, want a lock error naming %s", err, dir)
			}
			b.Close()
			b, err = startNode(t, dir, fsys) // the lock went with the first node
			if err != nil {
				t.Fatalf("after the first node closed: %v", err)
			}
			b.Close()
		})
	}
}
