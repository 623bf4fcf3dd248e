package broker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/samsatest"
)

// TestAcksAllProducesLeaveTimerHeap: with the fsync default an acks=all
// produce is parked until the flusher's fdatasync moves the high
// watermark. Thousands of them, with a request timeout of ten minutes,
// are acknowledged; afterwards the purgatory's timer heap holds none of
// them (each left it when it completed, not at its deadline), so it does
// not keep their requests and responses in memory.
func TestAcksAllProducesLeaveTimerHeap(t *testing.T) {
	n := samsatest.Start(t, samsatest.Config("num.partitions", "3"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := newClient(t, n.Addr(), kgo.DefaultProduceTopic("parked"), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProduceRequestTimeout(10*time.Minute),
		kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(4096), kgo.MaxBufferedRecords(64))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pending0, sched0 := broker.PurgatoryTimers(n.Broker())

	const records = 5000
	var failed atomic.Int64
	val := make([]byte, 1000)
	for i := 0; i < records; i++ {
		cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d records failed", f, records)
	}
	pending, sched := broker.PurgatoryTimers(n.Broker())
	// Parked produces went through the heap (else this test shows
	// nothing): with fsync-on-ack nearly every request waits for a sync.
	t.Logf("%d produce requests parked", sched-sched0)
	if parked := sched - sched0; parked < 100 {
		t.Fatalf("only %d produce requests were parked on the timer heap; want at least 100", parked)
	}
	// Every acknowledged produce left the heap before its response was
	// sent; what remains is what was there before (the offset-expiry
	// timer).
	if pending != pending0 {
		t.Fatalf("timer heap holds %d deadlines after %d parked produces were acknowledged, %d before them",
			pending, sched-sched0, pending0)
	}
}
