package broker

// The follower side of replication: Kafka's ReplicaFetcherManager. One
// fetcher goroutine per source broker carries every partition this node
// follows from it, on one connection to the source's inter-broker listener
// (a peer channel, ctlchannel.go). Each round:
//
//  1. every partition whose log has unsynced appends is synced first (the
//     durability rule: the FetchOffset a follower sends is its synced log
//     end, which the leader counts as durable);
//  2. one Fetch at the highest version both sides support (ApiVersions on
//     each new connection; v15+ carries ReplicaState{ReplicaID,
//     ReplicaEpoch}, older versions ReplicaID), with each partition's
//     current leader epoch, its log end and the epoch of its last batch;
//  3. per partition: DivergingEpoch (v12+) → truncate where
//     replica.TruncationState says (the next fetch asks again with the new
//     last epoch until the logs agree); records → seglog AppendReplicated (the
//     leader's batches byte for byte), then the high watermark min(leader's,
//     own end) and the leader's log start; OFFSET_OUT_OF_RANGE → ask the
//     leader for its log start and end (ListOffsets as this replica) and
//     truncate below its end or restart the log at its start; leadership
//     errors → retry after a short delay (the image brings the new leader).
//
// Appends and truncations happen under partition.appendMu, and only while
// the partition still follows the leader epoch the fetch was sent for, so
// an answer from a deposed leader is dropped. Errors back off
// (replica.fetch.backoff.ms for the connection, less for one partition's
// leadership errors); an idle fetcher waits on its wake channel.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/replica"
	"github.com/samsa-io/samsa/internal/seglog"
)

// maxReplicaFetchVersion is the newest Fetch version the fetcher speaks.
const maxReplicaFetchVersion = 18

// fetcherManager owns the fetchers, one per source broker.
type fetcherManager struct {
	b      *Broker
	mu     sync.Mutex // guards bySrc, closed; taken after partitionManager.mu
	bySrc  map[int32]*replicaFetcher
	closed bool
	wg     sync.WaitGroup
}

type replicaFetcher struct {
	m    *fetcherManager
	src  int32
	ch   *ctlChannel
	wake chan struct{}
	stop chan struct{}
	// ctx ends when the fetcher stops (its calls return at once).
	ctx     context.Context
	stopCtx context.CancelFunc

	mu    sync.Mutex // guards parts
	parts map[*partition]*followState
}

// followState is one followed partition as its fetcher sees it.
type followState struct {
	epoch   int32     // the leader epoch followed
	retryAt time.Time // not fetched before this (after an error)
}

func newFetcherManager(b *Broker) *fetcherManager {
	return &fetcherManager{b: b, bySrc: map[int32]*replicaFetcher{}}
}

// follow makes p fetched from leader at epoch (removing it from any other
// fetcher); leader < 0 or this node only removes it.
func (m *fetcherManager) follow(p *partition, leader, epoch int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(p, leader)
	if leader < 0 || leader == m.b.opts.NodeID || m.closed {
		return
	}
	f := m.bySrc[leader]
	if f == nil {
		f = m.startLocked(leader)
	}
	f.mu.Lock()
	f.parts[p] = &followState{epoch: epoch}
	f.mu.Unlock()
	f.poke()
}

// remove stops fetching p.
func (m *fetcherManager) remove(p *partition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(p, -1)
}

func (m *fetcherManager) removeLocked(p *partition, keep int32) {
	for src, f := range m.bySrc {
		f.mu.Lock()
		_, had := f.parts[p]
		delete(f.parts, p)
		empty := len(f.parts) == 0
		f.mu.Unlock()
		if had && empty && src != keep {
			f.shutdown()
			delete(m.bySrc, src)
		}
	}
}

