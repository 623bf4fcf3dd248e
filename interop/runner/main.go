// Command runner is the interop matrix: it starts each broker (samsa, and
// Apache Kafka as the reference), runs every client's scenarios against it,
// and prints a markdown table, rows = client/scenario, columns = brokers.
//
// Run it from the repository root (scripts/interop does):
//
//	go run ./interop/runner [-brokers samsa,kafka] [-clients java,...] [-out docs/interop.md]
//
// interop/expected.txt holds the expected outcome of every cell. The runner
// exits 1 if a cell expected to PASS fails (a regression), and lists cells
// that pass but are expected to FAIL, so that the file can be updated
// (-update-expected rewrites it from this run).
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
	// run runs all scenarios against bootstrap and returns one result per
	// scenario it got to; missing scenarios are filled in as failures.
	run func(env *env, broker, bootstrap string) []result
}

var goScenarios = []string{"create", "describe", "produce", "group", "delete"}

// javaScenarios adds the KIP-848 consumer protocol (group.protocol=consumer).
var javaScenarios = []string{"create", "describe", "produce", "group", "group-consumer", "delete"}

var rows = []row{
	{"java", javaScenarios, runJava},
	{"kafka-cli", []string{"create", "describe", "produce", "group", "perf", "delete"}, runCLI},
	{"kcat", []string{"describe", "produce", "group"}, runKcat},
	{"franz-go", goScenarios, runGoClient("franz-go")},
	{"sarama", goScenarios, runGoClient("sarama")},
	{"kafka-go", goScenarios, runGoClient("kafka-go")},
	{"samsa", goScenarios, runGoClient("samsa")},
	{"kafkajs", goScenarios, runKafkajs},
}

var brokerOrder = []string{"samsa", "kafka"}

// env is what the rows share: the repository root, the temp dir and the
// built programs.
type env struct {
	root      string
	tmp       string
	goclients string // built interop/goclients binary
	javaCP    string // classpath of interop/java, "" if the build failed
	javaErr   string
	nodeErr   string // why interop/kafkajs cannot run; "" when it can
	verbose   bool
}

func main() {
	brokers := flag.String("brokers", strings.Join(brokerOrder, ","), "brokers (columns) to run")
	clients := flag.String("clients", "all", "clients (rows) to run, comma-separated")
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

	selRows := rows
	if *clients != "all" {
		want := strings.Split(*clients, ",")
		selRows = nil
		for _, r := range rows {
			if slices.Contains(want, r.client) {
				selRows = append(selRows, r)
			}
		}
	}
	selBrokers := strings.Split(*brokers, ",")

	begin := time.Now()
	samsaBin, samsaBuildErr := e.build(selRows, slices.Contains(selBrokers, "samsa"))
	logf("builds done in %v", time.Since(begin).Round(100*time.Millisecond))

	var results []result
	for _, b := range selBrokers {
		start := time.Now()
		var br *broker
		switch b {
		case "kafka":
			br = startKafka(e)
		case "samsa":
			br = startSamsa(e, samsaBin, samsaBuildErr)
		default:
			fatalf("unknown broker %q", b)
		}
		logf("%s: broker up=%v in %v", b, br.err == "", time.Since(start).Round(100*time.Millisecond))
		for _, r := range selRows {
			rs := runRow(e, r, br)
			results = append(results, rs...)
		}
		br.stop()
		logf("%s: column done in %v", b, time.Since(start).Round(100*time.Millisecond))
	}

	table := markdown(selRows, selBrokers, results, time.Since(begin))
	fmt.Print(table)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			fatalf("%v", err)
		}
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
	if !compareExpected(expected, results) {
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
	got = r.run(e, br.name, br.bootstrap)
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
