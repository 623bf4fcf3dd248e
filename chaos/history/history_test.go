package history

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestWriteRead(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				w.Add(Op{Process: p, Type: Invoke, F: Send, Topic: "t", Value: int64(p*1000 + i)})
				w.Add(Op{Process: p, Type: OK, F: Send, Topic: "t", Value: int64(p*1000 + i), Partition: 2, Offset: int64(i)})
			}
		}(p)
	}
	wg.Wait()
	w.Add(Op{Process: 9, Type: OK, F: Poll, Mode: Assign, Records: []Record{{Partition: 1, Offset: 7, Value: 3}}})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	ops, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 401 {
		t.Fatalf("read %d entries, want 401", len(ops))
	}
	for i, op := range ops {
		if op.Index != int64(i) {
			t.Fatalf("entry %d has index %d", i, op.Index)
		}
		if i > 0 && op.Time < ops[i-1].Time {
			t.Fatalf("entry %d time %d before %d", i, op.Time, ops[i-1].Time)
		}
	}
	last := ops[400]
	if last.Mode != Assign || len(last.Records) != 1 || last.Records[0] != (Record{Partition: 1, Offset: 7, Value: 3}) {
		t.Fatalf("poll entry read back as %+v", last)
	}
}

func TestReadRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":   "{\"index\":0,\"type\":\"ok\"\n",
		"type":       `{"index":0,"type":"maybe","f":"send"}`,
		"f":          `{"index":0,"type":"ok","f":"write"}`,
		"order":      `{"index":1,"type":"ok","f":"send"}` + "\n" + `{"index":1,"type":"ok","f":"send"}`,
		"negative":   `{"index":-1,"type":"ok","f":"send"}`,
		"wrong kind": `{"index":0,"type":"ok","f":"send","records":3}`,
	} {
		if _, err := Read(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "history line") {
			t.Errorf("%s: got %v, want a history line error", name, err)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"index":0,"time":5,"process":1,"type":"ok","f":"poll","records":[{"p":0,"o":1,"v":2}]}`))
	f.Add([]byte("{\"index\":0,\"type\":\"invoke\",\"f\":\"fault\",\"fault\":\"kill\"}\n{\"index\":1,\"type\":\"ok\",\"f\":\"fault\"}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		// What was accepted writes out and reads back the same.
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, op := range ops {
			w.Add(op)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		again, err := Read(&buf)
		if err != nil {
			t.Fatalf("rewritten history does not read: %v", err)
		}
		if len(again) != len(ops) {
			t.Fatalf("%d entries became %d", len(ops), len(again))
		}
	})
}

func TestReadFile(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Add(Op{Process: 1, Type: Invoke, F: Send, Topic: "t", Value: 7})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ops, err := ReadFile(path)
	if err != nil || len(ops) != 1 || ops[0].Value != 7 {
		t.Fatalf("ReadFile: %v, %+v", err, ops)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("ReadFile of a missing file: no error")
	}
}
