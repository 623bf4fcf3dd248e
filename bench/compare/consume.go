package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consumer settings shared by franz-go and ConsumerPerformance (the Java
// consumer's defaults except fetch.max.wait.ms, 500 ms there).
const (
	consumeMaxWait       = 100 * time.Millisecond
	consumePartitionMax  = 1 << 20  // max.partition.fetch.bytes
	consumeFetchMaxBytes = 50 << 20 // fetch.max.bytes
)

// consumeResult is one franz-go read of a whole topic from its earliest
// offset.
type consumeResult struct {
	Records   int     `json:"records"`
	Bytes     int64   `json:"value_bytes"`
	Seconds   float64 `json:"seconds"`
	RecPerSec float64 `json:"rec_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
	CPUSec    float64 `json:"broker_cpu_sec"`
	CPUPerGB  float64 `json:"broker_cpu_sec_per_gb"`
	// ClientCPUPerGB is this process's CPU over the same interval.
	ClientCPUPerGB float64 `json:"client_cpu_sec_per_gb"`
}

// topicOffsets returns each partition's [start, end) offsets.
func topicOffsets(bootstrap, topic string) (map[int32][2]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	out := map[int32][2]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		out[o.Partition] = [2]int64{s.Offset, o.Offset}
	})
	return out, nil
}

// franzConsume reads every record of topic (already produced, no
// consumer group) from the earliest offset and measures the broker's CPU
// from the client's creation to the last record.
func franzConsume(e *env, nd *node, topic string, size int) (consumeResult, error) {
	// The end offsets are the high watermarks, and samsa's fsync default
	// moves those only once the data is on disk: right after an acks=1
	// run they can still rise for a few milliseconds. Read until stable.
	var offs map[int32][2]int64
	for try := 0; ; try++ {
		next, err := topicOffsets(nd.bootstrap, topic)
		if err != nil {
			return consumeResult{}, err
		}
		if maps.Equal(offs, next) || try == 20 {
			offs = next
			break
		}
		offs = next
		time.Sleep(100 * time.Millisecond)
	}
	var total int64
	parts := map[int32]kgo.Offset{}
	for p, se := range offs {
		total += se[1] - se[0]
		parts[p] = kgo.NewOffset().AtStart()
	}
	if total == 0 {
		return consumeResult{}, fmt.Errorf("topic %s is empty", topic)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c0, s0 := e.cpuSeconds(nd.pid), e.cpuSeconds(os.Getpid())
	t0 := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(nd.bootstrap),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(consumeMaxWait),
		kgo.FetchMaxPartitionBytes(consumePartitionMax),
		kgo.FetchMaxBytes(consumeFetchMaxBytes))
	if err != nil {
		return consumeResult{}, err
	}
	defer cl.Close()
	var n, nb int64
	for n < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return consumeResult{}, fmt.Errorf("consumed %d of %d records: %w", n, total, ctx.Err())
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return consumeResult{}, fmt.Errorf("fetch %s/%d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			nb += int64(len(r.Value))
		})
	}
	d := time.Since(t0).Seconds()
	cpu := e.cpuSeconds(nd.pid) - c0
	self := e.cpuSeconds(os.Getpid()) - s0
	gb := float64(n) * float64(size) / 1e9
	r := consumeResult{Records: int(n), Bytes: nb, Seconds: d, RecPerSec: float64(n) / d,
		MBPerSec: float64(n) * float64(size) / d / 1e6, CPUSec: cpu, CPUPerGB: cpu / gb, ClientCPUPerGB: self / gb}
	if n != total || nb != n*int64(size) {
		return r, fmt.Errorf("consumed %d records (%d value bytes), expected %d of %d B", n, nb, total, size)
	}
	return r, nil
}

// cpResult is one run of Kafka's own org.apache.kafka.tools.ConsumerPerformance.
type cpResult struct {
	Records   int     `json:"records"`
	RecPerSec float64 `json:"rec_per_sec"` // fetch.nMsg.sec: excludes the JVM start and the group join
	MBPerSec  float64 `json:"mb_per_sec"`  // recomputed as 10^6 payload bytes
	FetchMs   float64 `json:"fetch_ms"`
	JoinMs    float64 `json:"rebalance_ms"`
	CPUSec    float64 `json:"broker_cpu_sec"`
	CPUPerGB  float64 `json:"broker_cpu_sec_per_gb"` // the whole tool run: JVM start, group join, fetches, leave
	Summary   string  `json:"summary"`
}

// consumerPerformance runs ConsumerPerformance on topic (a fresh consumer
// group, so from the earliest offset) for n records. Its default output is
// a header line and one line of values, comma-separated.
func consumerPerformance(e *env, nd *node, topic string, n, size int) (cpResult, error) {
	cfg, err := os.CreateTemp("", "bench-consumer-*.properties")
	if err != nil {
		return cpResult{}, err
	}
	defer os.Remove(cfg.Name())
	fmt.Fprintf(cfg, "fetch.max.wait.ms=%d\nmax.partition.fetch.bytes=%d\nfetch.max.bytes=%d\n",
		consumeMaxWait.Milliseconds(), consumePartitionMax, consumeFetchMaxBytes)
	cfg.Close()
	args := []string{"tool", "org.apache.kafka.tools.ConsumerPerformance",
		"--bootstrap-server", nd.bootstrap, "--topic", topic, "--messages", strconv.Itoa(n),
		"--group", "bench-cp-" + filepath.Base(topic), "--fetch-size", strconv.Itoa(consumePartitionMax),
		"--consumer.config", cfg.Name(), "--timeout", "30000"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.kafkaRef, args...)
	cmd.Env = append(os.Environ(), "KAFKA_REF_JAVA_OPTS=-XX:TieredStopAtLevel=4 -Xmx512m")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	c0 := e.cpuSeconds(nd.pid)
	err = cmd.Run()
	cpu := e.cpuSeconds(nd.pid) - c0
	if err != nil {
		return cpResult{}, fmt.Errorf("ConsumerPerformance: %v: %s", err, lastLines(stderr.String()+out.String(), 5))
	}
	var head []string
	vals := map[string]string{}
	var summary string
	for _, line := range strings.Split(out.String(), "\n") {
		fs := strings.Split(line, ",")
		for i := range fs {
			fs[i] = strings.TrimSpace(fs[i])
		}
		if len(fs) > 1 && fs[0] == "start.time" {
			head = fs
			continue
		}
		if head != nil && len(fs) == len(head) {
			for i, h := range head {
				vals[h] = fs[i]
			}
			summary = strings.TrimSpace(line)
			break
		}
	}
	if summary == "" {
		return cpResult{}, fmt.Errorf("ConsumerPerformance: no result line in: %s", lastLines(out.String()+stderr.String(), 5))
	}
	f := func(k string) float64 { v, _ := strconv.ParseFloat(vals[k], 64); return v }
	r := cpResult{Records: int(f("data.consumed.in.nMsg")), RecPerSec: f("fetch.nMsg.sec"),
		FetchMs: f("fetch.time.ms"), JoinMs: f("rebalance.time.ms"), CPUSec: cpu, Summary: summary}
	r.MBPerSec = r.RecPerSec * float64(size) / 1e6
	r.CPUPerGB = cpu / (float64(r.Records) * float64(size) / 1e9)
	if r.Records < n {
		return r, fmt.Errorf("ConsumerPerformance read %d of %d records", r.Records, n)
	}
	return r, nil
}
