package broker

// DeleteRecords (key 21), versions 0-2.
//
// Moves a partition's log start offset to the given offset (-1: the high
// watermark). An offset above the high watermark gets OFFSET_OUT_OF_RANGE.
// Whole segments below the new start are deleted; the rest stays on disk
// but is never served again. Only the leader answers, and a partition whose
// fsync failed refuses with KAFKA_STORAGE_ERROR (lookupPartition).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteRecords, 0, 2, keepsFrame, (*Broker).handleDeleteRecords) }

func (b *Broker) handleDeleteRecords(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := kmsg.NewPtrDeleteRecordsResponse()
	resp.SetVersion(r.hdr.Version)
	im := b.image()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := im.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			h := b.lookupPartition(partitionQuery{topic: t, partition: rp.Partition, currentLeaderEpoch: -1, write: true})
			if h.err != nil {
				sp.ErrorCode = h.err.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p := h.p
			off := rp.Offset
			hw := p.hw.Load()
			if off == -1 {
				off = hw
			}
			if off < 0 || off > hw {
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			} else if low, err := p.log.DeleteRecordsBefore(off); err != nil {
				b.log.Error("delete records", "topic", p.topic, "partition", p.index, "err", err)
				sp.ErrorCode = kerr.KafkaStorageError.Code
			} else {
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.respond(resp)
}
