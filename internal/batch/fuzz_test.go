package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

const fuzzLimit = 1 << 20

// seedBatches are valid batches of every codec, ours and kmsg's, plus a
// control batch; the fuzzer mutates from there.
func seedBatches(f *testing.F) [][]byte {
	var out [][]byte
	for _, c := range allCodecs {
		out = append(out, mustBuild(f, producerSpec(c, sampleRecords())))
		out = append(out, kmsgBatch(f, c, sampleRecords()[:2]))
	}
	ctl := producerSpec(CodecNone, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	ctl.Attributes = ControlBit | TransactionalBit
	return append(out, mustBuild(f, ctl))
}

// classified fails the test for an error the broker could not map to a
// Kafka code: every rejection must be the client's fault, never ours.
func classified(t *testing.T, err error) {
	if err != nil && ErrorCode(err) <= 0 {
		t.Fatalf("unclassified error %v", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, b := range seedBatches(f) {
		f.Add(b)
		f.Add(b[:HeaderSize])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		classified(t, err)
		if err == nil && (h.Magic != 2 || h.Size() < HeaderSize) {
			t.Fatalf("accepted header %+v", h)
		}
		classified(t, CheckCRC(b))
		err = Iterate(b, func(h Header, batch []byte) error {
			if len(batch) != h.Size() {
				t.Fatalf("batch of %d bytes, header says %d", len(batch), h.Size())
			}
			return nil
		})
		classified(t, err)
	})
}

// FuzzValidate validates each input as is and again with its length and
// CRC repaired, so that mutations reach the record and codec checks
// instead of dying at the CRC. Whatever Validate accepts must read back
// and rebuild into a batch that validates with the same records.
func FuzzValidate(f *testing.F) {
	for _, b := range seedBatches(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkValidate(t, b)
		if len(b) >= HeaderSize {
			b = bytes.Clone(b)
			binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
			checkValidate(t, recrc(b))
		}
	})
}

func checkValidate(t *testing.T, b []byte) {
	opts := ValidateOptions{MaxDecompressed: fuzzLimit, AllowControl: true}
	h, err := Validate(b, opts)
	classified(t, err)
	if err != nil {
		return
	}
	recs := readAll(t, &h, b[HeaderSize:])
	if len(recs) != int(h.NumRecords) {
		t.Fatalf("validated %d records, read %d", h.NumRecords, len(recs))
	}
	spec := BatchSpec{BaseOffset: h.BaseOffset, Attributes: h.Attributes, Codec: CodecNone, Records: recs,
		BaseTimestamp: h.BaseTimestamp, ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence}
	again, err := Build(nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := Validate(again, opts)
	if err != nil {
		t.Fatalf("rebuilt batch invalid: %v", err)
	}
	if recs2 := readAll(t, &h2, again[HeaderSize:]); !sameRecords(recs, recs2) {
		t.Fatal("rebuilt batch reads differently")
	}
}

// readAll copies out every record, failing on error.
func readAll(t *testing.T, h *Header, body []byte) []Record {
	var out []Record
	err := ReadRecords(h, body, fuzzLimit, func(r Record) error {
		out = append(out, cloneRecord(r))
		return nil
	})
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return out
}

// cloneRecord copies r out of the buffers ReadRecords reuses.
func cloneRecord(r Record) Record {
	r.Key, r.Value = cloneNil(r.Key), cloneNil(r.Value)
	hs := make([]RecordHeader, len(r.Headers))
	for i, x := range r.Headers {
		hs[i] = RecordHeader{x.Key, cloneNil(x.Value)}
	}
	r.Headers = hs
	return r
}

func sameRecords(a, b []Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Attributes != y.Attributes || x.TimestampDelta != y.TimestampDelta || x.OffsetDelta != y.OffsetDelta ||
			!sameBytes(x.Key, y.Key) || !sameBytes(x.Value, y.Value) || len(x.Headers) != len(y.Headers) {
			return false
		}
		for j := range x.Headers {
			if x.Headers[j].Key != y.Headers[j].Key || !sameBytes(x.Headers[j].Value, y.Headers[j].Value) {
				return false
			}
		}
	}
	return true
}

// FuzzDecompress feeds arbitrary bytes to every decoder (which must stay
// within the limit and fail with a classified error) and checks that
// arbitrary bytes survive a compress/decompress round trip.
func FuzzDecompress(f *testing.F) {
	for _, c := range allCodecs {
		for _, p := range [][]byte{nil, []byte("hello hello hello hello"), bytes.Repeat([]byte{7}, 5000)} {
			comp, _ := Compress(nil, c, 0, p)
			f.Add(uint8(c), comp)
		}
	}
	f.Add(uint8(CodecSnappy), xerialSample())
	f.Add(uint8(CodecZstd), zstdStream(f, bytes.Repeat([]byte("abc"), 1000)))
	f.Fuzz(func(t *testing.T, codec uint8, data []byte) {
		c := Codec(codec % 8)
		const limit = 64 << 10
		out, err := Decompress([]byte("pre"), c, data, limit)
		if err == nil && len(out)-3 > limit {
			t.Fatalf("%s: %d bytes out, limit %d", c, len(out)-3, limit)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnknownCodec) {
			t.Fatalf("%s: unclassified error %v", c, err)
		}
		comp, err := Compress(nil, c, int(codec>>3), data)
		if c > CodecZstd {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decompress(nil, c, comp, len(data))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%s round trip: %v", c, err)
		}
	})
}

// xerialSample is a two-chunk xerial snappy payload.
func xerialSample() []byte {
	b := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for _, chunk := range []string{"first chunk, first chunk", "second"} {
		block := compressSnappy(nil, []byte(chunk))
		b = binary.BigEndian.AppendUint32(b, uint32(len(block)))
		b = append(b, block...)
	}
	return b
}

// FuzzReadRecords decodes arbitrary record sections. Whatever decodes must
// re-encode to a section that decodes to the same records.
func FuzzReadRecords(f *testing.F) {
	for _, c := range allCodecs {
		b := mustBuild(f, producerSpec(c, sampleRecords()))
		f.Add(uint8(c), int32(4), b[HeaderSize:])
	}
	f.Add(uint8(0), int32(1), []byte{8, 0, 0, 0, 1, 1, 2, 1, 1})
	f.Fuzz(func(t *testing.T, codec uint8, n int32, body []byte) {
		h := Header{Attributes: int16(codec % 8), NumRecords: n}
		var recs []Record
		err := ReadRecords(&h, body, fuzzLimit, func(r Record) error {
			recs = append(recs, cloneRecord(r))
			return nil
		})
		classified(t, err)
		if err != nil {
			return
		}
		var again []byte
		for i := range recs {
			again = AppendRecord(again, &recs[i])
		}
		h2 := Header{NumRecords: int32(len(recs))}
		if got := readAll(t, &h2, again); !sameRecords(got, recs) {
			t.Fatal("re-encoded records read differently")
		}
	})
}
