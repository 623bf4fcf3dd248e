package broker

// OffsetForLeaderEpoch (key 23), versions 2-4.
//
// For each partition: the largest leader epoch <= the requested one and
// the offset where the next epoch starts (the log end for the current
// epoch), KIP-101/KIP-320. Consumers call it (ReplicaID -1) to validate
// their position after a leader change and never learn of offsets above the
// high watermark; a follower (ReplicaID >= 0) gets the log end.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.OffsetForLeaderEpoch, 2, 4, releasesFrame, (*Broker).handleOffsetForLeaderEpoch)
}

func (b *Broker) handleOffsetForLeaderEpoch(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	resp.SetVersion(r.hdr.Version)
	im := b.image()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := im.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			h := b.lookupPartition(partitionQuery{topic: t, partition: rp.Partition, currentLeaderEpoch: rp.CurrentLeaderEpoch})
			if h.err != nil {
				sp.ErrorCode = h.err.Code
			} else {
				p := h.p
				sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
				if req.ReplicaID < 0 && sp.EndOffset > p.hw.Load() && sp.LeaderEpoch == p.leaderEpoch.Load() {
					// Consumers must not learn of offsets above the high watermark.
					sp.EndOffset = p.hw.Load()
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}
