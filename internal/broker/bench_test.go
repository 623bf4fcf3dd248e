package broker_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/samsatest"
)

// BenchmarkProduce1KiB measures produce throughput of 1 KiB records with
// franz-go, acks=all and idempotence, against an in-process node: with
// samsa's fsync-on-ack default and with Kafka's no-fsync policy, on disk
// (the test temp dir) and on tmpfs (/dev/shm, when present).
//
//	go test -run '^$' -bench Produce1KiB -benchtime 20000x ./internal/broker/
func BenchmarkProduce1KiB(b *testing.B) {
	dirs := map[string]string{"disk": ""}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dirs["tmpfs"] = "/dev/shm"
	}
	policies := map[string]string{"fsync": "1", "nofsync": "9223372036854775807"}
	for dname, base := range dirs {
		for pname, flush := range policies {
			b.Run(dname+"/"+pname, func(b *testing.B) {
				dir := b.TempDir()
				if base != "" {
					d, err := os.MkdirTemp(base, "samsa-bench")
					if err != nil {
						b.Fatal(err)
					}
					defer os.RemoveAll(d)
					dir = d
				}
				n := samsatest.Start(b, samsatest.Dir(dir), samsatest.Config("log.flush.interval.messages", flush),
					samsatest.Config("num.partitions", "6"))
				benchProduce(b, n.Addr(), 1024)
			})
		}
	}
}

func benchProduce(b *testing.B, addr string, size int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("bench"), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warmup")}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	val := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
