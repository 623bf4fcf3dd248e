// Command compare is the benchmark harness behind `make bench-compare`
// (scripts/bench-compare): the same clients and the same workloads against
// samsa and against Apache Kafka on this machine, alternating brokers run by
// run and discarding each scenario's first (warm-up) round.
//
// Load generators: franz-go (in this program) and Kafka's own
// org.apache.kafka.tools.ProducerPerformance (through scripts/kafka-reference).
// Figures per broker: maximum throughput, consume throughput (the topic each
// franz-go maximum-throughput run wrote, read back from its earliest offset by
// franz-go and by Kafka's ConsumerPerformance), produce latency at a fixed rate of
// half Kafka's measured maximum (measured from each record's intended send
// time), broker CPU-seconds per GB produced and consumed (/proc/pid/stat), idle and peak RSS
// (/proc/pid/status) and start-up time to the first successful produce.
//
// It writes a JSON file with every run and a markdown report; bench/plot.py
// draws the chart from the JSON.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-compare: "+format+"\n", args...)
	stopAll()
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// scenario is one workload: record size, acks, partitions.
type scenario struct {
	Name  string `json:"name"`
	Size  int    `json:"size"`
	Acks  string `json:"acks"`
	Parts int    `json:"partitions"`
}

func (s scenario) Label() string {
	size := fmt.Sprintf("%d B", s.Size)
	if s.Size == 1024 {
		size = "1 KB"
	}
	return fmt.Sprintf("%s acks=%s %dp", size, s.Acks, s.Parts)
}

var scenarioRE = regexp.MustCompile(`^(1k|100|\d+)-(a1|all)-p(\d+)$`)

func parseScenarios(list string) []scenario {
	var out []scenario
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		m := scenarioRE.FindStringSubmatch(name)
		if m == nil {
			fatalf("bad scenario %q (want SIZE-ACKS-pN: 1k-a1-p1, 100-all-p6, ...)", name)
		}
		s := scenario{Name: name, Acks: "1"}
		if m[1] == "1k" {
			s.Size = 1024
		} else {
			s.Size, _ = strconv.Atoi(m[1])
		}
		if m[2] == "all" {
			s.Acks = "all"
		}
		s.Parts, _ = strconv.Atoi(m[3])
		out = append(out, s)
	}
	return out
}

// Results is everything one invocation measured (written as JSON).
type Results struct {
	Started  time.Time              `json:"started"`
	Finished time.Time              `json:"finished"`
	Mode     string                 `json:"mode"`
	Command  string                 `json:"command"`
	Machine  machineInfo            `json:"machine"`
	Params   params                 `json:"params"`
	Flavors  []string               `json:"flavors"`
	Notes    map[string]string      `json:"flavor_notes"`
	Kafka    string                 `json:"kafka_version"` // scripts/kafka-reference version
	Media    []*mediumResult        `json:"media"`
	Startup  map[string][]nodeStats `json:"startups"` // every start, every medium
	Errors   []string               `json:"errors"`
}

type params struct {
	Runs         int           `json:"runs_kept"`
	Records      map[int]int   `json:"records_by_size"`
	LatencyDur   time.Duration `json:"latency_duration_ns"`
	LoadFraction float64       `json:"load_fraction"`
	Batch        int           `json:"batch_size"`
	Linger       time.Duration `json:"linger_ns"`
	BufferMem    int           `json:"buffer_memory"`
	IdleWait     time.Duration `json:"idle_wait_ns"`
	Consume      bool          `json:"consume,omitempty"`
	ConsumerPerf bool          `json:"consumer_performance,omitempty"`
	KafkaJVM     string        `json:"kafka_jvm"`
}

type nodeStats struct {
	Flavor   string  `json:"flavor"`
	Medium   string  `json:"medium"`
	StartupS float64 `json:"startup_s"`
	IdleRSS  int64   `json:"idle_rss"`
	IdleCPU  float64 `json:"idle_cpu_per_s"`
	PeakRSS  int64   `json:"peak_rss,omitempty"` // VmHWM at stop, after the medium's workloads
}

