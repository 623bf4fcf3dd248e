package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ppResult is one run of Kafka's own org.apache.kafka.tools.ProducerPerformance.
type ppResult struct {
	Records   int     `json:"records"`
	RecPerSec float64 `json:"rec_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"` // recomputed as 10^6 bytes
	AvgMs     float64 `json:"avg_ms"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	P999ms    float64 `json:"p999_ms"`
	CPUSec    float64 `json:"broker_cpu_sec"`
	CPUPerGB  float64 `json:"broker_cpu_sec_per_gb"` // includes the tool's JVM start (broker idle)
	Summary   string  `json:"summary"`
}

// The final line: "N records sent, X records/sec (Y MB/sec), A ms avg
// latency, M ms max latency, a ms 50th, b ms 95th, c ms 99th, d ms 99.9th."
var ppSummary = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th`)

func producerPerformance(e *env, nd *node, p producerSettings, topic string, n, size int) (ppResult, error) {
	args := []string{"tool", "org.apache.kafka.tools.ProducerPerformance",
		"--topic", topic, "--num-records", strconv.Itoa(n), "--record-size", strconv.Itoa(size),
		"--throughput", "-1", "--producer-props"}
	args = append(args, p.javaProps(nd.bootstrap)...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.kafkaRef, args...)
	// The reference script runs tools with C1 only (fast start); a load
	// generator wants the full JIT, as kafka-producer-perf-test.sh has.
	cmd.Env = append(os.Environ(), "KAFKA_REF_JAVA_OPTS=-XX:TieredStopAtLevel=4 -Xmx512m")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	c0 := e.cpuSeconds(nd.pid)
	err := cmd.Run()
	cpu := e.cpuSeconds(nd.pid) - c0
	if err != nil {
		return ppResult{}, fmt.Errorf("ProducerPerformance: %v: %s", err, lastLines(stderr.String()+out.String(), 5))
	}
	var last []string
	for _, line := range strings.Split(out.String(), "\n") {
		if m := ppSummary.FindStringSubmatch(line); m != nil && strings.Contains(line, "99.9th") {
			last = m
		}
	}
	if last == nil {
		return ppResult{}, fmt.Errorf("ProducerPerformance: no summary line in: %s", lastLines(out.String()+stderr.String(), 5))
	}
	f := func(i int) float64 { v, _ := strconv.ParseFloat(last[i], 64); return v }
	r := ppResult{Records: int(f(1)), RecPerSec: f(2), AvgMs: f(4), P50ms: f(6), P99ms: f(8), P999ms: f(9),
		CPUSec: cpu, Summary: last[0]}
	r.MBPerSec = r.RecPerSec * float64(size) / 1e6
	r.CPUPerGB = cpu / (float64(r.Records) * float64(size) / 1e9)
	if r.Records != n {
		return r, fmt.Errorf("ProducerPerformance sent %d of %d records", r.Records, n)
	}
	return r, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
