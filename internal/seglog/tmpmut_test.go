package seglog

import (
	"math/rand/v2"
	"testing"
)

func TestTmpMutations(t *testing.T) {
	var valid []byte
	for i := 0; i < 5; i++ {
		b := buildBatch(spec{records: 1 + i, valueSize: 10 * i, pid: 3, seq: int32(i * 10)})
		putBase(b, int64(len(valid)))
		valid = append(valid, b...)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 3000; i++ {
		d := append([]byte(nil), valid...)
		for k := rng.IntN(4); k >= 0; k-- {
			d[rng.IntN(len(d))] = byte(rng.IntN(256))
		}
		d = d[:rng.IntN(len(d)+1)]
		idx := make([]byte, rng.IntN(30))
		for j := range idx {
			idx[j] = byte(rng.IntN(256))
		}
		t.Run("", func(t *testing.T) { fuzzRecoverOnce(t, d, idx, rng.Int64N(40)-2, rng.IntN(2) == 0) })
	}
}
