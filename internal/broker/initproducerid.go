package broker

// InitProducerId (key 22), versions 0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id at
// epoch 0. Producer ids come from blocks the controller hands out through
// the metadata log, so they are unique across restarts. A producer that
// sends its current id and epoch (v3+, KIP-360) gets the epoch bumped, or
// a new id when the epoch would overflow. Transactions are not supported
// yet: a transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED with
// a message saying so (the API set advertises no transaction APIs).

import (
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.InitProducerID, 0, 5, keepsFrame, (*Broker).handleInitProducerID) }

// producerIDs hands out ids from the current controller-allocated block.
type producerIDs struct {
	mu         sync.Mutex
	next, stop int64 // mu guards next and stop: the block is [next, stop)
}

func (b *Broker) nextProducerID() (int64, error) {
	b.pids.mu.Lock()
	defer b.pids.mu.Unlock()
	if b.pids.next >= b.pids.stop {
		first, n, err := b.allocateProducerIDs()
		if err != nil {
			return -1, err
		}
		b.pids.next, b.pids.stop = first, first+n
	}
	id := b.pids.next
	b.pids.next++
	return id, nil
}

func (b *Broker) handleInitProducerID(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.SetVersion(r.hdr.Version)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		r.respond(resp)
		return
	}
	if req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
		// KIP-360: bump the epoch of an existing idempotent producer.
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		r.respond(resp)
		return
	}
	id, err := b.nextProducerID()
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		r.respond(resp)
		return
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	r.respond(resp)
}
