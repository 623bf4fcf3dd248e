package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// testPayloads are inputs with different shapes: empty, tiny, text-like,
// incompressible, and larger than one lz4/snappy-java block.
func testPayloads() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100_000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog 0123456789 "), 5000)
	return map[string][]byte{
		"empty":  {},
		"byte":   {42},
		"text":   text,
		"random": random,
		"zeros":  make([]byte, 300_000),
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for name, src := range testPayloads() {
		for _, c := range allCodecs {
			for _, level := range []int{0, 1, 9, 22} {
				prefix := []byte("keep")
				comp, err := Compress(bytes.Clone(prefix), c, level, src)
				if err != nil {
					t.Fatalf("%s/%s/%d: compress: %v", name, c, level, err)
				}
				if !bytes.HasPrefix(comp, prefix) {
					t.Fatalf("%s/%s: compress clobbered dst", name, c)
				}
				out, err := Decompress([]byte("x"), c, comp[len(prefix):], len(src))
				if err != nil {
					t.Fatalf("%s/%s/%d: decompress: %v", name, c, level, err)
				}
				if !bytes.Equal(out[1:], src) || out[0] != 'x' {
					t.Fatalf("%s/%s/%d: round trip mismatch (%d vs %d bytes)", name, c, level, len(out)-1, len(src))
				}
			}
		}
	}
}

// TestDecompressLimit checks both sides of the limit: exactly limit bytes
// decode, one byte more is ErrTooLarge.
func TestDecompressLimit(t *testing.T) {
	src := testPayloads()["text"]
	for _, c := range allCodecs {
		comp, err := Compress(nil, c, 0, src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decompress(nil, c, comp, len(src)); err != nil {
			t.Errorf("%s: at limit: %v", c, err)
		}
		if _, err := Decompress(nil, c, comp, len(src)-1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: limit-1: got %v, want ErrTooLarge", c, err)
		}
		if _, err := Decompress(nil, c, comp, -5); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: negative limit: got %v, want ErrTooLarge", c, err)
		}
	}
}

// TestDecompressBomb feeds each codec a payload that expands ~1000x and
// checks that decoding stops at the limit without allocating much more
// than the limit.
func TestDecompressBomb(t *testing.T) {
	const size, limit = 64 << 20, 1 << 20
	zeros := make([]byte, size)
	type bomb struct {
		codec Codec
		data  []byte
	}
	bombs := map[string]bomb{
		"snappy-claim": {CodecSnappy, snappyBomb(size)},
		"zstd-stream":  {CodecZstd, zstdStream(t, zeros)}, // no content size to reject early
	}
	for _, c := range allCodecs[1:] {
		data, err := Compress(nil, c, 0, zeros)
		if err != nil {
			t.Fatal(err)
		}
		bombs[c.String()] = bomb{c, data}
	}
	// No GC while measuring: a GC empties the decoder pools, and a new
	// decoder's fixed-size tables (the zstd window, ~10 MB) are not the
	// bomb's doing. Under load a GC could land between every run (CI saw
	// 11 MB for zstd-stream three times in a row).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// One P: a sync.Pool keeps the last Put in a per-P private slot that
	// other Ps cannot steal, so a goroutine that moved to another P between
	// runs built a fresh decoder each time (CI saw this once more with GC
	// already off). The first run after the change rebuilds the pool.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for name, b := range bombs {
		// Take the least of several runs: a run may build a decoder. The
		// first does, and under -race sync.Pool drops one Put in four on
		// purpose, so with three runs all three built one often enough to
		// fail CI; sixteen all missing is a 4^-15 chance.
		allocated := uint64(1 << 62)
		for range 16 {
			allocated = min(allocated, allocBytes(func() {
				if _, err := Decompress(nil, b.codec, b.data, limit); !errors.Is(err, ErrTooLarge) {
					t.Errorf("%s: got %v, want ErrTooLarge", name, err)
				}
			}))
		}
		t.Logf("%s: %d-byte bomb, %d bytes allocated for a %d limit", name, len(b.data), allocated, limit)
		// Output buffers double as they grow, so a stream may reach about
		// twice the limit plus a decoder's own small buffers; a bomb that
		// got through would be 64 times the limit.
		if allocated > 3*limit {
			t.Errorf("%s: allocated %d bytes for a %d limit", name, allocated, limit)
		}
	}
}

// snappyBomb is a raw block claiming n bytes; s2 caps real blocks at
// lower ratios, so it is made by hand: the length varint then nothing.
func snappyBomb(n int) []byte {
	enc := s2.EncodeSnappy(nil, make([]byte, 1<<16))
	return append(binary.AppendUvarint(nil, uint64(n)), enc[3:]...)
}

func allocBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestXerialSnappy decodes Java's framing, built by hand per snappy-java's
// SnappyOutputStream: magic, version 1, compatible version 1, then chunks.
func TestXerialSnappy(t *testing.T) {
	src := testPayloads()["text"]
	framed := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for rest := src; len(rest) > 0; {
		chunk := rest[:min(len(rest), 32<<10)] // snappy-java's default block size
		rest = rest[len(chunk):]
		block := s2.EncodeSnappy(nil, chunk)
		framed = binary.BigEndian.AppendUint32(framed, uint32(len(block)))
		framed = append(framed, block...)
	}
	out, err := Decompress(nil, CodecSnappy, framed, len(src))
	if err != nil || !bytes.Equal(out, src) {
		t.Fatalf("xerial: err %v, equal %v", err, bytes.Equal(out, src))
	}
	if _, err := Decompress(nil, CodecSnappy, framed, len(src)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("xerial over limit: %v", err)
	}
	header := framed[:16]
	if out, err := Decompress(nil, CodecSnappy, header, 10); err != nil || len(out) != 0 {
		t.Fatalf("xerial with no chunks: %v, %d bytes", err, len(out))
	}
	for _, cut := range []int{17, 20, 21, len(framed) - 1} {
		if _, err := Decompress(nil, CodecSnappy, framed[:cut], len(src)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("xerial cut at %d: got %v, want ErrCorrupt", cut, err)
		}
	}
}

func TestDecompressGarbage(t *testing.T) {
	garbage := [][]byte{nil, {0}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte("definitely not compressed data")}
	for _, c := range allCodecs[1:] {
		for _, g := range garbage {
			if c == CodecSnappy && bytes.Equal(g, []byte{0}) {
				continue // a valid empty block
			}
			if _, err := Decompress(nil, c, g, 1<<20); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("%s(%x): got %v, want ErrCorrupt", c, g, err)
			}
		}
	}
	// Truncated valid streams.
	src := testPayloads()["text"]
	for _, c := range allCodecs[1:] {
		comp, _ := Compress(nil, c, 0, src)
		if _, err := Decompress(nil, c, comp[:len(comp)/2], len(src)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s truncated: got %v, want ErrCorrupt", c, err)
		}
	}
}

func TestUnknownCodec(t *testing.T) {
	for _, c := range []Codec{5, 7, -1} {
		if _, err := Compress(nil, c, 0, []byte("x")); !errors.Is(err, ErrUnknownCodec) {
			t.Errorf("compress %s: %v", c, err)
		}
		if _, err := Decompress(nil, c, []byte("x"), 10); !errors.Is(err, ErrUnknownCodec) {
			t.Errorf("decompress %s: %v", c, err)
		}
	}
}

// TestZstdWithoutContentSize decodes a streamed frame, which carries no
// content size, as the Java client's ZstdOutputStream writes.
func TestZstdWithoutContentSize(t *testing.T) {
	src := testPayloads()["text"]
	framed := zstdStream(t, src)
	out, err := Decompress(nil, CodecZstd, framed, len(src))
	if err != nil || !bytes.Equal(out, src) {
		t.Fatalf("err %v, equal %v", err, bytes.Equal(out, src))
	}
	if _, err := Decompress(nil, CodecZstd, framed, len(src)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over limit: %v", err)
	}
}

// TestZstdLargeWindow decodes a frame asking for a 32 MiB window, as Java
// producers at levels 20-22 write: fine when the limit covers the window,
// ErrTooLarge when it does not.
func TestZstdLargeWindow(t *testing.T) {
	src := testPayloads()["text"]
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(32<<20))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(src)
	w.Flush()
	w.Close()
	var h zstd.Header
	if err := h.Decode(buf.Bytes()); err != nil || h.WindowSize != 32<<20 {
		t.Fatalf("frame header: %v, window %d", err, h.WindowSize)
	}
	out, err := Decompress([]byte("p"), CodecZstd, buf.Bytes(), 64<<20)
	if err != nil || !bytes.Equal(out[1:], src) {
		t.Fatalf("err %v, equal %v", err, bytes.Equal(out[1:], src))
	}
	if _, err := Decompress(nil, CodecZstd, buf.Bytes(), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("window above limit: %v", err)
	}
}

// TestZstdLargeWindowBomb checks the large-window path's bound: output
// stops at the limit even without a content size to reject early.
func TestZstdLargeWindowBomb(t *testing.T) {
	const limit = 16 << 20
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf, zstd.WithWindowSize(16<<20))
	w.Write(make([]byte, 64<<20))
	w.Flush()
	w.Close()
	allocated := uint64(1 << 62)
	for range 2 {
		allocated = min(allocated, allocBytes(func() {
			if _, err := Decompress(nil, CodecZstd, buf.Bytes(), limit); !errors.Is(err, ErrTooLarge) {
				t.Errorf("got %v, want ErrTooLarge", err)
			}
		}))
	}
	t.Logf("%d-byte bomb, %d bytes allocated for a %d limit", buf.Len(), allocated, limit)
	// The window (<= limit), the output (<= limit) and the output's
	// smaller predecessors while it doubled (< limit).
	if allocated > 3*limit+4<<20 {
		t.Errorf("allocated %d bytes for a %d limit", allocated, limit)
	}
}
