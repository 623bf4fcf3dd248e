package broker

// Controller-bound requests. Admin requests that change metadata
// (CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs,
// IncrementalAlterConfigs, UnregisterBroker) and DescribeQuorum are decided
// by the active controller. Kafka's rule, kept here:
//   - on a controller listener, the node decides if it is the active
//     controller and answers NOT_CONTROLLER otherwise;
//   - on a broker listener, a node that is the active controller decides
//     at once; any other forwards the request, at the client's version, to
//     the active controller over its channel and relays the answer. An
//     answer that is NOT_CONTROLLER throughout (leadership moved) is sent
//     again to the new leader, until the request's timeout.
// Forwarding runs on its own goroutine; the connection's writer keeps the
// responses in request order.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
)

// toController routes a controller-bound request (see above).
func (b *Broker) toController(r *request, kreq kmsg.Request, decide func(kmsg.Request) kmsg.Response) {
	b.toControllerThen(r, kreq, decide, nil)
}

// toControllerThen is toController with then (when not nil) applied to the
// answer before it is sent: a handler that answered part of a request
// itself merges its answers back in.
func (b *Broker) toControllerThen(r *request, kreq kmsg.Request, decide func(kmsg.Request) kmsg.Response, then func(kmsg.Response) kmsg.Response) {
	kreq.SetVersion(r.hdr.Version)
	respond := func(resp kmsg.Response) {
		if then != nil {
			resp = then(resp)
		}
		r.respond(resp)
	}
	if b.active() {
		respond(decide(kreq))
		return
	}
	if r.conn.listener.controller || b.fwd == nil {
		respond(errorResponse(kreq, kerr.NotController, "this node is not the active controller"))
		return
	}
	if !b.async.Go(func() { respond(b.forward(kreq)) }) {
		respond(errorResponse(kreq, kerr.NotController, "the broker is shutting down"))
	}
}

// forward sends kreq to the active controller until it gets an answer
// that is not NOT_CONTROLLER throughout, or the timeout passes.
func (b *Broker) forward(kreq kmsg.Request) kmsg.Response {
	timeout := requestTimeout(kreq)
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	for {
		resp, err := b.fwd.call(ctx, kreq)
		if err != nil {
			return errorResponse(kreq, kerr.RequestTimedOut, "no active controller answered within "+timeout.String()+": "+err.Error())
		}
		if !notControllerThroughout(resp) {
			return resp
		}
		b.fwd.reset()
		select {
		case <-ctx.Done():
			return resp
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// requestTimeout is the timeout a request carries (30 s if none).
func requestTimeout(kreq kmsg.Request) time.Duration {
	ms := int32(0)
	switch req := kreq.(type) {
	case *kmsg.CreateTopicsRequest:
		ms = req.TimeoutMillis
	case *kmsg.DeleteTopicsRequest:
		ms = req.TimeoutMillis
	case *kmsg.CreatePartitionsRequest:
		ms = req.TimeoutMillis
	case *kmsg.ElectLeadersRequest:
		ms = req.TimeoutMillis
	case *kmsg.AlterPartitionAssignmentsRequest:
		ms = req.TimeoutMillis
	case *kmsg.ListPartitionReassignmentsRequest:
		ms = req.TimeoutMillis
	}
	if ms <= 0 {
		return 30 * time.Second
	}
	return time.Duration(ms) * time.Millisecond
}

// notControllerThroughout reports whether every result of resp is
// NOT_CONTROLLER (the request was not acted on), or the quorum was asked
// of a voter that does not lead.
func notControllerThroughout(resp kmsg.Response) bool {
	nc := kerr.NotController.Code
	all := func(n int, code func(int) int16) bool {
		if n == 0 {
			return false
		}
		for i := 0; i < n; i++ {
			if code(i) != nc {
				return false
			}
		}
		return true
	}
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		return all(len(r.Topics), func(i int) int16 { return r.Topics[i].ErrorCode })
	case *kmsg.DeleteTopicsResponse:
		return all(len(r.Topics), func(i int) int16 { return r.Topics[i].ErrorCode })
	case *kmsg.CreatePartitionsResponse:
		return all(len(r.Topics), func(i int) int16 { return r.Topics[i].ErrorCode })
	case *kmsg.AlterConfigsResponse:
		return all(len(r.Resources), func(i int) int16 { return r.Resources[i].ErrorCode })
	case *kmsg.IncrementalAlterConfigsResponse:
		return all(len(r.Resources), func(i int) int16 { return r.Resources[i].ErrorCode })
	case *kmsg.UnregisterBrokerResponse:
		return r.ErrorCode == nc
	case *kmsg.DescribeQuorumResponse:
		// A voter that does not lead answers NOT_LEADER_OR_FOLLOWER for
		// the metadata partition, as Kafka's do (describequorum.go).
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if t.Topic == metadataTopic && p.Partition == 0 && p.ErrorCode == kerr.NotLeaderForPartition.Code {
					return true
				}
			}
		}
		return r.ErrorCode == nc
	case *kmsg.ElectLeadersResponse:
		return r.ErrorCode == nc
	case *kmsg.AlterPartitionAssignmentsResponse:
		return r.ErrorCode == nc
	case *kmsg.ListPartitionReassignmentsResponse:
		return r.ErrorCode == nc
	}
	return false
}

