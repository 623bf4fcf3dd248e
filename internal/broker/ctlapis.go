package broker

// The controller's broker-lifecycle RPCs, served on controller listeners
// (Kafka's ControllerApis):
//   - BrokerRegistration (key 62, v0-4): a broker process registers its
//     incarnation, listeners, rack and features; the answer is its broker
//     epoch (controller.DecideRegistration).
//   - BrokerHeartbeat (key 63, v0-2): keeps the session alive, reports the
//     metadata offset the broker has applied; the answer says whether it is
//     caught up, fenced, and (after WantShutDown) may shut down.
//   - AllocateProducerIds (key 67, v0): a block of producer ids for a
//     broker's idempotent producers.
//   - UnregisterBroker (key 64, v0): removes a broker's registration (an
//     admin API too: on a broker listener it is forwarded).
//
// Every one answers NOT_CONTROLLER unless this node is the active
// controller. The quorum's own messages (samsa-private keys, never
// advertised) go to the raft node (conn.handle).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
)

func init() {
	registerOn(onController, kmsg.BrokerRegistration, 0, 4, releasesFrame, (*Broker).handleBrokerRegistration)
	registerOn(onController, kmsg.BrokerHeartbeat, 0, 2, releasesFrame, (*Broker).handleBrokerHeartbeat)
	registerOn(onController, kmsg.AllocateProducerIDs, 0, 0, releasesFrame, (*Broker).handleAllocateProducerIDs)
	registerOn(onBoth, kmsg.UnregisterBroker, 0, 0, releasesFrame, (*Broker).handleUnregisterBroker)
}

func (b *Broker) handleBrokerRegistration(r *request, kreq kmsg.Request) {
	r.respond(b.decideBrokerRegistration(kreq.(*kmsg.BrokerRegistrationRequest)))
}

func (b *Broker) decideBrokerRegistration(req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse {
	resp := kmsg.NewPtrBrokerRegistrationResponse()
	resp.SetVersion(req.GetVersion())
	resp.BrokerEpoch = -1
	if !b.active() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	reg := controller.Registration{BrokerID: req.BrokerID, ClusterID: req.ClusterID, IncarnationID: req.IncarnationID,
		Rack: req.Rack, PreviousBrokerEpoch: req.PreviousBrokerEpoch}
	for _, l := range req.Listeners {
		reg.Endpoints = append(reg.Endpoints, metadata.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port), SecurityProtocol: l.SecurityProtocol})
	}
	for _, f := range req.Features {
		reg.Features = append(reg.Features, metadata.FeatureRange{Name: f.Name, Min: f.MinSupportedVersion, Max: f.MaxSupportedVersion})
	}
	res, err := b.ctl.BrokerRegistration(reg, b.opts.Now())
	if err != nil {
		resp.ErrorCode = controller.CodeOf(err)
		if resp.ErrorCode != kerr.NotController.Code {
			b.log.Info("broker registration refused", "broker", req.BrokerID, "err", err)
		}
		return resp
	}
	resp.BrokerEpoch = res.BrokerEpoch
	return resp
}

func (b *Broker) handleBrokerHeartbeat(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.BrokerHeartbeatRequest)
	resp := kmsg.NewPtrBrokerHeartbeatResponse()
	resp.SetVersion(r.hdr.Version)
	resp.IsFenced = true
	if !b.active() {
		resp.ErrorCode = kerr.NotController.Code
		r.respond(resp)
		return
	}
	res, err := b.ctl.BrokerHeartbeat(controller.Heartbeat{BrokerID: req.BrokerID, BrokerEpoch: req.BrokerEpoch,
		CurrentMetadataOffset: req.CurrentMetadataOffset, WantFence: req.WantFence, WantShutDown: req.WantShutdown}, b.opts.Now())
	if err != nil {
		resp.ErrorCode = controller.CodeOf(err)
		r.respond(resp)
		return
	}
	resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = res.IsCaughtUp, res.IsFenced, res.ShouldShutDown
	r.respond(resp)
}

func (b *Broker) handleAllocateProducerIDs(r *request, kreq kmsg.Request) {
	r.respond(b.decideAllocateProducerIDs(kreq.(*kmsg.AllocateProducerIDsRequest)))
}

func (b *Broker) decideAllocateProducerIDs(req *kmsg.AllocateProducerIDsRequest) *kmsg.AllocateProducerIDsResponse {
	resp := kmsg.NewPtrAllocateProducerIDsResponse()
	resp.SetVersion(req.GetVersion())
	if !b.active() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	first, n, err := b.ctl.AllocateProducerIDBlock(req.BrokerID, req.BrokerEpoch)
	if err != nil {
		resp.ErrorCode = controller.CodeOf(err)
		return resp
	}
	resp.ProducerIDStart, resp.ProducerIDLen = first, int32(n)
	return resp
}

func (b *Broker) handleUnregisterBroker(r *request, kreq kmsg.Request) {
	b.toController(r, kreq, func(kreq kmsg.Request) kmsg.Response {
		req := kreq.(*kmsg.UnregisterBrokerRequest)
		resp := kmsg.NewPtrUnregisterBrokerResponse()
		resp.SetVersion(req.GetVersion())
		if err := b.ctl.UnregisterBroker(req.BrokerID); err != nil {
			resp.ErrorCode, resp.ErrorMessage = controller.CodeOf(err), controller.MessageOf(err)
		}
		return resp
	})
}
