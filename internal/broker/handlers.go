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
// (Apache Kafka 4.4's ranges, where samsa has the feature), the function
// that serves it, and whether the request frame may be recycled once the
// function returns.
type handler struct {
	key      kmsg.Key
	min, max int16
	frame    frameUse
	scope    scope
	fn       func(*Broker, *request, kmsg.Request)
}

// scope says which listeners serve an API: broker listeners (the client
// APIs), controller listeners (the KRaft RPCs), or both (controller-bound
// admin APIs: a broker forwards them, a controller decides them).
type scope uint8

const (
	onBroker scope = 1 << iota
	onController
	onBoth = onBroker | onController
)

// frameUse says what a handler does with its request frame, the bytes the
// connection reader read the request into (see framePool in conn.go).
type frameUse bool

const (
	// keepsFrame: the handler may keep references into the frame after
	// it returns (group APIs keep member metadata bytes, for example), so
	// every request gets a fresh buffer.
	keepsFrame frameUse = false
	// releasesFrame: nothing refers to the frame once the handler returns
	// (kmsg copies strings; a produce payload is written to the log before
	// the handler returns), so the reader recycles it for the next request.
	releasesFrame frameUse = true
)

// handlers is the API table. ApiVersions is derived from it, never hand-kept.
var handlers = map[kmsg.Key]*handler{}

// register adds a client API (broker listeners); each API file calls it
// (or registerOn) from init.
func register(key kmsg.Key, min, max int16, frame frameUse, fn func(*Broker, *request, kmsg.Request)) {
	registerOn(onBroker, key, min, max, frame, fn)
}

// registerOn adds an API served on the listeners of scope sc.
func registerOn(sc scope, key kmsg.Key, min, max int16, frame frameUse, fn func(*Broker, *request, kmsg.Request)) {
	if _, dup := handlers[key]; dup {
		panic(fmt.Sprintf("broker: API key %d (%s) registered twice", key, key.Name()))
	}
	if req := key.Request(); req == nil || req.MaxVersion() < max {
		panic(fmt.Sprintf("broker: kmsg cannot encode API key %d (%s) v%d", key, key.Name(), max))
	}
	handlers[key] = &handler{key: key, min: min, max: max, frame: frame, scope: sc, fn: fn}
}

// handlerFor returns the handler for key on a listener (nil if none).
func (b *Broker) handlerFor(l *boundListener, key kmsg.Key) *handler {
	h := handlers[key]
	if h == nil {
		return nil
	}
	if key == kmsg.ApiVersions {
		return h
	}
	want := onBroker
	if l.controller {
		want = onController
	}
	if h.scope&want == 0 {
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
		out = append(out, kmsg.ApiVersionsResponseApiKey{ApiKey: h.key.Int16(), MinVersion: h.min, MaxVersion: h.max})
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