func (m *fetcherManager) startLocked(src int32) *replicaFetcher {
	f := &replicaFetcher{m: m, src: src, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		parts: map[*partition]*followState{}}
	f.ctx, f.stopCtx = context.WithCancel(m.b.ctx)
	f.ch = newPeerChannel(m.b, "samsa-replica-fetcher-"+strconv.Itoa(int(m.b.opts.NodeID)), func() (int32, string) {
		return src, m.b.brokerAddr(src)
	})
	m.bySrc[src] = f
	m.wg.Add(1)
	go f.run()
	return f
}

// close stops every fetcher and waits for them.
func (m *fetcherManager) close() {
	m.mu.Lock()
	m.closed = true
	for src, f := range m.bySrc {
		f.shutdown()
		delete(m.bySrc, src)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

func (f *replicaFetcher) shutdown() {
	close(f.stop)
	f.stopCtx()
}

func (f *replicaFetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// brokerAddr is broker id's address on the inter-broker listener ("" when
// the image does not know it).
func (b *Broker) brokerAddr(id int32) string {
	br := b.image().Broker(id)
	if br == nil {
		return ""
	}
	name := b.interBrokerListener()
	ep, ok := br.Endpoint(name)
	if !ok {
		if len(br.Endpoints) == 0 {
			return ""
		}
		ep = br.Endpoints[0]
	}
	return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
}

// interBrokerListener is inter.broker.listener.name, else the first
// advertised broker listener.
func (b *Broker) interBrokerListener() string {
	if b.opts.InterBrokerListener != "" {
		return b.opts.InterBrokerListener
	}
	if ls := b.brokerAdvertised(); len(ls) > 0 {
		return ls[0].Name
	}
	return ""
}

// fetchItem is one partition of a round.
type fetchItem struct {
	p      *partition
	epoch  int32
	offset int64
}

func (f *replicaFetcher) run() {
	defer f.m.wg.Done()
	defer f.ch.close()
	b := f.m.b
	version := int16(-1) // unknown until ApiVersions answers on this connection
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		items, next := f.round()
		if len(items) == 0 {
			if !f.idle(next) {
				return
			}
			continue
		}
		if version < 0 {
			v, err := f.fetchVersion()
			if err != nil {
				b.log.Debug("replica fetcher: ApiVersions failed", "source", f.src, "err", err)
				f.ch.reset()
				if !f.sleep(b.opts.ReplicaFetchBackoff) {
					return
				}
				continue
			}
			version = v
		}
		req := f.request(version, items)
		ctx, cancel := context.WithTimeout(f.ctx, b.opts.ReplicaFetchWaitMax+10*time.Second)
		resp, err := f.ch.call(ctx, req)
		cancel()
		if err != nil {
			b.log.Debug("replica fetcher: fetch failed", "source", f.src, "err", err)
			f.ch.reset()
			version = -1
			if !f.sleep(b.opts.ReplicaFetchBackoff) {
				return
			}
			continue
		}
		fr := resp.(*kmsg.FetchResponse)
		if fr.ErrorCode != 0 {
			b.log.Debug("replica fetcher: fetch refused", "source", f.src, "err", kerr.ErrorForCode(fr.ErrorCode))
			if !f.sleep(b.opts.ReplicaFetchBackoff) {
				return
			}
			continue
		}
		f.handle(version, items, fr)
	}
}

// idle waits for a new partition or the next retry (false: stopped).
func (f *replicaFetcher) idle(next time.Time) bool {
	var timer <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(max(time.Until(next), time.Millisecond))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-f.stop:
		return false
	case <-f.wake:
	case <-timer:
	}
	return true
}

func (f *replicaFetcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.stop:
		return false
	}
}

