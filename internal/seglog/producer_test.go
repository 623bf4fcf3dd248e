package seglog

import (
	"math"
	"testing"
)

func appendIdem(t *testing.T, l *Log, s spec) (AppendResult, error) {
	t.Helper()
	return l.Append(buildBatch(s), 0, 0, false)
}

func TestIdempotentDuplicates(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	var orig []AppendResult
	for i := 0; i < 7; i++ { // sequences 0-2, 3-5, ... 18-20
		res, err := appendIdem(t, l, idem(42, 1, int32(3*i), 3))
		if err != nil {
			t.Fatal(err)
		}
		orig = append(orig, res)
	}
	leo := l.LogEndOffset()
	checkDups := func() {
		t.Helper()
		// Each of the last five batches is recognized with its offsets.
		for i := 2; i < 7; i++ {
			res, err := appendIdem(t, l, idem(42, 1, int32(3*i), 3))
			if err != nil || !res.Duplicate || res.BaseOffset != orig[i].BaseOffset || res.LastOffset != orig[i].LastOffset {
				t.Fatalf("dup of batch %d: %+v %v, want offsets %d-%d", i, res, err, orig[i].BaseOffset, orig[i].LastOffset)
			}
		}
		// Older than the last five: it cannot give the offsets back.
		_, err := appendIdem(t, l, idem(42, 1, 3, 3))
		wantErr(t, err, ErrDuplicateSequence)
		if l.LogEndOffset() != leo {
			t.Fatal("a duplicate was written")
		}
	}
	checkDups()
	// Producer state survives a clean restart and a crash (no Close).
	l.Close()
	l = openLog(t, dir, Options{})
	checkDups()
	crashDir := t.TempDir()
	copyDir(t, dir, crashDir, nil, nil)
	l.Close()
	l = openLog(t, crashDir, Options{})
	defer l.Close()
	checkDups()
	if _, err := appendIdem(t, l, idem(42, 1, 21, 1)); err != nil {
		t.Fatalf("next in sequence after restart: %v", err)
	}
}

func TestIdempotentErrors(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	ok := func(s spec) {
		t.Helper()
		if res, err := appendIdem(t, l, s); err != nil || res.Duplicate {
			t.Fatalf("append %+v: %+v %v", s, res, err)
		}
	}
	fails := func(s spec, want error) {
		t.Helper()
		leo := l.LogEndOffset()
		_, err := appendIdem(t, l, s)
		wantErr(t, err, want)
		if l.LogEndOffset() != leo {
			t.Fatal("a rejected batch was written")
		}
	}
	fails(idem(7, 0, 5, 1), ErrOutOfOrderSequence) // unknown producer must start at 0
	ok(idem(7, 0, 0, 2))
	fails(idem(7, 0, 3, 1), ErrOutOfOrderSequence) // gap: want 2
	ok(idem(7, 0, 2, 1))
	ok(idem(7, 1, 0, 1))                             // new epoch from 0
	fails(idem(7, 0, 3, 1), ErrInvalidProducerEpoch) // old epoch
	fails(idem(7, 2, 5, 1), ErrOutOfOrderSequence)   // new epoch, seq != 0
	ok(idem(7, 1, 1, 1))
	// Non-idempotent batches skip the checks.
	ok(spec{records: 2})
	ok(spec{records: 2})
	// Sequence wraps at MaxInt32.
	ok(idem(8, 0, 0, 1))
	l.producers.m[8].batches[0].lastSeq = math.MaxInt32 - 1
	ok(idem(8, 0, math.MaxInt32, 1))
	ok(idem(8, 0, 0, 1))
	// All or nothing: a good batch followed by a gap writes neither.
	leo := l.LogEndOffset()
	payload := append(buildBatch(idem(7, 1, 2, 1)), buildBatch(idem(7, 1, 9, 1))...)
	_, err := l.Append(payload, 0, 0, false)
	wantErr(t, err, ErrOutOfOrderSequence)
	if l.LogEndOffset() != leo {
		t.Fatal("partial append")
	}
	// Two batches of one producer in one append are checked in order.
	payload = append(buildBatch(idem(7, 1, 2, 1)), buildBatch(idem(7, 1, 3, 2))...)
	if _, err := l.Append(payload, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	ok(idem(7, 1, 5, 1))
}

func TestUnknownProducerAfterRetention(t *testing.T) {
	b0 := buildBatch(idem(1, 0, 0, 1))
	l := openLog(t, t.TempDir(), Options{SegmentBytes: int64(2 * len(b0))})
	defer l.Close()
	if _, err := appendIdem(t, l, idem(1, 0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		mustAppend(t, l, buildBatch(spec{}))
	}
	if _, err := l.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	_, err := appendIdem(t, l, idem(1, 0, 1, 1))
	wantErr(t, err, ErrUnknownProducerID)
	// The client resets: a new epoch from 0 is accepted.
	if _, err := appendIdem(t, l, idem(1, 1, 0, 1)); err != nil {
		t.Fatal(err)
	}
}

func TestTransactionalBatchAccepted(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	s := idem(9, 0, 0, 2)
	s.attrs = 0x10 // transactional
	if _, err := appendIdem(t, l, s); err != nil {
		t.Fatal(err)
	}
	res, err := appendIdem(t, l, s)
	if err != nil || !res.Duplicate {
		t.Fatalf("transactional dup: %+v %v", res, err)
	}
}
