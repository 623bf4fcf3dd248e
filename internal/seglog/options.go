package seglog

import (
	"math"
	"time"

	"github.com/samsa-io/samsa/internal/vfs"
)

// Defaults applied by Open and SetOptions to zero-valued Options fields.
// Zero means "default" for every field, so a literal Options{} is usable; a
// topic that really wants retention.ms=0 should pass 1.
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentMs          = 7 * 24 * 3600 * 1000
	DefaultIndexIntervalBytes = 4096
	DefaultRetentionMs        = 7 * 24 * 3600 * 1000
	DefaultMaxMessageBytes    = 1048588 // Kafka's message.max.bytes
)

// Options are a partition's topic configuration as seglog needs it.
type Options struct {
	SegmentBytes       int64            // segment.bytes; capped at MaxInt32 because index positions are u32
	SegmentMs          int64            // segment.ms
	IndexIntervalBytes int              // index.interval.bytes
	RetentionMs        int64            // retention.ms; -1 = infinite
	RetentionBytes     int64            // retention.bytes; -1 = infinite (0 = default = -1)
	MaxMessageBytes    int              // max.message.bytes, per batch
	Now                func() time.Time // clock for retention; nil = time.Now
	// FS is the filesystem the log lives on (nil: vfs.Default). Only Open
	// reads it; SetOptions keeps the log's filesystem.
	FS vfs.FS
}

// withDefaults fills zero fields; see the Default constants.
func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentBytes > math.MaxInt32 {
		o.SegmentBytes = math.MaxInt32
	}
	if o.SegmentMs <= 0 {
		o.SegmentMs = DefaultSegmentMs
	}
	if o.IndexIntervalBytes <= 0 {
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if o.RetentionMs == 0 {
		o.RetentionMs = DefaultRetentionMs
	}
	if o.RetentionBytes == 0 {
		o.RetentionBytes = -1
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o Options) nowMs() int64 { return o.Now().UnixMilli() }
