// Command runner is the interop matrix: it starts each broker (samsa as one
// node and as a cluster of three combined nodes, and Apache Kafka as the
// reference, in two versions), runs every client's scenarios against it,
// and prints a markdown table, rows = client/scenario, columns = brokers,
// followed by the API version ranges each broker advertises.
//
// Run it from the repository root (scripts/interop does):
//
//	go run ./interop/runner [-brokers samsa,samsa-cluster,kafka-4.4.0,kafka-4.1.2] [-clients java,...] [-out docs/interop.md]
//
// interop/expected.txt holds the expected outcome of every cell. The runner
// exits 1 if a cell expected to PASS fails (a regression), or if samsa's API
// ranges differ from a reference's without a note (versions.go), and lists
// cells that pass but are expected to FAIL, so that the file can be updated
// (-update-expected rewrites it from this run). The full matrix rewrites
// docs/interop.md with nothing run-specific in it (no times, no generated
// names), so a run that changes no outcome leaves the file as it was; a
// subset (-brokers or -clients) prints its table and writes no file unless
// -out is given.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// result is one cell of the matrix.
type result struct {
	Client, Scenario, Broker string
	Pass                     bool
	Reason                   string
}

func (r result) key() string { return r.Client + " " + r.Scenario + " " + r.Broker }

// row is one client and the scenarios it runs, in order.
type row struct {
	client    string
	scenarios []string
	// run runs all scenarios against the broker column and returns one
	// result per scenario it got to; missing scenarios are filled in as
	// failures.
	run func(env *env, br *broker) []result
}

// Versions of Apache Kafka the matrix runs. The reference is the newest
// release: its brokers are a column, and the Java client and tool rows use
// its jars. The second reference stays a column because operators run both.
// The old Java clients are the oldest line still widely deployed.
const (
	referenceVersion = "4.4.0"
	secondReference  = "4.1.2"
	oldJavaClients   = "3.9.2"
)

var goScenarios = []string{"create", "describe", "produce", "group", "delete"}

// javaScenarios adds the KIP-848 consumer protocol (group.protocol=consumer).
var javaScenarios = []string{"create", "describe", "produce", "group", "group-consumer", "delete"}

var rows = []row{
	{"java-" + referenceVersion, javaScenarios, runJava(referenceVersion)},
	{"java-" + oldJavaClients, javaScenarios, runJava(oldJavaClients)},
	{"kafka-cli-" + referenceVersion, []string{"create", "describe", "produce", "group", "perf", "delete"}, runCLI(referenceVersion)},
	{"kafka-tools-" + referenceVersion, toolScenarios, runTools(referenceVersion)},
	{"kcat", []string{"describe", "produce", "group"}, runKcat},
	{"franz-go", goScenarios, runGoClient("franz-go")},
	{"sarama", goScenarios, runGoClient("sarama")},
	{"kafka-go", goScenarios, runGoClient("kafka-go")},
	{"samsa", goScenarios, runGoClient("samsa")},
	{"kafkajs", goScenarios, runKafkajs},
}

// samsaCluster is the column of three combined samsa nodes (the same
// server.properties as the reference's --cluster 3, one per node).
const samsaCluster = "samsa-cluster"

var brokerOrder = []string{"samsa", samsaCluster, "kafka-" + referenceVersion, "kafka-" + secondReference}

// kafkaVersion returns the version of a kafka-X.Y.Z column or row name
// ("" if name is not one).
func kafkaVersion(name, prefix string) string {
	v, ok := strings.CutPrefix(name, prefix+"-")
	if !ok || strings.Count(v, ".") != 2 {
		return ""
	}
	return v
}

// columnTitle is a broker column's heading.
func columnTitle(broker string) string {
	if v := kafkaVersion(broker, "kafka"); v != "" {
		return "Apache Kafka " + v
	}
	if broker == samsaCluster {
		return "samsa, 3 nodes"
	}
	return broker
}

// selected reports whether row name is selected by want, which holds row
// names or their client without the version ("java" selects every Java row).
func selected(want []string, name string) bool {
	for _, w := range want {
		if w == name || strings.HasPrefix(name, w+"-") && strings.Count(strings.TrimPrefix(name, w+"-"), ".") == 2 {
			return true
		}
	}
	return false
}

// env is what the rows share: the repository root, the temp dir and the
// built programs.
type env struct {
	root      string
	tmp       string
	goclients string                // built interop/goclients binary
	java      map[string]*javaBuild // by kafka-clients version
	nodeErr   string                // why interop/kafkajs cannot run; "" when it can
	verbose   bool
}

