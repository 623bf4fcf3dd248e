package broker

// Metadata (key 3), versions 0-13.
//
// Brokers are listed with the endpoint advertised under the listener name
// the request arrived on; brokers without that listener are left out, and
// a partition whose leader lacks it gets LEADER_NOT_AVAILABLE (Kafka's
// KRaftMetadataCache). v1+: null topics = all, empty = none (v0: empty =
// all). v4+: AllowAutoTopicCreation; auto-creation also needs
// auto.create.topics.enable. v10+: topic ids. v12+: lookup by topic id.
// v8-10 authorized-operations fields: no authorizer, so INT32_MIN.
// ControllerID is this node (Kafka reports a random alive broker).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
)

const authorizedOpsUnknown = -2147483648

func init() { register(kmsg.Metadata, 0, 13, releasesFrame, (*Broker).handleMetadata) }

func (b *Broker) handleMetadata(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := kmsg.NewPtrMetadataResponse()
	resp.SetVersion(r.hdr.Version)
	listener := r.listenerName()
	im := b.image()

	all := req.Topics == nil || (r.hdr.Version == 0 && len(req.Topics) == 0)
	autoCreate := b.opts.AutoCreateTopics && (r.hdr.Version < 4 || req.AllowAutoTopicCreation)
	if all {
		for _, t := range im.Topics() {
			resp.Topics = append(resp.Topics, b.topicMetadata(im, t, listener))
		}
	}
	for _, rt := range req.Topics {
		if all {
			break
		}
		resp.Topics = append(resp.Topics, b.requestedTopic(&im, rt, autoCreate, listener))
	}
	for _, br := range im.Brokers() {
		if br.Fenced {
			continue
		}
		ep, ok := br.Endpoint(listener)
		if !ok {
			continue
		}
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = br.ID, ep.Host, ep.Port, br.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	resp.ClusterID = &b.opts.ClusterID
	resp.ControllerID = b.opts.NodeID
	resp.AuthorizedOperations = authorizedOpsUnknown
	r.respond(resp)
}

func (b *Broker) requestedTopic(im **metadata.Image, rt kmsg.MetadataRequestTopic, autoCreate bool, listener string) kmsg.MetadataResponseTopic {
	var t *metadata.Topic
	if rt.Topic != nil && *rt.Topic != "" {
		t = (*im).Topic(*rt.Topic)
		if t == nil && autoCreate {
			t = b.autoCreate(im, *rt.Topic)
			if t == nil {
				// Invalid name or a failed create: report why.
				return b.autoCreateError(*rt.Topic)
			}
		}
	} else if rt.TopicID != ([16]byte{}) {
		t = (*im).TopicByID(rt.TopicID)
		if t == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicID.Code
			return mt
		}
	}
	if t == nil {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = rt.Topic
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if rt.Topic != nil && controller.ValidateTopicName(*rt.Topic) != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		}
		mt.AuthorizedOperations = authorizedOpsUnknown
		return mt
	}
	return b.topicMetadata(*im, t, listener)
}

// autoCreate creates topic with the broker defaults and returns it from
// the new image, or nil if it cannot be created.
func (b *Broker) autoCreate(im **metadata.Image, name string) *metadata.Topic {
	if controller.ValidateTopicName(name) != nil {
		return nil
	}
	t, err := b.createTopic(controller.TopicSpec{Name: name, NumPartitions: -1, ReplicationFactor: -1})
	if err != nil {
		b.log.Warn("auto-create failed", "topic", name, "err", err)
		return nil
	}
	*im = b.image()
	return t
}

func (b *Broker) autoCreateError(name string) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = &name
	mt.ErrorCode = kerr.LeaderNotAvailable.Code
	if controller.ValidateTopicName(name) != nil {
		mt.ErrorCode = kerr.InvalidTopicException.Code
	}
	mt.AuthorizedOperations = authorizedOpsUnknown
	return mt
}

func (b *Broker) topicMetadata(im *metadata.Image, t *metadata.Topic, listener string) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = internalTopic(name)
	mt.AuthorizedOperations = authorizedOpsUnknown
	for i, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.ISR
		mp.OfflineReplicas = []int32{}
		if lb := im.Broker(p.Leader); lb == nil || lb.Fenced {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Leader = -1
		} else if _, ok := lb.Endpoint(listener); !ok {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Leader = -1
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