// round picks the partitions to fetch now, syncing what was appended since
// their last sync; next is the earliest retry of a delayed one.
func (f *replicaFetcher) round() (items []fetchItem, next time.Time) {
	now := time.Now()
	f.mu.Lock()
	for p, st := range f.parts {
		if now.Before(st.retryAt) {
			if next.IsZero() || st.retryAt.Before(next) {
				next = st.retryAt
			}
			continue
		}
		items = append(items, fetchItem{p: p, epoch: st.epoch})
	}
	f.mu.Unlock()
	out := items[:0]
	for _, it := range items {
		p := it.p
		if p.fsyncOnAck.Load() && p.log.SyncedOffset() < p.log.LogEndOffset() {
			if _, err := p.log.Sync(); err != nil {
				f.m.b.log.Error("follower fsync failed; partition stops replicating", "topic", p.topic, "partition", p.index, "err", err)
				p.storageErr.Store(&err)
				f.delay(p, it.epoch, time.Minute)
				if retry := now.Add(time.Minute); next.IsZero() || retry.Before(next) {
					next = retry
				}
				continue
			}
		}
		it.offset = p.log.LogEndOffset()
		out = append(out, it)
	}
	return out, next
}

// delay keeps p out of fetches for d (if it still follows epoch).
func (f *replicaFetcher) delay(p *partition, epoch int32, d time.Duration) {
	f.mu.Lock()
	if st := f.parts[p]; st != nil && st.epoch == epoch {
		st.retryAt = time.Now().Add(d)
	}
	f.mu.Unlock()
}

