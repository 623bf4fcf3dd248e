package client

import (
	"math/rand/v2"
)

// Partitioner chooses partitions. ForTopic is called once per topic, by that
// topic's goroutine, which then calls Partition for each of its records
// serially: a TopicPartitioner needs no locking.
type Partitioner interface {
	ForTopic(topic string) TopicPartitioner
}

// TopicPartitioner picks the partition, in [0, n), for one record of one
// topic. A result outside [0, n) fails the record with ErrInvalidPartition.
type TopicPartitioner interface {
	Partition(r *Record, n int) int
}

// PartitionerFunc adapts a function to Partitioner (and TopicPartitioner):
// a custom partitioner. It is called from one goroutine per topic, so it
// must be safe for concurrent use across topics.
type PartitionerFunc func(topic string, r *Record, n int) int

func (f PartitionerFunc) ForTopic(topic string) TopicPartitioner {
	return topicFunc{f, topic}
}

type topicFunc struct {
	f     PartitionerFunc
	topic string
}

func (t topicFunc) Partition(r *Record, n int) int { return t.f(t.topic, r, n) }

// DefaultPartitioner is Java's default: keyed records go to
// toPositive(murmur2(key)) % n, exactly as Java's BuiltInPartitioner does,
// so samsa and Java producers agree on where a key lives; keyless records
// use the uniform sticky partitioner (KIP-794), switching partition after
// 64 KiB of records.
func DefaultPartitioner() Partitioner { return keyedOr{sticky: 64 << 10} }

// UniformStickyPartitioner sends keyless records to one partition until
// switchBytes of records went there, then picks another one at random
// (KIP-794 without the adaptive part). Keyed records still hash with murmur2.
func UniformStickyPartitioner(switchBytes int) Partitioner { return keyedOr{sticky: switchBytes} }

// RoundRobinPartitioner spreads records over partitions one by one,
// ignoring keys.
func RoundRobinPartitioner() Partitioner {
	return PartitionerFuncFactory(func(string) TopicPartitioner { return &roundRobin{} })
}

// ManualPartitioner uses Record.Partition as set by the caller.
func ManualPartitioner() Partitioner {
	return PartitionerFuncFactory(func(string) TopicPartitioner { return manual{} })
}

// PartitionerFuncFactory adapts a per-topic constructor to Partitioner.
type PartitionerFuncFactory func(topic string) TopicPartitioner

func (f PartitionerFuncFactory) ForTopic(topic string) TopicPartitioner { return f(topic) }

type keyedOr struct{ sticky int }

func (k keyedOr) ForTopic(string) TopicPartitioner {
	return &stickyKeyed{switchBytes: k.sticky, cur: -1}
}

type stickyKeyed struct {
	switchBytes int
	cur         int
	n           int // partition count cur was picked for
	bytes       int
}

func (s *stickyKeyed) Partition(r *Record, n int) int {
	if r.Key != nil {
		return Murmur2Partition(r.Key, n)
	}
	if s.cur < 0 || s.n != n || s.bytes >= s.switchBytes {
		next := rand.IntN(n)
		if n > 1 && next == s.cur {
			next = (next + 1 + rand.IntN(n-1)) % n
		}
		s.cur, s.n, s.bytes = next, n, 0
	}
	s.bytes += len(r.Value) + len(r.Key) + 8
	return s.cur
}

type roundRobin struct{ next int }

func (rr *roundRobin) Partition(_ *Record, n int) int {
	p := rr.next % n
	rr.next = p + 1
	return p
}

type manual struct{}

func (manual) Partition(r *Record, _ int) int { return int(r.Partition) }

// Murmur2Partition is Java's keyed partition choice:
// toPositive(murmur2(key)) % n.
func Murmur2Partition(key []byte, n int) int {
	return int(Murmur2(key)&0x7fffffff) % n
}

// Murmur2 is Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2):
// 32-bit MurmurHash2 with seed 0x9747b28c, little-endian 4-byte blocks. The
// result is Java's signed int reinterpreted as uint32.
func Murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
