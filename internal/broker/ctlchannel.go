package broker

// The channel from a node to the active controller: Kafka's
// NodeToControllerChannelManager. Brokers send BrokerRegistration,
// BrokerHeartbeat and AllocateProducerIds over it, and forward the admin
// requests clients send them (CreateTopics, DeleteTopics, ...). Requests
// go to the controller listener of the leader the metadata log names (the
// local raft node on a controller, the observer's last answer on a broker),
// and to the other voters in turn while no leader is known or the named one
// cannot be reached.
//
// One channel holds one connection and one request in flight (a mutex), so
// callers that must not wait behind each other (heartbeats and forwarded
// admin requests) use channels of their own.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/wire"
)

// errNoController: no voter could be reached before the deadline.
var errNoController = errors.New("broker: no controller reachable")

type ctlChannel struct {
	b    *Broker
	name string // client id on the wire
	// target names the node to dial and its address ("" when unknown);
	// nil: the active controller (connect's rule above).
	target func() (int32, string)

	mu   sync.Mutex // one request at a time; guards the following
	nc   net.Conn
	br   *bufio.Reader
	peer int32 // the node nc is connected to
	corr int32
	next int // round-robin position among voters when no leader is known
	buf  []byte
}

func newCtlChannel(b *Broker, name string) *ctlChannel {
	return &ctlChannel{b: b, name: name, peer: -1}
}

// newPeerChannel is a channel to whichever node target names (a partition
// leader, for a follower's fetcher).
func newPeerChannel(b *Broker, name string, target func() (int32, string)) *ctlChannel {
	return &ctlChannel{b: b, name: name, peer: -1, target: target}
}

// call sends req to the active controller and returns its response. It
// retries other voters on connection failures until ctx ends. A response
// is returned as is, whatever its error codes (NOT_CONTROLLER included: the
// caller decides).
func (ch *ctlChannel) call(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	backoff := 10 * time.Millisecond
	var last error
	for {
		if ch.nc == nil {
			if err := ch.connect(ctx); err != nil {
				last = err
			}
		}
		if ch.nc != nil {
			resp, err := ch.roundTrip(ctx, req)
			if err == nil {
				return resp, nil
			}
			last = err
			ch.drop()
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return nil, fmt.Errorf("%w: %w", errNoController, last)
		case <-ch.b.stop:
			return nil, fmt.Errorf("%w: broker closing", errNoController)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// reset drops the connection so that the next call looks for the leader
// again (after a NOT_CONTROLLER answer).
func (ch *ctlChannel) reset() {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.drop()
}

func (ch *ctlChannel) drop() {
	if ch.nc != nil {
		ch.nc.Close()
		ch.nc, ch.br, ch.peer = nil, nil, -1
	}
}

func (ch *ctlChannel) close() { ch.reset() }

// connect dials the target, or else the leader the log names, or the next
// voter.
func (ch *ctlChannel) connect(ctx context.Context) error {
	if ch.target != nil {
		id, addr := ch.target()
		if addr == "" {
			return fmt.Errorf("no address for node %d", id)
		}
		return ch.dial(ctx, id, addr)
	}
	id := ch.b.quorumLeader()
	voters := ch.b.voters()
	addr, ok := voters[id]
	if !ok {
		ids := make([]int32, 0, len(voters))
		for v := range voters {
			ids = append(ids, v)
		}
		if len(ids) == 0 {
			return errors.New("no controller quorum voters")
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		id = ids[ch.next%len(ids)]
		ch.next++
		addr = voters[id]
	}
	return ch.dial(ctx, id, addr)
}

func (ch *ctlChannel) dial(ctx context.Context, id int32, addr string) error {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	nc, err := ch.b.opts.Dial(dctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("node %d at %s: %w", id, addr, err)
	}
	ch.nc, ch.br, ch.peer = nc, bufio.NewReader(nc), id
	return nil
}

// roundTrip writes one request and reads its response.
func (ch *ctlChannel) roundTrip(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	ch.corr++
	corr := ch.corr
	ch.buf = appendRequestFrame(ch.buf[:0], req, corr, ch.name)
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc := ch.nc
	nc.SetDeadline(deadline)
	// A cancelled ctx (a fetcher or the broker stopping) ends the wait at
	// once: a peer that stopped answering does not hold the caller until
	// the deadline. (The next roundTrip sets its own deadline, once this
	// one's func, if it ran, is done.)
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()); close(aborted) })
	defer func() {
		if !stop() {
			<-aborted
		}
	}()
	if _, err := nc.Write(ch.buf); err != nil {
		return nil, err
	}
	frame, err := wire.ReadFrame(ch.br, nil, 64<<20)
	if err != nil {
		return nil, err
	}
	return parseResponseFrame(frame, req, corr)
}

// appendRequestFrame encodes a size-prefixed request with header v1 (v2 at
// flexible versions).
func appendRequestFrame(dst []byte, req kmsg.Request, corr int32, clientID string) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt16(dst, req.Key())
	dst = kbin.AppendInt16(dst, req.GetVersion())
	dst = kbin.AppendInt32(dst, corr)
	dst = kbin.AppendNullableString(dst, &clientID)
	if req.IsFlexible() {
		dst = append(dst, 0) // no tagged fields
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// parseResponseFrame decodes a response frame (size prefix removed) to req.
func parseResponseFrame(frame []byte, req kmsg.Request, corr int32) (kmsg.Response, error) {
	if len(frame) < 4 {
		return nil, errors.New("short response")
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return nil, fmt.Errorf("response correlation %d, want %d", got, corr)
	}
	body := frame[4:]
	if wire.ResponseHeaderFlexible(req.Key(), req.IsFlexible()) {
		r := kbin.Reader{Src: body}
		n := r.Uvarint()
		for i := uint32(0); i < n && r.Ok(); i++ {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
		if !r.Ok() {
			return nil, errors.New("malformed response header")
		}
		body = r.Src
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}
