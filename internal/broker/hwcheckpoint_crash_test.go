package broker

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/samsa-io/samsa/internal/vfs"
	"github.com/samsa-io/samsa/internal/vfs/vfstest"
)

// hwCrashTrial is a leader of "r"-0 on the crashable filesystem that
// appends, flushes as its flusher does (inline, so the sync points come in
// the same order every run), takes its follower's fetch at its durable end
// and checkpoints the high watermark, three rounds after a first
// checkpoint made before the crash window. durable is samsa's default
// (the leader's own end counts once synced); otherwise Kafka's relaxed
// policy (it counts at once, and the flush policy syncs nothing).
//
// After a crash at any sync point the checkpoint is whole and is either
// the last one written or the one being written; reopened, the partition
// starts at its value bounded by the recovered log end. With the durable
// policy the value is never above what the log holds after recovery, and
// every offset below a high watermark reached before the crash is still
// in the log; with the relaxed one a power loss may take records below a
// checkpointed high watermark (as in Kafka), and the reopened partition
// starts at the recovered log end instead.
func hwCrashTrial(durable bool) vfstest.Trial {
	return func(t testing.TB, m *vfs.Mem, arm func()) vfstest.Recovery {
		const dir = "/logs"
		ckpt := filepath.Join(dir, hwCheckpointFile)
		var overrides []string
		if !durable {
			overrides = []string{"log.flush.interval.messages=9223372036854775807"}
		}
		if err := vfs.MkdirAllSync(m, dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b, p := hwNodeOn(t, m, dir, 1, overrides...)
		p.stopFlusher() // the workload flushes itself, in order
		// One round: append n batches, flush (durable), the follower
		// fetches at the durable end; false once an operation fails (the
		// crash).
		round := func(n int) bool {
			for i := range n {
				recs := oneRecord(t, "v"+string(rune('a'+i)))
				p.appendMu.Lock()
				res, err := p.log.Append(recs, 1, 0, false)
				if err == nil {
					p.appended(res.LastOffset+1, len(recs), 1)
				}
				p.appendMu.Unlock()
				if err != nil {
					return false
				}
			}
			end := p.log.LogEndOffset()
			if durable {
				synced, err := p.log.Sync()
				if err != nil {
					return false
				}
				p.localDurable(synced)
				end = synced
			}
			p.followerFetched(2, end, p.log.LogEndOffset(), 0, b.opts.Now(), -1)
			return true
		}
		if !round(1) {
			t.Fatal("setup round failed")
		}
		if err := b.parts.writeHWCheckpoints(); err != nil {
			t.Fatal(err)
		}
		last := p.hw.Load() // the checkpoint on disk
		inflight := last    // the one being written when the crash came
		maxHW := last       // the highest high watermark reached
		arm()
		for i := 1; i <= 3; i++ {
			if !round(i) {
				break
			}
			inflight, maxHW = p.hw.Load(), p.hw.Load()
			if b.parts.writeHWCheckpoints() != nil {
				break
			}
			last = inflight
		}
		body := func(hw int64) string { return string(encodeHWCheckpoint(map[partKey]int64{{"r", 0}: hw})) }
		return vfstest.Recovery{
			Recover: func(*vfs.Mem) error { return nil }, // the log recovers when Check reopens it
			Check: func(m *vfs.Mem) {
				raw, err := m.ReadFile(ckpt)
				if errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("no checkpoint after the crash (the first was written before it)")
				} else if err != nil {
					t.Fatal(err)
				}
				hws, err := parseHWCheckpoint(raw)
				if err != nil {
					t.Fatalf("checkpoint %q after the crash: %v", raw, err)
				}
				v, ok := hws[partKey{"r", 0}]
				if !ok || (string(raw) != body(last) && string(raw) != body(inflight)) {
					t.Fatalf("checkpoint %q is neither the last written (hw %d) nor the one being written (hw %d)", raw, last, inflight)
				}
				b2, p2 := hwNodeOn(t, m, dir, 1, overrides...)
				defer b2.parts.close()
				leo := p2.log.LogEndOffset()
				if durable && v > leo {
					t.Fatalf("checkpointed high watermark %d above the recovered log end %d", v, leo)
				}
				if durable && leo < maxHW {
					t.Fatalf("recovered log end %d below the high watermark %d reached before the crash", leo, maxHW)
				}
				if hw := p2.hw.Load(); hw != min(v, leo) || !p2.hwKnown.Load() {
					t.Fatalf("reopened: hw %d (known %v), want min(checkpoint %d, log end %d)", hw, p2.hwKnown.Load(), v, leo)
				}
			},
		}
	}
}

func TestHWCheckpointCrashEverySyncPoint(t *testing.T) {
	for _, tc := range []struct {
		name    string
		durable bool
	}{{"durable", true}, {"relaxed", false}} {
		t.Run(tc.name, func(t *testing.T) {
			n := vfstest.EverySyncPoint(t, hwCrashTrial(tc.durable))
			for seed := range uint64(6) {
				n += vfstest.Run(t, vfstest.Mode{Random: true, Seed: seed}, hwCrashTrial(tc.durable))
			}
			t.Logf("%s: %d crash points (strict and 6 random rounds)", tc.name, n)
		})
	}
}

// FuzzParseHWCheckpoint reads arbitrary bytes as a checkpoint: an error or
// entries that the checkpoint's own encoding writes back and reads the same.
func FuzzParseHWCheckpoint(f *testing.F) {
	f.Add([]byte("0\n2\norders 0 1234\norders 1 987\n"))
	f.Add([]byte("0\n0\n"))
	f.Add([]byte("0\n1\nt 0 5"))
	f.Add([]byte(" 0 \r\n1\nt\t3 9\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hws, err := parseHWCheckpoint(b)
		if err != nil {
			return
		}
		again, err := parseHWCheckpoint(encodeHWCheckpoint(hws))
		if err != nil || len(again) != len(hws) {
			t.Fatalf("%q: %v, re-encoded %v, %v", b, hws, again, err)
		}
		for k, v := range hws {
			if again[k] != v {
				t.Fatalf("%q: %v re-encoded as %v", b, hws, again)
			}
		}
	})
}
