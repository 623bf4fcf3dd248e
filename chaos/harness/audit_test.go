package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorruptFileRestores checks the corrupt fault's damage and its undo:
// every pick changes exactly the file it names (one bit, or a shorter
// length), and the restore puts back the original bytes.
func TestCorruptFileRestores(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		Topic + "-0/00000000000000000000.log":                                          bytes.Repeat([]byte("segment "), 100),
		Topic + "-1/00000000000000000000.index":                                        bytes.Repeat([]byte{7}, 64),
		"__cluster_metadata-0/snapshot-00000000000000000001-00000000000000000001.snap": []byte("a snapshot of 77 bytes, more or less, to be flipped or truncated by the fault"),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flipped, truncated := 0, 0
	for pick := range uint64(30) {
		damage, restore, err := corruptFile(dir, pick)
		if err != nil {
			t.Fatal(err)
		}
		changed := 0
		for name, want := range files {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, want) {
				continue
			}
			changed++
			if !strings.HasPrefix(damage, name) {
				t.Errorf("pick %d: %q changed, but the fault says %q", pick, name, damage)
			}
			switch {
			case len(got) < len(want) && bytes.Equal(got, want[:len(got)]):
				truncated++
			case len(got) == len(want):
				diff := 0
				for i := range got {
					for x := got[i] ^ want[i]; x != 0; x &= x - 1 {
						diff++
					}
				}
				if diff != 1 {
					t.Errorf("pick %d: %s: %d bits differ, want 1", pick, damage, diff)
				}
				flipped++
			default:
				t.Errorf("pick %d: %s: %d bytes, neither a prefix of the %d nor a bit flip", pick, damage, len(got), len(want))
			}
		}
		if changed != 1 {
			t.Fatalf("pick %d (%s): %d files changed, want 1", pick, damage, changed)
		}
		if err := restore(); err != nil {
			t.Fatal(err)
		}
		for name, want := range files {
			if got, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(got, want) {
				t.Fatalf("pick %d: %s not restored", pick, name)
			}
		}
	}
	if flipped == 0 || truncated == 0 {
		t.Errorf("30 picks: %d bit flips, %d truncations; want both kinds", flipped, truncated)
	}
}

// TestLastLogLine checks what restartCorrupted reads as a node's reason to
// exit.
func TestLastLogLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "node.log")
	os.WriteFile(p, []byte("==== start ====\nsamsa serve: raft: corrupt: not a snapshot file\n\n"), 0o644)
	if got := lastLogLine(p); got != "samsa serve: raft: corrupt: not a snapshot file" {
		t.Errorf("lastLogLine = %q", got)
	}
	if got := lastLogLine(filepath.Join(t.TempDir(), "missing")); got != "" {
		t.Errorf("lastLogLine of a missing file = %q, want empty", got)
	}
}
