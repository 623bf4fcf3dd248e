package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/bench/internal/openloop"
)

// producerSettings are the knobs equalized between franz-go and Kafka's
// ProducerPerformance (Java producer 4.x defaults: batch.size=16384,
// linger.ms=5, buffer.memory=32 MiB, compression none, 5 in flight,
// idempotence on only when acks=all).
type producerSettings struct {
	acks      string // "1" or "all"
	batch     int
	linger    time.Duration
	bufferMem int
}

func (p producerSettings) kgoOpts(bootstrap string) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.ProducerBatchMaxBytes(int32(p.batch)),
		kgo.ProducerLinger(p.linger),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedBytes(p.bufferMem),
		kgo.MaxBufferedRecords(1 << 30),
		kgo.RecordDeliveryTimeout(2 * time.Minute),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
	}
	if p.acks == "all" {
		// Idempotent, as the Java producer's default with acks=all; kgo
		// then keeps up to 5 requests in flight per broker.
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	} else {
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
			kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	return opts
}

// javaProps are the same settings as ProducerPerformance --producer-props.
func (p producerSettings) javaProps(bootstrap string) []string {
	return []string{
		"bootstrap.servers=" + bootstrap,
		"acks=" + p.acks,
		fmt.Sprintf("batch.size=%d", p.batch),
		fmt.Sprintf("linger.ms=%d", p.linger.Milliseconds()),
		fmt.Sprintf("buffer.memory=%d", p.bufferMem),
		"compression.type=none",
		"max.in.flight.requests.per.connection=5",
	}
}

// firstProduce waits for the broker to accept one acks=1 record to an
// auto-created topic. It polls the port every 2 ms so that kgo's dial
// backoff does not blur the start-up time.
func firstProduce(n *node, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if !n.alive() {
			return errors.New("broker exited")
		}
		c, err := net.DialTimeout("tcp", n.bootstrap, 100*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port never opened: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.bootstrap), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(0), kgo.MetadataMinAge(10*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 5 * time.Millisecond }),
		kgo.RequestRetries(1<<20), kgo.UnknownTopicRetries(-1),
		kgo.RecordDeliveryTimeout(time.Until(deadline)))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "startup-probe", Value: []byte("hello")}).FirstErr()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !n.alive() {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// createTopic creates a topic and waits until producing to it works.
func createTopic(bootstrap, topic string, partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, topic); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	// Wait for every partition to have a leader.
	for ctx.Err() == nil {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Err == nil && len(t.Partitions) == partitions {
				ok := true
				for _, p := range t.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ok = false
					}
				}
				if ok {
					return nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("topic %s has no leaders", topic)
}

func deleteTopic(bootstrap, topic string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = kadm.NewClient(cl).DeleteTopic(ctx, topic)
}

func payload(size int) []byte {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	return b
}

// maxResult is one maximum-throughput run.
type maxResult struct {
	Records   int     `json:"records"`
	Seconds   float64 `json:"seconds"`
	RecPerSec float64 `json:"rec_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
	CPUSec    float64 `json:"broker_cpu_sec"`
	CPUPerGB  float64 `json:"broker_cpu_sec_per_gb"`
	// ClientCPUPerGB is the franz-go load generator's own CPU (this
	// process) over the same interval: on a 2-core machine the client's
	// cost bounds what any broker can show.
	ClientCPUPerGB float64 `json:"client_cpu_sec_per_gb"`
	Errors         int64   `json:"errors"`
}

// franzMax produces n records of size bytes as fast as the producer allows
// and measures the broker's CPU over the same interval.
func franzMax(e *env, nd *node, p producerSettings, topic string, n, size int) (maxResult, error) {
	cl, err := kgo.NewClient(append(p.kgoOpts(nd.bootstrap), kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return maxResult{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	val := payload(size)
	// One synchronous record first: metadata, connection, producer id.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
		return maxResult{}, fmt.Errorf("first record: %w", err)
	}
	var errs atomic.Int64
	var firstErr atomic.Value
	cb := func(_ *kgo.Record, err error) {
		if err != nil {
			if errs.Add(1) == 1 {
				firstErr.Store(err)
			}
		}
	}
	c0, s0 := e.cpuSeconds(nd.pid), e.cpuSeconds(os.Getpid())
	t0 := time.Now()
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: val}, cb)
	}
	if err := cl.Flush(ctx); err != nil {
		return maxResult{}, err
	}
	d := time.Since(t0).Seconds()
	cpu := e.cpuSeconds(nd.pid) - c0
	self := e.cpuSeconds(os.Getpid()) - s0
	gb := float64(n) * float64(size) / 1e9
	r := maxResult{ClientCPUPerGB: self / gb, Records: n, Seconds: d, RecPerSec: float64(n) / d,
		MBPerSec: float64(n) * float64(size) / d / 1e6, CPUSec: cpu,
		CPUPerGB: cpu / (float64(n) * float64(size) / 1e9), Errors: errs.Load()}
	if r.Errors > 0 {
		return r, fmt.Errorf("%d records failed: %v", r.Errors, firstErr.Load())
	}
	return r, nil
}

// latResult is one fixed-rate run.
type latResult struct {
	Rate      float64 `json:"target_rate"`
	Achieved  float64 `json:"achieved_rate"`
	Records   int     `json:"records"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	P999ms    float64 `json:"p999_ms"`
	MaxMs     float64 `json:"max_ms"`
	Errors    int64   `json:"errors"`
	CPUPerSec float64 `json:"broker_cpu_per_sec"`
}

// franzFixedRate sends rate records/s for dur. Record i is due at
// t0 + i/rate; its latency is measured from that intended time to its
// acknowledgement, so a stalled producer or broker is charged for every
// record that should have been sent during the stall (no coordinated
// omission).
func franzFixedRate(e *env, nd *node, p producerSettings, topic string, rate float64, dur time.Duration, size int) (latResult, error) {
	cl, err := kgo.NewClient(append(p.kgoOpts(nd.bootstrap), kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return latResult{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dur+5*time.Minute)
	defer cancel()
	val := payload(size)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
		return latResult{}, fmt.Errorf("first record: %w", err)
	}
	total := int(rate * dur.Seconds())
	if total < 1 {
		return latResult{}, fmt.Errorf("rate %.1f records/s over %v is no record", rate, dur)
	}
	c0 := e.cpuSeconds(nd.pid)
	start := time.Now()
	res := openloop.Run(ctx, cl, val, rate, total)
	cpu := e.cpuSeconds(nd.pid) - c0
	wall := time.Since(start)
	r := latResult{Rate: rate, Achieved: float64(total) / res.Sent.Seconds(), Records: total,
		P50ms: res.QuantileMs(0.50), P99ms: res.QuantileMs(0.99), P999ms: res.QuantileMs(0.999),
		MaxMs: float64(res.Latencies[total-1]) / 1e6, Errors: res.Errors, CPUPerSec: cpu / wall.Seconds()}
	if r.Errors > 0 {
		return r, fmt.Errorf("%d records failed", r.Errors)
	}
	return r, nil
}
