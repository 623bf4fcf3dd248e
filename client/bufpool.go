package client

import (
	"math/bits"
	"sync"
)

// Batch buffers come from size-class pools: class k holds buffers with a
// capacity of at least minBufClass<<k bytes. A partition asks for the class
// that fits what its last batch needed, so a batch is normally encoded into
// one buffer without growing; when it must grow, it moves to the next
// class once (one copy) and the smaller buffer goes back to its pool. A
// buffer returns to its pool when the batch is acknowledged (recBatch.free),
// so steady state allocates no batch memory at all.
//
// Tried: one pool of buffers grown by append. A pooled buffer of the wrong
// size was grown by doubling (a copy and an allocation per doubling) and the
// large ones were dropped, so a 1 KB-record run allocated more than its
// records' size in buffers.
const (
	minBufShift = 14 // 16 KiB
	numBufClass = 13 // up to 64 MiB; larger buffers are not pooled
)

var bufPools [numBufClass]sync.Pool

// bufClass returns the smallest class whose buffers hold n bytes (n may
// exceed the largest class: then numBufClass).
func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// getBuf returns an empty buffer with capacity ≥ n.
func getBuf(n int) []byte {
	k := bufClass(n)
	if k >= numBufClass {
		return make([]byte, 0, n)
	}
	if v := bufPools[k].Get(); v != nil {
		bp := v.(*[]byte)
		b := (*bp)[:0]
		*bp = nil
		bufHdrPool.Put(bp)
		return b
	}
	return make([]byte, 0, 1<<(minBufShift+k))
}

// putBuf gives b back to the pool of the largest class its capacity covers.
func putBuf(b []byte) {
	c := cap(b)
	if c < 1<<minBufShift {
		return
	}
	k := bits.Len(uint(c)) - 1 - minBufShift
	if k >= numBufClass {
		return
	}
	bp, _ := bufHdrPool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = b[:0]
	bufPools[k].Put(bp)
}

// bufHdrPool recycles the *[]byte boxes the pools hold, so Put does not
// allocate one per buffer.
var bufHdrPool sync.Pool

// growBuf returns b with room for n more bytes, moving it to a bigger
// pooled buffer if needed (the old one goes back to its pool).
func growBuf(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	want := len(b) + n
	if want < 2*cap(b) {
		want = 2 * cap(b)
	}
	nb := getBuf(want)[:len(b)]
	copy(nb, b)
	putBuf(b)
	return nb
}
