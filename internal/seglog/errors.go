package seglog

import "errors"

// Errors returned by Log methods. Errors from package batch (ErrShort,
// ErrCorrupt, ErrMagic) are passed through unchanged when Append is given a
// malformed payload.
var (
	// ErrOffsetOutOfRange means a read or DeleteRecordsBefore named an offset
	// below the log start offset or above the log end offset
	// (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("seglog: offset out of range")
	// ErrMessageTooLarge means a batch is larger than Options.MaxMessageBytes
	// (MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("seglog: batch larger than max message bytes")
	// ErrOutOfOrderSequence means an idempotent batch's sequence does not follow
	// the producer's last sequence, a new producer epoch did not start at
	// sequence 0, or an unknown producer did not start at 0
	// (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("seglog: out of order sequence number")
	// ErrDuplicateSequence means a batch repeats a sequence whose original
	// offsets are no longer known (DUPLICATE_SEQUENCE_NUMBER). Duplicates of the
	// last five batches are not errors: Append reports them as Duplicate.
	ErrDuplicateSequence = errors.New("seglog: duplicate sequence number")
	// ErrInvalidProducerEpoch means a batch carries an epoch older than the
	// producer's current one (INVALID_PRODUCER_EPOCH / PRODUCER_FENCED).
	ErrInvalidProducerEpoch = errors.New("seglog: invalid producer epoch")
	// ErrUnknownProducerID means the producer's state was removed because the
	// log start offset moved past its last batch, and it sent a sequence other
	// than 0 (UNKNOWN_PRODUCER_ID); the client resets and retries.
	ErrUnknownProducerID = errors.New("seglog: unknown producer id")
	// ErrCorrupt means on-disk data failed its CRC or structure checks while
	// being read (KAFKA_STORAGE_ERROR for the fetch). The bytes are never
	// returned.
	ErrCorrupt = errors.New("seglog: corrupt data on disk")
	// ErrClosed means the Log was closed.
	ErrClosed = errors.New("seglog: log closed")
)
