package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
)

// TestSamsaProducerThroughKill9 keeps samsa's own producer (idempotent,
// acks=all, its defaults) producing while the `samsa serve` process is
// SIGKILLed and started again. The producer rides through: batches whose
// acknowledgements died with the process are resent with their sequence
// numbers, and the restarted broker, which rebuilt its producer state from
// the recovered log, accepts each exactly once. Every record is then
// acknowledged and stored once, each key's records in production order.
func TestSamsaProducerThroughKill9(t *testing.T) {
	dir := t.TempDir()
	p := startSamsa(t, dir)
	const topic, partitions, keys = "producer-crash", 4, 8
	adm := kadm.NewClient(newClient(t, p.addr()))
	if _, err := adm.CreateTopic(ctxT(t, 10*time.Second), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	pr, err := client.NewProducer(client.SeedBrokers(p.addr()), client.Linger(time.Millisecond),
		client.RetryBackoff(20*time.Millisecond, 200*time.Millisecond), client.MetadataMinAge(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		acked    int
		failures []error
	)
	cb := func(_ *client.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failures = append(failures, err)
			return
		}
		acked++
	}
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return acked }
	ctx := ctxT(t, 2*time.Minute)
	produced := 0
	produceUntil := func(cond func() bool) {
		for !cond() {
			k := produced % keys
			r := &client.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", k)), Value: []byte(fmt.Sprintf("k%d/%d", k, produced/keys))}
			if err := pr.Produce(ctx, r, cb); err != nil {
				t.Fatal(err)
			}
			produced++
		}
	}
	produceUntil(func() bool { return ackedNow() >= 3000 })
	// Kill with records in flight, keep producing while the broker is
	// down (they queue and retry), start it again, produce some more.
	inFlight := produced - ackedNow()
	p.kill9()
	produceUntil(func() bool { return produced%keys == 0 && produced >= ackedNow()+2000 })
	p.restart()
	after := ackedNow()
	produceUntil(func() bool { return produced%keys == 0 && ackedNow() >= after+3000 })
	closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pr.Close(closeCtx); err != nil {
		t.Fatalf("close: %v", err)
	}
	mu.Lock()
	if len(failures) > 0 {
		t.Fatalf("%d records failed, first: %v", len(failures), failures[0])
	}
	if acked != produced {
		t.Fatalf("%d of %d records acknowledged after Close", acked, produced)
	}
	mu.Unlock()
	t.Logf("%d records produced, %d unacknowledged at the kill, all acknowledged", produced, inFlight)

	// Every record once, each key in order.
	c := newClient(t, p.addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	rctx := ctxT(t, 30*time.Second)
	next := map[string]int{}
	for n := 0; n < produced; {
		fs := c.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %d of %d records", n, produced)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		for _, r := range fs.Records() {
			k, seq, _ := strings.Cut(string(r.Value), "/")
			i, err := strconv.Atoi(seq)
			if err != nil || k != string(r.Key) {
				t.Fatalf("bad record %q=%q", r.Key, r.Value)
			}
			if i != next[k] {
				t.Fatalf("key %s: read %d, want %d (duplicated, reordered or lost) at partition %d offset %d", k, i, next[k], r.Partition, r.Offset)
			}
			next[k]++
			n++
		}
	}
	extra := c.PollFetches(ctxT(t, 300*time.Millisecond)).Records()
	if len(extra) > 0 {
		t.Fatalf("%d records beyond the %d produced (duplicates)", len(extra), produced)
	}
}
