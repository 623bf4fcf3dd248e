package broker

// KIP-392, fetch from the closest replica. Kafka's rules, as its
// ReplicaManager and RackAwareReplicaSelector apply them:
//
//   - A consumer's Fetch v11+ carries client metadata (its client.rack as
//     RackID). With it, any replica serves the consumer: a follower reads its
//     own log below its own high watermark (learned from its leader's fetch
//     answers), with the same KIP-320 epoch checks as the leader
//     (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH) and the same
//     OFFSET_OUT_OF_RANGE rule (below its log start or above its log end; an
//     offset between its high watermark and its log end answers empty, as it
//     would on the leader). Fetch v4-v10 and ListOffsets stay leader-only.
//   - With replica.selector.class = RackAwareReplicaSelector, the leader
//     answers a consumer whose rack has no leader, but has an in-sync replica
//     holding the fetch offset (log start ≤ offset ≤ its log end) on a live
//     broker with the request's listener, with PreferredReadReplica = the most
//     caught-up such replica (largest log end, then most recently caught up,
//     then the largest id) and no records, at once. Otherwise (no selector, no
//     client rack, the leader on the client's rack, no such replica)
//     PreferredReadReplica is -1 and the leader reads.
//   - Metadata is unchanged: clients find followers through the replica lists
//     they already have.

import (
	"slices"
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
)

// preferredReadReplica is the replica a consumer on rack should read p
// (this node leading) from at fetchOffset, or -1 for the leader itself.
func (b *Broker) preferredReadReplica(im *metadata.Image, p *partition, rack string, fetchOffset int64, listener string, now time.Time) int32 {
	if !b.opts.RackAwareReplicaSelector || rack == "" {
		return -1
	}
	if self := im.Broker(b.opts.NodeID); self != nil && self.Rack != nil && *self.Rack == rack {
		return -1 // the leader is on the client's rack
	}
	type candidate struct {
		id         int32
		leo        int64
		sinceCatch time.Duration
	}
	var best *candidate
	p.repMu.Lock()
	l := p.rl
	if l == nil {
		p.repMu.Unlock()
		return -1
	}
	isr := l.ISR()
	for _, id := range p.replicas {
		if id == b.opts.NodeID || !slices.Contains(isr, id) {
			continue
		}
		f, ok := l.Follower(id)
		start, fetched := p.fetchStarts[id]
		if !ok || !fetched || f.LEO < fetchOffset || start > fetchOffset {
			continue // it does not hold the offset (or never fetched in this epoch)
		}
		br := im.Broker(id)
		if br == nil || br.Fenced || br.Rack == nil || *br.Rack != rack {
			continue
		}
		if _, ok := br.Endpoint(listener); !ok {
			continue
		}
		c := candidate{id: id, leo: f.LEO, sinceCatch: now.Sub(f.LastCaughtUp)}
		if best == nil || c.leo > best.leo || (c.leo == best.leo && (c.sinceCatch < best.sinceCatch ||
			(c.sinceCatch == best.sinceCatch && c.id > best.id))) {
			best = &c
		}
	}
	p.repMu.Unlock()
	if best == nil {
		return -1
	}
	return best.id
}
