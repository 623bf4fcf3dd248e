package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
)

func benchConsumeCmd(ctx context.Context, args []string, out, errb *bytes.Buffer) int {
	return benchConsumeMain(ctx, args, out, errb)
}

func benchProduceCmd(ctx context.Context, args []string, out, errb *bytes.Buffer) int {
	return benchProduceMain(ctx, args, out, errb)
}

// samsa bench produce sends exactly -num-records records (keyless and
// keyed) and reports them with latency percentiles; the topic then holds
// them.
func TestBenchProduceCLI(t *testing.T) {
	for name, bt := range cliBackends(t) {
		t.Run(name, func(t *testing.T) {
			addr, topic := bt[0], bt[1]
			before := countRecords(t, addr, topic)
			out := run(t, benchProduceCmd, "-brokers", addr, "-topic", topic, "-num-records", "4000", "-record-size", "200")
			if !strings.Contains(out, "4000 records sent,") || !strings.Contains(out, "ms 99.9th.") {
				t.Fatalf("want a summary of 4000 records with percentiles, got:\n%s", out)
			}
			out = run(t, benchProduceCmd, "-brokers", addr, "-topic", topic, "-num-records", "1000", "-keyed", "-keys", "10", "-throughput", "20000")
			if !strings.Contains(out, "1000 records sent,") {
				t.Fatalf("keyed, capped: want 1000 records sent, got:\n%s", out)
			}
			if got := countRecords(t, addr, topic) - before; got != 5000 {
				t.Fatalf("the topic gained %d records, want 5000", got)
			}
		})
	}
}

// samsa bench consume reads exactly what the topic holds (or -num-records
// of it), directly or as a group, on every backend.
func TestBenchConsumeCLI(t *testing.T) {
	for name, bt := range cliBackends(t) {
		t.Run(name, func(t *testing.T) {
			addr, topic := bt[0], bt[1]
			p, err := client.NewProducer(client.SeedBrokers(addr), client.AllowAutoTopicCreation())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var recs []*client.Record
			for i := 0; i < 3000; i++ {
				recs = append(recs, &client.Record{Topic: topic, Value: []byte(fmt.Sprintf("value-%05d", i))})
			}
			if err := p.ProduceSync(ctx, recs...); err != nil {
				t.Fatal(err)
			}
			p.Close(ctx)
			// Earlier tests may have written to this topic: count what
			// is there now.
			total := countRecords(t, addr, topic)
			out := run(t, benchConsumeCmd, "-brokers", addr, "-topic", topic)
			if !strings.Contains(out, fmt.Sprintf("%d records read (", total)) {
				t.Fatalf("want %d records read, got:\n%s", total, out)
			}
			out = run(t, benchConsumeCmd, "-brokers", addr, "-topic", topic, "-num-records", "1234")
			if !strings.Contains(out, "1234 records read (") {
				t.Fatalf("want 1234 records read, got:\n%s", out)
			}
			out = run(t, benchConsumeCmd, "-brokers", addr, "-topic", topic, "-group", "bench-"+name)
			if !strings.Contains(out, fmt.Sprintf("%d records read (", total)) {
				t.Fatalf("group: want %d records read, got:\n%s", total, out)
			}
			var o, e bytes.Buffer
			if rc := benchConsumeMain(ctx, []string{"-brokers", addr, "-topic", "no-such-topic-" + name, "-timeout", "1s"}, &o, &e); rc == 0 {
				t.Fatalf("a missing topic: exit 0\n%s%s", o.String(), e.String())
			}
		})
	}
}

// countRecords is end minus start offsets over the topic's partitions. A
// topic just created may not have leaders yet (ListOffsets answers with an
// error and offset -1 for a while): it waits for a clean answer.
func countRecords(t *testing.T, addr, topic string) int64 {
	t.Helper()
	cl, err := client.New(client.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		tps, err := cl.TopicPartitions(ctx, topic)
		if errors.Is(err, client.ErrUnknownTopicOrPartition) {
			return 0 // not created yet (auto-created on first produce)
		}
		if err != nil {
			t.Fatal(err)
		}
		starts, err1 := cl.ListOffsets(ctx, tps, client.AtStart())
		ends, err2 := cl.ListOffsets(ctx, tps, client.AtEnd())
		var n int64
		clean := err1 == nil && err2 == nil
		for _, tp := range tps {
			if starts[tp].Err != nil || ends[tp].Err != nil {
				clean = false
			}
			n += ends[tp].Offset - starts[tp].Offset
		}
		if clean {
			return n
		}
		if ctx.Err() != nil {
			t.Fatalf("offsets of %s: %v %v %v", topic, err1, err2, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
