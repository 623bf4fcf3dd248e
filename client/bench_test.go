package client

// Side-by-side producer benchmark: samsa vs franz-go (kgo), IBM/sarama and
// segmentio/kafka-go, same broker, same machine, one run.
//
//	go test ./client/ -run '^$' -bench Produce -benchtime 200000x
//
// Broker: BENCH_BOOTSTRAP=host:port if set, else an in-process kfake
// cluster (which is itself the bottleneck: use a real broker for throughput
// numbers; allocation numbers are meaningful either way).
//
// Fairness: acks=all, idempotent where the client supports it (kafka-go has
// no idempotent producer), no compression, linger/batch timeout 5 ms, 1 MiB
// batches, async production with one completion per record, the same record
// bodies; each client allocates its own record struct per op. One op is one
// record, so allocs/op is allocations per record; rec/s is reported.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const benchLinger = 5 * time.Millisecond

var benchKeys = func() [][]byte {
	ks := make([][]byte, 1024)
	for i := range ks {
		ks[i] = []byte(fmt.Sprintf("key-%06d", i))
	}
	return ks
}()

func benchBackend(b *testing.B) backend {
	if v := os.Getenv("BENCH_BOOTSTRAP"); v != "" {
		return backend{name: "external", addrs: strings.Split(v, ",")}
	}
	return newFake(b, 1, kfake.SeedTopics(1, "warmup"))
}

type benchCase struct {
	name  string
	size  int
	keyed bool
}

var benchCases = []benchCase{{"100B-keyless", 100, false}, {"100B-keyed", 100, true}, {"1KB-keyless", 1024, false}}

type benchProducer func(b *testing.B, addrs []string, topic string, value []byte, keyed bool)

func BenchmarkProduce(b *testing.B) {
	be := benchBackend(b)
	clients := []struct {
		name string
		fn   benchProducer
	}{{"samsa", benchSamsa}, {"kgo", benchKgo}, {"sarama", benchSarama}, {"kafka-go", benchKafkaGo}}
	for _, bc := range benchCases {
		for _, c := range clients {
			b.Run(bc.name+"/"+c.name, func(b *testing.B) {
				topic := newTopic(b, be, 6)
				value := make([]byte, bc.size)
				for i := range value {
					value[i] = byte('a' + i%26)
				}
				b.ReportAllocs()
				start := time.Now()
				c.fn(b, be.addrs, topic, value, bc.keyed)
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rec/s")
			})
		}
	}
}

func benchSamsa(b *testing.B, addrs []string, topic string, value []byte, keyed bool) {
	p, err := NewProducer(SeedBrokers(addrs...), Linger(benchLinger), BatchBytes(1<<20),
		MaxBufferedRecords(1<<20), MaxBufferedBytes(256<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	var wg sync.WaitGroup
	cb := func(_ *Record, err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	ctx := context.Background()
	// Warm up: metadata, producer id, connections.
	if err := p.ProduceSync(ctx, &Record{Topic: topic, Value: value}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	wg.Add(b.N)
	for i := 0; i < b.N; i++ {
		r := &Record{Topic: topic, Value: value}
		if keyed {
			r.Key = benchKeys[i%len(benchKeys)]
		}
		p.Produce(ctx, r, cb)
	}
	wg.Wait()
	b.StopTimer()
}

func benchKgo(b *testing.B, addrs []string, topic string, value []byte, keyed bool) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(benchLinger), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(1<<20),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	cb := func(_ *kgo.Record, err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	b.ResetTimer()
	wg.Add(b.N)
	for i := 0; i < b.N; i++ {
		r := &kgo.Record{Value: value}
		if keyed {
			r.Key = benchKeys[i%len(benchKeys)]
		}
		cl.Produce(ctx, r, cb)
	}
	wg.Wait()
	b.StopTimer()
}

func benchSarama(b *testing.B, addrs []string, topic string, value []byte, keyed bool) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1 // required by sarama for idempotence
	cfg.Producer.Flush.Frequency = benchLinger
	cfg.Producer.Flush.MaxMessages = 0
	cfg.Producer.MaxMessageBytes = 1 << 20
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
	cfg.ChannelBufferSize = 4096
	p, err := sarama.NewAsyncProducer(addrs, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	p.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(value)}
	select {
	case <-p.Successes():
	case err := <-p.Errors():
		b.Fatal(err)
	}
	b.ResetTimer()
	done := make(chan struct{})
	go func() {
		for i := 0; i < b.N; i++ {
			select {
			case <-p.Successes():
			case err := <-p.Errors():
				b.Error(err)
			}
		}
		close(done)
	}()
	for i := 0; i < b.N; i++ {
		m := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(value)}
		if keyed {
			m.Key = sarama.ByteEncoder(benchKeys[i%len(benchKeys)])
		}
		p.Input() <- m
	}
	<-done
	b.StopTimer()
}

func benchKafkaGo(b *testing.B, addrs []string, topic string, value []byte, keyed bool) {
	var wg sync.WaitGroup
	w := &kafka.Writer{
		Addr: kafka.TCP(addrs...), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
		BatchTimeout: benchLinger, BatchSize: 10000, BatchBytes: 1 << 20,
		RequiredAcks: kafka.RequireAll, Async: true,
		Completion: func(msgs []kafka.Message, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Add(-len(msgs))
		},
	}
	defer w.Close()
	ctx := context.Background()
	// kafka-go's writer does not wait for a new topic's metadata: retry
	// the warm-up record until the topic is visible to it.
	wg.Add(1)
	for i := 0; ; i++ {
		err := w.WriteMessages(ctx, kafka.Message{Value: value})
		if err == nil {
			break
		}
		if i == 50 {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	b.ResetTimer()
	wg.Add(b.N)
	for i := 0; i < b.N; i++ {
		m := kafka.Message{Value: value}
		if keyed {
			m.Key = benchKeys[i%len(benchKeys)]
		}
		if err := w.WriteMessages(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
}
