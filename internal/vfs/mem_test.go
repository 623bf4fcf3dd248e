package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// memWithDir returns a Mem holding a durable directory /d.
func memWithDir(t *testing.T) *Mem {
	t.Helper()
	m := NewCrashableMem()
	if err := MkdirAllSync(m, "/d", 0o755); err != nil {
		t.Fatal(err)
	}
	return m
}

func openRW(t *testing.T, fsys FS, p string) File {
	t.Helper()
	f, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func write(t *testing.T, f File, s string) {
	t.Helper()
	if _, err := f.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func syncFile(t *testing.T, f File) {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func syncDir(t *testing.T, fsys FS, dir string) {
	t.Helper()
	if err := fsys.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
}

func missing(t *testing.T, fsys FS, p string) {
	t.Helper()
	if _, err := fsys.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists after the crash (%v)", p, err)
	}
}

func TestMemCrashKeepsSyncedData(t *testing.T) {
	m := memWithDir(t)
	f := openRW(t, m, "/d/f")
	write(t, f, "durable")
	syncFile(t, f)
	syncDir(t, m, "/d")
	write(t, f, " and lost")
	m.Crash()
	mustRead(t, m, "/d/f", "durable")
	if st, err := m.Stat("/d/f"); err != nil || st.Size() != 7 {
		t.Fatalf("size after crash: %v %v", st, err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write through a handle from before the crash: %v", err)
	}
	if err := f.Sync(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("sync through a handle from before the crash: %v", err)
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrCrashed) {
		t.Fatalf("read through a handle from before the crash: %v", err)
	}
	// The reopened file works and crashes again the same way.
	g := openRW(t, m, "/d/f")
	if _, err := g.WriteAt([]byte("D"), 0); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	mustRead(t, m, "/d/f", "durable")
}

func TestMemCrashOverwriteAndTruncate(t *testing.T) {
	m := memWithDir(t)
	f := openRW(t, m, "/d/f")
	write(t, f, "abcdef")
	syncFile(t, f)
	syncDir(t, m, "/d")
	// In-place overwrites and truncation of synced bytes are not durable
	// either, and must not leak into the synced state.
	if _, err := f.WriteAt([]byte("XY"), 1); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3); err != nil {
		t.Fatal(err)
	}
	write(t, f, "zz")
	mustRead(t, m, "/d/f", "aXY\x00\x00\x00zz") // the write position stayed at 6
	m.Crash()
	mustRead(t, m, "/d/f", "abcdef")
	f = openRW(t, m, "/d/f")
	if err := f.Truncate(2); err != nil {
		t.Fatal(err)
	}
	syncFile(t, f)
	if _, err := f.WriteAt([]byte("Q"), 4); err != nil { // extends over bytes synced before the truncate
		t.Fatal(err)
	}
	m.Crash()
	mustRead(t, m, "/d/f", "ab")
}

func readNow(t *testing.T, fsys FS, p string) string {
	t.Helper()
	b, err := fsys.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMemCrashNames(t *testing.T) {
	m := memWithDir(t)
	f := openRW(t, m, "/d/new")
	write(t, f, "x")
	syncFile(t, f) // the data is durable, the name is not
	m.Crash()
	missing(t, m, "/d/new")

	mustWrite(t, m, "/d/a", "a")
	mustWrite(t, m, "/d/b", "b")
	for _, p := range []string{"/d/a", "/d/b"} {
		g := openRW(t, m, p)
		syncFile(t, g)
		g.Close()
	}
	syncDir(t, m, "/d")
	if err := m.Rename("/d/a", "/d/b"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/d/b"); err != nil {
		t.Fatal(err)
	}
	m.Crash() // neither the rename nor the remove was made durable
	mustRead(t, m, "/d/a", "a")
	mustRead(t, m, "/d/b", "b")

	if err := m.Rename("/d/a", "/d/b"); err != nil {
		t.Fatal(err)
	}
	syncDir(t, m, "/d")
	m.Crash()
	missing(t, m, "/d/a")
	mustRead(t, m, "/d/b", "a")
}

func TestMemCrashDirectories(t *testing.T) {
	m := NewCrashableMem()
	if err := m.MkdirAll("/x/y", 0o755); err != nil {
		t.Fatal(err)
	}
	syncDir(t, m, "/x") // y is a durable name in x, but x is no durable name in /
	m.Crash()
	missing(t, m, "/x")

	if err := MkdirAllSync(m, "/x/y", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(m, "/x/y/f", []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveAll("/x"); err != nil {
		t.Fatal(err)
	}
	m.Crash() // the RemoveAll was not made durable: everything is back
	mustRead(t, m, "/x/y/f", "f")
	if err := m.RemoveAll("/x"); err != nil {
		t.Fatal(err)
	}
	syncDir(t, m, "/")
	m.Crash()
	missing(t, m, "/x")
}

func TestMemOnSyncAndFreeze(t *testing.T) {
	m := memWithDir(t)
	base := m.SyncCount()
	if base != 1 { // MkdirAllSync synced "/"
		t.Fatalf("SyncCount after MkdirAllSync = %d", base)
	}
	var seen []string
	m.OnSync(func(n int, p string) {
		seen = append(seen, p)
		if n != base+len(seen) {
			t.Errorf("sync point numbered %d, want %d", n, base+len(seen))
		}
	})
	if err := WriteFileAtomic(m, "/d/f", []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if want := []string{"/d/f.tmp", "/d"}; !slices.Equal(seen, want) {
		t.Fatalf("sync points %v, want %v", seen, want)
	}
	// Freezing at a sync point: that sync does not happen, nothing else
	// does either, and the crash then leaves the state before it.
	m.OnSync(func(n int, p string) {
		if p == "/d" {
			m.Freeze()
		}
	})
	if err := WriteFileAtomic(m, "/d/f", []byte("v2"), 0o644); !errors.Is(err, ErrCrashed) {
		t.Fatalf("WriteFileAtomic frozen at its SyncDir: %v", err)
	}
	if _, err := m.Stat("/d/f"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("Stat while frozen: %v", err)
	}
	if err := m.Remove("/d/f"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("Remove while frozen: %v", err)
	}
	m.OnSync(nil)
	m.Crash()
	mustRead(t, m, "/d/f", "v1")
	missing(t, m, "/d/f.tmp")
}

// TestMemWriteFileAtomicEverySyncPoint is WriteFileAtomic's crash test:
// frozen at every sync point of a replace (and after the last), the file
// holds the old contents or the new, never a mix or nothing.
func TestMemWriteFileAtomicEverySyncPoint(t *testing.T) {
	run := func(crashAt int) (m *Mem, start int, err error) {
		m = memWithDir(t)
		if err := WriteFileAtomic(m, "/d/f", []byte("old contents"), 0o644); err != nil {
			t.Fatal(err)
		}
		start = m.SyncCount()
		m.OnSync(func(n int, _ string) {
			if n-start == crashAt {
				m.Freeze()
			}
		})
		err = WriteFileAtomic(m, "/d/f", []byte("new"), 0o644)
		m.OnSync(nil)
		return m, start, err
	}
	m, start, err := run(-1)
	if err != nil {
		t.Fatal(err)
	}
	points := m.SyncCount() - start
	if points != 2 {
		t.Fatalf("WriteFileAtomic has %d sync points, want 2 (the file, the directory)", points)
	}
	for k := 1; k <= points+1; k++ {
		m, _, err := run(k)
		m.Crash()
		got := readNow(t, m, "/d/f")
		switch {
		case err == nil && got != "new":
			t.Fatalf("crash point %d: acknowledged write lost: %q", k, got)
		case got != "new" && got != "old contents":
			t.Fatalf("crash point %d: file holds %q", k, got)
		}
	}
	t.Logf("WriteFileAtomic: %d crash points", points+1)
}

func TestMemTornWrites(t *testing.T) {
	lengths := map[int]bool{}
	for i := range 40 {
		m := memWithDir(t)
		m.SetCrashMode(CrashMode{Rand: rand.New(rand.NewPCG(uint64(i), 7)), TornWrites: true})
		f := openRW(t, m, "/d/f")
		write(t, f, "head")
		syncFile(t, f)
		syncDir(t, m, "/d")
		write(t, f, "0123456789")
		m.Crash()
		got := readNow(t, m, "/d/f")
		if !bytes.HasPrefix([]byte("head0123456789"), []byte(got)) || len(got) < 4 {
			t.Fatalf("torn crash left %q", got)
		}
		lengths[len(got)] = true
	}
	if len(lengths) < 5 {
		t.Fatalf("torn crashes left only lengths %v", lengths)
	}
	// A truncate and rewrite may come back as the old contents, or cut
	// anywhere in the new.
	seen := map[string]bool{}
	for i := range 40 {
		m := memWithDir(t)
		m.SetCrashMode(CrashMode{Rand: rand.New(rand.NewPCG(uint64(i), 8)), TornWrites: true})
		if err := WriteFileAtomic(m, "/d/f", []byte("old!"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, m, "/d/f", "ab")
		m.Crash()
		got := readNow(t, m, "/d/f")
		if got != "old!" && !strings.HasPrefix("ab", got) {
			t.Fatalf("torn rewrite left %q", got)
		}
		seen[got] = true
	}
	if len(seen) != 4 {
		t.Fatalf("torn rewrites left %v, want old!, \"\", a, ab", seen)
	}
}

func TestMemLockReleasedByCrash(t *testing.T) {
	m := memWithDir(t)
	if _, err := m.Lock("/d/.lock"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lock("/d/.lock"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	m.Crash() // the holder died
	l, err := m.Lock("/d/.lock")
	if err != nil {
		t.Fatalf("lock after crash: %v", err)
	}
	l.Close()
}

// TestMemUnsyncedNames: with CrashMode.UnsyncedNames, each namespace
// operation since the last SyncDir survives or not on its own, but a
// rename is never half done.
func TestMemUnsyncedNames(t *testing.T) {
	outcomes := map[string]bool{}
	for i := range 64 {
		m := memWithDir(t)
		if err := WriteFileAtomic(m, "/d/old", []byte("o"), 0o644); err != nil {
			t.Fatal(err)
		}
		m.SetCrashMode(CrashMode{Rand: rand.New(rand.NewPCG(uint64(i), 1)), UnsyncedNames: true})
		mustWrite(t, m, "/d/new", "n") // unsynced create
		if err := m.Rename("/d/old", "/d/moved"); err != nil {
			t.Fatal(err)
		}
		m.Crash()
		got := names(t, m, "/d")
		switch {
		case slices.Contains(got, "old") == slices.Contains(got, "moved"):
			t.Fatalf("rename half done: %v", got)
		case slices.Contains(got, "new") && readNow(t, m, "/d/new") != "":
			t.Fatalf("unsynced data survived without TornWrites")
		}
		outcomes[fmt.Sprint(got)] = true
	}
	if len(outcomes) != 4 {
		t.Fatalf("outcomes %v, want all four combinations", outcomes)
	}
}

func TestMemCrashClone(t *testing.T) {
	m := memWithDir(t)
	if err := WriteFileAtomic(m, "/d/f", []byte("durable"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := openRW(t, m, "/d/g")
	write(t, f, "unsynced")
	c := m.CrashClone()
	mustRead(t, c, "/d/f", "durable")
	missing(t, c, "/d/g")
	mustWrite(t, c, "/d/f", "changed in the clone")
	mustRead(t, m, "/d/f", "durable")
	write(t, f, "!") // m and its handles are untouched
	mustRead(t, m, "/d/g", "unsynced!")
}
