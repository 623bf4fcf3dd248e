package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/metadata"
)

// consumerFetch sends a consumer's one-partition Fetch of "r"/0.
func consumerFetch(t *testing.T, b *Broker, version int16, offset int64, epoch int32, rack string) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	req.ReplicaID, req.ReplicaState.ID = -1, -1
	req.MaxBytes, req.Rack = 1<<20, rack
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "r", metadata.Uuid{7}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, offset, 1<<20, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, _, _, _, bufs := b.readFetch(version, req, "PLAINTEXT")
	sp := resp.Topics[0].Partitions[0]
	sp.RecordBatches = append([]byte(nil), sp.RecordBatches...)
	releaseBufs(bufs)
	return sp
}

// A follower serves a consumer's Fetch v11+ below the high watermark it
// learned from its leader (nothing before it learned one), answers empty
// between its high watermark and its log end, OFFSET_OUT_OF_RANGE above
// its log end, checks the leader epoch, and refuses Fetch v10.
func TestFollowerServesConsumers(t *testing.T) {
	_, leader := replFixture(t, 1, 1, 3)
	leaderAppend(t, leader, 3, 4)
	fb, p := replFixture(t, 2, 1, 3)
	all, err := leader.log.Read(0, 1<<20, 4)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.log.AppendReplicated(all.Records)
	if err != nil {
		t.Fatal(err)
	}
	p.replicatedAppended(res.LastOffset+1, len(all.Records))

	sp := consumerFetch(t, fb, 12, 0, 3, "")
	if sp.ErrorCode != 0 || len(sp.RecordBatches) != 0 || sp.HighWatermark != 0 {
		t.Fatalf("before the leader's high watermark: error %d, %d bytes, hw %d; want nothing below 0", sp.ErrorCode, len(sp.RecordBatches), sp.HighWatermark)
	}
	p.followerHW(2)
	sp = consumerFetch(t, fb, 12, 0, 3, "r1")
	if sp.ErrorCode != 0 || countBatches(t, sp.RecordBatches) != 2 || sp.HighWatermark != 2 || sp.PreferredReadReplica != -1 {
		t.Fatalf("below hw 2: error %d, %d batches, hw %d, preferred %d", sp.ErrorCode, countBatches(t, sp.RecordBatches),
			sp.HighWatermark, sp.PreferredReadReplica)
	}
	for _, off := range []int64{2, 3, 4} {
		if sp := consumerFetch(t, fb, 12, off, -1, ""); sp.ErrorCode != 0 || len(sp.RecordBatches) != 0 {
			t.Fatalf("offset %d (hw 2, log end 4): error %d, %d bytes; want empty", off, sp.ErrorCode, len(sp.RecordBatches))
		}
	}
	for _, c := range []struct {
		version int16
		offset  int64
		epoch   int32
		want    *kerr.Error
	}{
		{12, 5, -1, kerr.OffsetOutOfRange},
		{12, 0, 2, kerr.FencedLeaderEpoch},
		{12, 0, 4, kerr.UnknownLeaderEpoch},
		{10, 0, -1, kerr.NotLeaderForPartition},
	} {
		if sp := consumerFetch(t, fb, c.version, c.offset, c.epoch, ""); sp.ErrorCode != c.want.Code {
			t.Errorf("v%d offset %d epoch %d: %v, want %v", c.version, c.offset, c.epoch, kerr.ErrorForCode(sp.ErrorCode), c.want)
		}
	}
}

// The leader with the rack-aware selector sends a client on a follower's
// rack there once that in-sync follower holds the offset; a client on its
// own rack, on a rack without replicas, with Fetch v10, or with the
// selector off reads from the leader.
func TestLeaderPrefersReplicaOnClientRack(t *testing.T) {
	b, p := replFixture(t, 1, 1, 3)
	r1, r2 := "r1", "r2"
	im := b.image().Apply(
		metadata.Record{Type: metadata.TypeRegisterBroker, RegisterBroker: &metadata.RegisterBrokerRecord{
			BrokerID: 1, Rack: &r1, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 1}}}},
		metadata.Record{Type: metadata.TypeRegisterBroker, RegisterBroker: &metadata.RegisterBrokerRecord{
			BrokerID: 2, Rack: &r2, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 2}}}})
	if br := im.Broker(2); br == nil || br.Rack == nil || *br.Rack != "r2" {
		t.Fatalf("broker 2 in the image: %+v", br)
	}
	b.pub = metadata.NewPublisher(im)
	b.opts.RackAwareReplicaSelector = true
	leaderAppend(t, p, 3, 4)

	// Node 2 has not fetched in this epoch: the leader reads (nothing is
	// below its high watermark yet).
	if sp := consumerFetch(t, b, 12, 0, -1, "r2"); sp.ErrorCode != 0 || sp.PreferredReadReplica != -1 {
		t.Fatalf("before the follower fetched: error %d, preferred %d", sp.ErrorCode, sp.PreferredReadReplica)
	}
	if ok, _ := p.followerFetched(2, 2, p.log.LogEndOffset(), 0, b.opts.Now(), -1); !ok {
		t.Fatal("follower fetch refused")
	}
	sp := consumerFetch(t, b, 12, 1, -1, "r2")
	if sp.ErrorCode != 0 || sp.PreferredReadReplica != 2 || len(sp.RecordBatches) != 0 {
		t.Fatalf("client on r2 at offset 1: error %d, preferred %d, %d bytes; want node 2, no records", sp.ErrorCode, sp.PreferredReadReplica, len(sp.RecordBatches))
	}
	// Node 2's log ends at 2: offset 3 is not there yet.
	if sp := consumerFetch(t, b, 12, 3, -1, "r2"); sp.PreferredReadReplica != -1 {
		t.Fatalf("offset 3 past node 2's log end: preferred %d", sp.PreferredReadReplica)
	}
	for _, rack := range []string{"r1", "r3", ""} {
		if sp := consumerFetch(t, b, 12, 1, -1, rack); sp.PreferredReadReplica != -1 || len(sp.RecordBatches) == 0 {
			t.Fatalf("client on %q: preferred %d, %d bytes; want the leader's records", rack, sp.PreferredReadReplica, len(sp.RecordBatches))
		}
	}
	if sp := consumerFetch(t, b, 10, 1, -1, "r2"); sp.PreferredReadReplica != -1 {
		t.Fatalf("Fetch v10: preferred %d", sp.PreferredReadReplica)
	}
	b.opts.RackAwareReplicaSelector = false
	if sp := consumerFetch(t, b, 12, 1, -1, "r2"); sp.PreferredReadReplica != -1 {
		t.Fatalf("selector off: preferred %d", sp.PreferredReadReplica)
	}
}
