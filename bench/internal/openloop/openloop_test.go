package openloop

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The run keeps its schedule (200 records at 2000/s take at least about
// 100 ms to send), answers every record and sorts the latencies.
func TestRunKeepsTheSchedule(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := Run(ctx, cl, []byte("v"), 2000, 200)
	if r.Errors != 0 || len(r.Latencies) != 200 {
		t.Fatalf("errors %d, %d latencies", r.Errors, len(r.Latencies))
	}
	if r.Sent < 95*time.Millisecond {
		t.Fatalf("200 records at 2000/s sent in %v", r.Sent)
	}
	for i := 1; i < len(r.Latencies); i++ {
		if r.Latencies[i] < r.Latencies[i-1] {
			t.Fatal("latencies not sorted")
		}
	}
	if r.QuantileMs(1) != float64(r.Latencies[199])/1e6 || r.QuantileMs(0) != float64(r.Latencies[0])/1e6 {
		t.Fatal("quantiles do not index the sorted latencies")
	}
}