type mediumResult struct {
	Name      string               `json:"name"` // tmpfs or disk
	Dir       string               `json:"dir"`
	FS        string               `json:"fs"`
	Nodes     map[string]nodeStats `json:"nodes"`
	Scenarios []*scenarioResult    `json:"scenarios"`
}

type scenarioResult struct {
	Scenario scenario                   `json:"scenario"`
	Rate     float64                    `json:"fixed_rate"`
	RateFrom string                     `json:"fixed_rate_from"`
	Franz    map[string][]maxResult     `json:"franz_max"`
	PP       map[string][]ppResult      `json:"producer_performance"`
	Lat      map[string][]latResult     `json:"franz_fixed_rate"`
	Consume  map[string][]consumeResult `json:"franz_consume,omitempty"`
	CP       map[string][]cpResult      `json:"consumer_performance,omitempty"`
}

func main() {
	var (
		quick     = flag.Bool("quick", false, "short smoke run (a few minutes): one scenario per medium group, small counts")
		root      = flag.String("root", ".", "samsa repository root")
		samsaBin  = flag.String("samsa", "bin/samsa", "samsa binary")
		tmpfsDir  = flag.String("tmpfs-dir", "/dev/shm/samsa-bench", "log directory root on tmpfs")
		diskDir   = flag.String("disk-dir", "/var/tmp/samsa-bench", "log directory root on disk")
		tmpfsScen = flag.String("tmpfs", "1k-a1-p1,1k-a1-p6,1k-all-p1,1k-all-p6,100-a1-p1,100-a1-p6", "scenarios with logs on tmpfs (SIZE-ACKS-pN; empty = none)")
		diskScen  = flag.String("disk", "1k-a1-p6,1k-all-p1,1k-all-p6", "scenarios with logs on disk")
		flavors   = flag.String("brokers", "kafka,samsa,samsa-fsync", "broker columns: kafka, samsa (no fsync, like Kafka), samsa-fsync (samsa's default)")
		runs      = flag.Int("runs", 2, "kept runs per broker and scenario (after one discarded warm-up round)")
		rec1k     = flag.Int("records-1k", 400000, "records per throughput run for 1 KB records")
		rec100    = flag.Int("records-100", 2000000, "records per throughput run for 100-byte records")
		latDur    = flag.Duration("latency-duration", 10*time.Second, "fixed-rate run length")
		loadFrac  = flag.Float64("load", 0.5, "fixed rate as a fraction of Kafka's measured maximum (franz-go)")
		noPP      = flag.Bool("no-producer-perf", false, "skip Kafka's ProducerPerformance runs")
		consume   = flag.Bool("consume", true, "after each franz-go maximum-throughput run, read the topic back from its earliest offset (franz-go, no group) and measure consume throughput and broker CPU per GB consumed")
		noCP      = flag.Bool("no-consumer-perf", false, "with -consume, skip Kafka's ConsumerPerformance runs on the same topic")
		warmup    = flag.Duration("warmup", 30*time.Second, "per broker, before a medium's scenarios: produce for this long (discarded) so the JVM's JIT is warm")
		startups  = flag.Int("startups", 3, "extra cold starts per broker (tmpfs) for start-up time and idle RSS")
		idleWait  = flag.Duration("idle", 10*time.Second, "quiet time after start-up before idle RSS is read")
		batch     = flag.Int("batch", 16384, "producer batch size (Java batch.size, kgo ProducerBatchMaxBytes)")
		linger    = flag.Duration("linger", 5*time.Millisecond, "producer linger (Java linger.ms default in 4.x)")
		kafkaHeap = flag.String("kafka-heap", "-Xmx1G -Xms1G", "Kafka broker heap (kafka-server-start.sh default)")
		jsonOut   = flag.String("json", "", "write every run as JSON here")
		mdOut     = flag.String("out", "docs/bench.md", "markdown report")
		pngName   = flag.String("png", "bench.png", "chart file name the report links (relative to the report)")
		fromJSON  = flag.String("from-json", "", "only re-render the report from a results JSON of an earlier run")
		notesFile = flag.String("notes", "", "markdown appended to the report as the analysis section")
	)
	flag.Parse()
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("tmpfs", func() { *tmpfsScen = "1k-a1-p1" })
		def("disk", func() { *diskScen = "1k-all-p1" })
		def("runs", func() { *runs = 1 })
		def("records-1k", func() { *rec1k = 100000 })
		def("records-100", func() { *rec100 = 500000 })
		def("latency-duration", func() { *latDur = 5 * time.Second })
		def("startups", func() { *startups = 0 })
		def("warmup", func() { *warmup = 10 * time.Second })
		def("idle", func() { *idleWait = 3 * time.Second })
	}
	if err := os.Chdir(*root); err != nil {
		fatalf("%v", err)
	}
	if *fromJSON != "" {
		var res Results
		j, err := os.ReadFile(*fromJSON)
		if err == nil {
			err = json.Unmarshal(j, &res)
		}
		if err != nil {
			fatalf("%s: %v", *fromJSON, err)
		}
		writeReport(&res, *mdOut, *pngName, *notesFile)
		return
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	e := &env{root: abs("."), samsaBin: abs(*samsaBin), kafkaRef: abs("scripts/kafka-reference"),
		clkTck: clkTck(), idleWait: *idleWait,
		// Deleted topics go at once: the matrix writes many GB to tmpfs.
		extraProps: []string{"log.segment.delete.delay.ms=0"}}
	kafkaVersion := ""
	if strings.Contains(*flavors, "kafka") { // samsa-only runs start no Kafka broker
		cp, err := exec.Command(e.kafkaRef, "classpath").Output()
		if err != nil {
			fatalf("kafka-reference classpath: %v", err)
		}
		e.kafkaCP = strings.TrimSpace(string(cp))
		e.kafkaCache = strings.TrimSuffix(e.kafkaCP, "/libs/*")
		kv, err := exec.Command(e.kafkaRef, "version").Output()
		if err != nil {
			fatalf("kafka-reference version: %v", err)
		}
		kafkaVersion = strings.TrimSpace(string(kv))
		kafkaFlavor.note = "Apache Kafka " + kafkaVersion + ", defaults (no fsync; page cache)"
	}
	// kafka-server-start.sh + kafka-run-class.sh defaults.
	e.kafkaJVM = append(strings.Fields(*kafkaHeap), "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
		"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
		"-XX:MaxInlineLevel=15", "-Djava.awt.headless=true")

	var fls []flavor
	for _, name := range strings.Split(*flavors, ",") {
		switch strings.TrimSpace(name) {
		case "kafka":
			fls = append(fls, kafkaFlavor)
		case "samsa":
			fls = append(fls, samsaFlavor)
		case "samsa-fsync":
			fls = append(fls, samsaFsFlavor)
		case "":
		default:
			fatalf("unknown broker %q", name)
		}
	}
	if len(fls) == 0 {
		fatalf("no brokers")
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fatalf("interrupted (%v); brokers stopped", s)
	}()

	res := &Results{Started: time.Now(), Mode: "full", Kafka: kafkaVersion, Machine: gatherMachine(),
		Command: command(),
		Startup: map[string][]nodeStats{}, Notes: map[string]string{},
		Params: params{Runs: *runs, Records: map[int]int{1024: *rec1k, 100: *rec100},
			LatencyDur: *latDur, LoadFraction: *loadFrac, Batch: *batch, Linger: *linger,
			BufferMem: 32 << 20, IdleWait: *idleWait, KafkaJVM: strings.Join(e.kafkaJVM, " "),
			Consume: *consume, ConsumerPerf: *consume && !*noCP}}
	if *quick {
		res.Mode = "quick"
	}
	for _, f := range fls {
		res.Flavors = append(res.Flavors, f.name)
		res.Notes[f.name] = f.note
	}
	records := func(size int) int {
		if n, ok := res.Params.Records[size]; ok {
			return n
		}
		return *rec1k * 1024 / size
	}
	b := &bencher{e: e, res: res, fls: fls, runs: *runs, records: records, latDur: *latDur,
		loadFrac: *loadFrac, noPP: *noPP, consume: *consume, noCP: *noCP, warmup: *warmup,
		settings: func(acks string) producerSettings {
			return producerSettings{acks: acks, batch: *batch, linger: *linger, bufferMem: 32 << 20}
		}}

	for _, m := range []struct{ name, dir, list string }{{"tmpfs", *tmpfsDir, *tmpfsScen}, {"disk", *diskDir, *diskScen}} {
		scs := parseScenarios(m.list)
		if len(scs) == 0 {
			continue
		}
		b.medium(m.name, m.dir, scs)
	}
	for i := 0; i < *startups; i++ {
		for _, f := range fls {
			dir := filepath.Join(*tmpfsDir, "startup-"+f.name)
			logf("start-up %d/%d: %s", i+1, *startups, f.name)
			nd, err := e.startNode(f, dir)
			if err != nil {
				res.Errors = append(res.Errors, err.Error())
				logf("error: %v", err)
				continue
			}
			res.Startup[f.name] = append(res.Startup[f.name], nodeStats{Flavor: f.name, Medium: "tmpfs",
				StartupS: nd.startup.Seconds(), IdleRSS: nd.idleRSS, IdleCPU: nd.idleCPU})
			nd.stop()
			os.RemoveAll(dir)
		}
	}
	res.Finished = time.Now()
	res.Machine.LoadAfter = loadavg()
	if *jsonOut != "" {
		j, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, j, 0o644); err != nil {
			fatalf("%v", err)
		}
	}
	writeReport(res, *mdOut, *pngName, *notesFile)
}