// errorResponse answers kreq with code for every entry it names.
func errorResponse(kreq kmsg.Request, code *kerr.Error, msg string) kmsg.Response {
	m := &msg
	var resp kmsg.Response
	switch req := kreq.(type) {
	case *kmsg.CreateTopicsRequest:
		r := kmsg.NewPtrCreateTopicsResponse()
		for _, t := range req.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.ErrorCode, st.ErrorMessage = t.Topic, code.Code, m
			st.NumPartitions, st.ReplicationFactor = -1, -1
			r.Topics = append(r.Topics, st)
		}
		resp = r
	case *kmsg.DeleteTopicsRequest:
		r := kmsg.NewPtrDeleteTopicsResponse()
		for _, t := range req.Topics {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic, st.TopicID, st.ErrorCode, st.ErrorMessage = t.Topic, t.TopicID, code.Code, m
			r.Topics = append(r.Topics, st)
		}
		for _, name := range req.TopicNames {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic, st.ErrorCode = kmsg.StringPtr(name), code.Code
			r.Topics = append(r.Topics, st)
		}
		resp = r
	case *kmsg.CreatePartitionsRequest:
		r := kmsg.NewPtrCreatePartitionsResponse()
		for _, t := range req.Topics {
			st := kmsg.NewCreatePartitionsResponseTopic()
			st.Topic, st.ErrorCode, st.ErrorMessage = t.Topic, code.Code, m
			r.Topics = append(r.Topics, st)
		}
		resp = r
	case *kmsg.AlterConfigsRequest:
		r := kmsg.NewPtrAlterConfigsResponse()
		for _, c := range req.Resources {
			sr := kmsg.NewAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode, sr.ErrorMessage = c.ResourceType, c.ResourceName, code.Code, m
			r.Resources = append(r.Resources, sr)
		}
		resp = r
	case *kmsg.IncrementalAlterConfigsRequest:
		r := kmsg.NewPtrIncrementalAlterConfigsResponse()
		for _, c := range req.Resources {
			sr := kmsg.NewIncrementalAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode, sr.ErrorMessage = c.ResourceType, c.ResourceName, code.Code, m
			r.Resources = append(r.Resources, sr)
		}
		resp = r
	case *kmsg.UnregisterBrokerRequest:
		r := kmsg.NewPtrUnregisterBrokerResponse()
		r.ErrorCode, r.ErrorMessage = code.Code, m
		resp = r
	case *kmsg.DescribeQuorumRequest:
		r := kmsg.NewPtrDescribeQuorumResponse()
		r.ErrorCode, r.ErrorMessage = code.Code, m
		resp = r
	case *kmsg.ElectLeadersRequest:
		r := kmsg.NewPtrElectLeadersResponse()
		r.ErrorCode = code.Code
		if req.GetVersion() == 0 {
			// v0 has no top-level error: each named partition carries it.
			for _, t := range req.Topics {
				rt := kmsg.NewElectLeadersResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewElectLeadersResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, code.Code, m
					rt.Partitions = append(rt.Partitions, rp)
				}
				r.Topics = append(r.Topics, rt)
			}
		}
		resp = r
	case *kmsg.AlterPartitionAssignmentsRequest:
		r := kmsg.NewPtrAlterPartitionAssignmentsResponse()
		r.ErrorCode, r.ErrorMessage = code.Code, m
		resp = r
	case *kmsg.ListPartitionReassignmentsRequest:
		r := kmsg.NewPtrListPartitionReassignmentsResponse()
		r.ErrorCode, r.ErrorMessage = code.Code, m
		resp = r
	default:
		panic("broker: no error response for " + kmsg.NameForKey(kreq.Key()))
	}
	resp.SetVersion(kreq.GetVersion())
	return resp
}

