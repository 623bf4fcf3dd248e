package client

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Expected values from Java's Utils.murmur2 (Kafka's UtilsTest.testMurmur2
// uses these inputs); worked out from the algorithm's definition: seed
// 0x9747b28c, m 0x5bd1e995, r 24, little-endian 4-byte blocks.
func TestMurmur2Java(t *testing.T) {
	cases := []struct {
		key  string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, c := range cases {
		if got := int32(Murmur2([]byte(c.key))); got != c.want {
			t.Errorf("murmur2(%q) = %d, want %d", c.key, got, c.want)
		}
	}
	// Partition = toPositive(h) % n: for "foobar", -790332482 & 0x7fffffff
	// = 1357151166; % 7 = 1357151166 - 7*193878738 = 0.
	if p := Murmur2Partition([]byte("foobar"), 7); p != 0 {
		t.Errorf("partition of foobar over 7 = %d, want 0", p)
	}
	// "21": -973932308 & 0x7fffffff = 1173551340; % 10 = 0; % 3 = 0.
	if p := Murmur2Partition([]byte("21"), 10); p != 0 {
		t.Errorf("partition of 21 over 10 = %d, want 0", p)
	}
}

// Cross-check with franz-go's StickyKeyPartitioner, whose keyed choice is
// Java-compatible, over many random keys and partition counts.
func TestMurmur2MatchesKgo(t *testing.T) {
	kp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	ours := DefaultPartitioner().ForTopic("t")
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		key := make([]byte, r.IntN(40))
		for j := range key {
			key[j] = byte(r.Uint32())
		}
		n := 1 + r.IntN(200)
		want := kp.Partition(&kgo.Record{Key: key}, n)
		if got := ours.Partition(&Record{Key: key}, n); got != want {
			t.Fatalf("key %x over %d partitions: %d, kgo %d", key, n, got, want)
		}
	}
}

func BenchmarkMurmur2(b *testing.B) {
	key := []byte("some-key-of-moderate-length")
	for b.Loop() {
		Murmur2(key)
	}
}

// stickyPicks runs the default partitioner's keyless path over 4 partitions
// with the given loads (bytes, -1 = no leader) and counts where each of
// 4000 switches lands.
func stickyPicks(t *testing.T, loads []int64) []int {
	t.Helper()
	tp := DefaultPartitioner().ForTopic("t")
	la, ok := tp.(loadAware)
	if !ok {
		t.Fatal("the default partitioner is not load aware")
	}
	la.setLoad(func(k int) int64 { return loads[k] })
	counts := make([]int, len(loads))
	value := make([]byte, 64<<10) // one record fills the sticky quota
	for range 4000 {
		counts[tp.Partition(&Record{Value: value}, len(loads))]++
	}
	return counts
}

// KIP-794's adaptive part: a partition with a backlog gets fewer records,
// one without a leader none, and equal loads spread evenly.
func TestAdaptiveSticky(t *testing.T) {
	even := stickyPicks(t, []int64{0, 0, 0, 0})
	for k, c := range even {
		if c < 800 || c > 1200 {
			t.Errorf("equal loads: partition %d got %d of 4000 switches, want ~1000 (%v)", k, c, even)
		}
	}
	// Partition 1 has ten 64 KiB units waiting: weights 11, 1, 11, 11.
	skew := stickyPicks(t, []int64{0, 10 << 16, 0, 0})
	if skew[1] > 300 {
		t.Errorf("backlogged partition 1 got %d of 4000 switches, want ~118 (%v)", skew[1], skew)
	}
	for _, k := range []int{0, 2, 3} {
		if skew[k] < 1100 {
			t.Errorf("idle partition %d got %d of 4000 switches, want ~1294 (%v)", k, skew[k], skew)
		}
	}
	noLeader := stickyPicks(t, []int64{0, -1, 0, 0})
	if noLeader[1] != 0 {
		t.Errorf("a partition without a leader got %d switches (%v)", noLeader[1], noLeader)
	}
	none := stickyPicks(t, []int64{-1, -1, -1, -1})
	if none[0]+none[1]+none[2]+none[3] != 4000 {
		t.Errorf("no leaders anywhere: %v", none)
	}
}
