package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
)

func benchConsumeCmd(ctx context.Context, args []string, out, errb *bytes.Buffer) int {
	return benchConsumeMain(ctx, args, out, errb)
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

// countRecords is end minus start offsets over the topic's partitions.
func countRecords(t *testing.T, addr, topic string) int64 {
	t.Helper()
	cl, err := client.New(client.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tps, err := cl.TopicPartitions(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	starts, err := cl.ListOffsets(ctx, tps, client.AtStart())
	if err != nil {
		t.Fatal(err)
	}
	ends, err := cl.ListOffsets(ctx, tps, client.AtEnd())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, tp := range tps {
		n += ends[tp].Offset - starts[tp].Offset
	}
	return n
}
