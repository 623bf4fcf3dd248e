package broker

// DescribeTopicPartitions (key 75), version 0 (KIP-966): what Kafka 4.x's
// admin client describes topics with (kafka-topics --describe), the
// Metadata answer plus each partition's eligible leader replicas and last
// known ELR, paged by partitions.
//
// Kafka's rules (DescribeTopicPartitionsRequestHandler and
// KRaftMetadataCache.describeTopicResponse): no topics asks for every
// topic; the topics are deduplicated and answered in name order, from the
// cursor's topic on (names before it are left out), the cursor's topic
// from the cursor's partition, every other one from partition 0. At most
// ResponsePartitionLimit partitions are answered (bounded to 1..2000,
// max.request.partition.size.limit); when a topic's partitions do not all
// fit, or partitions run out before the next topic, NextCursor names where
// the next request starts. A requested topic that does not exist is
// UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an invalid name)
// and takes no partition of the limit; with every topic asked for, topics
// are only those that exist. A named cursor topic that is not among the
// requested ones, or a negative cursor partition, is INVALID_REQUEST for
// every requested topic. Partitions carry no error: a leader that is not
// a live broker with this listener is -1; offline replicas are those
// whose broker is missing, fenced or lacks the listener. Without an
// authorizer every topic operation is authorized.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
)

func init() {
	register(kmsg.DescribeTopicPartitions, 0, 0, releasesFrame, (*Broker).handleDescribeTopicPartitions)
}

// maxDescribePartitions is Kafka's max.request.partition.size.limit
// default, the most partitions one DescribeTopicPartitions answers.
const maxDescribePartitions = 2000

// topicOpsAll is the authorized-operations bit field of a topic when every
// operation is allowed (no authorizer): READ, WRITE, CREATE, DELETE,
// ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
const topicOpsAll = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11

func (b *Broker) handleDescribeTopicPartitions(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.DescribeTopicPartitionsRequest)
	resp := kmsg.NewPtrDescribeTopicPartitionsResponse()
	resp.SetVersion(r.hdr.Version)
	im := b.image()
	resp.Topics, resp.NextCursor = describeTopicPartitions(im, req, r.listenerName())
	r.respond(resp)
}

// describeTopicPartitions answers req from im for a client on listener.
func describeTopicPartitions(im *metadata.Image, req *kmsg.DescribeTopicPartitionsRequest, listener string) ([]kmsg.DescribeTopicPartitionsResponseTopic, *kmsg.DescribeTopicPartitionsResponseNextCursor) {
	all := len(req.Topics) == 0
	from, fromPartition := "", int32(0)
	if req.Cursor != nil {
		from, fromPartition = req.Cursor.Topic, req.Cursor.Partition
	}
	var names []string
	if all {
		for _, t := range im.Topics() {
			if t.Name >= from {
				names = append(names, t.Name)
			}
		}
	} else {
		for _, t := range req.Topics {
			if t.Topic >= from {
				names = append(names, t.Topic)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if req.Cursor != nil && ((!all && !slices.Contains(names, from)) || fromPartition < 0) {
		return invalidDescribe(req), nil
	}

	remaining := min(max(req.ResponsePartitionLimit, 1), maxDescribePartitions)
	var out []kmsg.DescribeTopicPartitionsResponseTopic
	for _, name := range names {
		if remaining == 0 {
			// The limit ran out on a topic boundary: the next request
			// starts at this one, whether or not it exists.
			return out, &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: 0}
		}
		t := im.Topic(name)
		if t == nil {
			if !all {
				out = append(out, missingDescribedTopic(name))
			}
			continue
		}
		start := int32(0)
		if name == from {
			start = fromPartition
		}
		n := int32(len(t.Partitions))
		end := min(n, start+remaining)
		dt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		dt.Topic = kmsg.StringPtr(name)
		dt.TopicID = t.ID
		dt.IsInternal = internalTopic(name)
		dt.AuthorizedOperations = topicOpsAll
		dt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
		for i := start; i < end; i++ {
			dt.Partitions = append(dt.Partitions, describedPartition(im, i, &t.Partitions[i], listener))
		}
		out = append(out, dt)
		if end < n {
			return out, &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: end}
		}
		remaining -= int32(len(dt.Partitions))
	}
	return out, nil
}

// describedPartition is one partition of a DescribeTopicPartitions answer.
func describedPartition(im *metadata.Image, idx int32, p *metadata.Partition, listener string) kmsg.DescribeTopicPartitionsResponseTopicPartition {
	dp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
	dp.Partition = idx
	dp.LeaderID = -1
	if servesListener(im, p.Leader, listener) {
		dp.LeaderID = p.Leader
	}
	dp.LeaderEpoch = p.LeaderEpoch
	dp.Replicas = orEmpty(p.Replicas)
	dp.ISR = orEmpty(p.ISR)
	dp.EligibleLeaderReplicas = orEmpty(p.ELR)
	dp.LastKnownELR = orEmpty(p.LastKnownELR)
	dp.OfflineReplicas = []int32{}
	for _, id := range p.Replicas {
		if !servesListener(im, id, listener) {
			dp.OfflineReplicas = append(dp.OfflineReplicas, id)
		}
	}
	return dp
}

// servesListener reports whether broker id is registered, unfenced and
// has listener: a live endpoint for clients of that listener.
func servesListener(im *metadata.Image, id int32, listener string) bool {
	br := im.Broker(id)
	if br == nil || br.Fenced {
		return false
	}
	_, ok := br.Endpoint(listener)
	return ok
}

func orEmpty(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

// missingDescribedTopic answers a requested topic the image lacks.
func missingDescribedTopic(name string) kmsg.DescribeTopicPartitionsResponseTopic {
	dt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	dt.Topic = kmsg.StringPtr(name)
	dt.ErrorCode = kerr.UnknownTopicOrPartition.Code
	if controller.ValidateTopicName(name) != nil {
		dt.ErrorCode = kerr.InvalidTopicException.Code
	}
	dt.IsInternal = internalTopic(name)
	dt.AuthorizedOperations = topicOpsAll
	dt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	return dt
}

// invalidDescribe is Kafka's error answer to a request with a bad cursor:
// INVALID_REQUEST for each requested topic, in request order.
func invalidDescribe(req *kmsg.DescribeTopicPartitionsRequest) []kmsg.DescribeTopicPartitionsResponseTopic {
	out := []kmsg.DescribeTopicPartitionsResponseTopic{}
	for _, t := range req.Topics {
		dt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		dt.Topic = kmsg.StringPtr(t.Topic)
		dt.ErrorCode = kerr.InvalidRequest.Code
		dt.AuthorizedOperations = authorizedOpsUnknown
		dt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
		out = append(out, dt)
	}
	return out
}

// internalTopic reports whether name is an internal topic ("__" names).
func internalTopic(name string) bool { return len(name) > 2 && name[:2] == "__" }
