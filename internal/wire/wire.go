// Package wire frames Kafka requests and responses on a connection: the
// size prefix, the request header (v1 or v2) and the response header (v0 or
// v1). Bodies are decoded and encoded by franz-go's kmsg.
//
// Every length read from the network is bounded before anything is
// allocated for it: a frame larger than the configured maximum
// (socket.request.max.bytes) or a negative one is an error that closes
// the connection, as Kafka does.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors returned by ReadFrame and ParseRequest. Each closes the connection.
var (
	// ErrFrameTooLarge: the size prefix exceeds the maximum request size.
	ErrFrameTooLarge = errors.New("wire: request larger than socket.request.max.bytes")
	// ErrFrameNegative: the size prefix is negative or too small for a header.
	ErrFrameNegative = errors.New("wire: invalid request size")
	// ErrHeader: the request header could not be parsed.
	ErrHeader = errors.New("wire: malformed request header")
)

// minHeaderSize is api_key + api_version + correlation_id + client_id length.
const minHeaderSize = 2 + 2 + 4 + 2

// ReadFrame reads one size-prefixed frame into buf (grown if needed) and
// returns it without the prefix. max bounds the size before allocation.
func ReadFrame(r io.Reader, buf []byte, max int32) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return buf, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n < minHeaderSize {
		return buf, fmt.Errorf("%w: %d bytes", ErrFrameNegative, n)
	}
	if n > max {
		return buf, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, n, max)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	return buf, nil
}

// RequestHeader is a parsed request header.
type RequestHeader struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
	// Flexible reports whether the header (and body) use KIP-482 flexible encoding.
	Flexible bool
}

// ParseRequest parses the header of frame and returns it with the body
// bytes. When the key is unknown to kmsg, req is nil and the header is
// parsed as v1 (the body cannot be read); the caller answers or closes.
// When the version is above kmsg's maximum, req is nil too.
func ParseRequest(frame []byte) (h RequestHeader, req kmsg.Request, body []byte, err error) {
	if len(frame) < minHeaderSize {
		return h, nil, nil, ErrHeader
	}
	h.Key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.Version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	b := kbin.Reader{Src: frame[8:]}
	h.ClientID = b.NullableString()
	if !b.Ok() {
		return h, nil, nil, ErrHeader
	}
	req = kmsg.RequestForKey(h.Key)
	if req == nil || h.Version < 0 || h.Version > req.MaxVersion() {
		return h, nil, b.Src, nil
	}
	req.SetVersion(h.Version)
	h.Flexible = req.IsFlexible()
	if h.Flexible {
		// Header v2 carries tagged fields after client_id.
		skipTags(&b)
		if !b.Ok() {
			return h, nil, nil, ErrHeader
		}
	}
	return h, req, b.Src, nil
}

// skipTags skips a tagged-field section, bounding every length by the input.
func skipTags(b *kbin.Reader) {
	n := b.Uvarint()
	for i := uint32(0); i < n && b.Ok(); i++ {
		b.Uvarint()              // tag
		b.Span(int(b.Uvarint())) // invalidates the reader when past the end
	}
}

// ResponseHeaderFlexible reports whether the response header for key at a
// flexible version carries tagged fields. ApiVersions is the exception:
// its response header is always v0 (KIP-511), so a client that does not
// know our versions can still read it.
func ResponseHeaderFlexible(key int16, flexible bool) bool {
	return flexible && key != 18
}

// AppendResponse appends a complete size-prefixed response frame to dst.
func AppendResponse(dst []byte, correlationID int32, flexibleHeader bool, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, correlationID)
	if flexibleHeader {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
