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
