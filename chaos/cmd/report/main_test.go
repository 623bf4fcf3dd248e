package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
