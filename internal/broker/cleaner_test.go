package broker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/samsatest"
)

// TestLogCleanerCompactsTopic: on a compacted topic rolled by segment.ms,
// the cleaner leaves a consumer from the beginning one record per key (the
// latest), and a keyless record is rejected with INVALID_RECORD.
func TestLogCleanerCompactsTopic(t *testing.T) {
	n := samsatest.Start(t, samsatest.Config("log.cleaner.backoff.ms", "50"))
	ctx := ctxT(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topic := "compacted"
	cfg := map[string]*string{}
	for k, v := range map[string]string{"cleanup.policy": "compact", "segment.ms": "100",
		"min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0"} {
		cfg[k] = &v
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, cfg, topic); err != nil {
		t.Fatal(err)
	}
	produce := func(key, value string) {
		t.Helper()
		r := &kgo.Record{Topic: topic, Value: []byte(value)}
		if key != "" {
			r.Key = []byte(key)
		}
		if value == "" {
			r.Value = nil
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s=%s: %v", key, value, err)
		}
	}
	for round := 0; round < 3; round++ {
		for k := 0; k < 5; k++ {
			produce(fmt.Sprintf("k%d", k), fmt.Sprintf("v%d-%d", k, round))
		}
		time.Sleep(150 * time.Millisecond) // segment.ms: the next append rolls
	}
	produce("k4", "") // a tombstone, removed once delete.retention.ms (0) passed
	time.Sleep(150 * time.Millisecond)
	produce("last", "x") // rolls: everything before is cleanable

	err = cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record on a compacted topic: %v, want INVALID_RECORD", err)
	}

	want := map[string]string{"k0": "v0-2", "k1": "v1-2", "k2": "v2-2", "k3": "v3-2", "last": "x"}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, count := consumeAll(t, n.Addr(), topic)
		if count == len(want) && fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after cleaning: %d records, latest %v; want %v", count, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consumeAll reads a one-partition topic from the beginning to its end and
// returns the latest value per key and the number of records read.
func consumeAll(t *testing.T, addr, topic string) (map[string]string, int) {
	t.Helper()
	ctx := ctxT(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	end, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	leo, _ := end.Lookup(topic, 0)
	latest, count := map[string]string{}, 0
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			count++
			if r.Value == nil {
				delete(latest, string(r.Key))
			} else {
				latest[string(r.Key)] = string(r.Value)
			}
			done = done || r.Offset >= leo.Offset-1
		})
		if done {
			return latest, count
		}
	}
}
