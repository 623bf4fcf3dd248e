// Command report aggregates the runs of chaos output directories (the -out
// of chaos/cmd/chaos; several, comma-separated, such as a new batch and
// the runs kept in docs/reliability-runs) into the reliability report, docs/reliability.md:
// runs, faults injected, operations, anomalies by kind, produce
// unavailability after leader faults and recovery after kill-all, the
// goal's verdict and how to reproduce it (package chaos/report). Each
// history is judged again with chaos/checker unless -recorded.
//
//	go run ./chaos/cmd/report -in chaos-out -out docs/reliability.md
//
// It exits 0 when the report was written, whatever it says; 2 when it could
// not be.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/samsa-io/samsa/chaos/report"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "chaos-out", "chaos output directories (seed-N/ subdirectories), comma-separated")
	out := fs.String("out", "", "where to write the Markdown report (default: standard output)")
	recorded := fs.Bool("recorded", false, "use each run's results.json instead of judging its history again")
	seedList := fs.String("seeds", "", "only these seeds, e.g. 1-10,15 (default: every seed-N of -in)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: report [-in DIR] [-out FILE] [-seeds LIST] [-recorded]")
		return 2
	}
	var a *report.Aggregate
	seeds, err := report.ParseSeeds(*seedList)
	if err != nil {
		fmt.Fprintf(stderr, "report: -seeds: %v\n", err)
		return 2
	}
	opts := report.Options{Recorded: *recorded, Seeds: seeds}
	if *out == "" {
		a, err = report.Write(stdout, strings.Split(*in, ","), opts)
	} else {
		a, err = report.WriteFile(*out, strings.Split(*in, ","), opts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "report of %s: %s\n", *in, a.Line())
	return 0
}
