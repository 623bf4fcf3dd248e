package client

import (
	"fmt"

	"github.com/samsa-io/samsa/internal/batch"
)

// compressor compresses sealed batch bodies with one codec and level, using
// internal/batch's pooled codecs (safe for the partition goroutines to call
// in parallel).
type compressor struct {
	codec Codec
	level int
}

func newCompressor(codec Codec, level int) (*compressor, error) {
	if _, err := batch.Compress(nil, codec, level, []byte("probe")); err != nil {
		return nil, fmt.Errorf("samsa/client: compression %s level %d: %w", codec, level, err)
	}
	return &compressor{codec: codec, level: level}, nil
}

// compress appends the compressed form of src to dst.
func (c *compressor) compress(dst, src []byte) ([]byte, error) {
	return batch.Compress(dst, c.codec, c.level, src)
}
