package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The same behaviour tests run over OS and Mem: whatever storage relies on
// must hold on both, so that a crash test on Mem says something about OS.

type fsCase struct {
	name string
	new  func(t *testing.T) (FS, string) // a filesystem and an empty directory in it
}

var fsCases = []fsCase{
	{"OS", func(t *testing.T) (FS, string) { return OS{}, t.TempDir() }},
	{"Mem", func(t *testing.T) (FS, string) {
		m := NewCrashableMem()
		if err := m.MkdirAll("/data", 0o755); err != nil {
			t.Fatal(err)
		}
		return m, "/data"
	}},
}

func forEachFS(t *testing.T, fn func(t *testing.T, fsys FS, dir string)) {
	for _, c := range fsCases {
		t.Run(c.name, func(t *testing.T) {
			fsys, dir := c.new(t)
			fn(t, fsys, dir)
		})
	}
}

func mustWrite(t *testing.T, fsys FS, p, body string) {
	t.Helper()
	f, err := fsys.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, fsys FS, p, want string) {
	t.Helper()
	got, err := fsys.ReadFile(p)
	if err != nil || string(got) != want {
		t.Fatalf("ReadFile(%s) = %q, %v; want %q", p, got, err, want)
	}
}

func TestFSReadWrite(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		p := filepath.Join(dir, "f")
		f, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Name() != p {
			t.Fatalf("Name %q", f.Name())
		}
		if _, err := f.Write([]byte("hello world")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("W"), 6); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("!"), 13); err != nil { // leaves a hole of zeros
			t.Fatal(err)
		}
		buf := make([]byte, 20)
		n, err := f.ReadAt(buf, 0)
		if n != 14 || err != io.EOF || string(buf[:n]) != "hello World\x00\x00!" {
			t.Fatalf("ReadAt = %d %v %q", n, err, buf[:n])
		}
		if n, err := f.ReadAt(buf[:3], 6); n != 3 || err != nil || string(buf[:3]) != "Wor" {
			t.Fatalf("ReadAt inside = %d %v", n, err)
		}
		if n, err := f.ReadAt(buf, 14); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt at end = %d %v", n, err)
		}
		if pos, err := f.Seek(0, io.SeekStart); pos != 0 || err != nil {
			t.Fatal(pos, err)
		}
		if n, err := f.Read(buf[:5]); n != 5 || err != nil || string(buf[:5]) != "hello" {
			t.Fatalf("Read = %d %v", n, err)
		}
		if pos, err := f.Seek(-1, io.SeekEnd); pos != 13 || err != nil {
			t.Fatal(pos, err)
		}
		if n, err := f.Read(buf); n != 1 || err != nil {
			t.Fatalf("Read last = %d %v", n, err)
		}
		if n, err := f.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("Read at EOF = %d %v", n, err)
		}
		if _, err := f.Seek(-100, io.SeekCurrent); err == nil {
			t.Fatal("seek before the start succeeded")
		}
		if err := f.Truncate(5); err != nil {
			t.Fatal(err)
		}
		if st, err := f.Stat(); err != nil || st.Size() != 5 || st.Name() != "f" || st.IsDir() {
			t.Fatalf("Stat after truncate: %v %v", st, err)
		}
		if err := f.Truncate(7); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		mustRead(t, fsys, p, "hello\x00\x00")
		if _, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("O_EXCL on an existing file: %v", err)
		}
	})
}

func TestFSFlags(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		p := filepath.Join(dir, "f")
		if _, err := fsys.Open(p); !errors.Is(err, fs.ErrNotExist) || !os.IsNotExist(err) {
			t.Fatalf("open of a missing file: %v", err)
		}
		if _, err := fsys.OpenFile(filepath.Join(dir, "no", "f"), os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("create in a missing directory: %v", err)
		}
		mustWrite(t, fsys, p, "0123456789")
		mustWrite(t, fsys, p, "ab") // O_TRUNC
		mustRead(t, fsys, p, "ab")
		f, err := fsys.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("cd")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("x"), 0); err == nil {
			t.Fatal("WriteAt on an O_APPEND file succeeded")
		}
		if _, err := f.Read(make([]byte, 1)); err == nil {
			t.Fatal("Read on a write-only file succeeded")
		}
		f.Close()
		if err := f.Close(); err == nil {
			t.Fatal("second Close succeeded")
		}
		if _, err := f.Write([]byte("x")); err == nil {
			t.Fatal("Write after Close succeeded")
		}
		mustRead(t, fsys, p, "abcd")
		r, err := fsys.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := r.Write([]byte("x")); err == nil {
			t.Fatal("Write on a read-only file succeeded")
		}
		if _, err := fsys.ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ReadFile of a missing file: %v", err)
		}
	})
}

