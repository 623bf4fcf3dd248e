package broker

// ApiVersions (key 18), versions 0-4.
//
// The advertised list is derived from the handler table. A request newer
// than we know is answered in the v0 layout with UNSUPPORTED_VERSION and
// our key list (KIP-511), so the client can retry with a version we have.
// v3+: ClientSoftwareName/Version must match Kafka's pattern, else
// INVALID_REQUEST. The response header is always v0 (wire.ResponseHeaderFlexible).

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 4, releasesFrame, nil) }

var softwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (b *Broker) handleApiVersions(c *conn, r *response, req kmsg.Request, body []byte) {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ApiKeys = b.advertised(c.listener)
	h := handlers[kmsg.ApiVersions]
	if req == nil || r.hdr.Version > h.max || r.hdr.Version < 0 {
		resp.SetVersion(0)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		r.hdr.Flexible = false
		r.finish(resp)
		return
	}
	resp.SetVersion(r.hdr.Version)
	if err := req.ReadFrom(body); err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		r.finish(resp)
		return
	}
	av := req.(*kmsg.ApiVersionsRequest)
	if r.hdr.Version >= 3 && (!softwarePattern.MatchString(av.ClientSoftwareName) || !softwarePattern.MatchString(av.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	resp.FinalizedFeaturesEpoch = -1
	if handlers[kmsg.ConsumerGroupHeartbeat] != nil {
		// KIP-848 groups are on: group.version 1 (KIP-848), the
		// level clients and tools read to know the consumer protocol works.
		resp.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{{Name: "group.version", MinVersion: 0, MaxVersion: 1}}
		resp.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{{Name: "group.version", MinVersionLevel: 1, MaxVersionLevel: 1}}
		resp.FinalizedFeaturesEpoch = 1
	}
	r.finish(resp)
}
