package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/samsa-io/samsa/chaos/killcycle"
)

// What the report asks of its inputs besides a clean verdict: the issue's
// figures come from at least GoalRuns cluster runs and, on a single samsa
// node with its fsync default, GoalKillCycles kill -9 cycles.
const (
	GoalRuns       = 200
	GoalKillCycles = 1000
)

// LoadKillCycles reads the kill-cycle records (chaos/cmd/killcycle
// -record: killcycle-*.json) of dirs, in file name order.
func LoadKillCycles(dirs []string) ([]killcycle.Record, error) {
	var out []killcycle.Record
	for _, dir := range dirs {
		names, err := filepath.Glob(filepath.Join(dir, "killcycle-*.json"))
		if err != nil {
			return nil, err
		}
		slices.Sort(names)
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			var r killcycle.Record
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// killCycleTotals sums the records of one target.
type killCycleTotals struct {
	runs, cycles, acked, anomalies int
	bad                            []uint64 // seeds of runs that found anomalies or judged nothing
}

func (a *Aggregate) killCycles(target string) killCycleTotals {
	var t killCycleTotals
	for _, r := range a.KillCycles {
		if r.Target != target {
			continue
		}
		t.runs++
		t.cycles += r.Cycles
		t.acked += r.Acked
		for _, n := range r.Anomalies {
			t.anomalies += n
		}
		if !r.OK {
			t.bad = append(t.bad, r.Seed)
		}
	}
	return t
}

// Shortfalls says what the inputs lack of the figures the goal asks for
// (GoalRuns, GoalKillCycles), or of a clean single-node verdict; none
// when they are all there.
func (a *Aggregate) Shortfalls() []string {
	var why []string
	if a.Runs < GoalRuns {
		why = append(why, fmt.Sprintf("%d of the %d cluster runs asked for", a.Runs, GoalRuns))
	}
	t := a.killCycles("samsa")
	switch {
	case t.runs == 0:
		why = append(why, fmt.Sprintf("no single-node kill -9 cycles recorded (%d asked for)", GoalKillCycles))
	case t.cycles < GoalKillCycles:
		why = append(why, fmt.Sprintf("%d of the %d single-node kill -9 cycles asked for", t.cycles, GoalKillCycles))
	}
	if len(t.bad) > 0 {
		why = append(why, fmt.Sprintf("single-node kill cycles with anomalies or no read round (seeds %s)", Seeds(t.bad)))
	}
	return why
}

// killCycleMarkdown is the section of the kill-cycle records.
func (a *Aggregate) killCycleMarkdown(p func(string, ...any)) {
	p("## Single node: kill -9 cycles\n\n")
	p("`chaos/cmd/killcycle`: one node (samsa with its default of an fsync before each acknowledgement, or one Apache Kafka node for comparison) restarted on the same data directory, idempotent acks=all producers sending unique values for 20–300 ms, then SIGKILL with sends in flight; a full read of every partition every 100 cycles and after the last, judged for lost, misplaced, duplicate, inconsistent, failed-but-present and phantom values.\n\n")
	if len(a.KillCycles) == 0 {
		p("No run recorded: `go run ./chaos/cmd/killcycle -cycles %d -seed N -record docs/reliability-runs/killcycle-seed-N.json` makes one.\n\n", GoalKillCycles)
		return
	}
	p("| Target | Seed | Run on | Cycles | Acked | Indeterminate | Failed | Read rounds | Kills with sends in flight | Anomalies | Restart p50 / p99 / max |\n")
	p("|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range a.KillCycles {
		target := r.Target
		if r.Version != "" {
			target += " (" + r.Version + ")"
		}
		var an []string
		for _, k := range sortedKeys(r.Anomalies) {
			if r.Anomalies[k] > 0 {
				an = append(an, fmt.Sprintf("%s %d", k, r.Anomalies[k]))
			}
		}
		anomalies := "0"
		if len(an) > 0 {
			anomalies = "**" + strings.Join(an, ", ") + "**"
		}
		day := r.Started
		if len(day) >= 10 {
			day = day[:10]
		}
		p("| %s | %d | %s | %d | %d | %d | %d | %d | %d | %s | %s / %s / %s |\n", target, r.Seed, day, r.Cycles, r.Acked, r.Indeterminate, r.Failed,
			r.Rounds, r.KillsInFlight, anomalies, Dur(int64(r.RestartP50)), Dur(int64(r.RestartP99)), Dur(int64(r.RestartMax)))
	}
	p("\n")
	for _, target := range []string{"samsa", "kafka"} {
		if t := a.killCycles(target); t.runs > 0 {
			p("%s: %d cycles in %d runs, %d acknowledged sends, %d anomalies.\n\n", target, t.cycles, t.runs, t.acked, t.anomalies)
		}
	}
}
