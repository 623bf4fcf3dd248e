// Command cluster times three-node clusters of samsa and of Apache Kafka
// side by side on this machine (scripts/bench-cluster): cold start to a
// ready cluster, CreateTopics latency, the election of a new controller
// (and the first metadata write) after kill -9 of the active one, and idle
// RSS per node. Every node is a separate process of combined roles
// (broker,controller) configured by the same generated server.properties
// in Kafka's keys; the systems take turns repetition by repetition.
//
// It writes every sample as JSON and a markdown section for docs/bench.md
// (samsa/Kafka ratios against the goal of at most one half). It is a
// benchmark, not a test: nothing in CI runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-cluster: "+format+"\n", args...)
	killAll()
	os.Exit(1)
}

func main() {
	var (
		root      = flag.String("root", ".", "repository root (for scripts/kafka-reference)")
		systems   = flag.String("systems", "kafka,samsa", "systems to run, in the first repetition's order: kafka, samsa")
		samsaBin  = flag.String("samsa", "bin/samsa", "samsa binary")
		samsaRev  = flag.String("samsa-rev", "", "the samsa revision to report (default: git describe of -root, where the wrapper builds the binary)")
		reps      = flag.Int("reps", 5, "fresh clusters (cold starts) per system")
		creates   = flag.Int("creates", 200, "sequential CreateTopics per system, spread over the repetitions")
		kills     = flag.Int("kills", 20, "kill -9s of the active controller per system, spread over the repetitions")
		idle      = flag.Duration("idle", 30*time.Second, "idle time after the cold start before RSS is read")
		rf        = flag.Int("rf", 3, "replication factor of the timed CreateTopics and of the cold start's (1 or 3)")
		medium    = flag.String("data", "tmpfs", "where node data lives: tmpfs or disk")
		tmpfsDir  = flag.String("tmpfs-dir", "/dev/shm/samsa-cluster-bench", "data root for -data tmpfs")
		diskDir   = flag.String("disk-dir", "/var/tmp/samsa-cluster-bench", "data root for -data disk")
		kafkaHeap = flag.String("kafka-heap", "-Xmx1G -Xms1G", "Kafka's heap options (kafka-server-start.sh's default)")
		timeout   = flag.Duration("timeout", 3*time.Minute, "give up on a cold start, a failover or a rejoin after this long")
		attempt   = flag.Duration("attempt", 5*time.Second, "deadline of one probe request")
		interval  = flag.Duration("interval", 5*time.Millisecond, "pause between failed probe attempts")
		keep      = flag.Bool("keep", false, "keep each cluster's data and logs (default: removed after a repetition without errors)")
		quick     = flag.Bool("quick", false, "smoke run: 1 repetition, 20 CreateTopics, 2 kills, 5s idle (flags given explicitly win)")
		jsonOut   = flag.String("json", "", "write every sample as JSON here")
		mdOut     = flag.String("out", "", "write the markdown section here (default: stdout only)")
		fromJSON  = flag.String("from-json", "", "only render the markdown from the JSON of an earlier run")

		suite        = flag.String("suite", "cluster", "what to measure: cluster (cold start, CreateTopics, controller failover, idle RSS) or replication (RF 3 produce throughput and latency, unavailability after kill -9 of a partition leader)")
		replParts    = flag.String("repl", "throughput,unavailability", "parts of -suite replication: throughput, unavailability")
		replSizes    = flag.String("repl-sizes", "1024,100", "record sizes (bytes) of the replication throughput runs (-quick: 1024 alone)")
		replMax      = flag.Duration("repl-max", 0, "timed max-throughput run per mode and size (default 15s; -quick 2s)")
		replRate     = flag.Duration("repl-rate", 0, "fixed-rate run per mode and size (default 20s; -quick 2s)")
		replRounds   = flag.Int("repl-rounds", 0, "fixed-rate rounds per mode and size, the modes taking turns with every cluster up (default 3; -quick 1)")
		replKills    = flag.Int("repl-kills", -1, "partition-leader kills per configuration (default 20; -quick 1)")
		replSession  = flag.Duration("repl-session", 9*time.Second, "broker.session.timeout.ms of both systems in the replication suite")
		replShort    = flag.Duration("repl-short-session", 3*time.Second, "samsa's shorter broker.session.timeout.ms for a second kill series (0: none)")
		replShortHB  = flag.Duration("repl-short-heartbeat", time.Second, "broker.heartbeat.interval.ms with -repl-short-session")
		replKMax     = flag.String("repl-kafka-max", "", "-suite replication: Kafka's maximum records/s per record size (`SIZE=RATE,...`, e.g. 1024=11544,100=233816) when Kafka does not run, so samsa alone runs at 50 % of an earlier run's")
		replJSON     = flag.String("repl-json", "", "-suite replication: write every sample as JSON here")
		replOut      = flag.String("repl-out", "", "-suite replication: write the markdown section here")
		replFromJSON = flag.String("repl-from-json", "", "only render the replication section from the JSON of an earlier run")
	)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./bench/cluster [flags]   (or scripts/bench-cluster [flags])\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("reps", func() { *reps = 1 })
		def("creates", func() { *creates = 20 })
		def("kills", func() { *kills = 2 })
		def("idle", func() { *idle = 5 * time.Second })
	}
	if *fromJSON != "" {
		var res Results
		b, err := os.ReadFile(*fromJSON)
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		if err != nil {
			fatalf("%s: %v", *fromJSON, err)
		}
		emit(&res, *mdOut)
		return
	}
	if *replFromJSON != "" {
		var res ReplResults
		b, err := os.ReadFile(*replFromJSON)
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		if err != nil {
			fatalf("%s: %v", *replFromJSON, err)
		}
		emitRepl(&res, *replOut)
		return
	}
	if *suite != "cluster" && *suite != "replication" {
		fatalf("-suite must be cluster or replication")
	}
	if *rf != 1 && *rf != 3 {
		fatalf("-rf must be 1 or 3")
	}
	if *reps < 1 || *creates < 0 || *kills < 0 {
		fatalf("-reps must be at least 1, -creates and -kills not negative")
	}
	dataRoot := map[string]string{"tmpfs": *tmpfsDir, "disk": *diskDir}[*medium]
	if dataRoot == "" {
		fatalf("-data must be tmpfs or disk")
	}
	if err := os.Chdir(*root); err != nil {
		fatalf("%v", err)
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }

	res := &Results{Started: time.Now(), Command: command(), Machine: gatherMachine(), Medium: *medium,
		DataDir: dataRoot, Reps: *reps,
		Plan: plan{Nodes: 3, RF: *rf, Idle: *idle, Creates: *creates, Kills: *kills, Timeout: *timeout,
			Attempt: *attempt, Interval: *interval}}
	if *samsaRev != "" {
		res.Machine.SamsaRev = *samsaRev
	}
	var syss []*system
	for _, name := range strings.Split(*systems, ",") {
		switch strings.TrimSpace(name) {
		case "kafka":
			ref := abs("scripts/kafka-reference")
			cp, err := exec.Command(ref, "classpath").Output()
			if err != nil {
				fatalf("scripts/kafka-reference classpath: %v", err)
			}
			v, err := exec.Command(ref, "version").Output()
			if err != nil {
				fatalf("scripts/kafka-reference version: %v", err)
			}
			classpath := strings.TrimSpace(string(cp))
			// kafka-server-start.sh and kafka-run-class.sh defaults.
			jvm := append(strings.Fields(*kafkaHeap), "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
				"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
				"-XX:MaxInlineLevel=15", "-Djava.awt.headless=true")
			syss = append(syss, &system{Name: "kafka", kafka: true, javaCP: classpath,
				log4j:   filepath.Join(strings.TrimSuffix(classpath, "/libs/*"), "log4j2-server.properties"),
				jvmOpts: jvm})
			res.KafkaVersion = strings.TrimSpace(string(v))
			res.KafkaJVM = strings.Join(jvm, " ")
		case "samsa":
			bin := abs(*samsaBin)
			if _, err := os.Stat(bin); err != nil {
				fatalf("samsa binary: %v (build it: go build -o %s ./cmd/samsa)", err, *samsaBin)
			}
			syss = append(syss, &system{Name: "samsa", samsa: bin})
		case "":
		default:
			fatalf("unknown system %q (kafka, samsa)", name)
		}
	}
	if len(syss) == 0 {
		fatalf("no systems")
	}
	for _, s := range syss {
		res.Systems = append(res.Systems, s.Name)
	}
	if err := os.MkdirAll(dataRoot, 0o755); err != nil {
		fatalf("%v", err)
	}
	res.FS = fsType(dataRoot)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fatalf("interrupted (%v); every node killed", s)
	}()

	if *suite == "replication" {
		rp := replDefaults(*quick)
		if *replMax > 0 {
			rp.MaxDur = *replMax
		}
		if *replRate > 0 {
			rp.RateDur = *replRate
		}
		if *replKills >= 0 {
			rp.Kills = *replKills
		}
		if *replRounds > 0 {
			rp.Rounds = *replRounds
		}
		rp.Session, rp.ShortSession, rp.ShortHeartbeat = *replSession, *replShort, *replShortHB
		sizesSet := false
		flag.Visit(func(f *flag.Flag) { sizesSet = sizesSet || f.Name == "repl-sizes" })
		if !*quick || sizesSet { // -quick alone keeps its one size
			rp.Sizes = nil
			for _, f := range strings.Split(*replSizes, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 1 {
					fatalf("-repl-sizes: bad size %q", f)
				}
				rp.Sizes = append(rp.Sizes, n)
			}
		}
		if *replKMax != "" {
			rp.KafkaMax = map[int]float64{}
			for _, f := range strings.Split(*replKMax, ",") {
				k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
				n, err := strconv.Atoi(k)
				r, err2 := strconv.ParseFloat(v, 64)
				if err != nil || err2 != nil || n < 1 || r <= 0 {
					fatalf("-repl-kafka-max: bad entry %q (want SIZE=RECORDS_PER_SECOND)", f)
				}
				rp.KafkaMax[n] = r
			}
		}
		rp.Throughput, rp.Unavailability = false, false
		for _, part := range strings.Split(*replParts, ",") {
			switch strings.TrimSpace(part) {
			case "throughput":
				rp.Throughput = true
			case "unavailability":
				rp.Unavailability = true
			default:
				fatalf("-repl: unknown part %q (throughput, unavailability)", part)
			}
		}
		rr := &ReplResults{Started: res.Started, Command: res.Command, Machine: res.Machine,
			KafkaVersion: res.KafkaVersion, KafkaJVM: res.KafkaJVM, Medium: res.Medium, DataDir: res.DataDir,
			FS: res.FS, Systems: res.Systems, Plan: rp}
		base := res.Plan
		base.RF = rp.RF
		runReplication(syss, rr, dataRoot, base, *keep, *replJSON)
		rr.Finished = time.Now()
		rr.Machine.LoadAfter = loadavg()
		if *replJSON != "" {
			writeJSON(rr, *replJSON)
		}
		emitRepl(rr, *replOut)
		return
	}

	createsPer, killsPer := split(*creates, *reps), split(*kills, *reps)
	for rep := 0; rep < *reps; rep++ {
		order := syss
		if rep%2 == 1 { // alternate who goes first
			order = make([]*system, len(syss))
			for i, s := range syss {
				order[len(syss)-1-i] = s
			}
		}
		for _, s := range order {
			pl := res.Plan
			pl.Creates, pl.Kills = createsPer[rep], killsPer[rep]
			dir := filepath.Join(dataRoot, fmt.Sprintf("%s-%d", s.Name, rep+1))
			r := runRep(s, dir, pl, rep)
			res.Runs = append(res.Runs, r)
			if r.Error == "" && !*keep {
				os.RemoveAll(dir)
			}
			if *jsonOut != "" { // after every repetition, so a cut-short run keeps what it measured
				writeJSON(res, *jsonOut)
			}
		}
	}
	res.Finished = time.Now()
	res.Machine.LoadAfter = loadavg()
	if *jsonOut != "" {
		writeJSON(res, *jsonOut)
	}
	emit(res, *mdOut)
}

