package batch

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// Record is one record of a v2 batch. On the wire (after the batch header,
// or inside the compressed blob):
//
//	length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
//	keyLen varint | key | valueLen varint | value | headerCount varint |
//	{ hKeyLen varint | hKey | hValLen varint | hVal }*
//
// Varints are zigzag-encoded, as in protobuf; a length of -1 is null.
type Record struct {
	Attributes     int8 // unused by Kafka so far; carried as is
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte // nil = null key
	Value          []byte // nil = null value (a tombstone on compacted topics)
	Headers        []RecordHeader
}

// RecordHeader is a record header; Kafka forbids a null key, allows a null value.
type RecordHeader struct {
	Key   string
	Value []byte
}

// AppendRecord appends the wire form of r to dst. The body size is
// computed first so the length prefix is written in place, with no
// temporary buffer.
func AppendRecord(dst []byte, r *Record) []byte {
	dst = binary.AppendVarint(dst, int64(recordBodySize(r)))
	dst = append(dst, byte(r.Attributes))
	dst = binary.AppendVarint(dst, r.TimestampDelta)
	dst = binary.AppendVarint(dst, int64(r.OffsetDelta))
	dst = appendVarBytes(dst, r.Key)
	dst = appendVarBytes(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendVarBytes(dst, h.Value)
	}
	return dst
}

// RecordSize is the number of bytes AppendRecord writes for r.
func RecordSize(r *Record) int {
	n := recordBodySize(r)
	return varintSize(int64(n)) + n
}

func recordBodySize(r *Record) int {
	n := 1 + varintSize(r.TimestampDelta) + varintSize(int64(r.OffsetDelta)) +
		varBytesSize(r.Key) + varBytesSize(r.Value) + varintSize(int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		n += varintSize(int64(len(h.Key))) + len(h.Key) + varBytesSize(h.Value)
	}
	return n
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func varBytesSize(b []byte) int {
	if b == nil {
		return 1
	}
	return varintSize(int64(len(b))) + len(b)
}

// varintSize is the encoded size of zigzag varint v.
func varintSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// ReadRecords calls fn for each record of the batch with header h. body is
// the batch's records section, b[HeaderSize:h.Size()] of a whole batch b; it
// is decompressed first if h says so, producing at most limit bytes
// (ErrTooLarge otherwise). The batch must hold exactly h.NumRecords records.
// Offset deltas are not checked here (compaction leaves gaps); Validate
// checks them on the produce path.
//
// A Record passed to fn aliases body or an internal buffer, and its Headers
// slice is reused: copy what must outlive the call. An error from fn stops
// the iteration and is returned as is.
func ReadRecords(h *Header, body []byte, limit int, fn func(Record) error) error {
	data, buf, err := recordsData(h, body, limit)
	if err != nil {
		return err
	}
	defer putBuf(buf)
	d := decoder{b: data}
	var r Record
	for i := int32(0); i < h.NumRecords; i++ {
		if err := d.next(&r, i, true); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return d.finish(h.NumRecords)
}

// recordsData returns the uncompressed records section. For a compressed
// batch it is a pooled buffer, returned with it for putBuf.
func recordsData(h *Header, body []byte, limit int) ([]byte, *[]byte, error) {
	c := h.Codec()
	if c == CodecNone {
		return body, nil, nil
	}
	buf := getBuf()
	out, err := Decompress((*buf)[:0], c, body, limit)
	*buf = out
	if err != nil {
		putBuf(buf)
		return nil, nil, err
	}
	return out, buf, nil
}

// maxPooledBuf keeps a rare huge batch from pinning its buffer in the pool.
const maxPooledBuf = 16 << 20

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if b != nil && cap(*b) <= maxPooledBuf {
		bufPool.Put(b)
	}
}

var noBytes = []byte{}

// decoder reads records from b. It never allocates proportionally to a
// length it has read: every length is checked against the bytes left.
type decoder struct {
	b   []byte
	err string // first failure, turned into an error by next
}

func (d *decoder) fail(what string) {
	if d.err == "" {
		d.err = what
	}
	d.b = nil
}

func (d *decoder) varint() int32 {
	u, n := binary.Uvarint(d.b)
	if n <= 0 || n > binary.MaxVarintLen32 || u > math.MaxUint32 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return int32(uint32(u>>1) ^ -uint32(u&1))
}

func (d *decoder) varlong() int64 {
	u, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varlong")
		return 0
	}
	d.b = d.b[n:]
	return int64(u>>1) ^ -int64(u&1)
}

func (d *decoder) int8() int8 {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := int8(d.b[0])
	d.b = d.b[1:]
	return v
}

// bytes reads a varint-length byte string; -1 is null (nil).
func (d *decoder) bytes() []byte {
	n := d.varint()
	switch {
	case d.err != "":
		return nil
	case n == -1:
		return nil
	case n == 0:
		return noBytes // empty, not null, even if d.b is a nil slice
	case n < -1 || int(n) > len(d.b):
		d.fail("bad length")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// next decodes record i into r. With keepHeaders false headers are checked
// but not materialised (Validate needs no strings).
func (d *decoder) next(r *Record, i int32, keepHeaders bool) error {
	if len(d.b) == 0 {
		return fmt.Errorf("%w: record count says more than %d records", ErrInvalidRecord, i)
	}
	n := d.varint()
	if d.err != "" || n < 0 || int(n) > len(d.b) {
		return fmt.Errorf("%w: record %d: bad length %d (%d bytes left)", ErrInvalidRecord, i, n, len(d.b))
	}
	body := decoder{b: d.b[:n]}
	d.b = d.b[n:]
	body.fields(r, keepHeaders)
	if body.err == "" && len(body.b) != 0 {
		body.err = fmt.Sprintf("%d bytes past the last field", len(body.b))
	}
	if body.err != "" {
		return fmt.Errorf("%w: record %d: %s", ErrInvalidRecord, i, body.err)
	}
	return nil
}

// fields decodes a record body (everything after the length).
func (d *decoder) fields(r *Record, keepHeaders bool) {
	r.Attributes = d.int8()
	r.TimestampDelta = d.varlong()
	r.OffsetDelta = d.varint()
	r.Key = d.bytes()
	r.Value = d.bytes()
	r.Headers = r.Headers[:0]
	count := d.varint()
	// Each header takes at least two bytes; bound the count before looping.
	if count < 0 || int(count) > len(d.b)/2 {
		d.fail("bad header count")
		return
	}
	for range count {
		d.header(r, keepHeaders)
	}
}

func (d *decoder) header(r *Record, keep bool) {
	key := d.bytes()
	if key == nil {
		d.fail("null header key")
		return
	}
	val := d.bytes()
	if keep && d.err == "" {
		r.Headers = append(r.Headers, RecordHeader{Key: string(key), Value: val})
	}
}

// finish checks that nothing follows the last of n records.
func (d *decoder) finish(n int32) error {
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last of %d records", ErrInvalidRecord, len(d.b), n)
	}
	return nil
}
