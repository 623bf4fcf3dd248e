// Command killcycle runs kill -9 cycles against one `samsa serve` process
// (package chaos/killcycle) and prints a one-line verdict. It exits 1 on
// any anomaly, 2 when the harness itself failed.
//
//	go run ./chaos/cmd/killcycle -cycles 1000 -seed 1
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/chaos/killcycle"
)

func main() { os.Exit(run()) }

func run() int {
	cfg := killcycle.Config{Progress: os.Stderr}
	flag.IntVar(&cfg.Cycles, "cycles", 1000, "kill -9 cycles")
	flag.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()), "seed of the cycles' random choices")
	flag.IntVar(&cfg.CheckEvery, "check-every", 100, "a full read and check every this many cycles (0: only after the last)")
	bin := flag.String("samsa", "", "samsa binary (default: build ./cmd/samsa of this module)")
	flag.StringVar(&cfg.Kafka, "kafka", "", "path of scripts/kafka-reference: kill a single Apache Kafka node instead, for comparison")
	race := flag.Bool("race", false, "build samsa with the race detector")
	dir := flag.String("dir", "", "run directory: data, history.jsonl, node.log (default: a new temp dir, removed when the run is clean)")
	flag.DurationVar(&cfg.MinRun, "min-run", 20*time.Millisecond, "shortest produce time before a kill")
	flag.DurationVar(&cfg.MaxRun, "max-run", 300*time.Millisecond, "longest produce time before a kill")
	flag.DurationVar(&cfg.StartTimeout, "start-timeout", time.Minute, "how long a start may take until the node serves")
	flag.IntVar(&cfg.Producers, "producers", 3, "franz-go producers per cycle, at most")
	flag.IntVar(&cfg.InFlight, "inflight", 8, "outstanding sends per producer, at most")
	record := flag.String("record", "", "also write the verdict as JSON to this file, for the reliability report (docs/reliability-runs/killcycle-seed-N.json)")
	version := flag.String("version", "", "the version of the node under test, for -record")
	flag.Parse()
	if cfg.MaxRun < cfg.MinRun || cfg.Cycles < 1 {
		fmt.Fprintln(os.Stderr, "killcycle: need -cycles ≥ 1 and -max-run ≥ -min-run")
		return 2
	}
	keep := *dir != ""
	if *dir == "" {
		d, err := os.MkdirTemp("", "killcycle-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "killcycle:", err)
			return 2
		}
		*dir = d
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "killcycle:", err)
		return 2
	}
	cfg.Dir = *dir
	cfg.Bin = *bin
	if cfg.Bin == "" && cfg.Kafka == "" {
		b, err := killcycle.Build(*dir, *race)
		if err != nil {
			fmt.Fprintln(os.Stderr, "killcycle:", err)
			return 2
		}
		cfg.Bin = b
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "killcycle: seed %d, %d cycles, in %s\n", cfg.Seed, cfg.Cycles, *dir)
	started := time.Now()
	res, err := killcycle.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "killcycle: %v (run kept in %s)\n", err, *dir)
		return 2
	}
	// Judge the history file once more, from scratch: what was written
	// must tell the same story as what was seen.
	again, err := recheck(res.History)
	if err != nil {
		fmt.Fprintf(os.Stderr, "killcycle: reading back the history: %v\n", err)
		return 2
	}
	if again.Summary() != res.Summary() || again.Acked != res.Acked || again.Indeterminate != res.Indeterminate {
		fmt.Fprintf(os.Stderr, "killcycle: the history file judges differently: %s acked=%d\n", again.Summary(), again.Acked)
		return 2
	}
	fmt.Println(res.Line())
	if *record != "" {
		b, err := json.MarshalIndent(res.Record(cfg, *version, started), "", "  ")
		if err == nil {
			err = os.WriteFile(*record, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "killcycle: -record: %v\n", err)
			return 2
		}
	}
	if !res.OK() {
		fmt.Println(strings.Join(res.Examples, "\n"))
		fmt.Printf("seed %d; history, data and node log kept in %s\n", cfg.Seed, *dir)
		return 1
	}
	if !keep {
		os.RemoveAll(*dir)
	}
	return 0
}

func recheck(path string) (killcycle.Verdict, error) {
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return killcycle.Verdict{}, err
	}
	defer f.Close()
	ops, err := history.Read(f)
	if err != nil {
		return killcycle.Verdict{}, err
	}
	return killcycle.Check(ops), nil
}
