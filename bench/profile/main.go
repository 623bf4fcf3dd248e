// Command profile runs a samsa node in-process (samsatest) under the same
// franz-go load bench/compare uses and writes a CPU profile, so that
// `go tool pprof` can show where the broker's CPU goes:
//
//	go run ./bench/profile -dir /dev/shm/samsa-prof -o /tmp/samsa.pprof
//	go tool pprof -top -tagignore side=client /tmp/samsa.pprof
//
// The load generator runs in the same process; its goroutines carry the
// profiler label side=client (goroutines inherit labels from their creator),
// so -tagignore side=client leaves the broker alone.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/samsatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	dir := flag.String("dir", "/dev/shm/samsa-prof", "log directory (removed first)")
	out := flag.String("o", "samsa.pprof", "CPU profile output")
	n := flag.Int("records", 2000000, "records to produce while profiling")
	size := flag.Int("size", 1024, "record size")
	parts := flag.Int("partitions", 1, "partitions")
	acks := flag.String("acks", "1", "1 or all")
	fsync := flag.Bool("fsync", false, "samsa's fsync-on-ack default instead of Kafka's durability")
	rate := flag.Float64("rate", 0, "records/s (0 = as fast as possible)")
	flag.Parse()

	os.RemoveAll(*dir)
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fail(err)
	}
	var opts []samsatest.Option
	if !*fsync {
		opts = append(opts, samsatest.Config("log.flush.interval.messages", "9223372036854775807"))
	}
	node, err := samsatest.New(*dir, opts...)
	if err != nil {
		fail(err)
	}
	defer node.Close()
	defer os.RemoveAll(*dir)

	var elapsed time.Duration
	pprof.Do(context.Background(), pprof.Labels("side", "client"), func(ctx context.Context) {
		adm, err := kgo.NewClient(kgo.SeedBrokers(node.Addr()))
		if err != nil {
			fail(err)
		}
		if _, err := kadm.NewClient(adm).CreateTopic(ctx, int32(*parts), 1, nil, "prof"); err != nil {
			fail(err)
		}
		adm.Close()
		kopts := []kgo.Opt{kgo.SeedBrokers(node.Addr()), kgo.DefaultProduceTopic("prof"),
			kgo.ProducerBatchMaxBytes(16384), kgo.ProducerLinger(5 * time.Millisecond),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedBytes(32 << 20),
			kgo.MaxBufferedRecords(1 << 30)}
		if *acks == "all" {
			kopts = append(kopts, kgo.RequiredAcks(kgo.AllISRAcks()))
		} else {
			kopts = append(kopts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
				kgo.MaxProduceRequestsInflightPerBroker(5))
		}
		cl, err := kgo.NewClient(kopts...)
		if err != nil {
			fail(err)
		}
		defer cl.Close()
		val := make([]byte, *size)
		_, _ = rand.Read(val)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
			fail(err)
		}
		f, err := os.Create(*out)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		var errs atomic.Int64
		t0 := time.Now()
		for i := 0; i < *n; i++ {
			if *rate > 0 {
				if w := time.Until(t0.Add(time.Duration(float64(i) / *rate * float64(time.Second)))); w > 0 {
					time.Sleep(w)
				}
			}
			cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					errs.Add(1)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			fail(err)
		}
		elapsed = time.Since(t0)
		pprof.StopCPUProfile()
		f.Close()
		if errs.Load() > 0 {
			fail(fmt.Errorf("%d records failed", errs.Load()))
		}
	})
	fmt.Printf("%d records of %d B in %v: %.0f rec/s, %.1f MB/s; profile in %s\n", *n, *size, elapsed.Round(time.Millisecond),
		float64(*n)/elapsed.Seconds(), float64(*n)*float64(*size)/elapsed.Seconds()/1e6, *out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "profile:", err)
	os.Exit(1)
}
