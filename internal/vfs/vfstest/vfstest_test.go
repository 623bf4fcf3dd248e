package vfstest

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/samsa-io/samsa/internal/vfs"
)

// replaceTrial replaces /d/f twice with write: each replace is acknowledged
// when write returns; the check wants the last acknowledged contents or a
// later one, never anything else.
func replaceTrial(write func(fsys vfs.FS, p string, b []byte) error) Trial {
	return func(t testing.TB, m *vfs.Mem, arm func()) Recovery {
		if err := vfs.MkdirAllSync(m, "/d", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := vfs.WriteFileAtomic(m, "/d/f", []byte("v0"), 0o644); err != nil {
			t.Fatal(err)
		}
		arm()
		acked := 0
		for i := 1; i <= 2; i++ {
			if write(m, "/d/f", []byte(fmt.Sprintf("v%d", i))) != nil {
				break
			}
			acked = i
		}
		return Recovery{
			Recover: func(m *vfs.Mem) error { _, err := m.ReadFile("/d/f"); return err },
			Check: func(m *vfs.Mem) {
				b, err := m.ReadFile("/d/f")
				var got int
				if _, serr := fmt.Sscanf(string(b), "v%d", &got); err != nil || serr != nil || got < acked {
					t.Fatalf("after the crash /d/f = %q (%v); acknowledged v%d", b, err, acked)
				}
			},
		}
	}
}

func TestRunCountsEverySyncPoint(t *testing.T) {
	n := EverySyncPoint(t, replaceTrial(func(fsys vfs.FS, p string, b []byte) error {
		return vfs.WriteFileAtomic(fsys, p, b, 0o644)
	}))
	if n != 5 { // two replaces of two sync points each, and the end
		t.Fatalf("%d crash points, want 5", n)
	}
	for seed := range uint64(8) {
		Run(t, Mode{Random: true, Seed: seed, CrashRecovery: true}, replaceTrial(func(fsys vfs.FS, p string, b []byte) error {
			return vfs.WriteFileAtomic(fsys, p, b, 0o644)
		}))
	}
}

// fakeTB records a failure instead of failing the test.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msg    string
}

func (f *fakeTB) Helper()             {}
func (f *fakeTB) Logf(string, ...any) {}
func (f *fakeTB) Failed() bool        { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }
func (f *fakeTB) fail(msg string) {
	f.mu.Lock()
	f.failed, f.msg = true, msg
	f.mu.Unlock()
}
func (f *fakeTB) Fatal(args ...any) { f.fail(fmt.Sprint(args...)); runtime.Goexit() }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (f *fakeTB) FailNow() { f.fail("FailNow"); runtime.Goexit() }

// runFake runs fn with a fakeTB in its own goroutine (Fatal exits it).
func runFake(fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

// TestRunCatchesMissingSyncs: replaces that skip the file sync or the
// directory sync are caught, each in the mode that can see it.
func TestRunCatchesMissingSyncs(t *testing.T) {
	noFileSync := func(fsys vfs.FS, p string, b []byte) error {
		f, err := fsys.OpenFile(p+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		f.Write(b)
		f.Close()
		if err := fsys.Rename(p+".tmp", p); err != nil {
			return err
		}
		return fsys.SyncDir("/d")
	}
	if f := runFake(func(tb testing.TB) { EverySyncPoint(tb, replaceTrial(noFileSync)) }); !f.Failed() {
		t.Fatal("a replace without a file sync passed")
	}
	noDirSync := func(fsys vfs.FS, p string, b []byte) error {
		if err := vfs.WriteFileSync(fsys, p+".tmp", b, 0o644); err != nil {
			return err
		}
		return fsys.Rename(p+".tmp", p)
	}
	if f := runFake(func(tb testing.TB) { EverySyncPoint(tb, replaceTrial(noDirSync)) }); !f.Failed() {
		t.Fatal("a replace without a directory sync passed")
	}
	// In place without a temp file: a torn rewrite (the truncation durable,
	// the new contents not all) is only visible with random surviving
	// state.
	inPlace := func(fsys vfs.FS, p string, b []byte) error {
		return vfs.WriteFileSync(fsys, p, append(b, make([]byte, 64)...), 0o644)
	}
	caught := false
	for seed := range uint64(8) {
		if f := runFake(func(tb testing.TB) { Run(tb, Mode{Random: true, Seed: seed}, replaceTrial(inPlace)) }); f.Failed() {
			caught = true
		}
	}
	if !caught {
		t.Fatal("an in-place rewrite passed with random surviving state")
	}
}
