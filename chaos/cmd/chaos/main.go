// Command chaos runs fault-injection runs against a three-node samsa
// cluster in network namespaces (package chaos/harness), one per seed from
// -seed on, and writes DIR/seed-N/history.jsonl, the nodes' logs and one
// summary line per seed. It needs root. With -crashfs the nodes run on
// vfs.CrashDisk (samsa built with -tags crashfs), so a node killed with
// SIGKILL loses every write it had not fsynced.
//
//	go run ./chaos/cmd/chaos -seed 1 -runs 10 -layout combined -duration 60s -out /tmp/chaos
package main

import (
	"context"
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
	var extra []string
	for _, k := range harness.AllKinds {
		if !slices.Contains(harness.Kinds, k) {
			extra = append(extra, k)
		}
	}
	faults := flag.String("faults", "", "comma-separated fault kinds to schedule (default: "+strings.Join(harness.Kinds, ",")+"; \"all\" adds "+strings.Join(extra, ",")+")")
	flag.Parse()
	if err := harness.Probe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	bin := *samsa
	if bin != "" && *crashfs {
		fatal(fmt.Errorf("-crashfs builds samsa: it does not go with -samsa"))
	}
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			fatal(err)
		}
		bin = filepath.Join(*out, "samsa")
		var tags []string
		if *crashfs {
			tags = append(tags, "crashfs")
		}
		fmt.Fprintf(os.Stderr, "building %s %v\n", bin, tags)
		if err := harness.Build(ctx, root, bin, tags...); err != nil {
			fatal(err)
		}
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		fatal(err)
	}
	var kinds []string
	switch *faults {
	case "":
	case "all":
		kinds = harness.AllKinds
	default:
		for _, k := range strings.Split(*faults, ",") {
			if !slices.Contains(harness.AllKinds, k) {
				fatal(fmt.Errorf("unknown fault kind %q (known: %s)", k, strings.Join(harness.AllKinds, ",")))
			}
			kinds = append(kinds, k)
		}
	}
	failed := 0
	for i := range *runs {
		s := *seed + uint64(i)
		dir, err := filepath.Abs(filepath.Join(*out, fmt.Sprintf("seed-%d", s)))
		if err != nil {
			fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			fatal(err)
		}
		cfg := harness.Config{Seed: s, Layout: *layout, Duration: *duration, Quiet: *quiet, Dir: dir, Samsa: bin, Kinds: kinds}
		if !*quietLog {
			cfg.Logf = func(format string, args ...any) {
				fmt.Fprintf(os.Stderr, "%s seed %d: %s\n", time.Now().Format("15:04:05.000"), s, fmt.Sprintf(format, args...))
			}
		}
		sum := harness.Run(ctx, cfg)
		fmt.Println(sum.Line())
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
	if failed > 0 {
		os.Exit(1)
	}
}

// judge checks a run's history with the checker and writes its results
// beside it (results.json); it returns the one-line verdict.
func judge(dir string) (verdict string, valid bool, err error) {
	f, err := os.Open(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return "", false, err
	}
	ops, err := history.Read(f)
	f.Close()
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
