package metadata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"testing"

	"github.com/samsa-io/samsa/internal/vfs"
	"github.com/samsa-io/samsa/internal/vfs/vfstest"
)

const memMetaDir = "/meta/__cluster_metadata-0"

// fileLogTrial appends n topics (a topic record and its partitions in one
// Append, as CreateTopics does), then closes the log. Open's own sync
// points are crash points too.
func fileLogTrial(n int) vfstest.Trial {
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		arm()
		var appends [][]Record
		acked := 0
		if l, _, err := OpenFileLogFS(m, memMetaDir); err == nil {
			for i := 0; i < n; i++ {
				recs := topicRecs(fmt.Sprintf("t%d", i), Uuid{byte(i + 1)}, 1+i%4)
				appends = append(appends, recs)
				if l.Append(recs) != nil {
					break
				}
				acked = i + 1
			}
			l.Close()
		}
		return vfstest.Recovery{
			Recover: func(m *vfs.Mem) error {
				l, _, err := OpenFileLogFS(m, memMetaDir)
				if err != nil {
					return err
				}
				return l.Close()
			},
			Check: func(m *vfs.Mem) {
				l, recs, err := OpenFileLogFS(m, memMetaDir)
				if err != nil {
					t.Fatalf("reopen: %v", err)
				}
				defer l.Close()
				// Whole appends, in order, every acknowledged one: never a
				// topic without its partitions.
				got := 0
				for len(recs) > 0 {
					if got >= len(appends) {
						t.Fatalf("%d records more than were written", len(recs))
					}
					want := appends[got]
					if len(recs) < len(want) {
						t.Fatalf("append %d survived in part: %d of %d records", got, len(recs), len(want))
					}
					for j := range want {
						a, _ := want[j].Encode()
						b, _ := recs[j].Encode()
						if string(a) != string(b) {
							t.Fatalf("append %d record %d: %s, want %s", got, j, b, a)
						}
					}
					recs = recs[len(want):]
					got++
				}
				if got < acked {
					t.Fatalf("%d appends recovered, %d acknowledged", got, acked)
				}
				// The recovered log takes appends after its last good frame.
				more := topicRecs("after", Uuid{0xff}, 2)
				if err := l.Append(more); err != nil {
					t.Fatal(err)
				}
				l.Close()
				l, recs, err = OpenFileLogFS(m, memMetaDir)
				if err != nil || len(recs) < len(more) || recs[len(recs)-len(more)].Topic.Name != "after" {
					t.Fatalf("append after recovery not read back: %v", err)
				}
			},
		}
	}
}

func TestFileLogCrashEverySyncPoint(t *testing.T) {
	n := vfstest.Run(t, vfstest.Mode{CrashRecovery: true}, fileLogTrial(8))
	t.Logf("metadata log: %d crash points", n)
	n = 0
	for seed := range uint64(8) {
		n += vfstest.Run(t, vfstest.Mode{Random: true, Seed: seed, CrashRecovery: seed%4 == 0}, fileLogTrial(8))
	}
	t.Logf("metadata log, random unsynced state survives (8 rounds): %d crash points", n)
}

// TestFileLogFailedAppendIsSticky: after a failed sync the log refuses
// appends, so nothing is written after a frame in doubt.
func TestFileLogFailedAppendIsSticky(t *testing.T) {
	m := vfs.NewCrashableMem()
	l, _, err := OpenFileLogFS(m, memMetaDir)
	if err != nil {
		t.Fatal(err)
	}
	m.OnSync(func(int, string) { m.Freeze() })
	if err := l.Append(topicRecs("a", Uuid{1}, 1)); !errors.Is(err, vfs.ErrCrashed) {
		t.Fatalf("append with a failing sync: %v", err)
	}
	m.OnSync(nil)
	m.Crash()
	if err := l.Append(topicRecs("b", Uuid{2}, 1)); err == nil {
		t.Fatal("append after a failed one succeeded")
	}
}

// FuzzReadFileLog opens a metadata log holding arbitrary bytes: it must
// not panic, and whatever it accepts must take appends and read back.
func FuzzReadFileLog(f *testing.F) {
	m := vfs.NewCrashableMem()
	l, _, err := OpenFileLogFS(m, "/seed")
	if err != nil {
		f.Fatal(err)
	}
	l.Append(topicRecs("a", Uuid{1}, 2))
	l.Append(topicRecs("b", Uuid{2}, 1)[:1])
	l.Close()
	seed, _ := m.ReadFile("/seed/metadata.log")
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 0, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := vfs.NewCrashableMem()
		if err := vfs.MkdirAllSync(m, "/d", 0o755); err != nil {
			t.Fatal(err)
		}
		fl, err := m.OpenFile("/d/metadata.log", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fl.Write(b)
		fl.Close()
		l, recs, err := OpenFileLogFS(m, "/d")
		if err != nil {
			return // corruption in the middle: refused, not served
		}
		if err := l.Append(topicRecs("z", Uuid{9}, 1)); err != nil {
			t.Fatal(err)
		}
		l.Close()
		_, again, err := OpenFileLogFS(m, "/d")
		if err != nil || len(again) != len(recs)+2 {
			t.Fatalf("reopen after append: %d records, had %d (+2): %v", len(again), len(recs), err)
		}
	})
}

// TestFileLogReadsRecordFrames: logs written before appends became one
// frame (one frame per record) still read back, and mix with new frames.
func TestFileLogReadsRecordFrames(t *testing.T) {
	m := vfs.NewCrashableMem()
	if err := vfs.MkdirAllSync(m, "/d", 0o755); err != nil {
		t.Fatal(err)
	}
	var old []byte
	for _, r := range topicRecs("old", Uuid{1}, 2) {
		b, _ := r.Encode()
		old = binary.BigEndian.AppendUint32(old, uint32(len(b)))
		old = binary.BigEndian.AppendUint32(old, crc32.Checksum(b, crcTable))
		old = append(old, b...)
	}
	if err := vfs.WriteFileAtomic(m, "/d/metadata.log", old, 0o644); err != nil {
		t.Fatal(err)
	}
	l, recs, err := OpenFileLogFS(m, "/d")
	if err != nil || len(recs) != 3 {
		t.Fatalf("old frames: %d records, %v", len(recs), err)
	}
	if err := l.Append(topicRecs("new", Uuid{2}, 2)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, recs, err = OpenFileLogFS(m, "/d")
	im := Empty().Apply(recs...)
	if err != nil || len(recs) != 6 || len(im.Topic("old").Partitions) != 2 || len(im.Topic("new").Partitions) != 2 {
		t.Fatalf("mixed frames: %d records, %v", len(recs), err)
	}
}
