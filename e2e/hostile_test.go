package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestHostileInput sends malformed and malicious requests over raw sockets
// (oversized lengths, bad varints, decompression bombs, truncated frames) while a healthy client keeps producing and
// consuming. Each bad request gets Kafka's error code or a closed
// connection; the broker never crashes and the healthy client never fails.
func TestHostileInput(t *testing.T) {
	p := startSamsa(t, "")
	adm := kadm.NewClient(newClient(t, p.addr()))
	if _, err := adm.CreateTopic(ctxT(t, 10*time.Second), 1, 1, nil, "hostile"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctxT(t, 10*time.Second), 1, 1, nil, "healthy"); err != nil {
		t.Fatal(err)
	}

	// The healthy client runs through the whole test.
	stop := make(chan struct{})
	var healthyOK, healthyErr atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cl := newClient(t, p.addr(), kgo.DefaultProduceTopic("healthy"))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := cl.ProduceSync(ctxT(t, 10*time.Second), &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
				healthyErr.Add(1)
			} else {
				healthyOK.Add(1)
			}
		}
	}()

	closes := func(name string, frame []byte) {
		t.Run(name, func(t *testing.T) {
			c := dial(t, p.addr())
			c.Write(frame)
			expectClosed(t, c)
		})
	}
	closes("giant length", be32(0x7fffffff))
	closes("negative length", be32(0xfffffff0))
	closes("length too small for a header", append(be32(3), 0, 1, 2))
	closes("unknown api key", rawRequest(9999, 0, nil))
	closes("unsupported version", rawRequest(3, 99, nil))
	closes("array length past the end", rawRequest(3, 1, be32(0x7ffffff0)))
	closes("truncated body", rawRequest(19, 4, []byte{0, 0, 0, 5, 0}))
	t.Run("truncated frame then hang up", func(t *testing.T) {
		c := dial(t, p.addr())
		c.Write(append(be32(100), 0, 3, 0, 1))
		c.Close()
	})

	t.Run("apiversions unknown version answers v0 layout", func(t *testing.T) {
		c := dial(t, p.addr())
		c.Write(rawRequest(18, 77, nil))
		body := readResponse(t, c, 7)
		if code := int16(binary.BigEndian.Uint16(body)); code != kerr.UnsupportedVersion.Code {
			t.Fatalf("error code %d, want UNSUPPORTED_VERSION", code)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if err := resp.ReadFrom(body); err != nil || len(resp.ApiKeys) == 0 {
			t.Fatalf("v0 body: %v, %d keys", err, len(resp.ApiKeys))
		}
	})

	good := kmsg.Record{Key: []byte("k"), Value: []byte("v")}
	produceCode := func(t *testing.T, batch []byte) int16 {
		t.Helper()
		c := dial(t, p.addr())
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "hostile"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		req.SetVersion(9)
		c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 5))
		body := readResponse(t, c, 5)[1:] // flexible response header: tagged fields
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(9)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	cases := []struct {
		name  string
		batch func() []byte
		want  *kerr.Error
	}{
		{"good batch", func() []byte { return buildBatch(0, [][]byte{encRecord(good, 0)}, false) }, nil},
		{"crc mismatch", func() []byte {
			b := buildBatch(0, [][]byte{encRecord(good, 0)}, false)
			b[len(b)-1] ^= 0xff
			return b
		}, kerr.CorruptMessage},
		{"record count larger than records", func() []byte {
			b := buildBatch(0, [][]byte{encRecord(good, 0)}, false)
			binary.BigEndian.PutUint32(b[57:], 1000)
			fixCRC(b)
			return b
		}, kerr.InvalidRecord},
		{"client-set control bit", func() []byte {
			b := buildBatch(0x20, [][]byte{encRecord(good, 0)}, false)
			return b
		}, kerr.InvalidRecord},
		{"unknown codec", func() []byte { return buildBatch(0x07, [][]byte{encRecord(good, 0)}, false) }, kerr.UnsupportedCompressionType},
		{"decompression bomb", func() []byte { return bombBatch() }, kerr.MessageTooLarge},
		{"two batches in one partition", func() []byte {
			b := buildBatch(0, [][]byte{encRecord(good, 0)}, false)
			return append(b, b...)
		}, kerr.InvalidRecord},
		{"batch larger than max.message.bytes", func() []byte {
			big := kmsg.Record{Value: make([]byte, 1100000)}
			return buildBatch(0, [][]byte{encRecord(big, 0)}, false)
		}, kerr.MessageTooLarge},
	}
	for _, tc := range cases {
		t.Run("produce/"+tc.name, func(t *testing.T) {
			got := produceCode(t, tc.batch())
			want := int16(0)
			if tc.want != nil {
				want = tc.want.Code
			}
			if got != want {
				t.Fatalf("error code %d (%v), want %d", got, kerr.ErrorForCode(got), want)
			}
		})
	}

	close(stop)
	wg.Wait()
	if healthyErr.Load() != 0 || healthyOK.Load() == 0 {
		t.Fatalf("healthy client: %d ok, %d failed", healthyOK.Load(), healthyErr.Load())
	}
	if !p.alive() || !apiVersionsOK(p.addr()) {
		t.Fatal("broker is not serving after the hostile inputs")
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// rawRequest frames a v1-header request with an arbitrary body.
func rawRequest(key, version int16, body []byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 'x')
	b = append(b, body...)
	return append(be32(uint32(len(b))), b...)
}

