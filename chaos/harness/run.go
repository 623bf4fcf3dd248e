// Package harness runs a three-node samsa cluster of real `samsa serve`
// processes (or of Apache Kafka's: target Kafka), each in its own network
// namespace, injects faults on a schedule reproducible from a seed, runs a
// workload of idempotent acks=all producers and consumers against it,
// heals everything, reads every partition to its end, audits every replica
// on disk and writes it all to a history (package chaos/history) for the
// checker.
//
// Topology (net.go): namespaces samsa-chaos-n1.. hold one node each on
// 10.77.14.11.. (fixed ports 9092/9093, as nothing else binds inside);
// samsa-chaos-br holds the bridge; the root namespace reaches it as
// 10.77.14.1, where the clients run. Layouts: Combined (three broker and
// controller nodes) or Isolated (controllers 1-3, brokers 4-6).
//
// Faults (nemesis.go), with calm gaps and empty slots, and sometimes a
// second, compatible fault started during the first (never two process
// faults at once): partitions of one node, of two halves, of a
// partition's leader or the active controller, one-way drops, and a ring
// of overlapping majorities (iptables DROP rules inside the namespaces,
// each fault's in a chain of its own so that overlapping faults heal
// independently); kill -9 of one node, of a minority (isolated: a
// controller and a broker) or of a leader, restarted at heal; SIGSTOP of a
// node or a leader for longer than the broker session and replica lag
// timeouts, SIGCONT at heal; a partition's replicas reordered and its
// preferred leader elected. Each is a history.Fault entry: invoke when it
// starts, ok when healed (fail if it could not be injected).
//
// Workload (workload.go): values are unique int64s, the record's key and
// value in decimal. Producers alternate franz-go and samsa's client, each
// client with one sequential loop per partition; a send ends fail only when the error proves the record was not written, info
// for everything ambiguous. One consumer by assign, one by subscribe.
// After the run: heal-all, a quiet period, final reads of every partition
// from offset 0 to its high watermark, then the nodes stop (SIGTERM) and
// every broker's copy of every partition is read with seglog (audit.go).
//
// Target Kafka (kafka.go) runs three Apache Kafka nodes instead (java
// kafka.Kafka on the same server.properties, storage formatted with
// kafka.tools.StorageTool, -Xmx512m each) under the same schedule,
// workload and checker, the corrupt fault excepted: the reference that
// the harness and the checker must find nothing wrong with. Its replica
// audit reads a copy of Kafka's .log files (the same record batches).
//
// The command chaos/cmd/chaos runs seeds one after another; Run needs
// root, ip and iptables (Probe says what is missing).
package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/client"
)

// Config is one run.
type Config struct {
	Seed   uint64
	Layout string // Combined or Isolated
	// Target is what the nodes run: Samsa (the default) or Kafka.
	Target   string
	Duration time.Duration // of the workload under faults
	// Quiet is how long the workload runs on after everything is healed,
	// before the final reads (default 10 s).
	Quiet time.Duration
	// Dir receives history.jsonl, summary.txt and node-N/ (config, data,
	// node.log).
	Dir string
	// Samsa is the samsa binary the nodes run (target Samsa).
	Samsa string
	// Kafka is the classpath of Apache Kafka's jars and Java the java
	// command (default: java from PATH) for target Kafka.
	Kafka, Java string
	// Partitions of the topic (default 3); Producers (default 4, half
	// franz-go, half samsa's client).
	Partitions int
	Producers  int
	// Gap is each producer's pause after a send completes (default
	// 10 ms; negative: none).
	Gap time.Duration
	// RequestTimeout is how long a producer waits for a Produce response
	// before it retries the batch on a fresh connection, the broker's own
	// acks=all wait included (default DefaultRequestTimeout; negative:
	// each client's default, franz-go 10 s + 10 s and samsa's 30 s +
	// 30 s). Jepsen's Redpanda test (which also runs against Kafka) sets the Java producer's
	// request.timeout.ms to 3 s for the same reason: a paused or cut-off
	// leader otherwise holds each producer's in-flight batch for as long
	// as the client waits, whatever the cluster has done since.
	RequestTimeout time.Duration
	// Kinds are the fault kinds to schedule (nil: Kinds).
	Kinds []string
	// Unsafe are the unsafe modes of the run (UnsafeModes; nil: none),
	// for validating the checker: a run with any is expected to lose
	// writes under leader faults.
	Unsafe []string
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
	// Ready, if set, is called once the cluster is up and the topic
	// exists, before the workload starts.
	Ready func(*Cluster)
}

// Summary is what a run did, counted from what it recorded.
type Summary struct {
	Seed         uint64
	Layout       string
	Target       string
	Faults       map[string]int // healed faults by kind
	FaultsFailed int            // faults that could not be injected
	Sends        map[history.Type]int
	Polls        int // ok polls
	PolledValues int // records seen by polls
	FinalRecords int // records of the final reads
	AuditRecords int // records of the replica audit
	Crashes      int // node exits the harness did not cause
	Elapsed      time.Duration
	Err          error // the run did not complete (setup, final reads, audit)
}

