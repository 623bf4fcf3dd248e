package batch

import "fmt"

// DefaultMaxDecompressed bounds a compressed batch's records section when
// ValidateOptions.MaxDecompressed is 0.
const DefaultMaxDecompressed = 64 << 20

// ValidateOptions tunes Validate for the caller's context.
type ValidateOptions struct {
	// AllowControl accepts the control bit. Control batches (transaction
	// markers) are written by the broker itself; a producer must not send
	// one, or it could commit or abort other producers' transactions.
	AllowControl bool
	// MaxDecompressed bounds the decompressed records section of a
	// compressed batch (ErrTooLarge beyond); 0 means DefaultMaxDecompressed.
	MaxDecompressed int
	// RequireKeys rejects records with a null key, as compacted topics must.
	RequireKeys bool
}

// Validate checks that b is exactly one well-formed v2 batch, as the
// broker must before appending a producer's bytes to the log, and returns
// its header. The checks run cheapest first, and nothing is allocated from
// a length field before that length is checked against the bytes present;
// only a compressed batch costs a (pooled, bounded) decompression.
func Validate(b []byte, opts ValidateOptions) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if err := checkSize(&h, len(b)); err != nil {
		return h, err
	}
	if err := CheckCRC(b); err != nil {
		return h, err
	}
	if err := checkAttributes(&h, opts); err != nil {
		return h, err
	}
	if err := checkCounts(&h); err != nil {
		return h, err
	}
	return h, checkRecords(&h, b[HeaderSize:], opts)
}

// checkSize insists on exactly one batch: callers split a payload with Iterate.
func checkSize(h *Header, n int) error {
	switch {
	case n < h.Size():
		return fmt.Errorf("%w: batch of %d bytes, %d present", ErrShort, h.Size(), n)
	case n > h.Size():
		return fmt.Errorf("%w: %d bytes after a batch of %d", ErrCorrupt, n-h.Size(), h.Size())
	}
	return nil
}

func checkAttributes(h *Header, opts ValidateOptions) error {
	if c := h.Codec(); c > CodecZstd {
		return unknownCodec(c)
	}
	if h.IsControl() && !opts.AllowControl {
		return fmt.Errorf("%w: control batch from a client", ErrInvalidRecord)
	}
	if h.IsTransactional() && !h.HasProducerID() {
		return fmt.Errorf("%w: transactional batch without a producer id", ErrInvalidRecord)
	}
	if h.HasProducerID() && h.BaseSequence < 0 {
		return fmt.Errorf("%w: producer id %d with base sequence %d", ErrInvalidRecord, h.ProducerID, h.BaseSequence)
	}
	return nil
}

// checkCounts applies Kafka's rule that a batch holds at least one record
// and that its offset range matches its count.
func checkCounts(h *Header) error {
	if h.NumRecords <= 0 {
		return fmt.Errorf("%w: record count %d", ErrInvalidRecord, h.NumRecords)
	}
	if int64(h.LastOffsetDelta) != int64(h.NumRecords)-1 {
		return fmt.Errorf("%w: lastOffsetDelta %d for %d records", ErrInvalidRecord, h.LastOffsetDelta, h.NumRecords)
	}
	return nil
}

// checkRecords walks the records: exactly NumRecords of them, each framed
// consistently, with offset deltas 0..n-1 in order.
func checkRecords(h *Header, body []byte, opts ValidateOptions) error {
	limit := opts.MaxDecompressed
	if limit <= 0 {
		limit = DefaultMaxDecompressed
	}
	data, buf, err := recordsData(h, body, limit)
	if err != nil {
		return err
	}
	defer putBuf(buf)
	d := decoder{b: data}
	var r Record
	for i := range h.NumRecords {
		if err := d.next(&r, i, false); err != nil {
			return err
		}
		if err := checkRecord(&r, i, opts); err != nil {
			return err
		}
	}
	return d.finish(h.NumRecords)
}

func checkRecord(r *Record, i int32, opts ValidateOptions) error {
	if r.OffsetDelta != i {
		return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, r.OffsetDelta)
	}
	if opts.RequireKeys && r.Key == nil {
		return fmt.Errorf("%w: record %d has no key (compacted topic)", ErrInvalidRecord, i)
	}
	return nil
}

// Iterate splits a concatenation of batches (a Produce partition's records
// or a slice of a segment) and calls fn with each batch's header and bytes.
// It checks framing only, not CRCs or records. A trailing partial batch is
// ErrShort, which a consumer of a Fetch response may ignore (KIP-74 lets
// the broker cut the last batch); the produce path must not.
func Iterate(records []byte, fn func(h Header, b []byte) error) error {
	for len(records) > 0 {
		h, err := ParseHeader(records)
		if err != nil {
			return err
		}
		size := h.Size()
		if size > len(records) {
			return ErrShort
		}
		if err := fn(h, records[:size]); err != nil {
			return err
		}
		records = records[size:]
	}
	return nil
}
