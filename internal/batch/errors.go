package batch

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// More errors; header.go holds ErrShort, ErrCorrupt and ErrMagic. Callers
// test them with errors.Is: the returned errors wrap these with detail.
var (
	// ErrInvalidRecord means the batch is intact (CRC good) but its content
	// breaks the v2 rules: record count, offset deltas, record framing, a
	// control batch from a client (INVALID_RECORD). The CRC only proves the
	// bytes arrived as the producer wrote them, not that the producer wrote
	// them correctly, so this is a separate class from ErrCorrupt.
	ErrInvalidRecord = errors.New("batch: invalid record")
	// ErrUnknownCodec means compression bits outside 0-4 (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnknownCodec = errors.New("batch: unknown compression codec")
	// ErrTooLarge means decompressed data would exceed the caller's limit
	// (MESSAGE_TOO_LARGE). Decompression stops at the limit, so a small
	// hostile payload cannot make us allocate more than the limit.
	ErrTooLarge = errors.New("batch: decompressed size exceeds limit")

	// ErrOldMagic is the ErrMagic returned for message format v0/v1, which
	// Kafka 4 no longer accepts (UNSUPPORTED_FOR_MESSAGE_FORMAT); a magic
	// above 2 is plain garbage and maps to CORRUPT_MESSAGE.
	ErrOldMagic = &wrapped{msg: "batch: message format v0/v1 not supported", base: ErrMagic}
)

// wrapped is a preallocated sentinel that also matches a broader sentinel,
// so hot paths can return it without allocating.
type wrapped struct {
	msg  string
	base error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.base }

// ErrorCode maps an error from this package to a Kafka error code; it
// returns 0 for nil and UNKNOWN_SERVER_ERROR (-1) for anything else, so the
// broker never reports a foreign error as a client's fault.
func ErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrOldMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, ErrUnknownCodec):
		return kerr.UnsupportedCompressionType.Code
	case errors.Is(err, ErrTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, ErrCorrupt), errors.Is(err, ErrShort), errors.Is(err, ErrMagic):
		return kerr.CorruptMessage.Code
	}
	return kerr.UnknownServerError.Code
}
