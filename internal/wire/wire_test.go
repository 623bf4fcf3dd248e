package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func frame(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }

func TestReadFrameBounds(t *testing.T) {
	if _, err := ReadFrame(bytes.NewReader(binary.BigEndian.AppendUint32(nil, 1<<30)), nil, 1<<20); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(binary.BigEndian.AppendUint32(nil, 0xffffffff)), nil, 1<<20); !errors.Is(err, ErrFrameNegative) {
		t.Fatalf("negative: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(append(binary.BigEndian.AppendUint32(nil, 100), 1, 2, 3)), nil, 1<<20); err == nil {
		t.Fatal("truncated frame accepted")
	}
	got, err := ReadFrame(bytes.NewReader(frame([]byte("0123456789ab"))), nil, 1<<20)
	if err != nil || string(got) != "0123456789ab" {
		t.Fatalf("good frame: %q %v", got, err)
	}
}

func TestParseRequestRoundTrip(t *testing.T) {
	for _, v := range []int16{0, 4, 9, 12} {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(v)
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("topic-a")
		req.Topics = append(req.Topics, rt)
		enc := kmsg.NewRequestFormatter(kmsg.FormatterClientID("cid")).AppendRequest(nil, req, 42)
		h, parsed, body, err := ParseRequest(enc[4:])
		if err != nil || parsed == nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if h.Key != 3 || h.Version != v || h.CorrelationID != 42 || h.ClientID == nil || *h.ClientID != "cid" {
			t.Fatalf("v%d header %+v", v, h)
		}
		if err := parsed.ReadFrom(body); err != nil {
			t.Fatalf("v%d body: %v", v, err)
		}
		if got := parsed.(*kmsg.MetadataRequest).Topics[0].Topic; got == nil || *got != "topic-a" {
			t.Fatalf("v%d topic %v", v, got)
		}
		if h.Flexible != (v >= 9) {
			t.Fatalf("v%d flexible=%v", v, h.Flexible)
		}
	}
}

func TestParseRequestUnknownKeyAndVersion(t *testing.T) {
	b := []byte{0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff}
	h, req, _, err := ParseRequest(b)
	if err != nil || req != nil || h.Key != 9999 {
		t.Fatalf("unknown key: %+v %v %v", h, req, err)
	}
	b = []byte{0, 3, 0x7f, 0, 0, 0, 0, 1, 0xff, 0xff}
	if _, req, _, err = ParseRequest(b); err != nil || req != nil {
		t.Fatalf("unknown version: %v %v", req, err)
	}
	if _, _, _, err = ParseRequest([]byte{0, 3, 0, 1}); !errors.Is(err, ErrHeader) {
		t.Fatalf("short header: %v", err)
	}
	if _, _, _, err = ParseRequest([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff}); !errors.Is(err, ErrHeader) {
		t.Fatalf("client id past the end: %v", err)
	}
}

func TestApiVersionsResponseHeaderIsV0(t *testing.T) {
	if ResponseHeaderFlexible(18, true) {
		t.Fatal("ApiVersions response header must be v0")
	}
	if !ResponseHeaderFlexible(3, true) || ResponseHeaderFlexible(3, false) {
		t.Fatal("flexible header rule")
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	out := AppendResponse(nil, 9, false, resp)
	if int(binary.BigEndian.Uint32(out)) != len(out)-4 || binary.BigEndian.Uint32(out[4:]) != 9 {
		t.Fatalf("frame %x", out)
	}
}

// FuzzParseRequest feeds arbitrary frames to the header parser and, when a
// kmsg request comes back, to its body decoder. Nothing may panic.
func FuzzParseRequest(f *testing.F) {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:])
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, meta, 1)[4:])
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, req, body, err := ParseRequest(b)
		if err == nil && req != nil {
			_ = req.ReadFrom(body)
		}
	})
}

// FuzzReadFrame checks the size prefix handling on arbitrary streams.
func FuzzReadFrame(f *testing.F) {
	f.Add(frame([]byte("0123456789")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ReadFrame(bytes.NewReader(b), nil, 1<<16)
		if err == nil && len(got) > 1<<16 {
			t.Fatalf("frame of %d bytes past the bound", len(got))
		}
	})
}
