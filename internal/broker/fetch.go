package broker

// Fetch (key 1), versions 4-18.
//
// Reads whole batches as stored (a fetch offset inside a batch returns the
// whole batch; clients drop the records below their offset), never past
// the high watermark. Per-partition and response byte limits follow KIP-74:
// the first non-empty partition may exceed them by one batch so a large
// batch never wedges a consumer. When fewer than min_bytes are available
// the request is parked until enough arrives or max_wait passes; waiters
// are woken in arrival order by the partitions' high-watermark moves.
//
// Fetch sessions (KIP-227, v7+): samsa declines to create sessions, which
// the protocol allows: it answers SessionID 0, so clients keep sending
// full fetches. A session id samsa never issued gets
// FETCH_SESSION_ID_NOT_FOUND. v13+ names topics by id (UNKNOWN_TOPIC_ID).
// read_committed sees the same data as read_uncommitted (no transactions
// yet: the last stable offset is the high watermark).
//
// A follower's fetch (ReplicaID, or ReplicaState v15+, >= 0; replication.go)
// reads up to the log end instead, is answered DivergingEpoch when its last
// fetched epoch disagrees with the leader's log, parks on bytes appended at
// the log end, and records the follower's fetch offset (its durable log
// end), which may move the high watermark.
//
// KIP-392 (readreplica.go): a consumer's Fetch v11+ may be served by a
// follower, below the follower's high watermark; with the rack-aware
// replica.selector.class the leader names a replica on the client's rack
// (PreferredReadReplica) instead of reading.
//
// Each partition is resolved by lookupPartition (hosted.go), which applies
// Kafka's order of errors. v16+: a partition answered NOT_LEADER_OR_FOLLOWER
// or FENCED_LEADER_EPOCH names the current leader and its epoch, and the
// response carries that leader's endpoint (KIP-951).

import (
	"errors"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/purgatory"
	"github.com/samsa-io/samsa/internal/seglog"
)

func init() { register(kmsg.Fetch, 4, 18, releasesFrame, (*Broker).handleFetch) }

func (b *Broker) handleFetch(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.FetchRequest)
	if r.hdr.Version >= 7 {
		if code := sessionError(req); code != nil {
			resp := kmsg.NewPtrFetchResponse()
			resp.ErrorCode = code.Code
			resp.SessionID = req.SessionID
			r.respond(resp)
			return
		}
	}
	resp, bytes, watched, immediate, bufs := b.readFetch(r.hdr.Version, req, r.listenerName())
	if immediate || bytes >= int(req.MinBytes) || req.MaxWaitMillis <= 0 || len(watched) == 0 {
		r.respondBufs(resp, bufs)
		return
	}
	releaseBufs(bufs) // the answer is read again when it is due
	b.parkFetch(r, req, bytes, watched, fetchReplicaID(r.hdr.Version, req) >= 0)
}

func sessionError(req *kmsg.FetchRequest) *kerr.Error {
	switch {
	case req.SessionID != 0:
		return kerr.FetchSessionIDNotFound
	case req.SessionEpoch > 0:
		return kerr.InvalidFetchSessionEpoch
	}
	return nil
}