func writeReport(res *Results, out, png, notesFile string) {
	var notes string
	if notesFile != "" {
		if nb, err := os.ReadFile(notesFile); err == nil {
			notes = string(nb)
		}
	}
	md := report(res, png, notes)
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		fatalf("%v", err)
	}
	fmt.Print(md)
}

type bencher struct {
	e        *env
	res      *Results
	fls      []flavor
	runs     int
	records  func(size int) int
	latDur   time.Duration
	loadFrac float64
	noPP     bool
	consume  bool
	noCP     bool
	warmup   time.Duration
	settings func(acks string) producerSettings
	seq      int
}

func (b *bencher) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	logf("error: %s", msg)
	b.res.Errors = append(b.res.Errors, msg)
}

func (b *bencher) topic(sc scenario, fl flavor) string {
	b.seq++
	return fmt.Sprintf("bench-%s-%s-%d", sc.Name, fl.name, b.seq)
}

// medium starts every broker with its logs under dir, runs the scenarios
// (brokers alternate run by run), then reads peak RSS and stops them.
func (b *bencher) medium(name, dir string, scs []scenario) {
	mr := &mediumResult{Name: name, Dir: dir, FS: fsType(dir), Nodes: map[string]nodeStats{}}
	b.res.Media = append(b.res.Media, mr)
	nodes := map[string]*node{}
	defer func() {
		for _, nd := range nodes {
			nd.stop()
			os.RemoveAll(nd.dir)
		}
	}()
	for _, f := range b.fls {
		logf("%s: starting %s", name, f.name)
		nd, err := b.e.startNode(f, filepath.Join(dir, f.name))
		if err != nil {
			b.errorf("%s: %v", name, err)
			continue
		}
		logf("%s: %s up in %.3fs, idle RSS %.1f MB", name, f.name, nd.startup.Seconds(), float64(nd.idleRSS)/1e6)
		nodes[f.name] = nd
		st := nodeStats{Flavor: f.name, Medium: name, StartupS: nd.startup.Seconds(), IdleRSS: nd.idleRSS, IdleCPU: nd.idleCPU}
		mr.Nodes[f.name] = st
		b.res.Startup[f.name] = append(b.res.Startup[f.name], st)
	}
	mr.FS = fsType(dir)
	for _, f := range b.fls {
		if nd := nodes[f.name]; nd != nil && b.warmup > 0 {
			b.warm(name, f, nd)
		}
	}
	for _, sc := range scs {
		mr.Scenarios = append(mr.Scenarios, b.scenario(name, sc, nodes))
	}
	for fname, nd := range nodes {
		_, hwm := procMem(nd.pid)
		st := mr.Nodes[fname]
		st.PeakRSS = hwm
		mr.Nodes[fname] = st
	}
}