func main() {
	brokers := flag.String("brokers", strings.Join(brokerOrder, ","), "brokers (columns) to run: samsa, "+samsaCluster+", kafka-VERSION")
	clients := flag.String("clients", "all", "clients (rows) to run, comma-separated (java selects every java-VERSION row)")
	expectedPath := flag.String("expected", "interop/expected.txt", "expected results file")
	out := flag.String("out", "docs/interop.md", "markdown file to write (empty: only print)")
	update := flag.Bool("update-expected", false, "rewrite -expected from this run's results")
	keep := flag.Bool("keep", false, "keep the temp dir (broker logs, data)")
	verbose := flag.Bool("v", false, "print progress and client stderr")
	flag.Parse()

	root, err := os.Getwd()
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "interop", "runner", "main.go"))
	}
	if err != nil {
		fatalf("run from the repository root: %v", err)
	}
	tmp, err := os.MkdirTemp("", "samsa-interop-")
	if err != nil {
		fatalf("%v", err)
	}
	if !*keep {
		defer os.RemoveAll(tmp)
	}
	e := &env{root: root, tmp: tmp, verbose: *verbose}
	outGiven := false
	flag.Visit(func(f *flag.Flag) { outGiven = outGiven || f.Name == "out" })

	selRows := rows
	if *clients != "all" {
		want := strings.Split(*clients, ",")
		selRows = nil
		for _, r := range rows {
			if selected(want, r.client) {
				selRows = append(selRows, r)
			}
		}
		if len(selRows) == 0 {
			fatalf("-clients %s selects no row", *clients)
		}
	}
	selBrokers := strings.Split(*brokers, ",")
	var kafkaVersions []string
	for _, b := range selBrokers {
		if v := kafkaVersion(b, "kafka"); v != "" {
			kafkaVersions = append(kafkaVersions, v)
		} else if b != "samsa" && b != samsaCluster {
			fatalf("unknown broker %q (samsa, %s or kafka-VERSION, e.g. kafka-%s)", b, samsaCluster, referenceVersion)
		}
	}
	full := len(selRows) == len(rows) && slices.Equal(selBrokers, brokerOrder)
	if !full && !outGiven {
		*out = ""
	}

	begin := time.Now()
	wantSamsa := slices.Contains(selBrokers, "samsa") || slices.Contains(selBrokers, samsaCluster)
	samsaBin, samsaBuildErr := e.build(selRows, wantSamsa, kafkaVersions)
	logf("builds done in %v", time.Since(begin).Round(100*time.Millisecond))

	var results []result
	ranges := map[string]map[int16]apiRange{}
	for _, b := range selBrokers {
		start := time.Now()
		var br *broker
		switch v := kafkaVersion(b, "kafka"); {
		case v != "":
			br = startKafka(e, v)
		case b == samsaCluster:
			br = startSamsa(e, b, 3, samsaBin, samsaBuildErr)
		default:
			br = startSamsa(e, b, 1, samsaBin, samsaBuildErr)
		}
		logf("%s: broker up=%v in %v", b, br.err == "", time.Since(start).Round(100*time.Millisecond))
		// The cluster's nodes run samsa's binary: the range table compares
		// one samsa with the references (the tools row compares every
		// node's ApiVersions with what kafka-broker-api-versions shows).
		if br.err == "" && b != samsaCluster {
			if rs, err := apiVersionsOf(strings.Split(br.bootstrap, ",")[0]); err != nil {
				logf("%s: ApiVersions: %v", b, err)
			} else {
				ranges[b] = rs
			}
		}
		for _, r := range selRows {
			rs := runRow(e, r, br)
			results = append(results, rs...)
		}
		br.stop()
		logf("%s: column done in %v", b, time.Since(start).Round(100*time.Millisecond))
	}

	versions, unexplained := versionTable(selBrokers, ranges)
	table := markdown(selRows, selBrokers, results, versions)
	fmt.Print(table)
	// The run time is for the log, not for the tracked file.
	logf("run took %v", time.Since(begin).Round(time.Second))
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
	if len(unexplained) > 0 {
		fmt.Printf("\nAPI ranges that differ from a reference with no note in interop/runner/versions.go:\n  %s\n", strings.Join(unexplained, "\n  "))
	}
	if *update {
		if err := writeExpected(*expectedPath, results); err != nil {
			fatalf("%v", err)
		}
		fmt.Printf("\nwrote %s\n", *expectedPath)
		return
	}
	expected, err := readExpected(*expectedPath)
	if err != nil {
		fatalf("%v", err)
	}
	if !compareExpected(expected, results) || len(unexplained) > 0 {
		os.Exit(1)
	}
}

// runRow runs one client against one broker and fills in every scenario.
func runRow(e *env, r row, br *broker) []result {
	start := time.Now()
	var got []result
	if br.err != "" {
		for _, s := range r.scenarios {
			got = append(got, result{Client: r.client, Scenario: s, Broker: br.name, Reason: "broker did not start: " + br.err})
		}
		return got
	}
	got = r.run(e, br)
	byScenario := map[string]result{}
	for _, g := range got {
		g.Client, g.Broker = r.client, br.name
		byScenario[g.Scenario] = g
	}
	var out []result
	for _, s := range r.scenarios {
		g, ok := byScenario[s]
		if !ok {
			g = result{Client: r.client, Scenario: s, Broker: br.name, Reason: "no result reported"}
		}
		out = append(out, g)
	}
	logf("%s: %s took %v", br.name, r.client, time.Since(start).Round(100*time.Millisecond))
	return out
}

// stopOnSignal makes br the broker to stop when the runner is interrupted:
// the reference broker runs detached (nohup) and would outlive the runner.
// Start functions call it before starting, so a half-started broker is
// stopped too; br.stop may be replaced later.
func stopOnSignal(br *broker) {
	signalMu.Lock()
	current = br
	signalMu.Unlock()
	signalOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-ch
			signalMu.Lock()
			defer signalMu.Unlock()
			logf("interrupted: stopping %s", current.name)
			current.stop()
			os.Exit(130)
		}()
	})
}

var (
	signalOnce sync.Once
	signalMu   sync.Mutex
	current    *broker
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "interop: "+format+"\n", args...)
}

func fatalf(format string, args ...any) {
	logf(format, args...)
	os.Exit(2)
}