// Line is the summary on one line.
func (s Summary) Line() string {
	var kinds []string
	for k, n := range s.Faults {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	status := "complete"
	if s.Err != nil {
		status = "error: " + strings.ReplaceAll(s.Err.Error(), "\n", "; ")
	}
	// A samsa run's line is as it always was; another target is named.
	layout := s.Layout
	if s.Target != "" && s.Target != Samsa {
		layout += " target=" + s.Target
	}
	return fmt.Sprintf("seed=%d layout=%s elapsed=%v faults[%s] fault-failures=%d sends ok=%d fail=%d info=%d polls=%d polled=%d final=%d audit=%d crashes=%d %s",
		s.Seed, layout, s.Elapsed.Round(time.Millisecond), strings.Join(kinds, " "), s.FaultsFailed,
		s.Sends[history.OK], s.Sends[history.Fail], s.Sends[history.Info], s.Polls, s.PolledValues,
		s.FinalRecords, s.AuditRecords, s.Crashes, status)
}

// Topic is the workload's topic.
const Topic = "chaos"

// Run performs one run. It needs root (see Probe). Every namespace, link
// and process it creates is gone when it returns, also when ctx is
// cancelled; leftovers of an earlier run that crashed are removed first.
func Run(ctx context.Context, cfg Config) (sum Summary) {
	began := time.Now()
	if cfg.Target == "" {
		cfg.Target = Samsa
	}
	sum = Summary{Seed: cfg.Seed, Layout: cfg.Layout, Target: cfg.Target, Faults: map[string]int{}, Sends: map[history.Type]int{}}
	defer func() { sum.Elapsed = time.Since(began) }()
	if cfg.Quiet == 0 {
		cfg.Quiet = 10 * time.Second
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 3
	}
	if cfg.Producers == 0 {
		cfg.Producers = 4
	}
	if cfg.Gap == 0 {
		cfg.Gap = 10 * time.Millisecond
	}
	cfg.Gap = max(cfg.Gap, 0)
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	cfg.RequestTimeout = max(cfg.RequestTimeout, 0)
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	set, err := parseUnsafe(cfg.Unsafe)
	if err != nil {
		sum.Err = err
		return sum
	}
	if err := Probe(); err != nil {
		sum.Err = err
		return sum
	}
	if cfg.Target == Kafka && slices.Contains(cfg.Kinds, Corrupt) {
		// Damaging a file is a samsa recovery test; Kafka's answer to it
		// is not what the checker judges.
		sum.Err = fmt.Errorf("chaos harness: fault %s is not for target %s", Corrupt, Kafka)
		return sum
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		sum.Err = err
		return sum
	}
	lk, err := lock(10 * time.Minute)
	if err != nil {
		sum.Err = err
		return sum
	}
	defer lk.Close()
	if ns, links, err := Leftovers(); err == nil && len(ns)+len(links) > 0 {
		logf("removing leftovers of an earlier run: %v %v", ns, links)
	}
	if err := teardown(); err != nil {
		sum.Err = fmt.Errorf("chaos harness: removing leftovers: %w", err)
		return sum
	}
	c, err := newCluster(cfg, set)
	if err != nil {
		sum.Err = err
		return sum
	}
	defer func() {
		for _, n := range c.Nodes {
			n.kill()
		}
		if err := teardown(); err != nil && sum.Err == nil {
			sum.Err = fmt.Errorf("chaos harness: teardown: %w", err)
		}
	}()
	if err := setupNetwork(c.IDs()); err != nil {
		sum.Err = err
		return sum
	}
	hf, err := os.Create(filepath.Join(cfg.Dir, "history.jsonl"))
	if err != nil {
		sum.Err = err
		return sum
	}
	defer hf.Close()
	h := history.NewWriter(hf)
	defer func() {
		if err := h.Flush(); err != nil && sum.Err == nil {
			sum.Err = err
		}
		sum.count(filepath.Join(cfg.Dir, "history.jsonl"))
		for _, n := range c.Nodes {
			n.mu.Lock()
			sum.Crashes += n.crashes
			n.mu.Unlock()
		}
		_ = os.WriteFile(filepath.Join(cfg.Dir, "summary.txt"), []byte(sum.Line()+"\n"), 0o644)
	}()
	sum.Err = runCluster(ctx, cfg, set, c, h, &sum, logf)
	return sum
}

func runCluster(ctx context.Context, cfg Config, set settings, c *Cluster, h *history.Writer, sum *Summary, logf func(string, ...any)) error {
	if err := c.startAll(); err != nil {
		return err
	}
	ready := 90 * time.Second
	if c.Target == Kafka {
		ready = kafkaReadyTimeout
	}
	if err := c.waitReady(ctx, ready); err != nil {
		return err
	}
	logf("cluster up: %s, %s layout, brokers %v", c.Target, c.Layout, c.Bootstrap())
	if err := createTopic(ctx, c.Bootstrap(), Topic, cfg.Partitions, set.topicConfig()); err != nil {
		return err
	}
	if cfg.Ready != nil {
		cfg.Ready(c)
	}
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		return err
	}
	defer adm.Close()
	w := &workload{h: h, bootstrap: c.Bootstrap(), topic: Topic, logf: logf, set: set, requestTimeout: cfg.RequestTimeout}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var werrMu sync.Mutex
	var werrs []error
	spawn := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				werrMu.Lock()
				werrs = append(werrs, err)
				werrMu.Unlock()
			}
		}()
	}
	// Producer i's loops are processes i*Partitions+p; the consumers and
	// the final reads come after them.
	for i := range cfg.Producers {
		first := i * cfg.Partitions
		if i%2 == 0 {
			spawn(func() error { return w.produceFranz(wctx, first, cfg.Partitions, cfg.Gap) })
		} else {
			spawn(func() error { return w.produceSamsa(wctx, first, cfg.Partitions, cfg.Gap) })
		}
	}
	readers := cfg.Producers * cfg.Partitions
	spawn(func() error { return w.consume(wctx, readers, history.Assign, cfg.Partitions) })
	spawn(func() error { return w.consume(wctx, readers+1, history.Subscribe, cfg.Partitions) })

	scl, err := client.New(client.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		return err
	}
	defer scl.Close()
	nm := &nemesis{c: c, h: h, leader: leaderOf(kadm.NewClient(adm), scl, Topic), logf: logf, counts: sum.Faults}
	nm.leaders = leadersOf(nm.leader, cfg.Partitions)
	steps := Schedule(cfg.Seed, c.Layout, c.IDs(), cfg.Partitions, cfg.Duration, cfg.Kinds)
	start := time.Now()
	nm.run(ctx, start, steps)
	sleep(ctx, time.Until(start.Add(cfg.Duration)))
	if ctx.Err() != nil {
		stop()
		wg.Wait()
		return ctx.Err()
	}
	herr := nm.healAll()
	// The quiet period counts from a cluster that is up again: a node
	// restarted by the heal may take longer to serve than the period
	// lasts (an Apache Kafka JVM, all three at once on two cores: ~20 s).
	// Not being up in time is no error of the run: the workload and the
	// final reads go on, and the checker judges what they saw.
	if err := c.waitReady(ctx, ready); err != nil {
		logf("after the heal: %v", err)
	}
	logf("healed; quiet for %v", cfg.Quiet)
	sleep(ctx, cfg.Quiet)
	stop()
	wg.Wait()
	for _, n := range nm.c.Nodes {
		if !n.Running() {
			herr = errors.Join(herr, fmt.Errorf("node %d is down after the heal (see %s)", n.ID, n.LogPath()))
		}
	}
	logf("final reads")
	hws := w.finalReads(ctx, readers+2, cfg.Partitions, 60*time.Second)
	// Stop the nodes cleanly (each checkpoints its high watermarks), all
	// at once: the last of a quorum cannot finish a controlled shutdown
	// alone, so each gets a bounded time before SIGKILL.
	var sg sync.WaitGroup
	for _, n := range c.Nodes {
		sg.Add(1)
		go func() { defer sg.Done(); n.signal(syscall.SIGTERM, 15*time.Second) }()
	}
	sg.Wait()
	var aerr error
	sum.AuditRecords, aerr = auditReplicas(h, c, Topic, hws)
	werrMu.Lock()
	defer werrMu.Unlock()
	return errors.Join(herr, aerr, errors.Join(werrs...))
}

