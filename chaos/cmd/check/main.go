// Command check judges the history of one fault-injection run: it prints a
// one-line verdict, writes the full results as JSON, and exits 0 when the
// history is valid, 1 when it shows anomalies, 2 when it cannot be judged
// (bad flags, an unreadable or malformed history).
//
//	go run ./chaos/cmd/check -history run.jsonl -results results.json
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/samsa-io/samsa/chaos/checker"
	"github.com/samsa-io/samsa/chaos/history"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	histPath := fs.String("history", "", "the history file (JSON lines, chaos/history)")
	resPath := fs.String("results", "", "where to write the results (JSON); none if empty")
	maxEx := fs.Int("max-examples", checker.DefaultMaxExamples, "examples kept per kind of anomaly")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *histPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: check -history FILE [-results FILE] [-max-examples N]")
		return 2
	}
	ops, err := readHistory(*histPath)
	if err != nil {
		fmt.Fprintf(stderr, "check: %v\n", err)
		return 2
	}
	res := checker.Check(ops, checker.Options{MaxExamples: *maxEx})
	if *resPath != "" {
		if err := writeResults(*resPath, res); err != nil {
			fmt.Fprintf(stderr, "check: %v\n", err)
			return 2
		}
	}
	fmt.Fprintln(stdout, res.Verdict())
	switch {
	case res.Malformed.Count > 0:
		return 2
	case !res.Valid():
		return 1
	}
	return 0
}

func readHistory(path string) ([]history.Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ops, err := history.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ops, nil
}

func writeResults(path string, res *checker.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(res.WriteJSON(f), f.Close())
}
