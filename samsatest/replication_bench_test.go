package samsatest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/samsatest"
)

// BenchmarkReplicatedProduce measures acks=all produce throughput on a
// three-node in-process cluster (fsync before ack, the default), for a
// topic with replication factor 1 and 3 (min.insync.replicas 2): franz-go,
// idempotent, 1 KiB records, 6 partitions with leaders on every node. An
// op is one record; with RF 3 each is acknowledged once both followers
// fetched it and fsynced it.
//
//	go test -run '^$' -bench ReplicatedProduce -benchtime 20000x ./samsatest/
func BenchmarkReplicatedProduce(b *testing.B) {
	for _, rf := range []int16{1, 3} {
		b.Run(fmt.Sprintf("rf%d", rf), func(b *testing.B) {
			c := samsatest.StartCluster(b, 3)
			adm := adminB(b, c.Bootstrap()...)
			minISR := "2"
			if rf == 1 {
				minISR = "1"
			}
			if _, err := adm.CreateTopic(ctxB(b), 6, rf, map[string]*string{"min.insync.replicas": &minISR}, "bench"); err != nil {
				b.Fatal(err)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.ProducerLinger(time.Millisecond), kgo.DefaultProduceTopic("bench"))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			// Warm up: every partition has a leader and takes a write.
			for p := range int32(6) {
				deadline := time.Now().Add(30 * time.Second)
				for {
					err := cl.ProduceSync(ctxB(b), &kgo.Record{Partition: p, Value: []byte("warm")}).FirstErr()
					if err == nil {
						break
					}
					if time.Now().After(deadline) {
						b.Fatal(err)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			val := make([]byte, 1024)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var firstErr error
			b.SetBytes(int64(len(val)))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				wg.Add(1)
				cl.Produce(context.Background(), &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
					}
					wg.Done()
				})
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			if firstErr != nil {
				b.Fatal(firstErr)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "rec/s")
		})
	}
}