func names(t *testing.T, fsys FS, dir string) []string {
	t.Helper()
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	return out
}

func TestFSDirectories(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		if err := fsys.MkdirAll(filepath.Join(dir, "a", "b", "c"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsys.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
			t.Fatalf("MkdirAll of an existing dir: %v", err)
		}
		mustWrite(t, fsys, filepath.Join(dir, "z"), "z")
		mustWrite(t, fsys, filepath.Join(dir, "m"), "m")
		if got := names(t, fsys, dir); !slices.Equal(got, []string{"a/", "m", "z"}) {
			t.Fatalf("ReadDir = %v", got)
		}
		if err := fsys.MkdirAll(filepath.Join(dir, "z", "x"), 0o755); err == nil {
			t.Fatal("MkdirAll through a file succeeded")
		}
		st, err := fsys.Stat(filepath.Join(dir, "a"))
		if err != nil || !st.IsDir() || st.Name() != "a" {
			t.Fatalf("Stat dir: %v %v", st, err)
		}
		if st, err := fsys.Stat(filepath.Join(dir, "z")); err != nil || st.IsDir() || st.Size() != 1 {
			t.Fatalf("Stat file: %v %v", st, err)
		}
		if _, err := fsys.Stat(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat missing: %v", err)
		}
		if _, err := fsys.ReadDir(filepath.Join(dir, "z")); err == nil {
			t.Fatal("ReadDir of a file succeeded")
		}
		if err := fsys.Remove(filepath.Join(dir, "a")); err == nil {
			t.Fatal("Remove of a non-empty directory succeeded")
		}
		if err := fsys.Remove(filepath.Join(dir, "a", "b", "c")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Remove(filepath.Join(dir, "m")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Remove(filepath.Join(dir, "m")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("second Remove: %v", err)
		}
		mustWrite(t, fsys, filepath.Join(dir, "a", "b", "f"), "f")
		if err := fsys.RemoveAll(filepath.Join(dir, "a")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.RemoveAll(filepath.Join(dir, "a")); err != nil {
			t.Fatalf("RemoveAll of a missing path: %v", err)
		}
		if got := names(t, fsys, dir); !slices.Equal(got, []string{"z"}) {
			t.Fatalf("ReadDir after removes = %v", got)
		}
		if err := fsys.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		if err := fsys.SyncDir(filepath.Join(dir, "nope")); err == nil {
			t.Fatal("SyncDir of a missing directory succeeded")
		}
	})
}

func TestFSRename(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		mustWrite(t, fsys, a, "new")
		mustWrite(t, fsys, b, "old")
		f, err := fsys.Open(a)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := fsys.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		mustRead(t, fsys, b, "new")
		if _, err := fsys.Stat(a); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("old name after rename: %v", err)
		}
		buf := make([]byte, 3) // an open file follows the rename
		if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "new" {
			t.Fatalf("read through the old handle: %q %v", buf, err)
		}
		if err := fsys.Rename(a, b); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("rename of a missing file: %v", err)
		}
		d := filepath.Join(dir, "d")
		if err := fsys.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Rename(b, d); err == nil {
			t.Fatal("rename of a file over a directory succeeded")
		}
		if err := fsys.Rename(d, filepath.Join(dir, "e")); err != nil {
			t.Fatal(err)
		}
		if got := names(t, fsys, filepath.Join(dir, "e")); !slices.Equal(got, []string{"sub/"}) {
			t.Fatalf("renamed directory holds %v", got)
		}
	})
}

func TestFSWriteFileAtomic(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		p := filepath.Join(dir, "a", "b", "meta")
		if err := MkdirAllSync(fsys, filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, body := range []string{"one", "two"} {
			if err := WriteFileAtomic(fsys, p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			mustRead(t, fsys, p, body)
		}
		if _, err := fsys.Stat(p + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("temp file left behind: %v", err)
		}
		if err := WriteFileAtomic(fsys, filepath.Join(dir, "missing", "x"), []byte("x"), 0o644); err == nil {
			t.Fatal("WriteFileAtomic into a missing directory succeeded")
		}
	})
}

func TestFSLock(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		p := filepath.Join(dir, ".lock")
		l, err := fsys.Lock(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.Lock(p); !errors.Is(err, ErrLocked) {
			t.Fatalf("second lock: %v, want ErrLocked", err)
		}
		if _, err := fsys.Stat(p); err != nil {
			t.Fatalf("lock file: %v", err)
		}
		l.Close()
		l2, err := fsys.Lock(p)
		if err != nil {
			t.Fatalf("lock after release: %v", err)
		}
		l2.Close()
	})
}