func (f *replicaFetcher) fetchVersion() (int16, error) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa", "replica-fetcher"
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	resp, err := f.ch.call(ctx, req)
	if err != nil {
		return 0, err
	}
	r := resp.(*kmsg.ApiVersionsResponse)
	if r.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(r.ErrorCode)
	}
	for _, k := range r.ApiKeys {
		if k.ApiKey == kmsg.Fetch.Int16() {
			// v12+: DivergingEpoch tells the follower where to truncate.
			v := min(k.MaxVersion, maxReplicaFetchVersion)
			if v < 12 || k.MinVersion > v {
				return 0, fmt.Errorf("broker %d serves Fetch v%d-%d only", f.src, k.MinVersion, k.MaxVersion)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("broker %d does not serve Fetch", f.src)
}

func (f *replicaFetcher) request(version int16, items []fetchItem) *kmsg.FetchRequest {
	b := f.m.b
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	if version >= 15 {
		req.ReplicaState.ID = b.opts.NodeID
		req.ReplicaState.Epoch = b.life.epoch.Load()
		if req.ReplicaState.Epoch <= 0 {
			req.ReplicaState.Epoch = -1 // not registered yet (epochs start at 1)
		}
	} else {
		req.ReplicaID = b.opts.NodeID
	}
	req.MaxWaitMillis = int32(b.opts.ReplicaFetchWaitMax.Milliseconds())
	req.MinBytes = 1
	req.MaxBytes = b.opts.ReplicaFetchResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1 // a full fetch, no session
	byTopic := map[string]int{}
	for _, it := range items {
		p := it.p
		i, ok := byTopic[p.topic]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = p.topic, p.topicID
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[p.topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.index
		rp.CurrentLeaderEpoch = it.epoch
		rp.FetchOffset = it.offset
		rp.LastFetchedEpoch = p.log.LatestEpoch()
		rp.LogStartOffset = p.log.LogStartOffset()
		rp.PartitionMaxBytes = b.opts.ReplicaFetchMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	return req
}

// handle applies one Fetch response.
func (f *replicaFetcher) handle(version int16, items []fetchItem, fr *kmsg.FetchResponse) {
	type key struct {
		topic string
		index int32
	}
	byKey := make(map[key]fetchItem, len(items))
	byID := map[[16]byte]string{}
	for _, it := range items {
		byKey[key{it.p.topic, it.p.index}] = it
		byID[it.p.topicID] = it.p.topic
	}
	for i := range fr.Topics {
		rt := &fr.Topics[i]
		name := rt.Topic
		if version >= 13 {
			name = byID[rt.TopicID]
		}
		for j := range rt.Partitions {
			sp := &rt.Partitions[j]
			it, ok := byKey[key{name, sp.Partition}]
			if !ok {
				continue
			}
			f.handlePartition(it, sp)
		}
	}
}

func (f *replicaFetcher) handlePartition(it fetchItem, sp *kmsg.FetchResponseTopicPartition) {
	b := f.m.b
	p := it.p
	switch sp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		f.outOfRange(it)
		return
	case kerr.NotLeaderForPartition.Code, kerr.FencedLeaderEpoch.Code, kerr.UnknownLeaderEpoch.Code,
		kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicID.Code, kerr.ReplicaNotAvailable.Code:
		// The leadership is moving; the image will say where.
		f.delay(p, it.epoch, min(100*time.Millisecond, b.opts.ReplicaFetchBackoff))
		return
	default:
		b.log.Debug("replica fetch partition error", "topic", p.topic, "partition", p.index, "source", f.src, "err", kerr.ErrorForCode(sp.ErrorCode))
		f.delay(p, it.epoch, b.opts.ReplicaFetchBackoff)
		return
	}
	if sp.DivergingEpoch.EndOffset >= 0 || sp.DivergingEpoch.Epoch >= 0 {
		f.truncate(it, sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset)
		return
	}
	recs := wholeBatches(sp.RecordBatches)
	p.appendMu.Lock()
	if !f.follows(p, it.epoch) || p.log.LogEndOffset() != it.offset {
		p.appendMu.Unlock()
		return // the role moved on while the fetch was out
	}
	if len(recs) > 0 {
		res, err := p.log.AppendReplicated(recs)
		if err != nil {
			p.appendMu.Unlock()
			b.log.Error("follower append failed", "topic", p.topic, "partition", p.index, "offset", it.offset, "err", err)
			f.delay(p, it.epoch, b.opts.ReplicaFetchBackoff)
			return
		}
		p.replicatedAppended(res.LastOffset+1, len(recs))
	}
	p.appendMu.Unlock()
	if len(recs) > 0 && !p.fsyncOnAck.Load() {
		if fm := p.flushMsgs.Load(); fm > 0 && p.unflushed.Add(1) >= fm {
			p.unflushed.Store(0)
			p.requestFlush()
		}
	}
	// The synced end is what counts (round syncs before the next fetch);
	// the follower's high watermark never passes its own log end.
	p.followerHW(sp.HighWatermark)
	if lso := sp.LogStartOffset; lso > p.log.LogStartOffset() {
		if _, err := p.log.DeleteRecordsBefore(min(lso, p.log.LogEndOffset())); err != nil && !errors.Is(err, seglog.ErrClosed) {
			b.log.Warn("follower log start", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
}

// follows reports whether p still follows this fetcher's broker at epoch
// (appendMu held): an answer for an older role changes nothing.
func (f *replicaFetcher) follows(p *partition, epoch int32) bool {
	return !p.leading.Load() && p.leaderEpoch.Load() == epoch && p.followLeader.Load() == f.src
}

// wholeBatches cuts a trailing partial batch (a leader may end a response
// inside one when a size limit falls there).
func wholeBatches(b []byte) []byte {
	n := 0
	for len(b)-n >= 12 {
		size := int(int32(uint32(b[n+8])<<24|uint32(b[n+9])<<16|uint32(b[n+10])<<8|uint32(b[n+11]))) + 12
		if size < 12 || n+size > len(b) {
			break
		}
		n += size
	}
	return b[:n]
}

// truncate applies a DivergingEpoch answer.
func (f *replicaFetcher) truncate(it fetchItem, leaderEpoch int32, leaderEnd int64) {
	b := f.m.b
	p := it.p
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !f.follows(p, it.epoch) {
		return
	}
	leo := p.log.LogEndOffset()
	to, _ := replica.TruncationState(leo, p.hw.Load(), p.log.EndOffsetForEpoch, p.log.LatestEpoch(), leaderEpoch, leaderEnd)
	if to >= leo {
		// Nothing to cut, yet the leader says the logs diverge: an epoch
		// this replica started as a leader that appended nothing, which
		// the leader never had, is the last one here, and each fetch names
		// it. Kafka's truncateTo drops such epochs even when it cuts no
		// record; so does TruncateTo at the log end. The next fetch then
		// names an epoch the leader has.
		latest := p.log.LatestEpoch()
		if err := p.log.TruncateTo(leo); err == nil && p.log.LatestEpoch() != latest {
			b.log.Info("follower dropped an empty leader epoch", "topic", p.topic, "partition", p.index,
				"epoch", latest, "log.end", leo, "leader", f.src, "leader.epoch", leaderEpoch)
			return
		}
		// Otherwise try again later rather than asking in a loop.
		b.log.Warn("diverging epoch without truncation", "topic", p.topic, "partition", p.index,
			"leader.epoch", leaderEpoch, "leader.end", leaderEnd, "log.end", leo)
		f.delay(p, it.epoch, b.opts.ReplicaFetchBackoff)
		return
	}
	if err := p.log.TruncateTo(to); err != nil {
		b.log.Error("follower truncation failed", "topic", p.topic, "partition", p.index, "to", to, "err", err)
		f.delay(p, it.epoch, b.opts.ReplicaFetchBackoff)
		return
	}
	p.truncatedTo(to)
	b.log.Info("follower truncated its log", "topic", p.topic, "partition", p.index, "from", leo, "to", to,
		"leader", f.src, "leader.epoch", leaderEpoch)
}

// outOfRange handles OFFSET_OUT_OF_RANGE: the follower's end is above the
// leader's (truncate to it) or below the leader's log start (restart the
// log there).
func (f *replicaFetcher) outOfRange(it fetchItem) {
	b := f.m.b
	p := it.p
	start, err := f.leaderOffset(it, -2)
	var end int64
	if err == nil {
		end, err = f.leaderOffset(it, -1)
	}
	if err != nil {
		b.log.Debug("replica fetcher: leader offsets", "topic", p.topic, "partition", p.index, "err", err)
		f.delay(p, it.epoch, b.opts.ReplicaFetchBackoff)
		return
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !f.follows(p, it.epoch) {
		return
	}
	leo := p.log.LogEndOffset()
	switch {
	case leo > end:
		if err = p.log.TruncateTo(end); err == nil {
			p.truncatedTo(end)
		}
	case leo < start:
		if err = p.log.TruncateFullyAndStartAt(start); err == nil {
			p.truncatedTo(start)
			p.advanceHW(start)
		}
	default:
		f.delay(p, it.epoch, b.opts.ReplicaFetchBackoff)
	}
	if err != nil {
		b.log.Error("follower truncation failed", "topic", p.topic, "partition", p.index, "err", err)
		f.delay(p, it.epoch, b.opts.ReplicaFetchBackoff)
		return
	}
	if leo > end || leo < start {
		b.log.Info("follower out of the leader's range", "topic", p.topic, "partition", p.index, "log.end", leo,
			"leader.log.start", start, "leader.log.end", end, "now.log.end", p.log.LogEndOffset())
	}
}

// leaderOffset asks the leader (ListOffsets as this replica) for an offset:
// -2 its log start, -1 its end.
func (f *replicaFetcher) leaderOffset(it fetchItem, ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(4)
	req.ReplicaID = f.m.b.opts.NodeID
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = it.p.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = it.p.index, it.epoch, ts
	t.Partitions = append(t.Partitions, rp)
	req.Topics = append(req.Topics, t)
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	resp, err := f.ch.call(ctx, req)
	if err != nil {
		return 0, err
	}
	r := resp.(*kmsg.ListOffsetsResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return 0, errors.New("malformed ListOffsets answer")
	}
	sp := r.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(sp.ErrorCode)
	}
	return sp.Offset, nil
}
