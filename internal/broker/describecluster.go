package broker

// DescribeCluster (key 60), versions 0-2.
//
// Brokers are listed with their endpoint for the listener the request came
// on. v1 EndpointType: 1 (brokers) only on broker listeners; asking a
// broker listener for controllers gets MISMATCHED_ENDPOINT_TYPE. v2
// IncludeFencedBrokers adds fenced brokers with IsFenced set.

import (
	"net"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerOn(onBoth, kmsg.DescribeCluster, 0, 2, keepsFrame, (*Broker).handleDescribeCluster)
}

func (b *Broker) handleDescribeCluster(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := kmsg.NewPtrDescribeClusterResponse()
	resp.SetVersion(r.hdr.Version)
	if r.conn.listener.controller {
		b.describeControllers(r, req, resp)
		return
	}
	resp.EndpointType = 1
	if r.hdr.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.MismatchedEndpointType.Code
		msg := "the request was sent to a broker listener but asked for controller endpoints"
		resp.ErrorMessage = &msg
		r.respond(resp)
		return
	}
	resp.ClusterID = b.opts.ClusterID
	resp.ControllerID = b.opts.NodeID
	resp.ClusterAuthorizedOperations = authorizedOpsUnknown
	for _, br := range b.image().Brokers() {
		if br.Fenced && !req.IncludeFencedBrokers {
			continue
		}
		ep, ok := br.Endpoint(r.listenerName())
		if !ok {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack, rb.IsFenced = br.ID, ep.Host, ep.Port, br.Rack, br.Fenced
		resp.Brokers = append(resp.Brokers, rb)
	}
	r.respond(resp)
}

// describeControllers answers DescribeCluster on a controller listener
// (KIP-919, what --bootstrap-controller tools send): the voters, each at
// its controller listener, and the active controller as ControllerID.
func (b *Broker) describeControllers(r *request, req *kmsg.DescribeClusterRequest, resp *kmsg.DescribeClusterResponse) {
	resp.EndpointType = 2
	if req.EndpointType != 2 {
		resp.ErrorCode = kerr.MismatchedEndpointType.Code
		msg := "the request was sent to a controller listener but asked for broker endpoints"
		resp.ErrorMessage = &msg
		r.respond(resp)
		return
	}
	resp.ClusterID = b.opts.ClusterID
	resp.ControllerID = b.quorumLeader()
	resp.ClusterAuthorizedOperations = authorizedOpsUnknown
	ids := make([]int32, 0, len(b.opts.Voters))
	for id := range b.opts.Voters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		host, port, err := net.SplitHostPort(b.opts.Voters[id])
		if err != nil {
			continue
		}
		p, _ := strconv.Atoi(port)
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = id, host, int32(p)
		resp.Brokers = append(resp.Brokers, rb)
	}
	r.respond(resp)
}
