package broker

// AlterPartition (key 56, v2-3: Kafka 4.x names topics by id only), a
// controller RPC served on controller listeners like BrokerHeartbeat
// (ctlapis.go): a partition leader proposes a new ISR and the active
// controller decides (controller.DecideAlterPartition). NOT_CONTROLLER
// (top level) unless this node is the active controller; brokers send it
// straight to the controller, as Kafka's do, so it is not forwarded.
// v3 carries each member's broker epoch; before v3 the epochs are unknown
// (-1) and not checked.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
)

func init() {
	registerOn(onController, kmsg.AlterPartition, 2, 3, releasesFrame, (*Broker).handleAlterPartition)
}

func (b *Broker) handleAlterPartition(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.AlterPartitionRequest)
	req.SetVersion(r.hdr.Version)
	r.respond(b.decideAlterPartition(req))
}

func (b *Broker) decideAlterPartition(req *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse {
	resp := kmsg.NewPtrAlterPartitionResponse()
	resp.SetVersion(req.GetVersion())
	if !b.active() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	creq := alterPartitionRequest(req)
	res, err := b.ctl.AlterPartition(creq)
	if err != nil {
		resp.ErrorCode = controller.CodeOf(err)
		return resp
	}
	for _, tr := range res.Topics {
		rt := kmsg.NewAlterPartitionResponseTopic()
		rt.TopidID = tr.TopicID
		for _, pr := range tr.Partitions {
			rp := kmsg.NewAlterPartitionResponseTopicPartition()
			rp.Partition = pr.Partition
			if pr.Err != nil {
				rp.ErrorCode = pr.Err.Code.Code
			} else {
				rp.LeaderID, rp.LeaderEpoch, rp.PartitionEpoch, rp.ISR = pr.Leader, pr.LeaderEpoch, pr.PartitionEpoch, pr.ISR
				if rp.ISR == nil {
					rp.ISR = []int32{}
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// alterPartitionRequest converts the wire request: v3's NewEpochISR, or
// v2's NewISR with unknown broker epochs.
func alterPartitionRequest(req *kmsg.AlterPartitionRequest) controller.AlterPartitionRequest {
	out := controller.AlterPartitionRequest{BrokerID: req.BrokerID, BrokerEpoch: req.BrokerEpoch}
	for _, t := range req.Topics {
		ct := controller.AlterPartitionTopic{TopicID: t.TopicID}
		for _, p := range t.Partitions {
			cp := controller.AlterPartitionData{Partition: p.Partition, LeaderEpoch: p.LeaderEpoch,
				PartitionEpoch: p.PartitionEpoch, LeaderRecoveryState: p.LeaderRecoveryState}
			if req.GetVersion() >= 3 {
				for _, m := range p.NewEpochISR {
					cp.NewISR = append(cp.NewISR, controller.ISRMember{BrokerID: m.BrokerID, BrokerEpoch: m.BrokerEpoch})
				}
			} else {
				for _, id := range p.NewISR {
					cp.NewISR = append(cp.NewISR, controller.ISRMember{BrokerID: id, BrokerEpoch: -1})
				}
			}
			ct.Partitions = append(ct.Partitions, cp)
		}
		out.Topics = append(out.Topics, ct)
	}
	return out
}