// warm produces 1 KB records, alternating acks=1 and acks=all, for the
// warm-up time (with -consume, reading each topic back); nothing is recorded.
func (b *bencher) warm(medium string, fl flavor, nd *node) {
	t0 := time.Now()
	var recs int
	for i := 0; time.Since(t0) < b.warmup; i++ {
		sc := scenario{Name: "warmup", Size: 1024, Acks: []string{"1", "all"}[i%2], Parts: 6}
		t := b.topic(sc, fl)
		if err := createTopic(nd.bootstrap, t, sc.Parts); err != nil {
			b.errorf("%s warm-up %s: %v", medium, fl.name, err)
			return
		}
		_, err := franzMax(b.e, nd, b.settings(sc.Acks), t, 50000, sc.Size)
		if err == nil && b.consume {
			// The fetch path wants its JIT warm-up too.
			_, err = franzConsume(b.e, nd, t, sc.Size)
		}
		deleteTopic(nd.bootstrap, t)
		if err != nil {
			b.errorf("%s warm-up %s: %v", medium, fl.name, err)
			return
		}
		recs += 50000
	}
	logf("%s: warmed %s up with %d records in %.1fs", medium, fl.name, recs, time.Since(t0).Seconds())
}

// consumeTopic reads topic (just written by a franz-go maximum-throughput
// run) back from its earliest offset with franz-go, then with Kafka's
// ConsumerPerformance. Round 0 is discarded like the produce warm-up; it
// also has ConsumerPerformance create __consumer_offsets before a kept run.
func (b *bencher) consumeTopic(medium string, sc scenario, fl flavor, nd *node, sr *scenarioResult, t string, r int) {
	cr, err := franzConsume(b.e, nd, t, sc.Size)
	if err != nil {
		b.errorf("%s %s %s franz-go consume: %v", medium, sc.Name, fl.name, err)
		return
	}
	logf("%s %s round %d %s franz-go consume: %.0f rec/s %.1f MB/s, broker %.2f CPU-s/GB", medium, sc.Name, r, fl.name,
		cr.RecPerSec, cr.MBPerSec, cr.CPUPerGB)
	if r > 0 {
		sr.Consume[fl.name] = append(sr.Consume[fl.name], cr)
	}
	if b.noCP {
		return
	}
	cp, err := consumerPerformance(b.e, nd, t, cr.Records, sc.Size)
	if err != nil {
		b.errorf("%s %s %s: %v", medium, sc.Name, fl.name, err)
		return
	}
	logf("%s %s round %d %s ConsumerPerformance: %.0f rec/s %.1f MB/s (join %.0f ms), broker %.2f CPU-s/GB", medium, sc.Name, r, fl.name,
		cp.RecPerSec, cp.MBPerSec, cp.JoinMs, cp.CPUPerGB)
	if r > 0 {
		sr.CP[fl.name] = append(sr.CP[fl.name], cp)
	}
}

