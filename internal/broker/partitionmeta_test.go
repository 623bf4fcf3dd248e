package broker

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/uuid"
	"github.com/samsa-io/samsa/internal/vfs"
	"github.com/samsa-io/samsa/internal/vfs/vfstest"
)

// TestPartitionMetadataCrashEverySyncPoint: the partition directory and its
// partition.metadata are made as openLocked makes them; after a crash at
// any sync point the directory holds no partition.metadata (a leftover the
// manager replaces) or the right topic id, and once the write returned,
// always the id.
func TestPartitionMetadataCrashEverySyncPoint(t *testing.T) {
	id := uuid.Random()
	const dir = "/logs/t-0"
	trial := func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		if err := vfs.MkdirAllSync(m, "/logs", 0o755); err != nil {
			t.Fatal(err)
		}
		arm()
		acked := vfs.MkdirAllSync(m, dir, 0o755) == nil && writePartitionMetadata(m, dir, id) == nil
		return vfstest.Recovery{
			Recover: func(*vfs.Mem) error { return nil },
			Check: func(m *vfs.Mem) {
				got, err := readPartitionMetadata(m, dir)
				switch {
				case err == nil && got != id:
					t.Fatalf("topic id %v, want %v", got, id)
				case err != nil && (acked || !errors.Is(err, fs.ErrNotExist)):
					t.Fatalf("after the crash (written: %v): %v", acked, err)
				}
			},
		}
	}
	n := vfstest.EverySyncPoint(t, trial)
	for seed := range uint64(8) {
		n += vfstest.Run(t, vfstest.Mode{Random: true, Seed: seed}, trial)
	}
	t.Logf("partition.metadata: %d crash points (strict and 8 random rounds)", n)
}

func TestParsePartitionMetadata(t *testing.T) {
	id := uuid.Random()
	if got, err := parsePartitionMetadata([]byte("version: 0\ntopic_id: " + id.String() + "\n")); err != nil || got != id {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "version: 0\n", "version: 1\ntopic_id: " + id.String() + "\n",
		"version: 0\ntopic_id: nope\n", "topic_id: " + id.String() + "\nversion: 0\n", "version: 0\ntopic_id: " + id.String() + "\nextra\n"} {
		if _, err := parsePartitionMetadata([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParsePartitionMetadata(f *testing.F) {
	f.Add([]byte("version: 0\ntopic_id: 4L6g3nShT-eMCtK--X86sw\n"))
	f.Add([]byte("version: 0\r\ntopic_id: x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := parsePartitionMetadata(b)
		if err != nil {
			return
		}
		// What parses rewrites to the canonical file, which parses the same.
		m := vfs.NewCrashableMem()
		if err := writePartitionMetadata(m, "/", metadata.Uuid(id)); err != nil {
			t.Fatal(err)
		}
		if again, err := readPartitionMetadata(m, "/"); err != nil || again != id {
			t.Fatalf("%q: %v, then %v %v", b, id, again, err)
		}
	})
}
