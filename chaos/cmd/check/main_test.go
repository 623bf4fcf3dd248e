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

// writeHistory writes sends of values 1..n to partition 0 at offsets 0..n-1
// and a final read of the values in read.
func writeHistory(t *testing.T, n int64, read []int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := history.NewWriter(f)
	w.Add(history.Op{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: "kill"})
	for v := int64(1); v <= n; v++ {
		w.Add(history.Op{Process: 0, Type: history.Invoke, F: history.Send, Topic: "t", Value: v})
		w.Add(history.Op{Process: 0, Type: history.OK, F: history.Send, Topic: "t", Value: v, Offset: v - 1})
	}
	var recs []history.Record
	for _, v := range read {
		recs = append(recs, history.Record{Offset: v - 1, Value: v})
	}
	w.Add(history.Op{Process: 1, Type: history.OK, F: history.FinalRead, Topic: "t", Records: recs})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		read    []int64
		code    int
		verdict string
	}{
		{"valid", []int64{1, 2, 3}, 0, "valid: 3 acked"},
		{"lost write", []int64{1, 3}, 1, "INVALID: lost-write 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hist := writeHistory(t, 3, tc.read)
			res := filepath.Join(t.TempDir(), "results.json")
			var stdout, stderr bytes.Buffer
			if code := run([]string{"-history", hist, "-results", res}, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			line := stdout.String()
			if !strings.HasPrefix(line, tc.verdict) || strings.Count(line, "\n") != 1 {
				t.Errorf("stdout %q, want one line starting %q", line, tc.verdict)
			}
			b, err := os.ReadFile(res)
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				Valid     bool
				Verdict   string
				Anomalies map[string]struct{ Count int }
				Stats     struct{ Acknowledged int }
			}
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			if out.Valid != (tc.code == 0) || out.Verdict+"\n" != line || out.Stats.Acknowledged != 3 || out.Anomalies["lost-write"].Count != 3-len(tc.read) {
				t.Errorf("results %+v", out)
			}
		})
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.jsonl")
	if err := os.WriteFile(garbage, []byte("{\"index\":0,\"type\":\"ok\",\"f\":\"send\"}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(dir, "orphan.jsonl")
	if err := os.WriteFile(orphan, []byte(`{"index":0,"type":"ok","f":"send","topic":"t","value":5}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no flags":  {nil, "usage"},
		"bad flag":  {[]string{"-nope"}, "flag provided but not defined"},
		"missing":   {[]string{"-history", filepath.Join(dir, "none")}, "no such file"},
		"garbage":   {[]string{"-history", garbage}, "history line 2"},
		"malformed": {[]string{"-history", orphan}, ""},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: stderr %q, want %q", name, stderr.String(), tc.want)
		}
		if name == "malformed" && !strings.Contains(stdout.String(), "malformed-history 1") {
			t.Errorf("malformed: stdout %q", stdout.String())
		}
	}
}
