package broker

// Produce (key 0), versions 0-13; v0-2 are answered UNSUPPORTED_VERSION
// per partition (message formats v0/v1 are gone, KIP-724/896) but still
// advertised from v0: librdkafka turns its codecs off when the advertised
// minimum is above 0 (KAFKA-18659). v13 names topics by id.
//
// Per partition: exactly one v2 batch (INVALID_RECORD otherwise, as Kafka
// requires for v3+), validated (CRC, sizes, count, codec) outside the
// partition lock, then appended: offsets and leader epoch assigned,
// idempotent sequence checked. acks=0: no response. acks=1: answered after
// the append. acks=all: refused with NOT_ENOUGH_REPLICAS while the committed
// ISR is smaller than min.insync.replicas, else parked until the high
// watermark passes the last offset (every ISR member has it, fsynced with
// samsa's default), or REQUEST_TIMED_OUT; NOT_ENOUGH_REPLICAS_AFTER_APPEND
// when the ISR shrank below min.insync.replicas meanwhile (without eligible
// leader replicas; with them the high watermark waits), and
// NOT_LEADER_OR_FOLLOWER when the leadership moved before.
//
// The partition is resolved by lookupPartition (hosted.go): only its
// leader takes writes, and not after its fsync failed. v10+: a partition
// answered NOT_LEADER_OR_FOLLOWER names the current leader and its epoch,
// and the response carries that leader's endpoint (KIP-951).

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/purgatory"
	"github.com/samsa-io/samsa/internal/seglog"
)

func init() { register(kmsg.Produce, 0, 13, releasesFrame, (*Broker).handleProduce) }

// producePart is one partition's outcome, kept until the response is built.
type producePart struct {
	p    *partition
	out  *kmsg.ProduceResponseTopicPartition
	need int64 // hw needed for acks=all; 0 = nothing to wait for
	// epoch is the leader epoch the batch was appended at; minISR the
	// topic's min.insync.replicas then.
	epoch  int32
	minISR int
}

func (b *Broker) handleProduce(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(r.hdr.Version)
	im := b.image()
	now := b.opts.Now()
	var waits []producePart
	hints := leaderHints{im: im, listener: r.listenerName()}

	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := produceTopic(im, r.hdr.Version, &rt)
		// Sized up front: producePart keeps pointers into this slice.
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
			out := &st.Partitions[len(st.Partitions)-1]
			pp := b.producePartition(r, req, t, &rp, out, now, &hints)
			if pp.need > 0 {
				waits = append(waits, pp)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	for _, n := range hints.nodes {
		resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: n.id, Host: n.host, Port: n.port, Rack: n.rack})
	}
	if req.Acks == 0 {
		r.noResponse()
		return
	}
	if req.Acks != -1 || len(waits) == 0 {
		r.respond(resp)
		return
	}
	b.parkProduce(r, resp, waits, time.Duration(req.TimeoutMillis)*time.Millisecond)
}

func produceTopic(im *metadata.Image, version int16, rt *kmsg.ProduceRequestTopic) *metadata.Topic {
	if version >= 13 {
		return im.TopicByID(rt.TopicID)
	}
	return im.Topic(rt.Topic)
}

func (b *Broker) producePartition(r *request, req *kmsg.ProduceRequest, t *metadata.Topic,
	rp *kmsg.ProduceRequestTopicPartition, out *kmsg.ProduceResponseTopicPartition, now time.Time,
	hints *leaderHints) producePart {
	out.BaseOffset, out.LogAppendTime, out.LogStartOffset = -1, -1, -1
	fail := func(code *kerr.Error, msg string) producePart {
		out.ErrorCode = code.Code
		if msg != "" {
			out.ErrorMessage = &msg
		}
		return producePart{}
	}
	switch {
	case r.hdr.Version < 3:
		return fail(kerr.UnsupportedVersion, "produce v0-2 (message formats v0/v1) are not supported")
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		return fail(kerr.InvalidRequiredAcks, "")
	case req.TransactionID != nil:
		return fail(kerr.TransactionalIDAuthorizationFailed, "transactions are not supported yet")
	}
	h := b.lookupPartition(partitionQuery{topic: t, byID: r.hdr.Version >= 13, partition: rp.Partition,
		currentLeaderEpoch: -1, write: true})
	if h.err != nil {
		msg := ""
		if h.cause != nil {
			msg = h.cause.Error()
		}
		if h.err == kerr.NotLeaderForPartition && r.hdr.Version >= 10 {
			// KIP-951: where the leader is, so the producer need not wait
			// for a metadata refresh.
			out.CurrentLeader.LeaderID, out.CurrentLeader.LeaderEpoch = h.leader, h.leaderEpoch
			hints.add(h.leader)
		}
		return fail(h.err, msg)
	}
	p := h.p
	tc := p.cfg.Load()
	if req.Acks == -1 && !p.enoughReplicas(tc.MinInsyncReplicas) {
		return fail(kerr.NotEnoughReplicas, "")
	}
	hdr, err := b.validateProduce(rp.Records, tc)
	if err != nil {
		return fail(produceErrorCode(err), err.Error())
	}
	if hdr.Codec() == batch.CodecZstd && r.hdr.Version < 7 {
		// Kafka: zstd needs produce v7+, so old clients cannot read it back by accident.
		return fail(kerr.UnsupportedCompressionType, "zstd requires produce v7 or later")
	}
	if msg := checkTimestamps(&hdr, tc, now.UnixMilli()); msg != "" {
		return fail(kerr.InvalidTimestamp, msg)
	}
	p.appendMu.Lock()
	if !p.leading.Load() {
		// The leadership moved between the lookup and the lock.
		p.appendMu.Unlock()
		return fail(kerr.NotLeaderForPartition, "")
	}
	epoch := p.leaderEpoch.Load()
	res, err := p.log.Append(rp.Records, epoch, now.UnixMilli(), tc.MessageTimestampLogAppendTime)
	if err == nil && !res.Duplicate {
		p.appended(res.LastOffset+1, len(rp.Records), int64(hdr.NumRecords))
	}
	p.appendMu.Unlock()
	if err != nil {
		return fail(produceErrorCode(err), err.Error())
	}
	out.BaseOffset = res.BaseOffset
	out.LogAppendTime = res.LogAppendTime
	out.LogStartOffset = res.LogStartOffset
	return producePart{p: p, out: out, need: res.LastOffset + 1, epoch: epoch, minISR: tc.MinInsyncReplicas}
}

