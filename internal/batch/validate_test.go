package batch

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// producerSpec is what an idempotent producer sends: offsets from 0,
// leader epoch -1.
func producerSpec(c Codec, recs []Record) BatchSpec {
	return BatchSpec{
		PartitionLeaderEpoch: NoPartitionEpoch,
		Codec:                c,
		BaseTimestamp:        1_700_000_000_000,
		ProducerID:           7,
		ProducerEpoch:        1,
		BaseSequence:         40,
		Records:              recs,
	}
}

func mustBuild(t testing.TB, s BatchSpec) []byte {
	t.Helper()
	b, err := Build(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recrc recomputes the CRC after a test edits a covered field.
func recrc(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offCRC:], CRC32C(b[offAttributes:]))
	return b
}

func TestBuildValidateRead(t *testing.T) {
	recs := sampleRecords()
	for _, c := range allCodecs {
		b := mustBuild(t, producerSpec(c, recs))
		h, err := Validate(b, ValidateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		want := Header{
			Length: int32(len(b) - LogOverhead), PartitionLeaderEpoch: -1, Magic: 2,
			CRC: CRC32C(b[offAttributes:]), Attributes: int16(c), LastOffsetDelta: 3,
			BaseTimestamp: 1_700_000_000_000, MaxTimestamp: maxTimestamp(1_700_000_000_000, recs),
			ProducerID: 7, ProducerEpoch: 1, BaseSequence: 40, NumRecords: 4,
		}
		if h != want {
			t.Fatalf("%s header:\n got %+v\nwant %+v", c, h, want)
		}
		got := decodeAll2(t, &h, b)
		if !reflect.DeepEqual(got, recs) {
			t.Fatalf("%s: records differ:\n got %+v\nwant %+v", c, got, recs)
		}
	}
}

// maxTimestamp is the largest base+delta, wrapping like Java's long math.
func maxTimestamp(base int64, recs []Record) int64 {
	m := base
	for _, r := range recs {
		m = max(m, base+r.TimestampDelta)
	}
	return m
}

func decodeAll2(t *testing.T, h *Header, b []byte) []Record {
	t.Helper()
	var got []Record
	err := ReadRecords(h, b[HeaderSize:], 1<<20, func(r Record) error {
		r = cloneRecord(r) // the buffers are reused after the call
		if len(r.Headers) == 0 {
			r.Headers = nil
		}
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func cloneNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func TestBuilderIncremental(t *testing.T) {
	recs := sampleRecords()
	bl := NewBuilder(producerSpec(CodecLZ4, nil))
	for i := range recs {
		bl.Add(&recs[i])
	}
	if bl.NumRecords() != len(recs) || bl.Size() <= HeaderSize {
		t.Fatalf("NumRecords %d Size %d", bl.NumRecords(), bl.Size())
	}
	got, err := bl.Finish([]byte("prefix"))
	if err != nil {
		t.Fatal(err)
	}
	want := mustBuild(t, producerSpec(CodecLZ4, recs))
	if string(got[:6]) != "prefix" || string(got[6:]) != string(want) {
		t.Fatal("builder output differs from Build")
	}
	bl.Reset(producerSpec(CodecNone, recs[:1]))
	one, _ := bl.Finish(nil)
	if _, err := Validate(one, ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestValidateRejects covers each rule of Validate with the error class and
// Kafka code the broker will answer.
func TestValidateRejects(t *testing.T) {
	recs := sampleRecords()[:2]
	good := func() []byte { return mustBuild(t, producerSpec(CodecNone, recs)) }
	gz := func() []byte { return mustBuild(t, producerSpec(CodecGzip, recs)) }
	set16 := func(b []byte, off int, v uint16) []byte { binary.BigEndian.PutUint16(b[off:], v); return recrc(b) }
	set32 := func(b []byte, off int, v uint32) []byte { binary.BigEndian.PutUint32(b[off:], v); return recrc(b) }
	cases := []struct {
		name string
		b    []byte
		opts ValidateOptions
		want error
		code int16
	}{
		{"empty", nil, ValidateOptions{}, ErrShort, 2},
		{"short header", good()[:HeaderSize-1], ValidateOptions{}, ErrShort, 2},
		{"truncated", good()[:len(good())-1], ValidateOptions{}, ErrShort, 2},
		{"trailing bytes", append(good(), 0), ValidateOptions{}, ErrCorrupt, 2},
		{"bad crc", func() []byte { b := good(); b[len(b)-1] ^= 1; return b }(), ValidateOptions{}, ErrCorrupt, 2},
		{"negative length", func() []byte { b := good(); binary.BigEndian.PutUint32(b[offLength:], 0x80000000); return b }(), ValidateOptions{}, ErrCorrupt, 2},
		{"length below header", func() []byte { b := good(); binary.BigEndian.PutUint32(b[offLength:], 10); return b }(), ValidateOptions{}, ErrCorrupt, 2},
		{"magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }(), ValidateOptions{}, ErrOldMagic, 43},
		{"magic 3", func() []byte { b := good(); b[offMagic] = 3; return b }(), ValidateOptions{}, ErrMagic, 2},
		{"codec 5", set16(good(), offAttributes, 5), ValidateOptions{}, ErrUnknownCodec, 76},
		{"control", set16(good(), offAttributes, ControlBit), ValidateOptions{}, ErrInvalidRecord, 87},
		{"transactional without pid", func() []byte {
			b := good()
			binary.BigEndian.PutUint64(b[offProducerID:], ^uint64(0))
			return set16(b, offAttributes, TransactionalBit)
		}(), ValidateOptions{}, ErrInvalidRecord, 87},
		{"pid without sequence", set32(good(), offBaseSequence, ^uint32(0)), ValidateOptions{}, ErrInvalidRecord, 87},
		{"count too high", set32(good(), offNumRecords, 3), ValidateOptions{}, ErrInvalidRecord, 87},
		{"count and delta too high", set32(set32(good(), offNumRecords, 3), offLastOffsetDelta, 2), ValidateOptions{}, ErrInvalidRecord, 87},
		{"count too low", set32(set32(good(), offNumRecords, 1), offLastOffsetDelta, 0), ValidateOptions{}, ErrInvalidRecord, 87},
		{"zero records", set32(set32(good(), offNumRecords, 0), offLastOffsetDelta, 0xffffffff), ValidateOptions{}, ErrInvalidRecord, 87},
		{"count huge", set32(set32(good(), offNumRecords, 0x7fffffff), offLastOffsetDelta, 0x7ffffffe), ValidateOptions{}, ErrInvalidRecord, 87},
		{"last delta wrong", set32(good(), offLastOffsetDelta, 5), ValidateOptions{}, ErrInvalidRecord, 87},
		{"offset deltas out of order", mustBuild(t, producerSpec(CodecNone, []Record{{OffsetDelta: 1}, {OffsetDelta: 0}})), ValidateOptions{}, ErrInvalidRecord, 87},
		{"offset deltas with gap", mustBuild(t, producerSpec(CodecNone, []Record{{OffsetDelta: 0}, {OffsetDelta: 2}})), ValidateOptions{}, ErrInvalidRecord, 87},
		{"record length lies", func() []byte { b := good(); b[HeaderSize]++; return recrc(b) }(), ValidateOptions{}, ErrInvalidRecord, 87},
		{"null key on compacted topic", good(), ValidateOptions{RequireKeys: true}, ErrInvalidRecord, 87},
		{"decompression bomb", gz(), ValidateOptions{MaxDecompressed: 5}, ErrTooLarge, 10},
		{"garbage compressed", func() []byte { b := gz(); b[HeaderSize+12] ^= 0xff; return recrc(b) }(), ValidateOptions{}, ErrCorrupt, 2},
	}
	for _, c := range cases {
		_, err := Validate(c.b, c.opts)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		if code := ErrorCode(err); code != c.code {
			t.Errorf("%s: ErrorCode(%v) = %d, want %d", c.name, err, code, c.code)
		}
	}
	if _, err := Validate(set16(good(), offAttributes, ControlBit), ValidateOptions{AllowControl: true}); err != nil {
		t.Errorf("control batch with AllowControl: %v", err)
	}
}

func TestErrorCode(t *testing.T) {
	if ErrorCode(nil) != 0 || ErrorCode(errors.New("other")) != -1 {
		t.Fatal("nil or foreign error")
	}
}

func TestIterate(t *testing.T) {
	a := mustBuild(t, producerSpec(CodecNone, sampleRecords()))
	b := mustBuild(t, producerSpec(CodecZstd, sampleRecords()[:1]))
	all := append(append([]byte{}, a...), b...)
	var sizes []int
	err := Iterate(all, func(h Header, batch []byte) error {
		if len(batch) != h.Size() {
			t.Errorf("batch of %d bytes, header says %d", len(batch), h.Size())
		}
		if _, err := Validate(batch, ValidateOptions{}); err != nil {
			t.Error(err)
		}
		sizes = append(sizes, len(batch))
		return nil
	})
	if err != nil || !reflect.DeepEqual(sizes, []int{len(a), len(b)}) {
		t.Fatalf("err %v sizes %v", err, sizes)
	}
	if err := Iterate(nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{1, HeaderSize, len(b) - 1} {
		if err := Iterate(all[:len(a)+cut], func(Header, []byte) error { return nil }); !errors.Is(err, ErrShort) {
			t.Errorf("cut %d: got %v, want ErrShort", cut, err)
		}
	}
}

// TestConcurrentPools shares the codec pools between goroutines; run with
// -race it checks that pooled state never leaks between calls.
func TestConcurrentPools(t *testing.T) {
	recs := sampleRecords()
	done := make(chan error)
	for g := range 8 {
		go func() {
			var err error
			for i := range 20 {
				c := allCodecs[(g+i)%len(allCodecs)]
				var b []byte
				if b, err = Build(nil, producerSpec(c, recs)); err != nil {
					break
				}
				var h Header
				if h, err = Validate(b, ValidateOptions{}); err != nil {
					break
				}
				if got := decodeAll2(t, &h, b); !reflect.DeepEqual(got, recs) {
					err = errors.New("records differ")
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestBuildUnknownCodec(t *testing.T) {
	b, err := Build([]byte("x"), producerSpec(6, sampleRecords()))
	if !errors.Is(err, ErrUnknownCodec) || string(b) != "x" {
		t.Fatalf("got %q, %v", b, err)
	}
}
