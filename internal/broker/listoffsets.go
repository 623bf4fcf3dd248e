package broker

// ListOffsets (key 2), versions 1-11.
//
// Timestamps: -1 latest (the high watermark; the last stable offset is the
// same until transactions exist), -2 earliest (log start), -3 max
// timestamp (v7+, KIP-734), -4 earliest local (v8+, KIP-405; no tiered
// storage, so the log start), -5 latest tiered (v9+, KIP-1005) and -6
// earliest pending upload (v11+, KIP-1023): nothing is tiered, so -1, as
// Kafka 4.4 answers without remote storage. A timestamp >= 0 finds the
// first offset whose timestamp is at least it, or -1. A special timestamp
// sent below its version, or any other negative one, is
// UNSUPPORTED_VERSION, as Kafka 4.1 and 4.4 answer.
//
// KIP-207: a leader whose high watermark is still below the offset its
// leader epoch began at (elected, its followers not yet caught up) does
// not know the committed end: a consumer's latest is OFFSET_NOT_AVAILABLE
// (retriable) rather than an end offset older than one already seen, and
// so is a timestamp or max-timestamp lookup with no answer below the high
// watermark. Earliest, and a follower's latest (the log end), are
// answered as ever.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListOffsets, 1, 11, releasesFrame, (*Broker).handleListOffsets) }

func (b *Broker) handleListOffsets(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := kmsg.NewPtrListOffsetsResponse()
	resp.SetVersion(r.hdr.Version)
	im := b.image()
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := im.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			h := b.lookupPartition(partitionQuery{topic: t, partition: rp.Partition, currentLeaderEpoch: rp.CurrentLeaderEpoch})
			if h.err != nil {
				sp.ErrorCode = h.err.Code
			} else {
				b.listOffset(h.p, r.hdr.Version, rp.Timestamp, req.ReplicaID >= 0, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}

// timestampSince is the first ListOffsets version that knows each special
// timestamp.
var timestampSince = map[int64]int16{-1: 0, -2: 0, -3: 7, -4: 8, -5: 9, -6: 11}

// fromReplica: a follower asks (its latest offset is the log end, Kafka's
// rule for replica ids >= 0; consumers get the high watermark).
func (b *Broker) listOffset(p *partition, version int16, ts int64, fromReplica bool, sp *kmsg.ListOffsetsResponseTopicPartition) {
	if since, ok := timestampSince[ts]; ts < 0 && (!ok || version < since) {
		sp.ErrorCode = kerr.UnsupportedVersion.Code
		return
	}
	epoch := p.leaderEpoch.Load()
	lagging := !fromReplica && p.hwBelowEpochStart()
	switch ts {
	case -1:
		if lagging {
			sp.ErrorCode = kerr.OffsetNotAvailable.Code
			return
		}
		sp.Offset, sp.LeaderEpoch = p.hw.Load(), epoch
		if fromReplica {
			sp.Offset = p.log.LogEndOffset()
		}
	case -2, -4:
		sp.Offset, sp.LeaderEpoch = p.log.LogStartOffset(), epoch
	case -3:
		off, mts := p.log.MaxTimestamp()
		if off >= 0 && off < p.hw.Load() {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, mts, epoch
		} else if lagging {
			sp.ErrorCode = kerr.OffsetNotAvailable.Code
		}
	case -5, -6:
	default:
		off, fts, ok := p.log.OffsetForTimestamp(ts)
		if ok && off < p.hw.Load() {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, fts, epoch
		} else if lagging {
			sp.ErrorCode = kerr.OffsetNotAvailable.Code
		}
	}
}

// hwBelowEpochStart reports a leader whose high watermark has not yet
// reached the log end it started its leader epoch with (KIP-207).
func (p *partition) hwBelowEpochStart() bool {
	if !p.leading.Load() {
		return false
	}
	p.repMu.Lock()
	defer p.repMu.Unlock()
	return p.rl != nil && p.hw.Load() < p.rl.EpochStartOffset()
}