// runRep is one repetition of one system on a fresh cluster in dir.
func runRep(s *system, dir string, pl plan, rep int) (r repResult) {
	r = repResult{System: s.Name, Rep: rep, Started: time.Now(), LoadBefore: loadavg()}
	defer func() { r.LoadAfter = loadavg() }()
	logf("%s repetition %d: formatting 3 nodes in %s (load %s)", s.Name, rep+1, dir, r.LoadBefore)
	c, err := newCluster(s, dir, pl, rep)
	if err != nil {
		r.Error = err.Error()
		logf("error: %v", err)
		return r
	}
	defer c.stop()
	ctx := context.Background()
	ph, err := c.coldStart(ctx)
	if err != nil {
		r.Error = "cold start: " + err.Error()
		logf("error: %s", r.Error)
		return r
	}
	r.ColdStart, r.Phases = ph.Ready, ph
	logf("%s: first Metadata answer after %v, all brokers listed after %v, ready (CreateTopics) after %v; idle %v", s.Name,
		ph.FirstMetadata.Round(time.Millisecond), ph.AllBrokers.Round(time.Millisecond), ph.Ready.Round(time.Millisecond), pl.Idle)
	if r.Mem, err = c.idleMem(); err != nil {
		r.Error = "idle: " + err.Error()
		logf("error: %s", r.Error)
		return r
	}
	for i, m := range r.Mem {
		logf("%s: node %d idle VmRSS %.1f MB, VmHWM %.1f MB", s.Name, i+1, float64(m.RSS)/1e6, float64(m.HWM)/1e6)
	}
	if pl.Creates > 0 {
		r.Creates, err = c.createLatencies(ctx, pl.Creates)
		sum := summarize(seconds(r.Creates))
		logf("%s: %d CreateTopics (RF %d): p50 %.2f ms, p99 %.2f ms", s.Name, len(r.Creates), pl.RF, sum.P50*1000, sum.P99*1000)
		if err != nil {
			r.Error = "CreateTopics: " + err.Error()
			logf("error: %s", r.Error)
			return r
		}
	}
	for k := 0; k < pl.Kills; k++ {
		kr := c.failover(ctx, k)
		r.Kills = append(r.Kills, kr)
		if kr.Error != "" {
			logf("%s: kill %d (node %d): error: %s", s.Name, k+1, kr.Killed, kr.Error)
			r.Error = "failover: " + firstLine(kr.Error)
			return r // the cluster's state is unknown; the next repetition starts fresh
		}
		logf("%s: kill %d: node %d (epoch %d) → leader %d (epoch %d) after %v, write after %v; rejoined in %v", s.Name, k+1,
			kr.Killed, kr.OldEpoch, kr.NewLeader, kr.NewEpoch, kr.Elect.Round(time.Millisecond),
			kr.Write.Round(time.Millisecond), kr.Rejoin.Round(time.Millisecond))
	}
	return r
}

func writeJSON(res any, path string) {
	b, err := json.MarshalIndent(res, "", "  ")
	if err == nil {
		err = os.WriteFile(path, append(b, '\n'), 0o644)
	}
	if err != nil {
		logf("writing %s: %v", path, err)
	}
}

func emit(res *Results, path string) {
	md := renderMarkdown(res)
	fmt.Print(md)
	if path != "" {
		if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}

func emitRepl(res *ReplResults, path string) {
	md := renderReplication(res)
	fmt.Print(md)
	if path != "" {
		if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}

// command is how this run is reproduced: the wrapper's command line when
// it set BENCH_COMMAND, else this program's.
func command() string {
	if c := os.Getenv("BENCH_COMMAND"); c != "" {
		return c
	}
	return "go run ./bench/cluster " + strings.Join(os.Args[1:], " ")
}