func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection stayed open")
	}
}

// readResponse reads one response, checks its correlation id and returns
// the body (after a v0 response header).
func readResponse(t *testing.T, c net.Conn, corr int32) []byte {
	t.Helper()
	br := bufio.NewReader(c)
	var sz [4]byte
	if _, err := io.ReadFull(br, sz[:]); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(br, buf); err != nil {
		t.Fatal(err)
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	return buf[4:]
}

// encRecord encodes one record with kmsg, computing its length prefix.
func encRecord(r kmsg.Record, delta int32) []byte {
	r.OffsetDelta = delta
	r.Length = 0
	r.Length = int32(len(r.AppendTo(nil)) - 1) // a zero length is one varint byte
	return r.AppendTo(nil)
}

// buildBatch writes a v2 batch with the given attributes and encoded
// records (uncompressed unless the attributes say otherwise; the payload
// is used as is).
func buildBatch(attrs int16, records [][]byte, _ bool) []byte {
	var payload []byte
	for _, r := range records {
		payload = append(payload, r...)
	}
	return rawBatch(attrs, int32(len(records)), payload)
}

func rawBatch(attrs int16, count int32, payload []byte) []byte {
	now := time.Now().UnixMilli()
	b := make([]byte, 61, 61+len(payload))
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[8:], uint32(49+len(payload)))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(attrs))
	binary.BigEndian.PutUint32(b[23:], uint32(count-1))
	binary.BigEndian.PutUint64(b[27:], uint64(now))
	binary.BigEndian.PutUint64(b[35:], uint64(now))
	binary.BigEndian.PutUint64(b[43:], 0xffffffffffffffff)
	binary.BigEndian.PutUint16(b[51:], 0xffff)
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)
	binary.BigEndian.PutUint32(b[57:], uint32(count))
	b = append(b, payload...)
	fixCRC(b)
	return b
}

func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
}

// bombBatch is a gzip batch whose one record claims a 512 MiB value made
// of zeros: half a megabyte on the wire, far past any decompression bound.
func bombBatch() []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	rec := kmsg.Record{Value: nil}
	hdr := encRecord(rec, 0)
	zw.Write(hdr[:1]) // partial: the content is garbage past the bound anyway
	zeros := make([]byte, 1<<20)
	for i := 0; i < 512; i++ {
		zw.Write(zeros)
	}
	zw.Close()
	return rawBatch(1, 1, buf.Bytes())
}
