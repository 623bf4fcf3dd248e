package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashLosesNothingAcknowledged produces with acks=all (idempotent),
// SIGKILLs the broker mid-stream, tears the tail of the active segment,
// restarts it, and checks that every acknowledged record is there, once,
// in order, and that the broker keeps accepting writes after recovery.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	p := startSamsa(t, dir)
	const topic = "crash"
	adm := kadm.NewClient(newClient(t, p.addr()))
	if _, err := adm.CreateTopic(ctxT(t, 10*time.Second), 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	var mu sync.Mutex
	acked := map[int]bool{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr()), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(3*time.Second), kgo.RecordRetries(2),
		kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			i := i
			cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 7)), Value: []byte(strconv.Itoa(i))}, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[i] = true
					mu.Unlock()
				}
			})
		}
	}()
	// Let a few thousand acks through, then kill.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 3000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.kill9()
	mu.Lock()
	ackedAtKill := make(map[int]bool, len(acked))
	for k := range acked {
		ackedAtKill[k] = true
	}
	mu.Unlock()
	cancel()
	cl.Close()
	wg.Wait()
	if len(ackedAtKill) < 100 {
		t.Fatalf("only %d records acknowledged before the kill", len(ackedAtKill))
	}

	// Tear the tail of one active segment: garbage after the last batch,
	// as a crash in the middle of a write leaves it.
	tearTail(t, filepath.Join(dir, "data", topic+"-0"))

	p.restart()
	c := newClient(t, p.addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[int]int{}
	lastInPartition := map[int32]map[string]int{}
	ctx2 := ctxT(t, 30*time.Second)
	adm2 := kadm.NewClient(newClient(t, p.addr()))
	ends, err := adm2.ListEndOffsets(ctx2, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	var recs []*kgo.Record
	for int64(len(recs)) < total {
		fs := c.PollFetches(ctx2)
		if ctx2.Err() != nil {
			t.Fatalf("read %d of %d records after restart", len(recs), total)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		recs = append(recs, fs.Records()...)
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Partition != recs[j].Partition {
			return recs[i].Partition < recs[j].Partition
		}
		return recs[i].Offset < recs[j].Offset
	})
	for _, r := range recs {
		v, _ := strconv.Atoi(string(r.Value))
		seen[v]++
		// Order per key: values of one key only grow.
		if lastInPartition[r.Partition] == nil {
			lastInPartition[r.Partition] = map[string]int{}
		}
		if last, ok := lastInPartition[r.Partition][string(r.Key)]; ok && v <= last {
			t.Fatalf("key %s out of order in partition %d: %d after %d", r.Key, r.Partition, v, last)
		}
		lastInPartition[r.Partition][string(r.Key)] = v
	}
	for v, n := range seen {
		if n > 1 {
			t.Fatalf("value %d stored %d times", v, n)
		}
	}
	for v := range ackedAtKill {
		if seen[v] != 1 {
			t.Fatalf("acknowledged value %d lost after kill -9 (%d acked, %d read)", v, len(ackedAtKill), len(recs))
		}
	}
	t.Logf("%d acknowledged before kill -9, %d stored after restart, all acknowledged present once", len(ackedAtKill), len(recs))

	// The recovered log accepts new writes at the next offsets.
	pr := newClient(t, p.addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res := pr.ProduceSync(ctx2, &kgo.Record{Partition: 0, Value: []byte("after-recovery")})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	if off := res[0].Record.Offset; off != ends[topic][0].Offset {
		t.Fatalf("first offset after recovery: %d, want %d", off, ends[topic][0].Offset)
	}
}

// tearTail appends a partial batch header to the newest segment file.
func tearTail(t *testing.T, partDir string) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(partDir, "*.log"))
	if len(segs) == 0 {
		t.Fatalf("no segment in %s", partDir)
	}
	sort.Strings(segs)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	garbage := []byte(fmt.Sprintf("\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x01\x00torn-%d", time.Now().UnixNano()))
	if _, err := f.Write(garbage); err != nil {
		t.Fatal(err)
	}
}
