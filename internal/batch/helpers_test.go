package batch

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdStream compresses src through the streaming writer, flushing so the
// frame carries no content size, as Java's ZstdOutputStream writes it.
func zstdStream(t testing.TB, src []byte) []byte {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(src)
	w.Flush() // a header written before the end cannot know the size
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(buf.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("streamed frame: err %v, has content size %v", err, h.HasFCS)
	}
	return buf.Bytes()
}
