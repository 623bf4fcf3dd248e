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
// use the adaptive uniform sticky partitioner (KIP-794), switching
// partition after 64 KiB of records.
func DefaultPartitioner() Partitioner { return keyedOr{sticky: 64 << 10} }

// UniformStickyPartitioner sends keyless records to one partition until
// switchBytes of records went there, then picks another (KIP-794). The pick
// is adaptive, as Java's partitioner.adaptive.partitioning.enable=true: a
// partition weighs less the more of its records wait unacknowledged (counted
// in switchBytes units), so a slow broker's partitions get fewer records,
// and partitions without a leader get none unless no partition has one.
// Keyed records still hash with murmur2.
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

// loadAware is a TopicPartitioner that wants each partition's backlog
// (bytes not yet acknowledged, -1 without a leader); the topic goroutine
// hands it a load function when it creates it.
type loadAware interface {
	setLoad(func(k int) int64)
}

type keyedOr struct{ sticky int }

func (k keyedOr) ForTopic(string) TopicPartitioner {
	return &stickyKeyed{switchBytes: max(k.sticky, 1), cur: -1}
}

type stickyKeyed struct {
	switchBytes int
	cur         int
	n           int // partition count cur was picked for
	bytes       int
	load        func(k int) int64 // nil: uniform
	weights     []int64           // scratch for pick
}

func (s *stickyKeyed) setLoad(f func(k int) int64) { s.load = f }

func (s *stickyKeyed) Partition(r *Record, n int) int {
	if r.Key != nil {
		return Murmur2Partition(r.Key, n)
	}
	if s.cur < 0 || s.n != n || s.bytes >= s.switchBytes {
		s.cur, s.n, s.bytes = s.pick(n), n, 0
	}
	s.bytes += len(r.Value) + len(r.Key) + 8
	return s.cur
}

// pick chooses the next sticky partition, never the current one while
// another has a leader. Without load information, or when every partition
// with a leader is equally loaded, it is uniform over them. Otherwise
// partition k is chosen with weight maxLoad+1-load(k), loads counted in
// switchBytes units: Java's BuiltInPartitioner, with bytes in place of its
// queued batches.
func (s *stickyKeyed) pick(n int) int {
	uniform := func() int {
		next := rand.IntN(n)
		if n > 1 && next == s.cur {
			next = (next + 1 + rand.IntN(n-1)) % n
		}
		return next
	}
	if s.load == nil {
		return uniform()
	}

	s.weights = s.weights[:0]
	var maxLoad int64 = -1
	lo, hi := int64(-1), int64(-1)
	for k := range n {
		l := s.load(k)
		if l >= 0 {
			l /= int64(s.switchBytes)
			maxLoad = max(maxLoad, l)
			if lo < 0 || l < lo {
				lo = l
			}
			hi = max(hi, l)
		}
		s.weights = append(s.weights, l)
	}
	if maxLoad < 0 { // no partition has a leader: records wait anyway
		return uniform()
	}
	if lo == hi {
		// Equal loads: uniform over the partitions with a leader.
		avail := 0
		for _, l := range s.weights {
			if l >= 0 {
				avail++
			}
		}
		i := rand.IntN(avail)
		if avail > 1 && s.cur >= 0 && s.cur < n && s.weights[s.cur] >= 0 {
			i = rand.IntN(avail - 1) // skip the current one below
		}
		for k, l := range s.weights {
			if l < 0 || (avail > 1 && k == s.cur) {
				continue
			}
			if i == 0 {
				return k
			}
			i--
		}
		return uniform()
	}
	var total int64
	for k, l := range s.weights {
		if l >= 0 {
			s.weights[k] = maxLoad + 1 - l
			total += s.weights[k]
		} else {
			s.weights[k] = 0
		}
	}
	if s.cur >= 0 && s.cur < n && s.weights[s.cur] > 0 && s.weights[s.cur] < total {
		// A switch moves on: not the current partition while another
		// one has a leader.
		total -= s.weights[s.cur]
		s.weights[s.cur] = 0
	}
	x := rand.Int64N(total)
	for k, w := range s.weights {
		if x < w {
			return k
		}
		x -= w
	}
	return uniform()
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