// createTopic creates a topic for the broker itself (auto-creation,
// __consumer_offsets): at once on the active controller, else through the
// forwarding channel, then waits (briefly) until this node's image has it.
func (b *Broker) createTopic(spec controller.TopicSpec) (*metadata.Topic, error) {
	if b.active() {
		_, err := b.ctl.CreateTopic(spec, false)
		if err != nil && controller.CodeOf(err) != kerr.TopicAlreadyExists.Code {
			return nil, err
		}
		return b.image().Topic(spec.Name), nil
	}
	if b.fwd == nil {
		return nil, &controller.Error{Code: kerr.NotController, Message: "no controller to create " + spec.Name}
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7)
	req.TimeoutMillis = 10000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = spec.Name, spec.NumPartitions, spec.ReplicationFactor
	if t.NumPartitions == 0 {
		t.NumPartitions = -1
	}
	if t.ReplicationFactor == 0 {
		t.ReplicationFactor = -1
	}
	for k, v := range spec.Configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, v
		t.Configs = append(t.Configs, c)
	}
	req.Topics = append(req.Topics, t)
	resp := b.forward(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) == 1 {
		if code := resp.Topics[0].ErrorCode; code != 0 && code != kerr.TopicAlreadyExists.Code {
			msg := kerr.ErrorForCode(code).Error()
			if m := resp.Topics[0].ErrorMessage; m != nil {
				msg = *m
			}
			return nil, &controller.Error{Code: kerr.ErrorForCode(code).(*kerr.Error), Message: msg}
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	for {
		changed := b.pub.Changed()
		if t := b.image().Topic(spec.Name); t != nil {
			return t, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, &controller.Error{Code: kerr.LeaderNotAvailable, Message: spec.Name + " was created but has not reached this broker yet"}
		}
	}
}

// allocateProducerIDs gets a block of producer ids from the controller.
func (b *Broker) allocateProducerIDs() (first, n int64, err error) {
	if b.active() {
		return b.ctl.AllocateProducerIDs(b.opts.NodeID)
	}
	if b.fwd == nil {
		return 0, 0, &controller.Error{Code: kerr.NotController, Message: "no controller"}
	}
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = b.opts.NodeID, b.life.epoch.Load()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	for {
		resp, err := b.fwd.call(ctx, req)
		if err != nil {
			return 0, 0, err
		}
		r := resp.(*kmsg.AllocateProducerIDsResponse)
		if r.ErrorCode == 0 {
			return r.ProducerIDStart, int64(r.ProducerIDLen), nil
		}
		if r.ErrorCode != kerr.NotController.Code {
			return 0, 0, kerr.ErrorForCode(r.ErrorCode)
		}
		b.fwd.reset()
		select {
		case <-ctx.Done():
			return 0, 0, kerr.NotController
		case <-time.After(50 * time.Millisecond):
		}
	}
}
