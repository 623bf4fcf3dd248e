package broker

// ApiVersions (key 18), versions 0-5.
//
// The advertised list is derived from the handler table. A request newer
// than we know is answered in the v0 layout with UNSUPPORTED_VERSION and
// our key list (KIP-511), so the client can retry with a version we have.
// v3+: ClientSoftwareName/Version must match Kafka's pattern, else
// INVALID_REQUEST. v5 (KIP-1242): a client may name the cluster ID and
// node ID it means to reach, both or neither (ClusterID null and NodeID
// -1); one without the other is INVALID_REQUEST, and a pair naming
// another cluster or node is REBOOTSTRAP_REQUIRED, so that a client whose
// address now reaches some other broker starts over from its bootstrap
// servers. Like Kafka 4.4, every error but UNSUPPORTED_VERSION comes with
// no key list and no features. The response header is always v0
// (wire.ResponseHeaderFlexible).

import (
	"maps"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 5, releasesFrame, nil) }

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
	resp.FinalizedFeaturesEpoch = -1
	if err := req.ReadFrom(body); err != nil {
		resp.ErrorCode, resp.ApiKeys = kerr.InvalidRequest.Code, nil
		r.finish(resp)
		return
	}
	if code := b.checkApiVersions(r.hdr.Version, req.(*kmsg.ApiVersionsRequest)); code != 0 {
		resp.ErrorCode, resp.ApiKeys = code, nil
		r.finish(resp)
		return
	}
	b.features(resp)
	r.finish(resp)
}

// features fills in the feature levels this broker supports and those the
// cluster finalized (Kafka lists levels above 0), FinalizedFeaturesEpoch
// the image's offset as Kafka's. group.version 1 (KIP-848) is reported
// finalized whenever KIP-848 groups are on, the level clients and tools
// read to know the consumer protocol works; the others are the image's
// FeatureLevel records (eligible.leader.replicas.version on a new cluster).
func (b *Broker) features(resp *kmsg.ApiVersionsResponse) {
	im := b.image()
	groups := handlers[kmsg.ConsumerGroupHeartbeat] != nil
	for _, name := range slices.Sorted(maps.Keys(supportedFeatures)) {
		if name == "group.version" && !groups {
			continue
		}
		r := supportedFeatures[name]
		resp.SupportedFeatures = append(resp.SupportedFeatures, kmsg.ApiVersionsResponseSupportedFeature{Name: name, MinVersion: r[0], MaxVersion: r[1]})
		level, ok := im.Feature(name)
		if name == "group.version" {
			level, ok = 1, true
		}
		if ok && level > 0 {
			resp.FinalizedFeatures = append(resp.FinalizedFeatures, kmsg.ApiVersionsResponseFinalizedFeature{Name: name, MinVersionLevel: level, MaxVersionLevel: level})
		}
	}
	if len(resp.FinalizedFeatures) > 0 {
		resp.FinalizedFeaturesEpoch = max(im.Offset, 1)
	}
}

// checkApiVersions validates a request's v3+ software name and version and
// its v5 cluster and node IDs.
func (b *Broker) checkApiVersions(version int16, av *kmsg.ApiVersionsRequest) int16 {
	if version >= 3 && (!softwarePattern.MatchString(av.ClientSoftwareName) || !softwarePattern.MatchString(av.ClientSoftwareVersion)) {
		return kerr.InvalidRequest.Code
	}
	if version < 5 {
		return 0
	}
	switch named := av.ClusterID != nil; {
	case named != (av.NodeID != -1):
		return kerr.InvalidRequest.Code
	case named && (*av.ClusterID != b.opts.ClusterID || av.NodeID != b.opts.NodeID):
		return kerr.RebootstrapRequired.Code
	}
	return 0
}
