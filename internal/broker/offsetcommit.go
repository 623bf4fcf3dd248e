package broker

// OffsetCommit (key 8), versions 2-10.
//
// The group checks member and generation (a generation < 0 on an empty
// or unknown group is a standalone commit and creates a simple group);
// failures apply to every partition: UNKNOWN_MEMBER_ID,
// ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID (v7+
// static members), and for an unknown group with a generation
// ILLEGAL_GENERATION (v9+: GROUP_ID_NOT_FOUND). A KIP-848 member with an
// older member epoch is checked per partition (KIP-1251): the request is
// accepted if it owned every partition at that epoch, else it is
// STALE_MEMBER_EPOCH (for all of them, as Kafka 4.4 answers). Unknown topics or
// partitions get UNKNOWN_TOPIC_OR_PARTITION, metadata over
// offset.metadata.max.bytes (4096) OFFSET_METADATA_TOO_LARGE. The rest are
// written as one batch to the group's __consumer_offsets partition and
// answered once durable; only then do they become visible to OffsetFetch.
// v2-4 RetentionTimeMillis is ignored (offsets.retention.minutes rules).
// v10 (KAFKA-14690, KIP-848) names topics by ID only, in the request and
// the response; an unknown or zero ID is UNKNOWN_TOPIC_ID for each of its
// partitions, as Kafka 4.4 answers. Offsets are kept by topic name, so a
// commit by ID and a fetch by name (or the reverse) see the same offsets.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/metadata"
)

const offsetMetadataMaxBytes = 4096

func init() { register(kmsg.OffsetCommit, 2, 10, keepsFrame, (*Broker).handleOffsetCommit) }

// commitPart is one partition of an OffsetCommit, kept until answered.
type commitPart struct {
	tp      group.TopicPartition
	topicID [16]byte
	off     group.Offset
	code    *int16
}

func (b *Broker) handleOffsetCommit(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.SetVersion(r.hdr.Version)
	im := b.image()
	now := b.opts.Now()
	var parts []commitPart
	byID := r.hdr.Version >= 10
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		var t *metadata.Topic
		if byID {
			st.TopicID = rt.TopicID
			t = topicByID(im, rt.TopicID)
		} else {
			st.Topic = rt.Topic
			t = im.Topic(rt.Topic)
		}
		st.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			*sp = kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case t == nil && byID:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Metadata != nil && len(*rp.Metadata) > offsetMetadataMaxBytes:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				off := group.Offset{Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, CommitTime: now.UnixMilli()}
				if r.hdr.Version < 6 {
					off.LeaderEpoch = -1
				}
				if rp.Metadata != nil {
					off.Metadata = *rp.Metadata
				}
				parts = append(parts, commitPart{tp: group.TopicPartition{Topic: t.Name, Partition: rp.Partition},
					topicID: t.ID, off: off, code: &sp.ErrorCode})
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	fail := func(code int16) {
		for _, p := range parts {
			*p.code = code
		}
		r.respond(resp)
	}
	if _, code := b.coord.coordinatorFor(req.Group, false); code != 0 {
		fail(code)
		return
	}
	b.coord.commit(r.hdr.Version, req, parts, fail, func() { r.respond(resp) })
}

// commit validates the committer, appends the offsets and applies them
// once durable; done or fail answers.
func (c *coordinator) commit(version int16, req *kmsg.OffsetCommitRequest, parts []commitPart, fail func(int16), done func()) {
	c.mu.Lock()
	now := c.b.opts.Now()
	e := c.groups[req.Group]
	if e == nil && req.Generation >= 0 {
		c.mu.Unlock()
		if version >= 9 {
			fail(kerr.GroupIDNotFound.Code)
		} else {
			fail(kerr.IllegalGeneration.Code)
		}
		return
	}
	if e == nil {
		e = &groupEntry{g: group.New(req.Group, &c.cfg, now)}
		c.groups[req.Group] = e
	}
	if code := e.validateCommit(now, req, version, parts); code != 0 {
		c.mu.Unlock()
		fail(code)
		return
	}
	if len(parts) == 0 {
		c.mu.Unlock()
		done()
		return
	}
	recs := make([]batch.Record, len(parts))
	for i, p := range parts {
		recs[i] = batch.Record{Key: group.OffsetKey(req.Group, p.tp.Topic, p.tp.Partition), Value: group.OffsetValue(p.off)}
	}
	var base int64
	post := c.appendWithBaseLocked(req.Group, recs, now, &base, func(err error) {
		if err != nil {
			fail(commitErrorCode(err))
			return
		}
		c.mu.Lock()
		for i, p := range parts {
			c.applyOffsetLocked(req.Group, p.tp, p.off, base+int64(i))
		}
		c.mu.Unlock()
		done()
	})
	c.mu.Unlock()
	post.run()
}

// topicByID finds a topic by its ID; the zero ID names no topic.
func topicByID(im *metadata.Image, id [16]byte) *metadata.Topic {
	if id == ([16]byte{}) {
		return nil
	}
	return im.TopicByID(id)
}

// appendWithBaseLocked is appendLocked that also reports the base offset
// of the appended batch (set before done can run).
func (c *coordinator) appendWithBaseLocked(id string, recs []batch.Record, now time.Time, base *int64, done func(error)) after {
	p, _, code := c.leads(id, false)
	if code != 0 {
		return after{func() { done(kerr.ErrorForCode(code)) }}
	}
	end, err := appendInternal(p, recs, now)
	if err != nil {
		return after{func() { done(err) }}
	}
	*base = end - int64(len(recs))
	return after{func() { c.whenDurable(p, end, done) }}
}

// commitErrorCode maps a failed write to what Kafka's coordinator answers.
func commitErrorCode(err error) int16 {
	if ke, ok := err.(*kerr.Error); ok && ke == kerr.NotCoordinator {
		return ke.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// validateCommit checks the committer against a classic group (member id
// and generation) or a KIP-848 group (member id and member epoch, and for
// an older epoch the partitions committed).
func (e *groupEntry) validateCommit(now time.Time, req *kmsg.OffsetCommitRequest, version int16, parts []commitPart) int16 {
	if e.cg != nil {
		return e.cg.ValidateCommit(req.MemberID, req.Generation, version, func(yield func([16]byte, int32) bool) {
			for _, p := range parts {
				if !yield(p.topicID, p.tp.Partition) {
					return
				}
			}
		})
	}
	return e.g.ValidateCommit(now, req.MemberID, req.InstanceID, req.Generation)
}
