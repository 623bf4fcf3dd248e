//go:build unix

package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// CrashDisk runs the behaviour suite of fs_test.go too.
func init() {
	fsCases = append(fsCases, fsCase{"CrashDisk", func(t *testing.T) (FS, string) { return NewCrashDisk(), t.TempDir() }})
}

func mustReadFile(t *testing.T, fsys FS, p string) []byte {
	t.Helper()
	b, err := fsys.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCrashDiskLosesUnsynced(t *testing.T) {
	d, dir := NewCrashDisk(), t.TempDir()
	p := filepath.Join(dir, "f")
	f := openRW(t, d, p)
	write(t, f, "synced")
	syncFile(t, f)
	write(t, f, " unsynced")
	if _, err := f.WriteAt([]byte("S"), 0); err != nil { // an overwrite of synced bytes
		t.Fatal(err)
	}
	if got := mustReadFile(t, d, p); string(got) != "Synced unsynced" {
		t.Fatalf("before the crash the process reads %q", got)
	}
	if st, err := d.Stat(p); err != nil || st.Size() != 15 {
		t.Fatalf("Stat before the crash: %v %v", st, err)
	}
	if got, _ := os.ReadFile(p); string(got) != "synced" {
		t.Fatalf("the disk holds %q before any sync of the new bytes", got)
	}
	// A second file, shrunk and not synced: comes back whole.
	q := filepath.Join(dir, "g")
	g := openRW(t, d, q)
	write(t, g, "0123456789")
	syncFile(t, g)
	if err := g.Truncate(3); err != nil {
		t.Fatal(err)
	}
	g.Close() // closed, not synced: the shrink is still only in memory
	if got := mustReadFile(t, d, q); string(got) != "012" {
		t.Fatalf("reopened after close: %q", got)
	}
	// A third, written and closed without any sync.
	r := filepath.Join(dir, "h")
	h := openRW(t, d, r)
	write(t, h, "never synced")
	h.Close()

	d.Crash()
	if _, err := f.Write([]byte("x")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write through a handle of before the crash: %v", err)
	}
	if got := mustReadFile(t, d, p); string(got) != "synced" {
		t.Fatalf("after the crash: %q, want the synced bytes", got)
	}
	if got := mustReadFile(t, d, q); string(got) != "0123456789" {
		t.Fatalf("shrunk file after the crash: %q", got)
	}
	if got := mustReadFile(t, d, r); len(got) != 0 {
		t.Fatalf("never-synced file after the crash: %q", got)
	}
	// Renamed and reopened under the new name: one file, one state.
	f = openRW(t, d, p)
	write(t, f, "+")
	if err := d.Rename(p, p+"2"); err != nil {
		t.Fatal(err)
	}
	f2 := openRW(t, d, p+"2")
	if _, err := f2.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	write(t, f2, "!")
	syncFile(t, f2)
	f.Close()
	f2.Close()
	d.Crash()
	if got := mustReadFile(t, d, p+"2"); string(got) != "+ynced!" { // f wrote at 0, f2 at the end
		t.Fatalf("renamed file after the crash: %q", got)
	}
}

// TestCrashDiskNames: creates, removes, renames and mkdirs survive a crash
// only once their directory was synced, and Recover restores the rest.
func TestCrashDiskNames(t *testing.T) {
	d, root := NewCrashDisk(), t.TempDir()
	dir := filepath.Join(root, "d")
	if err := MkdirAllSync(d, dir, 0o755); err != nil {
		t.Fatal(err)
	}
	at := func(n string) string { return filepath.Join(dir, n) }
	for _, n := range []string{"kept", "removed", "renamed", "replaced", "gone-dir/inner"} {
		if err := MkdirAllSync(d, filepath.Dir(at(n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := WriteFileSync(d, at(n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	syncDir(t, d, dir)
	syncDir(t, d, at("gone-dir"))
	if err := WriteFileAtomic(d, at("atomic"), []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Unsynced from here on.
	if err := WriteFileSync(d, at("new"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.MkdirAll(at("newdir/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(at("removed")); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename(at("renamed"), at("renamed2")); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename(at("kept"), at("replaced")); err != nil { // replaced goes to trash
		t.Fatal(err)
	}
	if err := d.RemoveAll(at("gone-dir")); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename(at("replaced"), at("kept")); err != nil { // and back: kept again, replaced still in trash
		t.Fatal(err)
	}
	want := []string{"atomic", "kept", "new", "newdir/", "renamed2"}
	if got := names(t, d, dir); !slices.Equal(got, want) {
		t.Fatalf("before the crash the process lists %v, want %v (hidden names left out)", got, want)
	}
	d.Crash()
	n, err := d.Recover(root)
	if err != nil || n == 0 {
		t.Fatalf("Recover: %d undone, %v", n, err)
	}
	want = []string{"atomic", "gone-dir/", "kept", "removed", "renamed", "replaced"}
	if got := names(t, d, dir); !slices.Equal(got, want) {
		t.Fatalf("after the crash: %v, want %v", got, want)
	}
	for _, n := range []string{"kept", "removed", "renamed", "replaced", "gone-dir/inner"} {
		if got := mustReadFile(t, d, at(n)); string(got) != n {
			t.Fatalf("%s holds %q after the crash", n, got)
		}
	}
	mustRead(t, d, at("atomic"), "v1")
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(want) {
		t.Fatalf("the disk holds %d names after Recover, want %d (no journal, no trash)", len(ents), len(want))
	}
	if n, err := d.Recover(root); err != nil || n != 0 {
		t.Fatalf("second Recover: %d undone, %v", n, err)
	}
	// Synced, the same operations stay.
	if err := d.Remove(at("removed")); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename(at("renamed"), at("renamed2")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, d, dir)
	d.Crash()
	if _, err := d.Recover(root); err != nil {
		t.Fatal(err)
	}
	want = []string{"atomic", "gone-dir/", "kept", "renamed2", "replaced"}
	if got := names(t, d, dir); !slices.Equal(got, want) {
		t.Fatalf("after synced operations and a crash: %v, want %v", got, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != len(want) {
		t.Fatalf("the disk holds %d names after SyncDir, want %d (trash deleted)", len(ents), len(want))
	}
}

// TestCrashDiskModel runs random writes, truncates, syncs and crashes
// across page boundaries against a model holding the current and the
// synced contents.
func TestCrashDiskModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			d, p := NewCrashDisk(), filepath.Join(t.TempDir(), "f")
			var cur, synced []byte
			f := openRW(t, d, p)
			check := func(when string) {
				t.Helper()
				buf := make([]byte, len(cur)+100)
				off := int64(0)
				if len(cur) > 0 {
					off = rng.Int64N(int64(len(cur)))
				}
				n, err := f.ReadAt(buf, off)
				if err != io.EOF || !bytes.Equal(buf[:n], cur[off:]) {
					t.Fatalf("%s: ReadAt(%d) = %d %v, want %d bytes", when, off, n, err, len(cur)-int(off))
				}
				if st, err := f.Stat(); err != nil || st.Size() != int64(len(cur)) {
					t.Fatalf("%s: Stat %v %v, want size %d", when, st, err, len(cur))
				}
			}
			for i := range 300 {
				switch k := rng.IntN(20); {
				case k < 10:
					off := rng.Int64N(int64(len(cur)) + 3*cdPage)
					b := make([]byte, rng.IntN(3*cdPage))
					for j := range b {
						b[j] = byte(rng.Uint32())
					}
					if _, err := f.WriteAt(b, off); err != nil {
						t.Fatal(err)
					}
					if end := off + int64(len(b)); end > int64(len(cur)) {
						cur = append(cur, make([]byte, end-int64(len(cur)))...)
					}
					copy(cur[off:], b)
				case k < 13:
					size := rng.Int64N(int64(len(cur)) + 2*cdPage)
					if err := f.Truncate(size); err != nil {
						t.Fatal(err)
					}
					if size < int64(len(cur)) {
						cur = cur[:size]
					} else {
						cur = append(cur, make([]byte, size-int64(len(cur)))...)
					}
				case k < 17:
					syncFile(t, f)
					synced = bytes.Clone(cur)
					if disk, _ := os.ReadFile(p); !bytes.Equal(disk, cur) {
						t.Fatalf("op %d: the disk after Sync differs", i)
					}
				case k < 19:
					d.Crash()
					cur = bytes.Clone(synced)
					f = openRW(t, d, p)
				default:
					f.Close()
					f = openRW(t, d, p)
				}
				check(fmt.Sprintf("op %d", i))
			}
		})
	}
}

// TestCrashDiskKill kills a real process (this test binary, re-run as a
// child) with SIGKILL after it synced some writes and not others.
func TestCrashDiskKill(t *testing.T) {
	if p := os.Getenv("VFS_CRASHDISK_CHILD"); p != "" {
		d := NewCrashDisk()
		f, err := d.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			os.Exit(3)
		}
		f.Write([]byte("durable"))
		if f.Sync() != nil {
			os.Exit(3)
		}
		f.Write(bytes.Repeat([]byte("lost"), 5000))
		f.Truncate(3) // and a shrink of synced bytes, also lost
		f.Write([]byte("x"))
		dir := filepath.Dir(p)
		if MkdirAllSync(d, filepath.Join(dir, "synced"), 0o755) != nil {
			os.Exit(3)
		}
		WriteFileSync(d, filepath.Join(dir, "unsynced-name"), []byte("x"), 0o644) // data synced, name not
		d.Rename(filepath.Join(dir, "synced"), filepath.Join(dir, "renamed"))
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	p := filepath.Join(t.TempDir(), "f")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDiskKill$")
	cmd.Env = append(os.Environ(), "VFS_CRASHDISK_CHILD="+p)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want killed by SIGKILL", err)
	}
	if got := mustReadFile(t, OS{}, p); string(got) != "durable" {
		t.Fatalf("after the kill the file holds %q, want only the synced bytes", got)
	}
	d := NewCrashDisk()
	if _, err := d.Recover(filepath.Dir(p)); err != nil {
		t.Fatal(err)
	}
	if got := names(t, OS{}, filepath.Dir(p)); !slices.Equal(got, []string{"f", "synced/"}) {
		t.Fatalf("after the kill and Recover the directory holds %v, want [f synced/]", got)
	}
}

// TestCrashDiskConcurrent is for the race detector: handles of one file
// and of several files used at once, with syncs and a crash.
func TestCrashDiskConcurrent(t *testing.T) {
	d, dir := NewCrashDisk(), t.TempDir()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := filepath.Join(dir, fmt.Sprint(w%2)) // two writers per file
			f, err := d.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			buf := make([]byte, 1000)
			for i := range 200 {
				f.WriteAt(bytes.Repeat([]byte{byte(w)}, 1000), int64(i*1000))
				f.ReadAt(buf, int64(i*500))
				d.Stat(p)
				if i%20 == 0 {
					f.Sync()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			d.ReadDir(dir)
		}
		d.Crash()
	}()
	wg.Wait()
}