// command is how the run was invoked, for the report.
func command() string {
	if c := os.Getenv("BENCH_COMMAND"); c != "" {
		return c
	}
	return "bench/compare " + strings.Join(os.Args[1:], " ")
}

func (b *bencher) scenario(medium string, sc scenario, nodes map[string]*node) *scenarioResult {
	sr := &scenarioResult{Scenario: sc, Franz: map[string][]maxResult{}, PP: map[string][]ppResult{},
		Lat: map[string][]latResult{}, Consume: map[string][]consumeResult{}, CP: map[string][]cpResult{}}
	p := b.settings(sc.Acks)
	n := b.records(sc.Size)
	each := func(f func(fl flavor, nd *node)) {
		for _, fl := range b.fls {
			if nd := nodes[fl.name]; nd != nil {
				if !nd.alive() {
					b.errorf("%s %s: %s has exited: %s", medium, sc.Name, fl.name, tailFile(nd.logPath))
					delete(nodes, fl.name)
					continue
				}
				f(fl, nd)
			}
		}
	}
	// Throughput: round 0 is a shorter warm-up, discarded.
	for r := 0; r <= b.runs; r++ {
		each(func(fl flavor, nd *node) {
			cnt := n
			if r == 0 {
				cnt = n / 4
			}
			t := b.topic(sc, fl)
			if err := createTopic(nd.bootstrap, t, sc.Parts); err != nil {
				b.errorf("%s %s %s: %v", medium, sc.Name, fl.name, err)
				return
			}
			mr, err := franzMax(b.e, nd, p, t, cnt, sc.Size)
			if err != nil {
				deleteTopic(nd.bootstrap, t)
				b.errorf("%s %s %s franz-go max: %v", medium, sc.Name, fl.name, err)
				return
			}
			logf("%s %s round %d %s franz-go: %.0f rec/s %.1f MB/s, broker %.2f CPU-s/GB", medium, sc.Name, r, fl.name,
				mr.RecPerSec, mr.MBPerSec, mr.CPUPerGB)
			if r > 0 {
				sr.Franz[fl.name] = append(sr.Franz[fl.name], mr)
			}
			if b.consume {
				b.consumeTopic(medium, sc, fl, nd, sr, t, r)
			}
			deleteTopic(nd.bootstrap, t)
			if r == 0 || b.noPP {
				return
			}
			t = b.topic(sc, fl)
			if err := createTopic(nd.bootstrap, t, sc.Parts); err != nil {
				b.errorf("%s %s %s: %v", medium, sc.Name, fl.name, err)
				return
			}
			pr, err := producerPerformance(b.e, nd, p, t, n, sc.Size)
			deleteTopic(nd.bootstrap, t)
			if err != nil {
				b.errorf("%s %s %s: %v", medium, sc.Name, fl.name, err)
				return
			}
			logf("%s %s round %d %s ProducerPerformance: %.0f rec/s %.1f MB/s", medium, sc.Name, r, fl.name, pr.RecPerSec, pr.MBPerSec)
			sr.PP[fl.name] = append(sr.PP[fl.name], pr)
		})
	}
	// Fixed rate: a fraction of Kafka's maximum as franz-go measured it.
	ref := "kafka"
	if len(sr.Franz[ref]) == 0 {
		for _, fl := range b.fls {
			if len(sr.Franz[fl.name]) > 0 {
				ref = fl.name
				break
			}
		}
	}
	var maxRate float64
	for _, m := range sr.Franz[ref] {
		maxRate += m.RecPerSec / float64(len(sr.Franz[ref]))
	}
	if maxRate == 0 {
		b.errorf("%s %s: no maximum measured; skipping latency", medium, sc.Name)
		return sr
	}
	sr.Rate, sr.RateFrom = b.loadFrac*maxRate, ref
	for r := 0; r <= b.runs; r++ {
		each(func(fl flavor, nd *node) {
			d := b.latDur
			if r == 0 {
				d = b.latDur / 4
			}
			t := b.topic(sc, fl)
			if err := createTopic(nd.bootstrap, t, sc.Parts); err != nil {
				b.errorf("%s %s %s: %v", medium, sc.Name, fl.name, err)
				return
			}
			lr, err := franzFixedRate(b.e, nd, p, t, sr.Rate, d, sc.Size)
			deleteTopic(nd.bootstrap, t)
			if err != nil {
				b.errorf("%s %s %s fixed rate: %v", medium, sc.Name, fl.name, err)
				return
			}
			logf("%s %s round %d %s at %.0f rec/s: p50 %.2f p99 %.2f p99.9 %.2f ms", medium, sc.Name, r, fl.name,
				sr.Rate, lr.P50ms, lr.P99ms, lr.P999ms)
			if r > 0 {
				sr.Lat[fl.name] = append(sr.Lat[fl.name], lr)
			}
		})
	}
	return sr
}
