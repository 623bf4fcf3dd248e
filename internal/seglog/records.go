package seglog

import (
	"encoding/binary"

	"github.com/samsa-io/samsa/internal/batch"
)

// firstRecordAtOrAfter finds, in the whole batch b, the first record at or
// above offset minOffset whose timestamp is >= ts, as ListOffsets wants
// record precision. Uncompressed CreateTime batches are walked record by
// record (only the length, timestamp and offset varints are decoded).
// Compressed or LogAppendTime batches, and records that do not parse, answer
// at batch precision: the batch's first offset >= minOffset and its
// maxTimestamp. ok is false if no record qualifies.
func firstRecordAtOrAfter(b []byte, h *batch.Header, ts, minOffset int64) (offset, timestamp int64, ok bool) {
	if h.MaxTimestamp < ts || h.LastOffset() < minOffset {
		return 0, 0, false
	}
	if h.Codec() == batch.CodecNone && !h.LogAppendTime() {
		if off, t, found, parsed := scanRecordTimes(b, h, ts, minOffset); parsed {
			return off, t, found
		}
	}
	return max(h.BaseOffset, minOffset), h.MaxTimestamp, true
}

// scanRecordTimes walks an uncompressed batch's records; parsed is false if
// they are malformed.
func scanRecordTimes(b []byte, h *batch.Header, ts, minOffset int64) (offset, timestamp int64, found, parsed bool) {
	p := b[batch.HeaderSize:]
	for range h.NumRecords {
		length, n := binary.Varint(p)
		if n <= 0 || length < 1 || length > int64(len(p)-n) {
			return 0, 0, false, false
		}
		rec := p[n : n+int(length)]
		tsDelta, m := binary.Varint(rec[1:]) // rec[0] is the record's attributes
		if m <= 0 {
			return 0, 0, false, false
		}
		offDelta, k := binary.Varint(rec[1+m:])
		if k <= 0 {
			return 0, 0, false, false
		}
		off, t := h.BaseOffset+offDelta, h.BaseTimestamp+tsDelta
		if off >= minOffset && t >= ts {
			return off, t, true, true
		}
		p = p[n+int(length):]
	}
	return 0, 0, false, true
}
