package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/chaos/checker"
	"github.com/samsa-io/samsa/chaos/history"
)

// writeSeed writes a run directory whose history is one acknowledged send
// after a kill of its partition's leader, read back by the final read.
func writeSeed(t *testing.T, dir string) {
	t.Helper()
	d := filepath.Join(dir, "seed-4")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	ops := []history.Op{
		{Type: history.Invoke, F: history.Send, Topic: "chaos", Value: 1},
		{Type: history.OK, F: history.Send, Topic: "chaos", Value: 1, Offset: 0},
		{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: "kill-leader", Targets: []int32{2}, Leaders: []int32{2}},
		{Type: history.Invoke, F: history.Send, Topic: "chaos", Value: 2},
		{Type: history.OK, F: history.Send, Topic: "chaos", Value: 2, Offset: 1},
		{Process: 9, Type: history.Invoke, F: history.FinalRead, Topic: "chaos"},
		{Process: 9, Type: history.OK, F: history.FinalRead, Topic: "chaos", Records: []history.Record{{Offset: 0, Value: 1}, {Offset: 1, Value: 2}}},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range ops {
		ops[i].Index, ops[i].Time = int64(i), int64(i)*1_000_000_000
		if err := enc.Encode(&ops[i]); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"history.jsonl": b.String(),
		"summary.txt":   "seed=4 layout=isolated elapsed=1m faults[kill-leader=1] crashes=0 complete\n",
		"config.json":   `{"target":"samsa","version":"v1","seed":4,"layout":"isolated","duration":"20s","quiet":"5s","faults":["kill-leader"]}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	writeSeed(t, dir)
	out := filepath.Join(t.TempDir(), "reliability.md")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-in", dir, "-out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"**Goal met** over 1 runs",
		"| Layout | isolated |",
		"| after a leader fault | kill-leader | 1 | 2s | 2s | 2s | 0 | 0 |",
		"make chaos SEED=4 RUNS=1 LAYOUT=isolated DURATION=20s QUIET=5s",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(stderr.String(), "1 runs (1 valid, 0 invalid, 0 errored)") {
		t.Errorf("stderr %q", stderr.String())
	}
	// Without -out it goes to standard output, the same bytes.
	stdout.Reset()
	if code := run([]string{"-in", dir}, &stdout, &stderr); code != 0 || stdout.String() != string(md) {
		t.Errorf("exit %d, stdout differs from the file", code)
	}
	// -seeds selects; no run left is an error, as is a bad list.
	if code := run([]string{"-in", dir, "-seeds", "4"}, &stdout, &stderr); code != 0 {
		t.Errorf("-seeds 4: exit %d", code)
	}
	if code := run([]string{"-in", dir, "-seeds", "5-9"}, &stdout, &stderr); code != 2 {
		t.Errorf("-seeds 5-9: exit %d", code)
	}
	if code := run([]string{"-in", dir, "-seeds", "x"}, &stdout, &stderr); code != 2 {
		t.Errorf("-seeds x: exit %d", code)
	}
	// A directory without runs, and stray arguments, are errors.
	if code := run([]string{"-in", t.TempDir()}, &stdout, &stderr); code != 2 {
		t.Errorf("empty directory: exit %d", code)
	}
	if code := run([]string{"-in", dir, "extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}

// TestKeptRunsReport runs scripts/chaos-keep on a run directory and the
// report on what it kept: the run, without its history, is judged by its
// results.json and gives the same figures.
func TestKeptRunsReport(t *testing.T) {
	out, dest := t.TempDir(), filepath.Join(t.TempDir(), "kept")
	writeSeed(t, out)
	ops, err := history.ReadFile(filepath.Join(out, "seed-4", "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var res bytes.Buffer
	if err := checker.Check(ops, checker.Options{}).WriteJSON(&res); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "seed-4", "results.json"), res.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := exec.Command("../../../scripts/chaos-keep", out, dest)
	if b, err := keep.CombinedOutput(); err != nil || !strings.Contains(string(b), "kept 1 runs") {
		t.Fatalf("chaos-keep: %v: %s", err, b)
	}
	if _, err := os.Stat(filepath.Join(dest, "seed-4", "history.jsonl")); !os.IsNotExist(err) {
		t.Errorf("the history was kept too: %v", err)
	}
	// A second keep leaves the kept run alone and says so.
	if b, err := exec.Command("../../../scripts/chaos-keep", out, dest).CombinedOutput(); err == nil || !strings.Contains(string(b), "exists") {
		t.Errorf("second chaos-keep: %v: %s", err, b)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-in", dest}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{
		"Each run is judged by the results.json chaos/checker wrote",
		"| after a leader fault | kill-leader | 1 | 2s | 2s | 2s | 0 | 0 |",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, stdout.String())
		}
	}
}
