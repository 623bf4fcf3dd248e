package broker

// The partition-placement admin APIs, decided by the active controller
// and forwarded to it from broker listeners like CreateTopics
// (forward.go):
//   - ElectLeaders (key 43, v0-2): PREFERRED or UNCLEAN elections
//     (controller.DecideElectLeaders); null topics: every partition.
//   - AlterPartitionReassignments (key 45, v0-1): move partitions to new
//     replica sets, or cancel a move (null replicas).
//   - ListPartitionReassignments (key 46, v0): the moves in progress.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
)

func init() {
	registerOn(onBoth, kmsg.ElectLeaders, 0, 2, releasesFrame, (*Broker).handleElectLeaders)
	registerOn(onBoth, kmsg.AlterPartitionAssignments, 0, 1, releasesFrame, (*Broker).handleAlterPartitionAssignments)
	registerOn(onBoth, kmsg.ListPartitionReassignments, 0, 0, releasesFrame, (*Broker).handleListPartitionReassignments)
}

func (b *Broker) handleElectLeaders(r *request, kreq kmsg.Request) {
	b.toController(r, kreq, func(kreq kmsg.Request) kmsg.Response {
		req := kreq.(*kmsg.ElectLeadersRequest)
		resp := kmsg.NewPtrElectLeadersResponse()
		resp.SetVersion(req.GetVersion())
		var topics []controller.ElectTopic
		if req.Topics != nil {
			topics = []controller.ElectTopic{}
			for _, t := range req.Topics {
				topics = append(topics, controller.ElectTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
		}
		typ := req.ElectionType
		if req.GetVersion() == 0 {
			typ = controller.ElectionPreferred
		}
		res, err := b.ctl.ElectLeaders(typ, topics)
		if err != nil {
			code := controller.CodeOf(err)
			if req.GetVersion() >= 1 {
				resp.ErrorCode = code
				return resp
			}
			// v0 has no top-level error: every named partition carries it.
			for _, t := range topics {
				for _, p := range t.Partitions {
					res = append(res, controller.ElectResult{Topic: t.Topic, Partition: p, Err: &controller.Error{Code: kerr.ErrorForCode(code).(*kerr.Error), Message: *controller.MessageOf(err)}})
				}
			}
		}
		idx := map[string]int{}
		for _, pr := range res {
			i, ok := idx[pr.Topic]
			if !ok {
				i = len(resp.Topics)
				idx[pr.Topic] = i
				rt := kmsg.NewElectLeadersResponseTopic()
				rt.Topic = pr.Topic
				resp.Topics = append(resp.Topics, rt)
			}
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = pr.Partition
			if pr.Err != nil {
				rp.ErrorCode, rp.ErrorMessage = pr.Err.Code.Code, &pr.Err.Message
			}
			resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
		}
		return resp
	})
}

func (b *Broker) handleAlterPartitionAssignments(r *request, kreq kmsg.Request) {
	b.toController(r, kreq, func(kreq kmsg.Request) kmsg.Response {
		req := kreq.(*kmsg.AlterPartitionAssignmentsRequest)
		resp := kmsg.NewPtrAlterPartitionAssignmentsResponse()
		resp.SetVersion(req.GetVersion())
		allowRF := req.AllowReplicationFactorChange || req.GetVersion() == 0
		resp.AllowReplicationFactorChange = allowRF
		var moves []controller.Reassignment
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				moves = append(moves, controller.Reassignment{Topic: t.Topic, Partition: p.Partition, Replicas: p.Replicas})
			}
		}
		errs, err := b.ctl.AlterPartitionReassignments(moves, allowRF)
		if err != nil {
			resp.ErrorCode, resp.ErrorMessage = controller.CodeOf(err), controller.MessageOf(err)
			return resp
		}
		i := 0
		for _, t := range req.Topics {
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				rp.Partition = p.Partition
				if e := errs[i]; e != nil {
					rp.ErrorCode, rp.ErrorMessage = e.Code.Code, &e.Message
				}
				i++
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	})
}

func (b *Broker) handleListPartitionReassignments(r *request, kreq kmsg.Request) {
	b.toController(r, kreq, func(kreq kmsg.Request) kmsg.Response {
		req := kreq.(*kmsg.ListPartitionReassignmentsRequest)
		resp := kmsg.NewPtrListPartitionReassignmentsResponse()
		resp.SetVersion(req.GetVersion())
		var topics []controller.ElectTopic
		if req.Topics != nil {
			topics = []controller.ElectTopic{}
			for _, t := range req.Topics {
				topics = append(topics, controller.ElectTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
		}
		idx := map[string]int{}
		for _, st := range controller.ListPartitionReassignments(b.ctl.Image(), topics) {
			i, ok := idx[st.Topic]
			if !ok {
				i = len(resp.Topics)
				idx[st.Topic] = i
				rt := kmsg.NewListPartitionReassignmentsResponseTopic()
				rt.Topic = st.Topic
				resp.Topics = append(resp.Topics, rt)
			}
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition, rp.Replicas = st.Partition, st.Replicas
			rp.AddingReplicas, rp.RemovingReplicas = nonNil(st.Adding), nonNil(st.Removing)
			resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
		}
		return resp
	})
}

func nonNil(v []int32) []int32 {
	if v == nil {
		return []int32{}
	}
	return v
}