// leadersOf asks leader for each of n partitions' leader (-1 when it
// cannot say), within a second for all of them: the leaders a fault's
// history entry records.
func leadersOf(leader func(context.Context, int32) (int32, error), n int) func(context.Context) []int32 {
	return func(ctx context.Context) []int32 {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		out := make([]int32, n)
		for p := range out {
			id, err := leader(ctx, int32(p))
			if err != nil {
				id = -1
			}
			out[p] = id
		}
		return out
	}
}

// count fills the summary's operation counts from the history file.
func (s *Summary) count(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	ops, _ := history.Read(f)
	for _, op := range ops {
		switch {
		case op.F == history.Send && op.Type != history.Invoke:
			s.Sends[op.Type]++
		case op.F == history.Poll && op.Type == history.OK:
			s.Polls++
			s.PolledValues += len(op.Records)
		case op.F == history.FinalRead && op.Type != history.Invoke:
			s.FinalRecords += len(op.Records)
		case op.F == history.Fault && op.Type == history.Fail:
			s.FaultsFailed++
		}
	}
}

// Build compiles samsa's command (cmd/samsa of the module at root) to out,
// with the build tags given ("crashfs"; BrokenTag: the broken samsa of
// validation runs).
func Build(ctx context.Context, root, out string, tags ...string) error {
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/samsa")...)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building samsa: %v: %s", err, b)
	}
	return nil
}
