package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestOSWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "meta")
	if err := MkdirAllSync(OS{}, filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"one", "two"} {
		if err := WriteFileAtomic(OS{}, p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := OS{}.ReadFile(p)
		if err != nil || string(got) != body {
			t.Fatalf("read %q, %v; want %q", got, err, body)
		}
	}
	if _, err := os.Stat(p + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file left behind: %v", err)
	}
}

func TestOSLockIsExclusive(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".lock")
	l, err := OS{}.Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (OS{}).Lock(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	l.Close()
	l2, err := OS{}.Lock(p)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Close()
}
