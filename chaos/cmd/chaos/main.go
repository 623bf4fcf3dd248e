// Command chaos runs fault-injection runs against a three-node samsa
// cluster in network namespaces (package chaos/harness), one per seed from
// -seed on, and writes DIR/seed-N/{config.json,history.jsonl,results.json,
// summary.txt}, the nodes' logs and one summary line per seed; with
// -report, the reliability report of its seeds (package chaos/report). It
// needs root. With -crashfs the nodes run on vfs.CrashDisk (samsa built
// with -tags crashfs), so a node killed with SIGKILL loses every write it
// had not fsynced.
//
//	go run ./chaos/cmd/chaos -seed 1 -runs 10 -layout combined -duration 60s -out /tmp/chaos -report /tmp/chaos/reliability.md
//
// With -target kafka the nodes are Apache Kafka (scripts/kafka-reference's
// jars from Maven Central, fetched on first use; Java 17+ and Maven),
// with the same properties, schedule, workload and checker: the reference
// the harness and the checker are validated against.
//
// Validation runs (docs/chaos-validation.md), which must lose writes:
// -unsafe unclean,acks1 weakens the cluster's and the producers' settings,
// -broken runs a samsa built with the chaosbroken tag (the high watermark
// ignores the followers); without -faults both schedule the leader faults
// of harness.ValidationKinds.
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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/samsa-io/samsa/chaos/checker"
	"github.com/samsa-io/samsa/chaos/harness"
	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/chaos/report"
)

