package batch

// Differential tests against franz-go's kmsg, an independent implementation
// of the batch and record wire format used by kgo, kfake and rpk. The
// compressed payloads are produced and read with other libraries' code
// paths (the standard library's gzip, the strict snappy decoder, streamed
// lz4 and zstd), so our codec glue is checked too.

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"io"
	"reflect"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// otherDecompress decodes with code independent of codec*.go.
func otherDecompress(t *testing.T, c Codec, src []byte) []byte {
	t.Helper()
	var out []byte
	var err error
	switch c {
	case CodecNone:
		return src
	case CodecGzip:
		var r *stdgzip.Reader
		if r, err = stdgzip.NewReader(bytes.NewReader(src)); err == nil {
			out, err = io.ReadAll(r)
		}
	case CodecSnappy:
		out, err = snappy.DecodeStrict(nil, src)
	case CodecLZ4:
		out, err = io.ReadAll(lz4.NewReader(bytes.NewReader(src)))
	case CodecZstd:
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil); err == nil {
			out, err = d.DecodeAll(src, nil)
			d.Close()
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return out
}

// otherCompress encodes with code independent of codec*.go, in the shapes
// other clients produce (xerial-free snappy "better" mode, 4 MiB lz4
// blocks, zstd frames without a content size).
func otherCompress(t testing.TB, c Codec, src []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case CodecNone:
		return src
	case CodecGzip:
		w := stdgzip.NewWriter(&buf)
		w.Write(src)
		w.Close()
	case CodecSnappy:
		return snappy.Encode(nil, src)
	case CodecLZ4:
		w := lz4.NewWriter(&buf)
		w.Write(src)
		w.Close()
	case CodecZstd:
		return zstdStream(t, src)
	}
	return buf.Bytes()
}

// TestBuildReadByKmsg builds with Build and parses with kmsg.
func TestBuildReadByKmsg(t *testing.T) {
	recs := sampleRecords()
	for _, c := range allCodecs {
		spec := producerSpec(c, recs)
		spec.BaseOffset = 1234
		b := mustBuild(t, spec)
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil {
			t.Fatalf("%s: kmsg: %v", c, err)
		}
		want := kmsg.RecordBatch{
			FirstOffset: 1234, Length: int32(len(b) - 12), PartitionLeaderEpoch: -1, Magic: 2,
			CRC: int32(CRC32C(b[21:])), Attributes: int16(c), LastOffsetDelta: 3,
			FirstTimestamp: spec.BaseTimestamp, MaxTimestamp: maxTimestamp(spec.BaseTimestamp, recs),
			ProducerID: 7, ProducerEpoch: 1, FirstSequence: 40, NumRecords: 4, Records: kb.Records,
		}
		if !reflect.DeepEqual(kb, want) {
			t.Fatalf("%s: kmsg read\n%+v\nwant\n%+v", c, kb, want)
		}
		got := kmsgRecords(t, otherDecompress(t, c, kb.Records))
		if len(got) != len(recs) {
			t.Fatalf("%s: kmsg found %d records", c, len(got))
		}
		for i, kr := range got {
			if !sameRecord(&recs[i], &kr) {
				t.Errorf("%s: record %d: kmsg read %+v, wrote %+v", c, i, kr, recs[i])
			}
		}
	}
}

// kmsgRecords splits a records section with kmsg.Record.ReadFrom.
func kmsgRecords(t *testing.T, data []byte) []kmsg.Record {
	var out []kmsg.Record
	for len(data) > 0 {
		n, w := binary.Varint(data)
		if w <= 0 || int(n) > len(data)-w {
			t.Fatalf("bad record length %d", n)
		}
		var r kmsg.Record
		if err := r.ReadFrom(data[:w+int(n)]); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
		data = data[w+int(n):]
	}
	return out
}

func sameRecord(r *Record, k *kmsg.Record) bool {
	if r.Attributes != k.Attributes || r.TimestampDelta != k.TimestampDelta64 || r.OffsetDelta != k.OffsetDelta ||
		!sameBytes(r.Key, k.Key) || !sameBytes(r.Value, k.Value) || len(r.Headers) != len(k.Headers) {
		return false
	}
	for i, h := range r.Headers {
		if h.Key != k.Headers[i].Key || !sameBytes(h.Value, k.Headers[i].Value) {
			return false
		}
	}
	return true
}

// sameBytes compares with null distinct from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// kmsgBatch encodes recs as a batch with kmsg and another compressor.
func kmsgBatch(t testing.TB, c Codec, recs []Record) []byte {
	var raw []byte
	for _, r := range recs {
		kr := kmsg.Record{Attributes: r.Attributes, TimestampDelta64: r.TimestampDelta, OffsetDelta: r.OffsetDelta,
			Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // the zero Length took one byte
		raw = kr.AppendTo(raw)
	}
	kb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(c), LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: 99, MaxTimestamp: 99, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: otherCompress(t, c, raw),
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], CRC32C(b[21:]))
	return b
}

// TestKmsgBatchValidates encodes with kmsg and validates and reads with ours.
func TestKmsgBatchValidates(t *testing.T) {
	recs := sampleRecords()
	for _, c := range allCodecs {
		b := kmsgBatch(t, c, recs)
		h, err := Validate(b, ValidateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if h.HasProducerID() || h.Codec() != c || h.NumRecords != 4 || h.Size() != len(b) {
			t.Fatalf("%s: header %+v", c, h)
		}
		if got := decodeAll2(t, &h, b); !reflect.DeepEqual(got, recs) {
			t.Fatalf("%s: records differ:\n got %+v\nwant %+v", c, got, recs)
		}
	}
}
