package broker

import (
	"math/bits"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Large byte buffers of the fetch path, pooled by power-of-two capacity
// from 64 KiB to 64 MiB: the segment bytes a Fetch reads (one buffer per
// partition) and the encoded response they are copied into. Without the
// pools every fetch allocated (and zeroed) a fresh buffer per partition and
// grew the response buffer by doubling, and the garbage collector spent a
// third of the broker's CPU on them (BenchmarkConsume, 1 KB records).
const (
	minBufShift = 16
	maxBufShift = 26
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

// getBuf returns an empty buffer with capacity at least n.
func getBuf(n int) []byte {
	shift := max(bits.Len(uint(max(n, 1)-1)), minBufShift)
	if shift > maxBufShift {
		return make([]byte, 0, n)
	}
	if p, _ := bufPools[shift-minBufShift].Get().(*[]byte); p != nil {
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<shift)
}

// putBuf returns b to its pool; buffers of other capacities (allocated
// elsewhere, or grown) are left to the garbage collector. b must not be
// used afterwards.
func putBuf(b []byte) {
	c := cap(b)
	if c < 1<<minBufShift || c > 1<<maxBufShift || c&(c-1) != 0 {
		return
	}
	b = b[:0]
	bufPools[bits.Len(uint(c))-1-minBufShift].Put(&b)
}

// releaseBufs returns a response's read buffers to their pools.
func releaseBufs(bufs [][]byte) {
	for _, b := range bufs {
		putBuf(b)
	}
}

// fetchResponseBound bounds the encoded size of a Fetch response (framing
// and response header included), so the writer can size its buffer once
// instead of growing it by doubling under megabytes of records.
func fetchResponseBound(r *kmsg.FetchResponse) int {
	n := 256
	for i := range r.Brokers {
		e := &r.Brokers[i]
		n += 32 + len(e.Host)
		if e.Rack != nil {
			n += len(*e.Rack)
		}
	}
	for i := range r.Topics {
		t := &r.Topics[i]
		n += 64 + len(t.Topic)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			n += 160 + len(p.RecordBatches) + 24*len(p.AbortedTransactions)
		}
	}
	return n
}
