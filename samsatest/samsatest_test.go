package samsatest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/samsatest"
)

func TestStartProduceConsumeRestart(t *testing.T) {
	start := time.Now()
	n := samsatest.Start(t, samsatest.Config("num.partitions", "2"))
	t.Logf("node started in %v at %s", time.Since(start), n.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := 0
	parts := map[int32]bool{}
	for got < 10 {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 10 after restart", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got++; parts[r.Partition] = true })
	}
	if len(parts) > 2 {
		t.Fatalf("records in %d partitions, topic has 2", len(parts))
	}
}
