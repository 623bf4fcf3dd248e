package samsatest_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/samsatest"
)

func TestStartProduceConsumeRestart(t *testing.T) {
	start := time.Now()
	logs := &syncWriter{}
	n := samsatest.Start(t, samsatest.Config("num.partitions", "2"),
		samsatest.Logger(slog.New(slog.NewTextHandler(logs, nil))))
	t.Logf("node started in %v at %s", time.Since(start), n.Addr())
	if _, err := os.Stat(filepath.Join(n.Dir(), "meta.properties")); err != nil {
		t.Fatalf("node dir %s not formatted: %v", n.Dir(), err)
	}
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
	if !strings.Contains(logs.String(), "samsa broker started") {
		t.Fatalf("Logger did not receive the start-up line:\n%s", logs.String())
	}
	if len(parts) > 2 {
		t.Fatalf("records in %d partitions, topic has 2", len(parts))
	}
}

// syncWriter serializes writes from the node's goroutines.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
