package storage

import (
	"errors"
	"testing"

	"github.com/samsa-io/samsa/internal/vfs"
	"github.com/samsa-io/samsa/internal/vfs/vfstest"
)

// formatTrial formats two log dirs that do not exist yet (one nested),
// then rewrites one meta.properties with another directory id. After any
// crash each dir is unformatted or holds a whole meta.properties, and what
// was acknowledged is there.
func formatTrial(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
	dirs := []string{"/logs/a", "/logs/b/nested"}
	if err := vfs.MkdirAllSync(m, "/logs", 0o755); err != nil {
		t.Fatal(err)
	}
	arm()
	formatted := FormatWith(FormatOptions{FS: m, Dirs: dirs, ClusterID: cid, NodeID: 3}) == nil
	var before MetaProperties
	rewritten := false
	if formatted {
		before, _ = ReadMetaPropertiesFS(m, dirs[0])
		rewritten = WriteMetaPropertiesFS(m, dirs[0], MetaProperties{Version: 1, ClusterID: cid, NodeID: 3, DirectoryID: "AAAAAAAAAAAAAAAAAAAAAg"}, nil) == nil
	}
	return vfstest.Recovery{
		Recover: func(m *vfs.Mem) error {
			// What samsa serve does on start: format what is unformatted.
			_, err := CheckFS(m, dirs, cid, 3)
			if errors.Is(err, ErrUnformatted) {
				err = FormatWith(FormatOptions{FS: m, Dirs: dirs, ClusterID: cid, NodeID: 3, IgnoreFormatted: true})
			}
			return err
		},
		Check: func(m *vfs.Mem) {
			if got, err := CheckFS(m, dirs, cid, 3); err != nil || got != cid {
				t.Fatalf("after recovery: %q %v", got, err)
			}
			mp, err := ReadMetaPropertiesFS(m, dirs[0])
			switch {
			case err != nil:
				t.Fatal(err)
			case rewritten && mp.DirectoryID != "AAAAAAAAAAAAAAAAAAAAAg":
				t.Fatalf("acknowledged rewrite lost: %+v", mp)
			case formatted && !rewritten && mp.DirectoryID != before.DirectoryID && mp.DirectoryID != "AAAAAAAAAAAAAAAAAAAAAg":
				t.Fatalf("meta.properties is neither the old nor the new: %+v", mp)
			}
		},
	}
}

func TestFormatCrashEverySyncPoint(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: true}, formatTrial)
	t.Logf("format and rewrite of meta.properties: %d crash points", n)
	n = 0
	for seed := range uint64(8) {
		n += vfstest.Run(t, vfstest.Mode{Random: true, Seed: seed, CrashRecovery: true}, formatTrial)
	}
	t.Logf("format and rewrite of meta.properties, random unsynced state survives (8 rounds): %d crash points", n)
}

// TestFormatCrashFormattedDirs: once Format returned, a crash leaves every
// directory formatted, including the nested one whose parents it made.
func TestFormatCrashFormattedDirs(t *testing.T) {
	m := vfs.NewCrashableMem()
	dirs := []string{"/x/a", "/y/b/c"}
	if err := FormatWith(FormatOptions{FS: m, Dirs: dirs, ClusterID: cid, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got, err := CheckFS(m, dirs, cid, 1); err != nil || got != cid {
		t.Fatalf("after a crash: %q %v", got, err)
	}
}

// FuzzReadMetaProperties reads arbitrary bytes as meta.properties: an error
// or a valid version-1 result, never a panic.
func FuzzReadMetaProperties(f *testing.F) {
	f.Add([]byte("#\n#Tue Oct 15 10:00:00 UTC 2024\nnode.id=3\ndirectory.id=AAAAAAAAAAAAAAAAAAAAAg\nversion=1\ncluster.id=" + cid + "\n"))
	f.Add([]byte("version=0\nbroker.id=1\n"))
	f.Add([]byte("version=1\ncluster.id=x\nnode.id=-1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := vfs.NewCrashableMem()
		if err := vfs.WriteFileAtomic(m, "/"+MetaPropertiesFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
		mp, err := ReadMetaPropertiesFS(m, "/")
		if err == nil && (mp.Version != 1 || mp.ClusterID == "" || mp.NodeID < 0) {
			t.Fatalf("accepted %+v", mp)
		}
	})
}