// validateProduce checks one partition's records: exactly one batch, no
// larger than max.message.bytes, structurally valid.
func (b *Broker) validateProduce(records []byte, tc *topicConfig) (batch.Header, error) {
	if len(records) == 0 {
		return batch.Header{}, errNoBatch
	}
	h, err := batch.ParseHeader(records)
	if err != nil {
		return h, err
	}
	if h.Size() > tc.MaxMessageBytes {
		return h, seglog.ErrMessageTooLarge
	}
	if h.Size() != len(records) {
		if h.Size() < len(records) {
			return h, errManyBatches
		}
		return h, batch.ErrCorrupt
	}
	return batch.Validate(records, batch.ValidateOptions{
		MaxDecompressed: maxDecompressed(tc.MaxMessageBytes),
		RequireKeys:     tc.compact, // Kafka rejects keyless records on compacted topics
	})
}

// checkTimestamps applies message.timestamp.before.max.ms and
// .after.max.ms to a CreateTime batch. The batch header carries the first
// and the largest timestamp; records in between are not decoded for this.
func checkTimestamps(h *batch.Header, tc *topicConfig, now int64) string {
	if tc.MessageTimestampLogAppendTime || h.LogAppendTime() {
		return ""
	}
	if h.MaxTimestamp-now > tc.MessageTimestampAfterMaxMs {
		return fmt.Sprintf("timestamp %d is more than message.timestamp.after.max.ms=%d after the broker's clock", h.MaxTimestamp, tc.MessageTimestampAfterMaxMs)
	}
	if h.BaseTimestamp >= 0 && now-h.BaseTimestamp > tc.MessageTimestampBeforeMaxMs {
		return fmt.Sprintf("timestamp %d is more than message.timestamp.before.max.ms=%d before the broker's clock", h.BaseTimestamp, tc.MessageTimestampBeforeMaxMs)
	}
	return ""
}

// maxDecompressed bounds how far a compressed batch may expand while it is
// validated: generous for real data, fatal for decompression bombs.
func maxDecompressed(maxMessageBytes int) int {
	return max(64<<20, 16*maxMessageBytes)
}

var (
	errNoBatch     = errors.New("produce: no record batch")
	errManyBatches = errors.New("produce v3+ must contain exactly one record batch per partition")
)

func produceErrorCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, errNoBatch), errors.Is(err, errManyBatches):
		return kerr.InvalidRecord
	case errors.Is(err, seglog.ErrMessageTooLarge):
		return kerr.MessageTooLarge
	case errors.Is(err, seglog.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber
	case errors.Is(err, seglog.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch
	case errors.Is(err, seglog.ErrUnknownProducerID):
		return kerr.UnknownProducerID
	case errors.Is(err, seglog.ErrDuplicateSequence):
		return kerr.DuplicateSequenceNumber
	case errors.Is(err, seglog.ErrClosed):
		// The partition was deleted (or the broker is stopping) after the
		// request found it: a retriable error sends the client to metadata.
		return kerr.NotLeaderForPartition
	}
	if code := batch.ErrorCode(err); code != 0 {
		if e := kerr.ErrorForCode(code); e != nil {
			var ke *kerr.Error
			if errors.As(e, &ke) {
				return ke
			}
		}
	}
	return kerr.KafkaStorageError
}

// parkProduce waits for every appended partition's high watermark.
func (b *Broker) parkProduce(r *request, resp *kmsg.ProduceResponse, waits []producePart, timeout time.Duration) {
	satisfied := func(w producePart) bool { return w.p.hw.Load() >= w.need }
	// deposed: the batch's leadership ended; its fate is the new leader's.
	deposed := func(w producePart) bool { return !w.p.leading.Load() || w.p.leaderEpoch.Load() != w.epoch }
	check := func() bool {
		for _, w := range waits {
			if !satisfied(w) && w.p.storageError() == nil && !deposed(w) {
				return false
			}
		}
		return true
	}
	op := purgatory.NewOp(check, func(timedOut bool) {
		for _, w := range waits {
			if satisfied(w) {
				if !w.p.enoughReplicas(w.minISR) {
					// Kafka's rule: replicated to the ISR, but the ISR shrank
					// below min.insync.replicas meanwhile.
					w.out.BaseOffset = -1
					w.out.ErrorCode = kerr.NotEnoughReplicasAfterAppend.Code
				}
				continue
			}
			w.out.BaseOffset = -1
			if err := w.p.storageError(); err != nil {
				w.out.ErrorCode = kerr.KafkaStorageError.Code
			} else if timedOut {
				w.out.ErrorCode = kerr.RequestTimedOut.Code
			} else {
				w.out.ErrorCode = kerr.NotLeaderForPartition.Code
			}
		}
		r.respond(resp)
	})
	for _, w := range waits {
		w.p.waiters.Watch(op)
	}
	if !op.TryComplete() {
		b.timers.Add(op, b.opts.Now().Add(timeout))
	}
}
