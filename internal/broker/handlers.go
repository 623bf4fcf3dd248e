package broker

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/wire"
)

// request is what a handler gets: the connection it came on, the header,
// and the pending response to finish (now, or later for parked requests).
type request struct {
	conn *conn
	hdr  wire.RequestHeader
	resp *response
}

// respond finishes the request with resp (its version is set to the
// request's).
func (r *request) respond(resp kmsg.Response) {
	resp.SetVersion(r.hdr.Version)
	r.resp.finish(resp)
}

// respondBufs is respond for a response whose bytes live in pooled
// buffers: the writer returns them to their pools once it has encoded it.
func (r *request) respondBufs(resp kmsg.Response, bufs [][]byte) {
	r.resp.bufs = bufs
	r.respond(resp)
}

// noResponse finishes the request without writing anything (acks=0).
func (r *request) noResponse() {
	r.resp.noResponse = true
	r.resp.finish(nil)
}

// listenerName is the listener the request arrived on: responses carry
// the endpoints advertised under that same name (as Kafka's KRaftMetadataCache).
func (r *request) listenerName() string { return r.conn.listener.Name }

// handler is one Kafka API: the version range samsa serves and advertises
// (Apache Kafka 4.4's ranges, where samsa has the feature) and the function that serves it.
type handler struct {
	key      int16
	min, max int16
	fn       func(*Broker, *request, kmsg.Request)
}

// handlers is the API table. ApiVersions is derived from it, never hand-kept.
var handlers = map[int16]*handler{}

// register adds an API; each API file calls it from init.
func register(key, min, max int16, fn func(*Broker, *request, kmsg.Request)) {
	if _, dup := handlers[key]; dup {
		panic(fmt.Sprintf("broker: API key %d registered twice", key))
	}
	if req := kmsg.RequestForKey(key); req == nil || req.MaxVersion() < max {
		panic(fmt.Sprintf("broker: kmsg cannot encode API key %d v%d", key, max))
	}
	handlers[key] = &handler{key: key, min: min, max: max, fn: fn}
}

// handlerFor returns the handler for key on a listener (nil if none).
func (b *Broker) handlerFor(l *boundListener, key int16) *handler {
	h := handlers[key]
	if h == nil {
		return nil
	}
	if l.controller && key != apiVersionsKey {
		// Controller listeners serve the KRaft RPCs only; those arrive
		// with cluster mode.
		return nil
	}
	return h
}

// advertised returns the API ranges for a listener, sorted by key.
func (b *Broker) advertised(l *boundListener) []kmsg.ApiVersionsResponseApiKey {
	var out []kmsg.ApiVersionsResponseApiKey
	for _, h := range handlers {
		if b.handlerFor(l, h.key) == nil {
			continue
		}
		out = append(out, kmsg.ApiVersionsResponseApiKey{ApiKey: h.key, MinVersion: h.min, MaxVersion: h.max})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ApiKey < out[j].ApiKey })
	return out
}

type protocolError struct {
	hdr wire.RequestHeader
	msg string
}

func (e *protocolError) Error() string {
	return fmt.Sprintf("request key %d (%s) v%d correlation %d: %s",
		e.hdr.Key, kmsg.NameForKey(e.hdr.Key), e.hdr.Version, e.hdr.CorrelationID, e.msg)
}

func errUnsupported(hdr wire.RequestHeader) error {
	return &protocolError{hdr: hdr, msg: "unsupported API key or version"}
}

func errMalformed(hdr wire.RequestHeader, err error) error {
	return &protocolError{hdr: hdr, msg: "malformed body: " + err.Error()}
}
