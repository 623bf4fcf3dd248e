package seglog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecover feeds arbitrary bytes to recovery as a segment file (and as
// its index files, under an arbitrary recovery point). Open must not panic;
// whatever it recovers must read back without corruption errors, and the log
// must accept appends.
func FuzzRecover(f *testing.F) {
	var valid []byte
	for i := 0; i < 5; i++ {
		b := buildBatch(spec{records: 1 + i, valueSize: 10 * i, pid: 3, seq: int32(i * 10)})
		putBase(b, int64(len(valid)))
		valid = append(valid, b...)
	}
	f.Add(valid, []byte{}, int64(0), false)
	f.Add(valid[:len(valid)-7], []byte{}, int64(0), false)
	f.Add(valid, []byte{0, 0, 0, 1, 0, 0, 0, 80}, int64(15), true)
	f.Add([]byte("garbage"), []byte("x"), int64(3), true)
	f.Fuzz(fuzzRecoverOnce)
}

func fuzzRecoverOnce(t *testing.T, data, index []byte, rp int64, clean bool) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(segmentName(0, ".log"), data)
	write(segmentName(0, ".index"), index)
	write(segmentName(0, ".timeindex"), index)
	c := 0
	if clean {
		c = 1
	}
	write(recoveryPointFile, fmt.Appendf(nil, "0\n%d\n%d\n", rp, c))
	l, err := Open(dir, Options{IndexIntervalBytes: 64})
	if err != nil {
		return // rejecting is fine; panicking is not
	}
	defer l.Close()
	leo := l.LogEndOffset()
	for off := l.LogStartOffset(); off < leo; {
		r, err := l.Read(off, 100, leo)
		if err != nil {
			if clean && errors.Is(err, ErrCorrupt) {
				return // a "clean" segment is trusted without CRCs; Read catches it
			}
			t.Fatalf("Read(%d) of recovered data: %v", off, err)
		}
		if r.NextOffset <= off {
			t.Fatalf("Read(%d) made no progress", off)
		}
		off = r.NextOffset
	}
	l.OffsetForTimestamp(0)
	l.MaxTimestamp()
	if _, err := l.Append(buildBatch(spec{records: 2}), 0, 0, false); err != nil {
		t.Fatalf("Append after recovery: %v", err)
	}
}

// putBase sets a test batch's base offset.
func putBase(b []byte, off int64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(off >> (56 - 8*i))
	}
}