func main() {
	seed := flag.Uint64("seed", 1, "first seed")
	runs := flag.Int("runs", 1, "number of runs (seeds seed, seed+1, ...)")
	layout := flag.String("layout", harness.Combined, "combined (3 broker+controller nodes) or isolated (3 controllers, 3 brokers)")
	duration := flag.Duration("duration", 60*time.Second, "workload time under faults, per run")
	quiet := flag.Duration("quiet", 10*time.Second, "workload time after the heal, before the final reads")
	out := flag.String("out", "chaos-out", "output directory")
	samsa := flag.String("samsa", "", "samsa binary (default: build ./cmd/samsa of this module)")
	crashfs := flag.Bool("crashfs", false, "build samsa with -tags crashfs: a killed node loses every write it did not fsync, as after a power cut (not with -samsa)")
	quietLog := flag.Bool("q", false, "print only the summary lines")
	target := flag.String("target", harness.Samsa, "what the nodes run: samsa, or kafka (Apache Kafka, the reference)")
	kafkaCP := flag.String("kafka-classpath", "", "target kafka: Apache Kafka's jars (default: scripts/kafka-reference classpath of this module)")
	samsaVersion := flag.String("samsa-version", "", "what config.json records as the version of the -samsa binary (default: \"a given binary\")")
	reportPath := flag.String("report", "", "after the runs, write the reliability report of this invocation's seeds to this file (chaos/report; e.g. docs/reliability.md)")
	var extra []string
	for _, k := range harness.AllKinds {
		if !slices.Contains(harness.Kinds, k) {
			extra = append(extra, k)
		}
	}
	faults := flag.String("faults", "", "comma-separated fault kinds to schedule (default: "+strings.Join(harness.Kinds, ",")+"; \"all\" adds "+strings.Join(extra, ",")+")")
	unsafe := flag.String("unsafe", "", "comma-separated unsafe modes for validating the checker ("+strings.Join(harness.UnsafeModes, ",")+"); runs are expected to lose writes")
	broken := flag.Bool("broken", false, "build samsa with -tags "+harness.BrokenTag+" (the leader advances the high watermark without its followers); runs are expected to lose writes")
	producers := flag.Int("producers", 4, "producer clients (half franz-go, half samsa's client), each sending one record at a time to every partition from a loop of its own")
	gap := flag.Duration("gap", 10*time.Millisecond, "each producer's pause between sends (0: none)")
	reqTimeout := flag.Duration("request-timeout", harness.DefaultRequestTimeout, "how long a producer waits for a Produce response before it retries (0: each client's default)")
	flag.Parse()
	unsafeModes, err := harness.ParseUnsafe(*unsafe)
	if err != nil {
		fatal(err)
	}
	if *broken && *samsa != "" {
		fatal(fmt.Errorf("-broken builds its own samsa: drop -samsa"))
	}
	if err := harness.Probe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	if *target != harness.Samsa && *target != harness.Kafka {
		fatal(fmt.Errorf("-target %q: want %s or %s", *target, harness.Samsa, harness.Kafka))
	}
	bin, cp := *samsa, *kafkaCP
	if *broken && *target == harness.Kafka {
		fatal(fmt.Errorf("-broken is a samsa build: it does not go with -target kafka"))
	}
	if bin != "" && *crashfs {
		fatal(fmt.Errorf("-crashfs builds samsa: it does not go with -samsa"))
	}
	if *crashfs && *target == harness.Kafka {
		fatal(fmt.Errorf("-crashfs is a samsa build: it does not go with -target kafka"))
	}
	if *target == harness.Kafka {
		if cp == "" {
			root, err := moduleRoot()
			if err != nil {
				fatal(err)
			}
			if cp, err = kafkaClasspath(ctx, root); err != nil {
				fatal(err)
			}
		}
	}
	version := "a given binary"
	if *samsaVersion != "" {
		version = *samsaVersion
	}
	if *target == harness.Kafka {
		version = "Apache Kafka (scripts/kafka-reference version)"
	}
	var tags []string
	if *broken {
		tags = append(tags, harness.BrokenTag)
	}
	if *crashfs {
		tags = append(tags, "crashfs")
	}
	if *target == harness.Samsa && bin == "" {
		root, err := moduleRoot()
		if err != nil {
			fatal(err)
		}
		version = gitVersion(root)
		bin = filepath.Join(*out, "samsa")
		fmt.Fprintf(os.Stderr, "building %s (tags %v)\n", bin, tags)
		if err := harness.Build(ctx, root, bin, tags...); err != nil {
			fatal(err)
		}
	}
	if bin != "" {
		var err error
		if bin, err = filepath.Abs(bin); err != nil {
			fatal(err)
		}
	}
	var kinds []string
	switch *faults {
	case "":
		if len(unsafeModes) > 0 || *broken {
			kinds = harness.ValidationKinds
		}
	case "all":
		kinds = harness.AllKinds
		if *target == harness.Kafka {
			kinds = harness.Kinds // corrupt is a samsa recovery test
		}
	default:
		for _, k := range strings.Split(*faults, ",") {
			if !slices.Contains(harness.AllKinds, k) {
				fatal(fmt.Errorf("unknown fault kind %q (known: %s)", k, strings.Join(harness.AllKinds, ",")))
			}
			kinds = append(kinds, k)
		}
	}
	mode := ""
	if len(unsafeModes) > 0 {
		mode += " unsafe=" + strings.Join(unsafeModes, ",")
	}
	if *broken {
		mode += " broken=" + harness.BrokenTag
	}
	failed := 0
	var ran []uint64
	for i := range *runs {
		s := *seed + uint64(i)
		ran = append(ran, s)
		dir, err := filepath.Abs(filepath.Join(*out, fmt.Sprintf("seed-%d", s)))
		if err != nil {
			fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			fatal(err)
		}
		cfg := harness.Config{Seed: s, Layout: *layout, Target: *target, Duration: *duration, Quiet: *quiet, Dir: dir,
			Samsa: bin, Kafka: cp, Kinds: kinds, Unsafe: unsafeModes, Producers: *producers, Gap: *gap, RequestTimeout: *reqTimeout}
		if *gap <= 0 {
			cfg.Gap = -1 // none (Config's 0 is the default)
		}
		if *reqTimeout <= 0 {
			cfg.RequestTimeout = -1 // the clients' defaults
		}
		if !*quietLog {
			cfg.Logf = func(format string, args ...any) {
				fmt.Fprintf(os.Stderr, "%s seed %d: %s\n", time.Now().Format("15:04:05.000"), s, fmt.Sprintf(format, args...))
			}
		}
		if err := writeConfig(dir, cfg, version); err != nil {
			fatal(err)
		}
		sum := harness.Run(ctx, cfg)
		fmt.Println(sum.Line() + mode)
		if sum.Err != nil {
			failed++
		} else if verdict, ok, err := judge(dir); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: seed %d: %v\n", s, err)
			failed++
		} else {
			fmt.Printf("seed %d: %s\n", s, verdict)
			if !ok {
				failed++
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	if *reportPath != "" {
		a, err := report.WriteFile(*reportPath, []string{*out}, report.Options{Seeds: ran})
		if err != nil {
			fatal(fmt.Errorf("report: %w", err))
		}
		fmt.Printf("report %s: %s\n", *reportPath, a.Line())
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// judge checks a run's history with the checker and writes its results
// beside it (results.json); it returns the one-line verdict.
func judge(dir string) (verdict string, valid bool, err error) {
	ops, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return "", false, err
	}
	res := checker.Check(ops, checker.Options{MaxExamples: 20})
	rf, err := os.Create(filepath.Join(dir, "results.json"))
	if err != nil {
		return "", false, err
	}
	if err := res.WriteJSON(rf); err != nil {
		rf.Close()
		return "", false, err
	}
	if err := rf.Close(); err != nil {
		return "", false, err
	}
	return res.Verdict(), res.Valid(), nil
}

// kafkaClasspath is the classpath of Apache Kafka's jars that
// scripts/kafka-reference prints, fetching them into its cache first.
func kafkaClasspath(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "kafka-reference"), "classpath")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/kafka-reference classpath: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// RunConfig is the settings of one seed's run, written to its directory
// as config.json for the report (chaos/report).
type RunConfig struct {
	Target   string   `json:"target"`
	Version  string   `json:"version"` // the samsa build: a commit, or "a given binary"
	Seed     uint64   `json:"seed"`
	Layout   string   `json:"layout"`
	Duration string   `json:"duration"`
	Quiet    string   `json:"quiet"`
	Faults   []string `json:"faults"`
	Started  string   `json:"started"`
	// RequestTimeout is the producers' Produce request timeout
	// (harness.Config.RequestTimeout): a duration or "client defaults".
	RequestTimeout string `json:"request_timeout,omitempty"`
}

func writeConfig(dir string, cfg harness.Config, version string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kinds := cfg.Kinds
	if len(kinds) == 0 {
		kinds = harness.Kinds
	}
	rc := RunConfig{Target: cfg.Target, Version: version, Seed: cfg.Seed, Layout: cfg.Layout,
		Duration: cfg.Duration.String(), Quiet: cfg.Quiet.String(), Faults: kinds,
		Started: time.Now().UTC().Format(time.RFC3339)}
	switch {
	case cfg.RequestTimeout == 0:
		rc.RequestTimeout = harness.DefaultRequestTimeout.String()
	case cfg.RequestTimeout < 0:
		rc.RequestTimeout = "client defaults"
	default:
		rc.RequestTimeout = cfg.RequestTimeout.String()
	}
	b, err := json.MarshalIndent(&rc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(b, '\n'), 0o644)
}

// gitVersion names the commit of the module at root, "+dirty" when the
// work tree has changes, or "unknown".
func gitVersion(root string) string {
	b, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	v := strings.TrimSpace(string(b))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		v += "+dirty"
	}
	return v
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the samsa module: pass -samsa PATH")
	}
	return filepath.Dir(mod), nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "chaos:", err)
	os.Exit(1)
}
