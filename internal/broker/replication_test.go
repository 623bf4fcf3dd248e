package broker

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/purgatory"
	"github.com/samsa-io/samsa/internal/seglog"
)

// replFixture is node self with topic "r", partition 0 on replicas [1 2]
// (ISR both) led by leader at leaderEpoch, hosted here with a real log
// (Kafka's relaxed flush policy: the leader counts its log end).
func replFixture(t *testing.T, self, leader, leaderEpoch int32) (*Broker, *partition) {
	t.Helper()
	id := metadata.Uuid{7}
	recs := []metadata.Record{{Type: metadata.TypeTopic, Topic: &metadata.TopicRecord{Name: "r", ID: id}},
		{Type: metadata.TypePartition, Partition: &metadata.PartitionRecord{TopicID: id, Partition: 0,
			Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: leader, LeaderEpoch: leaderEpoch}}}
	for _, n := range []int32{1, 2, 3} {
		recs = append(recs, metadata.Record{Type: metadata.TypeRegisterBroker, RegisterBroker: &metadata.RegisterBrokerRecord{
			BrokerID: n, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 1}}}})
	}
	im := metadata.Empty().Apply(recs...)
	b := &Broker{opts: Options{NodeID: self, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, pub: metadata.NewPublisher(im)}
	b.opts.setDefaults()
	b.log = b.opts.Logger
	b.parts = newPartitionManager(b)
	b.fetchers = newFetcherManager(b)
	b.isrWake = make(chan struct{}, 1)
	l, err := seglog.Open(t.TempDir(), seglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &partition{topic: "r", index: 0, topicID: id, log: l}
	p.followLeader.Store(-1)
	b.parts.parts[partKey{"r", 0}] = p
	pm := &im.Topic("r").Partitions[0]
	p.appendMu.Lock()
	if leader == self {
		p.becomeLeaderLocked(self, pm, b.opts.Now(), b.opts.ReplicaLagTimeMax, false)
	} else {
		p.becomeFollowerLocked(leader, leaderEpoch)
	}
	p.appendMu.Unlock()
	return b, p
}

// relead makes the fixture's leader lead again at a new epoch.
func relead(t *testing.T, b *Broker, p *partition, epoch int32) {
	t.Helper()
	pm := b.image().Topic("r").Partitions[0]
	pm.LeaderEpoch = epoch
	p.appendMu.Lock()
	p.becomeLeaderLocked(b.opts.NodeID, &pm, b.opts.Now(), b.opts.ReplicaLagTimeMax, false)
	p.appendMu.Unlock()
}

func oneRecord(t testing.TB, v string) []byte {
	t.Helper()
	out, err := batch.Build(nil, batch.BatchSpec{PartitionLeaderEpoch: -1, BaseTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: []batch.Record{{Value: []byte(v)}}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// leaderAppend appends n one-record batches at epoch as a produce does.
func leaderAppend(t *testing.T, p *partition, epoch int32, n int) {
	t.Helper()
	for i := range n {
		recs := oneRecord(t, "v"+string(rune('a'+i)))
		p.appendMu.Lock()
		res, err := p.log.Append(recs, epoch, time.Now().UnixMilli(), false)
		if err == nil {
			p.appended(res.LastOffset+1, len(recs), 1)
		}
		p.appendMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// fetchAs sends a one-partition Fetch at version from replica (-1: a
// consumer) and returns the partition's answer.
func fetchAs(t *testing.T, b *Broker, version int16, replica int32, offset int64, lastEpoch int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	return fetchAsEpoch(t, b, version, replica, 42, offset, lastEpoch)
}

// fetchAsEpoch is fetchAs with the broker epoch a v15+ fetch names.
func fetchAsEpoch(t *testing.T, b *Broker, version int16, replica int32, brokerEpoch, offset int64, lastEpoch int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	if version >= 15 {
		req.ReplicaState.ID, req.ReplicaState.Epoch = replica, brokerEpoch
	} else {
		req.ReplicaID = replica
	}
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "r", metadata.Uuid{7}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LastFetchedEpoch = 0, offset, 1<<20, lastEpoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, _, _, _, bufs := b.readFetch(version, req, "PLAINTEXT")
	sp := resp.Topics[0].Partitions[0]
	sp.RecordBatches = append([]byte(nil), sp.RecordBatches...)
	releaseBufs(bufs)
	return sp
}

func countBatches(t *testing.T, recs []byte) int {
	t.Helper()
	n := 0
	for len(recs) > 0 {
		h, err := batch.ParseHeader(recs)
		if err != nil {
			t.Fatal(err)
		}
		recs = recs[h.Size():]
		n++
	}
	return n
}

// A follower reads up to the leader's log end, consumers only below the
// high watermark, and the follower's next fetch offset (its durable end)
// moves the high watermark over the ISR.
func TestFollowerFetchReadsToLogEndAndMovesHW(t *testing.T) {
	b, p := replFixture(t, 1, 1, 2)
	leaderAppend(t, p, 2, 3)
	if hw := p.hw.Load(); hw != 0 {
		t.Fatalf("hw %d before the follower fetched, want 0", hw)
	}
	if sp := fetchAs(t, b, 12, -1, 0, -1); len(sp.RecordBatches) != 0 || sp.HighWatermark != 0 {
		t.Fatalf("consumer read %d bytes with hw %d above the high watermark", len(sp.RecordBatches), sp.HighWatermark)
	}
	sp := fetchAs(t, b, 12, 2, 0, -1)
	if sp.ErrorCode != 0 || countBatches(t, sp.RecordBatches) != 3 {
		t.Fatalf("follower fetch: error %v, %d batches, want 3", kerr.ErrorForCode(sp.ErrorCode), countBatches(t, sp.RecordBatches))
	}
	// v15+: the replica is named in ReplicaState.
	sp = fetchAs(t, b, 15, 2, 3, 2)
	if sp.ErrorCode != 0 || len(sp.RecordBatches) != 0 || sp.HighWatermark != 3 {
		t.Fatalf("follower at the log end: error %v, %d bytes, hw %d; want hw 3", kerr.ErrorForCode(sp.ErrorCode), len(sp.RecordBatches), sp.HighWatermark)
	}
	if sp := fetchAs(t, b, 12, -1, 0, -1); countBatches(t, sp.RecordBatches) != 3 || sp.HighWatermark != 3 {
		t.Fatalf("consumer after the ISR caught up: %d batches, hw %d", countBatches(t, sp.RecordBatches), sp.HighWatermark)
	}
	// The broker epoch the v15 fetch named is what an ISR change would
	// send for that member.
	p.repMu.Lock()
	e, ok := p.fetchEpochs[2]
	p.repMu.Unlock()
	if !ok || e != 42 {
		t.Fatalf("follower 2's broker epoch %d (%v), want 42 from its fetch", e, ok)
	}
}

// A follower whose last fetched epoch the leader's log does not have up to
// its fetch offset is told where the logs diverge; a broker that is not a
// replica is refused.
func TestFollowerFetchDivergingEpochAndStrangers(t *testing.T) {
	b, p := replFixture(t, 1, 1, 0)
	leaderAppend(t, p, 0, 2) // offsets 0-1 at epoch 0
	relead(t, b, p, 2)
	leaderAppend(t, p, 2, 2) // offsets 2-3 at epoch 2
	sp := fetchAs(t, b, 12, 2, 3, 1)
	if sp.DivergingEpoch.Epoch != 0 || sp.DivergingEpoch.EndOffset != 2 || len(sp.RecordBatches) != 0 {
		t.Fatalf("diverging epoch %+v with %d bytes, want epoch 0 end 2 and no records", sp.DivergingEpoch, len(sp.RecordBatches))
	}
	if sp := fetchAs(t, b, 12, 2, 2, 0); sp.DivergingEpoch.EndOffset != -1 || countBatches(t, sp.RecordBatches) != 2 {
		t.Fatalf("agreeing follower: diverging %+v, %d bytes", sp.DivergingEpoch, len(sp.RecordBatches))
	}
	if sp := fetchAs(t, b, 12, 3, 0, -1); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch from broker 3, not a replica: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	// Past the log end: with a last epoch that is a divergence (the end of
	// that epoch), without one OFFSET_OUT_OF_RANGE.
	if sp := fetchAs(t, b, 12, 2, 9, 2); sp.DivergingEpoch.Epoch != 2 || sp.DivergingEpoch.EndOffset != 4 {
		t.Fatalf("fetch past the log end at epoch 2: diverging %+v", sp.DivergingEpoch)
	}
	if sp := fetchAs(t, b, 12, 2, 9, -1); sp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch past the log end: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
}

// KIP-903: a follower fetch carrying a broker epoch older than the one the
// leader's image shows for that broker, unfenced, comes from a superseded
// incarnation: NOT_LEADER_OR_FOLLOWER with no offsets, and nothing recorded
// (the high watermark does not move, no epoch is kept for an ISR change).
// DivergingEpoch and OFFSET_OUT_OF_RANGE answer first; a newer epoch, -1,
// a fenced broker's registration or a pre-v15 fetch are not refused.
func TestFollowerFetchStaleBrokerEpoch(t *testing.T) {
	b, p := replFixture(t, 1, 1, 2)
	leaderAppend(t, p, 2, 3)
	register := func(epoch int64, fenced bool) {
		t.Helper()
		im := b.image()
		err := b.pub.ApplyRecords(im.Offset+1, []metadata.Record{{Type: metadata.TypeRegisterBroker, RegisterBroker: &metadata.RegisterBrokerRecord{
			BrokerID: 2, BrokerEpoch: epoch, Fenced: fenced, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 1}}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	recorded := func() (int64, bool) {
		p.repMu.Lock()
		defer p.repMu.Unlock()
		e, ok := p.fetchEpochs[2]
		return e, ok
	}
	register(10, false) // broker 2 restarted and registered again

	sp := fetchAsEpoch(t, b, 15, 2, 9, 3, 2)
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || len(sp.RecordBatches) != 0 ||
		sp.HighWatermark != -1 || sp.LastStableOffset != -1 || sp.LogStartOffset != -1 {
		t.Fatalf("fetch at broker epoch 9 after epoch 10 registered: error %v, %d bytes, hw %d lso %d log start %d; want NOT_LEADER_OR_FOLLOWER, none, -1",
			kerr.ErrorForCode(sp.ErrorCode), len(sp.RecordBatches), sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset)
	}
	if hw := p.hw.Load(); hw != 0 {
		t.Fatalf("a stale incarnation's fetch moved the high watermark to %d", hw)
	}
	if e, ok := recorded(); ok {
		t.Fatalf("a stale incarnation's epoch %d was kept for ISR changes", e)
	}
	// Kafka's order: the read's own answers come before the epoch check.
	if sp := fetchAsEpoch(t, b, 15, 2, 9, 9, -1); sp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("stale epoch past the log end: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp := fetchAsEpoch(t, b, 15, 2, 9, 3, 1); sp.ErrorCode != 0 || sp.DivergingEpoch.EndOffset != 0 {
		t.Fatalf("stale epoch with a diverging log: error %v, diverging %+v; want a DivergingEpoch ending at 0", kerr.ErrorForCode(sp.ErrorCode), sp.DivergingEpoch)
	}

	// The current incarnation's fetch is served and recorded.
	if sp := fetchAsEpoch(t, b, 15, 2, 10, 3, 2); sp.ErrorCode != 0 || sp.HighWatermark != 3 {
		t.Fatalf("fetch at the registered epoch: error %v, hw %d; want hw 3", kerr.ErrorForCode(sp.ErrorCode), sp.HighWatermark)
	}
	if e, ok := recorded(); !ok || e != 10 {
		t.Fatalf("recorded broker epoch %d (%v), want 10", e, ok)
	}
	for _, tc := range []struct {
		name    string
		version int16
		epoch   int64
	}{{"newer than the image", 15, 11}, {"unknown (-1)", 15, -1}, {"v12, no epoch", 12, -1}} {
		if sp := fetchAsEpoch(t, b, tc.version, 2, tc.epoch, 3, 2); sp.ErrorCode != 0 {
			t.Errorf("fetch %s: %v", tc.name, kerr.ErrorForCode(sp.ErrorCode))
		}
	}
	// A fenced registration is not an alive broker's epoch (Kafka's
	// getAliveBrokerEpoch): nothing to compare against.
	register(12, true)
	if sp := fetchAsEpoch(t, b, 15, 2, 10, 3, 2); sp.ErrorCode != 0 {
		t.Fatalf("fetch at epoch 10 while epoch 12 is fenced: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	register(12, false)
	if sp := fetchAsEpoch(t, b, 15, 2, 10, 3, 2); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch at epoch 10 once epoch 12 is unfenced: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(sp.ErrorCode))
	}
}

// The follower side: a DivergingEpoch answer truncates the log where the
// truncation rule says; records append byte for byte; the high watermark
// is the leader's, capped at the follower's end; an answer for a leader
// epoch the follower no longer follows changes nothing.
func TestFollowerAppliesFetchAnswers(t *testing.T) {
	lb, leader := replFixture(t, 1, 1, 0)
	leaderAppend(t, leader, 0, 2)
	relead(t, lb, leader, 2)
	leaderAppend(t, leader, 2, 2)
	fb, p := replFixture(t, 2, 1, 2)
	// The follower holds offsets 0-1 of epoch 0 and a tail 2-4 of epoch 1
	// the leader never had.
	own, err := leader.log.Read(0, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.log.AppendReplicated(own.Records); err != nil {
		t.Fatal(err)
	}
	p.appendMu.Lock()
	for i := range 3 {
		if _, err := p.log.Append(oneRecord(t, "tail"+string(rune('0'+i))), 1, time.Now().UnixMilli(), false); err != nil {
			t.Fatal(err)
		}
	}
	p.appendMu.Unlock()
	f := &replicaFetcher{m: fb.fetchers, src: 1, parts: map[*partition]*followState{p: {epoch: 2}}}
	it := fetchItem{p: p, epoch: 2, offset: p.log.LogEndOffset()}

	sp := kmsg.NewFetchResponseTopicPartition()
	sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = 0, 2
	f.handlePartition(it, &sp)
	if leo := p.log.LogEndOffset(); leo != 2 {
		t.Fatalf("log end %d after DivergingEpoch(0, 2), want 2", leo)
	}

	all, err := leader.log.Read(2, 1<<20, 4)
	if err != nil {
		t.Fatal(err)
	}
	sp = kmsg.NewFetchResponseTopicPartition()
	sp.RecordBatches, sp.HighWatermark, sp.LogStartOffset = all.Records, 3, 0
	stale := fetchItem{p: p, epoch: 1, offset: 2}
	f.handlePartition(stale, &sp)
	if leo := p.log.LogEndOffset(); leo != 2 {
		t.Fatalf("an answer for epoch 1 appended (log end %d)", leo)
	}
	it.offset = 2
	f.handlePartition(it, &sp)
	if leo, hw := p.log.LogEndOffset(), p.hw.Load(); leo != 4 || hw != 3 {
		t.Fatalf("after the records: log end %d, hw %d; want 4 and the leader's 3", leo, hw)
	}
	want, _ := leader.log.Read(0, 1<<20, 4)
	got, _ := p.log.Read(0, 1<<20, 4)
	if string(got.Records) != string(want.Records) {
		t.Fatalf("follower log differs from the leader's")
	}
	// A trailing partial batch is left for the next fetch.
	if n := len(wholeBatches(all.Records[:len(all.Records)-1])); n >= len(all.Records) || countBatches(t, all.Records[:n]) != 1 {
		t.Fatalf("wholeBatches kept %d of %d bytes", n, len(all.Records))
	}
}

// A follower whose last epoch is one it started as a leader and appended
// nothing in (the leader never had it) is told the logs diverge at its own
// log end: it drops that epoch, as Kafka's truncateTo does, so that its
// next fetch names an epoch the leader has instead of diverging forever.
func TestFollowerDropsAnEmptyEpochAtItsLogEnd(t *testing.T) {
	lb, leader := replFixture(t, 1, 1, 0)
	leaderAppend(t, leader, 0, 2)
	fb, p := replFixture(t, 2, 1, 2)
	own, err := leader.log.Read(0, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.log.AppendReplicated(own.Records); err != nil {
		t.Fatal(err)
	}
	if err := p.log.AssignLeaderEpoch(1); err != nil { // led epoch 1, appended nothing
		t.Fatal(err)
	}
	relead(t, lb, leader, 2)
	f := &replicaFetcher{m: fb.fetchers, src: 1, parts: map[*partition]*followState{p: {epoch: 2}}}
	it := fetchItem{p: p, epoch: 2, offset: p.log.LogEndOffset()}
	sp := fetchAs(t, lb, 12, 2, it.offset, p.log.LatestEpoch())
	if sp.DivergingEpoch.Epoch != 0 || sp.DivergingEpoch.EndOffset != 2 {
		t.Fatalf("the leader answered diverging %+v to a fetch at 2 with last epoch 1, want epoch 0 end 2", sp.DivergingEpoch)
	}
	f.handlePartition(it, &sp)
	if leo, e := p.log.LogEndOffset(), p.log.LatestEpoch(); leo != 2 || e != 0 {
		t.Fatalf("after DivergingEpoch(0, 2) at log end 2: log end %d, latest epoch %d; want 2 and 0", leo, e)
	}
	if sp := fetchAs(t, lb, 12, 2, 2, p.log.LatestEpoch()); sp.DivergingEpoch.EndOffset != -1 || sp.ErrorCode != 0 {
		t.Fatalf("the next fetch: diverging %+v, %v", sp.DivergingEpoch, kerr.ErrorForCode(sp.ErrorCode))
	}
}

// A parked acks=all produce answers NOT_LEADER_OR_FOLLOWER when the
// leadership moves before the ISR had it, and NOT_ENOUGH_REPLICAS_AFTER_APPEND
// when the ISR shrank below min.insync.replicas to let the high watermark
// pass it; the min.insync check reads the committed ISR.
func TestParkedWritesFollowTheISR(t *testing.T) {
	park := func(t *testing.T, b *Broker, p *partition) (*kmsg.ProduceResponseTopicPartition, chan struct{}) {
		t.Helper()
		leaderAppend(t, p, 2, 1)
		resp := kmsg.NewPtrProduceResponse()
		rt := kmsg.NewProduceResponseTopic()
		rt.Partitions = []kmsg.ProduceResponseTopicPartition{kmsg.NewProduceResponseTopicPartition()}
		resp.Topics = append(resp.Topics, rt)
		out := &resp.Topics[0].Partitions[0]
		r := &request{resp: &response{done: make(chan struct{})}}
		b.parkProduce(r, resp, []producePart{{p: p, out: out, need: p.log.LogEndOffset(), epoch: 2, minISR: 2}}, time.Minute)
		select {
		case <-r.resp.done:
			t.Fatal("acknowledged before the follower had it")
		default:
		}
		return out, r.resp.done
	}
	wait := func(t *testing.T, done chan struct{}) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the parked write was not woken")
		}
	}
	t.Run("leadership moves", func(t *testing.T) {
		b, p := replFixture(t, 1, 1, 2)
		b.timers = purgatory.NewTimers()
		defer b.timers.Close()
		out, done := park(t, b, p)
		p.appendMu.Lock()
		p.becomeFollowerLocked(2, 3)
		p.appendMu.Unlock()
		wait(t, done)
		if out.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("error %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(out.ErrorCode))
		}
	})
	t.Run("ISR shrinks below min.insync.replicas", func(t *testing.T) {
		b, p := replFixture(t, 1, 1, 2)
		b.timers = purgatory.NewTimers()
		defer b.timers.Close()
		if !p.enoughReplicas(2) || p.enoughReplicas(3) {
			t.Fatalf("ISR of two: enoughReplicas(2) %v, (3) %v", p.enoughReplicas(2), p.enoughReplicas(3))
		}
		out, done := park(t, b, p)
		// replica.lag.time.max.ms later the silent follower is dropped.
		isr, _, _, _, ok := p.isrUpdate(time.Now().Add(time.Minute))
		if !ok || !slices.Equal(isr, []int32{1}) {
			t.Fatalf("ISR update %v %v, want [1]", isr, ok)
		}
		p.isrCommitted(isr, 1)
		wait(t, done)
		if out.ErrorCode != kerr.NotEnoughReplicasAfterAppend.Code {
			t.Fatalf("error %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", kerr.ErrorForCode(out.ErrorCode))
		}
		if p.enoughReplicas(2) {
			t.Fatal("an ISR of one has enough replicas for min.insync.replicas=2")
		}
	})
}

// fetchWatched sends fetchAs's Fetch (v15) and returns what a parked wait
// would watch.
func fetchWatched(t *testing.T, b *Broker, replica int32, offset int64) []fetchWatch {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(15)
	req.ReplicaState.ID, req.ReplicaState.Epoch = replica, 42
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "r", metadata.Uuid{7}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LastFetchedEpoch = 0, offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	_, n, watched, immediate, bufs := b.readFetch(15, req, "PLAINTEXT")
	releaseBufs(bufs)
	if n != 0 || immediate || len(watched) != 1 {
		t.Fatalf("fetch at %d: %d bytes, immediate %v, %d watched; want an empty answer that waits", offset, n, immediate, len(watched))
	}
	return watched
}

// Bytes that arrive after a fetch read nothing and before it parks wake
// it: the wait counts from before the read. (It counted from when it
// parked, so a follower missed the append that landed in between and
// waited for the next one or replica.fetch.wait.max.ms, holding the high
// watermark and the acks=all produces behind it; a consumer's long poll
// likewise missed a high-watermark move.)
func TestParkedFetchSeesBytesFromBeforeItsRead(t *testing.T) {
	b, p := replFixture(t, 1, 1, 2)
	leaderAppend(t, p, 2, 2)
	fetchAs(t, b, 15, 2, 2, 2) // the follower has both: hw 2
	if hw := p.hw.Load(); hw != 2 {
		t.Fatalf("hw %d, want 2", hw)
	}
	follower := fetchWatched(t, b, 2, 2)
	consumer := fetchWatched(t, b, -1, 2)
	leaderAppend(t, p, 2, 1) // lands between the read and the park
	if !fetchWait(follower, 1, true)() {
		t.Error("a follower's fetch parked after an append it did not read does not see the append")
	}
	if fetchWait(consumer, 1, false)() {
		t.Error("a consumer's wait passed before the high watermark moved")
	}
	fetchAs(t, b, 15, 2, 3, 2) // the follower's next fetch moves the high watermark
	if hw := p.hw.Load(); hw != 3 {
		t.Fatalf("hw %d, want 3", hw)
	}
	if !fetchWait(consumer, 1, false)() {
		t.Error("a consumer's long poll parked before a high-watermark move it did not read does not see it")
	}
}