// readFetch reads every requested partition. It returns the response, the
// bytes it holds, the partitions to watch if the request must wait,
// whether it must be answered at once (an error in some partition), and
// the pooled buffers the response's records are in (released once the
// response is encoded: respondBufs, or releaseBufs if it is dropped).
func (b *Broker) readFetch(version int16, req *kmsg.FetchRequest, listener string) (*kmsg.FetchResponse, int, []fetchWatch, bool, [][]byte) {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(version)
	im := b.image()
	limit := int(req.MaxBytes)
	if version < 3 || limit <= 0 {
		limit = 1<<31 - 1
	}
	total := 0
	immediate := false
	var watched []fetchWatch
	var bufs [][]byte
	hints := leaderHints{im: im, listener: listener}
	replicaID := fetchReplicaID(version, req)
	replicaEpoch := int64(-1)
	if version >= 15 {
		replicaEpoch = req.ReplicaState.Epoch
	}
	now := b.opts.Now()
	// KIP-392: a consumer's Fetch v11+ carries client metadata, and any
	// replica may answer it (readreplica.go).
	clientMeta := replicaID < 0 && version >= 11
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *metadata.Topic
		if version >= 13 {
			t = im.TopicByID(rt.TopicID)
		} else {
			t = im.Topic(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			// Empty, never null: librdkafka rejects a null record set
			// ("invalid MessageSetSize -1") and Kafka always sends size 0.
			sp.RecordBatches = []byte{}
			h := b.lookupPartition(partitionQuery{topic: t, byID: version >= 13, partition: rp.Partition,
				currentLeaderEpoch: rp.CurrentLeaderEpoch, followerOK: clientMeta})
			if h.err != nil {
				sp.ErrorCode = h.err.Code
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
				if version >= 16 && (h.err == kerr.NotLeaderForPartition || h.err == kerr.FencedLeaderEpoch) {
					// KIP-951: where the leader is, so the client need not
					// wait for a metadata refresh.
					sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = h.leader, h.leaderEpoch
					hints.add(h.leader)
				}
				immediate = true
			} else if replicaID >= 0 && !b.replicaFetchable(version, im, h.p, replicaID, replicaEpoch, &rp, &sp, now) {
				immediate = true // diverging, out of range or not a replica: answer now
			} else if id := b.readReplicaFor(clientMeta, im, h.p, req.Rack, rp.FetchOffset, listener, now); id >= 0 {
				// The client reads elsewhere: no records, answered at once.
				p := h.p
				sp.HighWatermark = p.hw.Load()
				sp.LastStableOffset = sp.HighWatermark
				sp.LogStartOffset = p.log.LogStartOffset()
				sp.PreferredReadReplica = id
				if req.IsolationLevel == 1 {
					sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				}
				immediate = true
			} else {
				p := h.p
				// The byte count a wait starts from is taken before the
				// offset the read stops at: bytes that arrive after the
				// read then wake the wait (counted twice at worst, which
				// answers early), never go unseen by both.
				w := fetchWatch{p: p, from: p.hwBytes.Load()}
				maxOffset := p.consumerHW()
				if replicaID >= 0 {
					w.from = p.leoBytes.Load()
					maxOffset = p.log.LogEndOffset() // followers read up to the log end
				}
				n, err := b.readPartition(p, &rp, &sp, limit-total, total == 0, req.IsolationLevel, maxOffset, &bufs)
				total += n
				if err != nil {
					immediate = true
				} else {
					watched = append(watched, w)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for _, n := range hints.nodes {
		resp.Brokers = append(resp.Brokers, kmsg.FetchResponseBroker{NodeID: n.id, Host: n.host, Port: n.port, Rack: n.rack})
	}
	return resp, total, watched, immediate, bufs
}

// readReplicaFor is the preferred read replica of a consumer's fetch of p
// (-1: read here): only a leader sends clients elsewhere, and only to
// clients with KIP-392 metadata.
func (b *Broker) readReplicaFor(clientMeta bool, im *metadata.Image, p *partition, rack string, fetchOffset int64, listener string, now time.Time) int32 {
	if !clientMeta || !p.leading.Load() {
		return -1
	}
	return b.preferredReadReplica(im, p, rack, fetchOffset, listener, now)
}

// readPartition fills sp from the log and returns the bytes added.
func (b *Broker) readPartition(p *partition, rp *kmsg.FetchRequestTopicPartition, sp *kmsg.FetchResponseTopicPartition,
	budget int, first bool, isolation int8, maxOffset int64, bufs *[][]byte) (int, error) {
	hw := p.consumerHW()
	sp.HighWatermark = hw
	sp.LastStableOffset = hw
	sp.LogStartOffset = p.log.LogStartOffset()
	sp.PreferredReadReplica = -1
	if isolation == 1 {
		sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	if rp.FetchOffset < sp.LogStartOffset || rp.FetchOffset > p.log.LogEndOffset() {
		sp.ErrorCode = kerr.OffsetOutOfRange.Code
		return 0, seglog.ErrOffsetOutOfRange
	}
	if rp.FetchOffset >= maxOffset || (budget <= 0 && !first) {
		return 0, nil
	}
	max := min(int(rp.PartitionMaxBytes), budget)
	if max <= 0 && !first {
		return 0, nil
	}
	// A pooled buffer sized for the usual case: clients ask for 1 MiB per
	// partition, and the first batch may exceed that by its header (a full
	// 1 MiB producer batch) or more (KIP-74), hence the headroom. A larger
	// read grows past it into a buffer of its own.
	buf := getBuf(min(max, 1<<20) + 64<<10)
	res, err := p.log.ReadInto(buf, rp.FetchOffset, max, maxOffset)
	if cap(res.Records) == 0 || unsafe.SliceData(res.Records) != unsafe.SliceData(buf) {
		putBuf(buf)
	}
	if cap(res.Records) > 0 {
		*bufs = append(*bufs, res.Records)
	}
	if err != nil {
		if errors.Is(err, seglog.ErrOffsetOutOfRange) {
			sp.ErrorCode = kerr.OffsetOutOfRange.Code
		} else if errors.Is(err, seglog.ErrClosed) {
			sp.ErrorCode = kerr.NotLeaderForPartition.Code
		} else {
			b.log.Error("fetch read failed", "topic", p.topic, "partition", p.index, "offset", rp.FetchOffset, "err", err)
			sp.ErrorCode = kerr.KafkaStorageError.Code
		}
		return 0, err
	}
	if !first && len(res.Records) > budget {
		// Only the response's first data may exceed the limit (KIP-74).
		return 0, nil
	}
	sp.RecordBatches = res.Records
	return len(res.Records), nil
}

// fetchWatch is a partition a parked fetch waits on, with its byte count
// (leoBytes for a follower, hwBytes for a consumer) taken before the read.
type fetchWatch struct {
	p    *partition
	from int64
}

// fetchWait is a parked fetch's check: need more bytes have arrived on the
// watched partitions since their counts were taken. A follower's fetch
// (fromReplica) waits for bytes at the log end, not below the high
// watermark: the high watermark moves only once followers fetch.
func fetchWait(watched []fetchWatch, need int64, fromReplica bool) func() bool {
	return func() bool {
		var got int64
		for _, w := range watched {
			if fromReplica {
				got += w.p.leoBytes.Load() - w.from
			} else {
				got += w.p.hwBytes.Load() - w.from
			}
		}
		return got >= need
	}
}

// parkFetch waits until min_bytes are available or max_wait passes, then
// reads again and answers.
func (b *Broker) parkFetch(r *request, req *kmsg.FetchRequest, have int, watched []fetchWatch, fromReplica bool) {
	check := fetchWait(watched, int64(int(req.MinBytes)-have), fromReplica)
	op := purgatory.NewOp(check, func(bool) {
		// Completed from a producer's or flusher's goroutine: do the read
		// elsewhere so neither waits on this fetch's disk reads.
		answer := func() {
			select {
			case <-b.stop:
				// Shutting down: the partitions are closing; answer empty.
				r.respond(kmsg.NewPtrFetchResponse())
				return
			default:
			}
			resp, _, _, _, bufs := b.readFetch(r.hdr.Version, req, r.listenerName())
			r.respondBufs(resp, bufs)
		}
		if !b.async.Go(answer) {
			r.respond(kmsg.NewPtrFetchResponse())
		}
	})
	for _, w := range watched {
		w.p.waiters.Watch(op)
	}
	if !op.TryComplete() {
		b.timers.Add(op, b.opts.Now().Add(time.Duration(req.MaxWaitMillis)*time.Millisecond))
	}
}
