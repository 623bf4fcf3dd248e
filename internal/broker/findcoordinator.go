package broker

// FindCoordinator (key 10), versions 0-6.
//
// Group keys (type 0) hash to a __consumer_offsets partition (created on
// first use); the coordinator is that partition's leader, answered with
// the endpoint advertised on the listener the request came on. v4+ batches
// keys (Coordinators). Transaction keys (type 1) get
// COORDINATOR_NOT_AVAILABLE until transactions exist; share keys (type 2,
// KIP-932) INVALID_REQUEST.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
)

func init() { register(kmsg.FindCoordinator, 0, 6, keepsFrame, (*Broker).handleFindCoordinator) }

func (b *Broker) handleFindCoordinator(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := kmsg.NewPtrFindCoordinatorResponse()
	resp.SetVersion(r.hdr.Version)
	if r.hdr.Version < 4 {
		c := b.findCoordinator(req.CoordinatorType, req.CoordinatorKey, r.listenerName())
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		r.respond(resp)
		return
	}
	for _, key := range req.CoordinatorKeys {
		resp.Coordinators = append(resp.Coordinators, b.findCoordinator(req.CoordinatorType, key, r.listenerName()))
	}
	r.respond(resp)
}

func (b *Broker) findCoordinator(keyType int8, key, listener string) kmsg.FindCoordinatorResponseCoordinator {
	out := kmsg.NewFindCoordinatorResponseCoordinator()
	out.Key, out.NodeID, out.Port = key, -1, -1
	fail := func(e *kerr.Error, msg string) kmsg.FindCoordinatorResponseCoordinator {
		out.ErrorCode = e.Code
		if msg != "" {
			out.ErrorMessage = &msg
		}
		return out
	}
	switch keyType {
	case 0:
	case 1:
		return fail(kerr.CoordinatorNotAvailable, "transactions are not supported yet")
	default:
		return fail(kerr.InvalidRequest, "unknown coordinator type")
	}
	t, err := b.coord.ensureTopic()
	if err != nil || t == nil || len(t.Partitions) == 0 {
		return fail(kerr.CoordinatorNotAvailable, "the offsets topic cannot be created")
	}
	pm := t.Partitions[group.PartitionFor(key, int32(len(t.Partitions)))]
	br := b.image().Broker(pm.Leader)
	if br == nil || br.Fenced {
		return fail(kerr.CoordinatorNotAvailable, "")
	}
	ep, ok := br.Endpoint(listener)
	if !ok {
		return fail(kerr.CoordinatorNotAvailable, "the coordinator has no endpoint on this listener")
	}
	out.NodeID, out.Host, out.Port = br.ID, ep.Host, ep.Port
	return out
}
