package main

// A minimal Kafka wire client for the probes: one connection, one request
// at a time, versions negotiated with ApiVersions, no retries and no
// metadata of its own. franz-go's kgo client retries, backs off and
// refreshes metadata on its own schedule; a probe that times a failover must
// see each attempt's outcome at once, so the probes speak kmsg directly.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxResponse bounds a response the probes accept (Metadata of a few
// hundred topics is a few tens of KiB).
const maxResponse = 64 << 20

// wireConn is one connection to a broker listener.
type wireConn struct {
	c        net.Conn
	corr     int32
	versions map[int16]int16 // the broker's max version per API key
	fmt      *kmsg.RequestFormatter
	buf      []byte
}

// dialWire connects to addr and negotiates versions (ApiVersions v3; a
// broker that does not support v3 answers with its ranges at v0, and the
// request is retried at v0).
func dialWire(ctx context.Context, addr string) (*wireConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	w := &wireConn{c: c, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("samsa-cluster-bench"))}
	for _, v := range []int16{3, 0} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName = "samsa-cluster-bench"
		req.ClientSoftwareVersion = "1"
		resp, err := w.do(ctx, req)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("ApiVersions: %w", err)
		}
		av := resp.(*kmsg.ApiVersionsResponse)
		if av.ErrorCode == 35 && v > 0 { // UNSUPPORTED_VERSION: retry at v0
			continue
		}
		if av.ErrorCode != 0 {
			c.Close()
			return nil, fmt.Errorf("ApiVersions: error code %d", av.ErrorCode)
		}
		w.versions = map[int16]int16{}
		for _, k := range av.ApiKeys {
			w.versions[k.ApiKey] = k.MaxVersion
		}
		return w, nil
	}
	c.Close()
	return nil, errors.New("ApiVersions: no version accepted")
}

func (w *wireConn) Close() error { return w.c.Close() }

// request sends req at the highest version both sides support and returns
// the response. ctx's deadline bounds the round trip; cancelling ctx closes
// the connection (the caller must not reuse it after an error).
func (w *wireConn) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	max, ok := w.versions[req.Key()]
	if !ok {
		return nil, fmt.Errorf("the broker does not support %s", kmsg.NameForKey(req.Key()))
	}
	v := req.MaxVersion()
	if max < v {
		v = max
	}
	req.SetVersion(v)
	return w.do(ctx, req)
}

func (w *wireConn) do(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	stop := context.AfterFunc(ctx, func() { w.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		w.c.SetDeadline(dl)
	} else {
		w.c.SetDeadline(time.Time{})
	}
	w.corr++
	w.buf = w.fmt.AppendRequest(w.buf[:0], req, w.corr)
	if _, err := w.c.Write(w.buf); err != nil {
		return nil, ctxErr(ctx, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(w.c, size[:]); err != nil {
		return nil, ctxErr(ctx, err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxResponse {
		return nil, fmt.Errorf("response size %d out of range", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(w.c, body); err != nil {
		return nil, ctxErr(ctx, err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := parseResponse(body, w.corr, resp); err != nil {
		return nil, fmt.Errorf("%s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

// ctxErr reports an I/O error as the context's end when that is its cause:
// the connection's deadlines come only from ctx, so a deadline error means
// ctx's deadline passed (its timer may not have fired yet) or it was
// cancelled.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// parseResponse checks a response frame's header (correlation id, and the
// tagged fields of a flexible header: every flexible response but
// ApiVersions, KIP-482) and decodes the body into resp, whose version is
// set.
func parseResponse(frame []byte, corr int32, resp kmsg.Response) error {
	if len(frame) < 4 {
		return errors.New("short header")
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	body := frame[4:]
	if resp.IsFlexible() && resp.Key() != 18 {
		var err error
		if body, err = skipTags(body); err != nil {
			return fmt.Errorf("header tags: %w", err)
		}
	}
	return resp.ReadFrom(body)
}

// skipTags skips a tagged-field section (an unsigned varint count, then
// per field an unsigned varint tag, an unsigned varint size and the bytes).
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, errors.New("bad tag size")
		}
		b = b[k+int(size):]
	}
	return b, nil
}
