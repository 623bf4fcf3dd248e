package batch

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

func sampleRecords() []Record {
	return []Record{
		{OffsetDelta: 0, Key: []byte("k"), Value: []byte("v")},
		{OffsetDelta: 1, TimestampDelta: -5, Key: nil, Value: nil},
		{OffsetDelta: 2, TimestampDelta: math.MaxInt64, Key: []byte{}, Value: bytes.Repeat([]byte("x"), 300),
			Headers: []RecordHeader{{Key: "h1", Value: []byte("a")}, {Key: "", Value: nil}, {Key: "h3", Value: []byte{}}}},
		{OffsetDelta: 3, Attributes: -1, TimestampDelta: math.MinInt64, Value: []byte("last")},
	}
}

// decodeAll reads the records section data as n records.
func decodeAll(t *testing.T, data []byte, n int32) []Record {
	t.Helper()
	h := Header{NumRecords: n}
	var got []Record
	err := ReadRecords(&h, data, 0, func(r Record) error {
		r.Headers = append([]RecordHeader(nil), r.Headers...)
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRecordRoundTrip(t *testing.T) {
	recs := sampleRecords()
	var data []byte
	for i := range recs {
		before := len(data)
		data = AppendRecord(data, &recs[i])
		if got := len(data) - before; got != RecordSize(&recs[i]) {
			t.Fatalf("record %d: wrote %d bytes, RecordSize says %d", i, got, RecordSize(&recs[i]))
		}
	}
	got := decodeAll(t, data, int32(len(recs)))
	for i := range recs {
		want := recs[i]
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want)
		}
	}
}

func TestReadRecordsRejects(t *testing.T) {
	one := AppendRecord(nil, &Record{Key: []byte("k"), Value: []byte("v")})
	cases := map[string]struct {
		data []byte
		n    int32
	}{
		"fewer records":       {one, 2},
		"more records":        {append(bytes.Clone(one), one...), 1},
		"truncated":           {one[:len(one)-1], 1},
		"length past end":     {append([]byte{0x7e}, one[1:]...), 1},
		"negative length":     {append([]byte{0x01}, one[1:]...), 1},
		"overlong varint":     {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 1},
		"key length past end": {[]byte{8, 0, 0, 0, 0x7e, 0, 0, 0, 0}, 1},
		"key length < -1":     {[]byte{8, 0, 0, 0, 0x03, 0, 0, 0, 0}, 1},
		"header count huge":   {[]byte{8, 0, 0, 0, 1, 1, 0x7e, 0, 0}, 1},
		"null header key":     {[]byte{8, 0, 0, 0, 1, 1, 2, 1, 1}, 1},
		"slack in record":     {[]byte{6, 0, 0, 0, 1, 1, 0, 0}, 1},
	}
	for name, c := range cases {
		h := Header{NumRecords: c.n}
		err := ReadRecords(&h, c.data, 0, func(Record) error { return nil })
		if !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: got %v, want ErrInvalidRecord", name, err)
		}
	}
}

func TestReadRecordsStopsOnCallbackError(t *testing.T) {
	var data []byte
	for i := range 3 {
		data = AppendRecord(data, &Record{OffsetDelta: int32(i)})
	}
	stop := errors.New("stop")
	calls := 0
	h := Header{NumRecords: 3}
	err := ReadRecords(&h, data, 0, func(Record) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}
