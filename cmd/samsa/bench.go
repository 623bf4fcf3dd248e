package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/client"
)

func init() {
	register("bench", "benchmarks: samsa bench produce|consume (like kafka-producer-perf-test and kafka-consumer-perf-test)", runBench)
}

func runBench(args []string) int {
	if len(args) > 0 && args[0] == "produce" {
		return interruptible(benchProduceMain)(args[1:])
	}
	if len(args) > 0 && args[0] == "consume" {
		return interruptible(benchConsumeMain)(args[1:])
	}
	fmt.Fprintln(os.Stderr, "usage: samsa bench produce|consume [flags]")
	return 2
}

// latencies collects per-record latencies (µs) for percentiles.
type latencies struct {
	mu  sync.Mutex
	all []int64
	win []int64 // since the last progress line
}

func (l *latencies) add(d time.Duration) {
	us := d.Microseconds()
	l.mu.Lock()
	l.all = append(l.all, us)
	l.win = append(l.win, us)
	l.mu.Unlock()
}

func pct(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i]) / 1000
}

func benchProduceMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("samsa bench produce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pf := addProducerFlags(fs)
	topic := fs.String("topic", "samsa-bench", "topic (created if missing and the broker allows it, unless -auto-create=false)")
	num := fs.Int64("num-records", 1_000_000, "records to produce")
	size := fs.Int("record-size", 100, "value size in bytes")
	throughput := fs.Int64("throughput", -1, "cap in records/s (-1 = unlimited)")
	keyed := fs.Bool("keyed", false, "give records keys (murmur2 partitioning)")
	keys := fs.Int("keys", 10000, "distinct keys with -keyed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts, err := pf.options()
	if err != nil {
		fmt.Fprintln(stderr, "samsa bench produce:", err)
		return 2
	}
	if err := awaitReady(ctx, opts, readiness{seeds: *pf.brokers, topics: []string{*topic}}, stderr, "bench produce", *pf.timeout); err != nil {
		fmt.Fprintln(stderr, "samsa bench produce:", err)
		return 1
	}
	p, err := client.NewProducer(append(opts, client.MaxBufferedRecords(1<<20), client.MaxBufferedBytes(512<<20))...)
	if err != nil {
		fmt.Fprintln(stderr, "samsa bench produce:", err)
		return 1
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()

	value := make([]byte, *size)
	for i := range value {
		value[i] = byte('A' + rand.IntN(26))
	}
	keyList := make([][]byte, *keys)
	for i := range keyList {
		keyList[i] = []byte(fmt.Sprintf("key-%d", i))
	}
	var (
		lat          latencies
		done, failed atomic.Int64
		firstErr     atomic.Value
		wg           sync.WaitGroup
		start        = time.Now()
		lastDone     int64
		lastT        = start
	)
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-ticker.C:
				d := done.Load()
				secs := now.Sub(lastT).Seconds()
				lat.mu.Lock()
				w := lat.win
				lat.win = nil
				lat.mu.Unlock()
				slices.Sort(w)
				var avg float64
				for _, v := range w {
					avg += float64(v)
				}
				if len(w) > 0 {
					avg /= float64(len(w)) * 1000
				}
				rate := float64(d-lastDone) / secs
				fmt.Fprintf(stdout, "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms p99.\n",
					d-lastDone, rate, rate*float64(*size)/1e6, avg, pct(w, 0.99))
				lastDone, lastT = d, now
				if d >= *num {
					return
				}
			}
		}
	}()
	for i := int64(0); i < *num && ctx.Err() == nil; i++ {
		if *throughput > 0 {
			if ahead := time.Duration(float64(i)/float64(*throughput)*1e9) - time.Since(start); ahead > time.Millisecond {
				time.Sleep(ahead)
			}
		}
		r := &client.Record{Topic: *topic, Value: value}
		if *keyed {
			r.Key = keyList[i%int64(len(keyList))]
		}
		sentAt := time.Now()
		r.Timestamp = sentAt
		wg.Add(1)
		err := p.Produce(ctx, r, func(r *client.Record, err error) {
			lat.add(time.Since(sentAt))
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			done.Add(1)
			wg.Done()
		})
		if err != nil && ctx.Err() != nil {
			wg.Done()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	ticker.Stop()
	stop()
	<-progressDone
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.Close(cctx)

	slices.Sort(lat.all)
	var sum float64
	for _, v := range lat.all {
		sum += float64(v)
	}
	n := done.Load()
	avg := 0.0
	if n > 0 {
		avg = sum / float64(n) / 1000
	}
	rate := float64(n) / elapsed.Seconds()
	fmt.Fprintf(stdout, "%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.\n",
		n, rate, rate*float64(*size)/1e6, avg, pct(lat.all, 1), pct(lat.all, 0.5), pct(lat.all, 0.95), pct(lat.all, 0.99), pct(lat.all, 0.999))
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(stderr, "%d records failed; first error: %v\n", f, firstErr.Load())
		return 1
	}
	return 0
}
