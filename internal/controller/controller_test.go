package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

type memLog struct{ recs []metadata.Record }

func (m *memLog) Append(recs []metadata.Record) error { m.recs = append(m.recs, recs...); return nil }

func newTest(t *testing.T, brokers ...int32) (*Controller, *memLog) {
	log := &memLog{}
	c := New(Config{NodeID: 1, DefaultPartitions: 2, DefaultReplicationFactor: 1, DeleteTopicEnable: true}, log, nil)
	for _, b := range brokers {
		if _, err := c.RegisterBroker(b, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return c, log
}

func TestCreateTopicValidation(t *testing.T) {
	c, _ := newTest(t, 1, 2, 3)
	cases := []struct {
		spec TopicSpec
		want *kerr.Error
	}{
		{TopicSpec{Name: "ok", NumPartitions: -1, ReplicationFactor: -1}, nil},
		{TopicSpec{Name: "ok", NumPartitions: 1, ReplicationFactor: 1}, kerr.TopicAlreadyExists},
		{TopicSpec{Name: "", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{TopicSpec{Name: "..", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{TopicSpec{Name: "a/b", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{TopicSpec{Name: string(make([]byte, 250)), NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{TopicSpec{Name: "zero", NumPartitions: 0, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{TopicSpec{Name: "rf4", NumPartitions: 1, ReplicationFactor: 4}, kerr.InvalidReplicationFactor},
		{TopicSpec{Name: "a.b", NumPartitions: 1, ReplicationFactor: 1}, nil},
		{TopicSpec{Name: "a_b", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{TopicSpec{Name: "asg", NumPartitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{1, 2}, {2, 2}}}, kerr.InvalidReplicaAssignment},
		{TopicSpec{Name: "asg", NumPartitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{1, 9}}}, kerr.InvalidReplicaAssignment},
		{TopicSpec{Name: "asg", NumPartitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{1, 2}, {3, 1}}}, nil},
	}
	for _, tc := range cases {
		_, err := c.CreateTopic(tc.spec, false)
		want := int16(0)
		if tc.want != nil {
			want = tc.want.Code
		}
		if got := CodeOf(err); got != want {
			t.Errorf("%q: code %d (%v), want %d", tc.spec.Name, got, err, want)
		}
	}
	im := c.Image()
	if p := im.Topic("ok").Partitions; len(p) != 2 {
		t.Fatalf("default partitions: %d", len(p))
	}
	if p := im.Topic("asg").Partitions; p[1].Leader != 3 || len(p[1].Replicas) != 2 {
		t.Fatalf("explicit assignment: %+v", p)
	}
}

func TestValidateOnlyWritesNothing(t *testing.T) {
	c, log := newTest(t, 1)
	n := len(log.recs)
	if _, err := c.CreateTopic(TopicSpec{Name: "v", NumPartitions: 3, ReplicationFactor: 1}, true); err != nil {
		t.Fatal(err)
	}
	if len(log.recs) != n || c.Image().Topic("v") != nil {
		t.Fatal("validateOnly wrote records")
	}
}

func TestListenersSeeEveryImageInOrder(t *testing.T) {
	c, _ := newTest(t, 1)
	var offsets []int64
	c.Subscribe(func(prev, next *metadata.Image, recs []metadata.Record) {
		if prev != nil && next.Offset != prev.Offset+int64(len(recs)) {
			t.Errorf("image offsets %d → %d with %d records", prev.Offset, next.Offset, len(recs))
		}
		offsets = append(offsets, next.Offset)
	})
	c.CreateTopic(TopicSpec{Name: "a", NumPartitions: 2, ReplicationFactor: 1}, false)
	c.CreatePartitions("a", 4, nil, false)
	c.DeleteTopic("a", Uuid{})
	if len(offsets) != 4 {
		t.Fatalf("listener calls: %v", offsets)
	}
}

func TestCreatePartitionsAndConfigs(t *testing.T) {
	c, _ := newTest(t, 1)
	c.CreateTopic(TopicSpec{Name: "a", NumPartitions: 2, ReplicationFactor: 1}, false)
	if err := c.CreatePartitions("a", 1, nil, false); CodeOf(err) != kerr.InvalidPartitions.Code {
		t.Fatalf("shrink: %v", err)
	}
	if err := c.CreatePartitions("nope", 3, nil, false); CodeOf(err) != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v", err)
	}
	v := "x,y"
	if err := c.AlterTopicConfigs("a", []ConfigOp{{Name: "cleanup.policy", Op: 0, Value: &v}}, false, false); err != nil {
		t.Fatal(err)
	}
	z := "y"
	c.AlterTopicConfigs("a", []ConfigOp{{Name: "cleanup.policy", Op: 3, Value: &z}}, false, false)
	if got := c.Image().Configs(metadata.ResourceTopic, "a")["cleanup.policy"]; got != "x" {
		t.Fatalf("subtract: %q", got)
	}
	c.AlterTopicConfigs("a", []ConfigOp{{Name: "cleanup.policy", Op: 1}}, false, false)
	if c.Image().Configs(metadata.ResourceTopic, "a") != nil {
		t.Fatal("delete op left the config")
	}
}

func TestNewUuidAvoidsReservedIDs(t *testing.T) {
	for i := 0; i < 1000; i++ {
		u := NewUuid()
		if u == (Uuid{}) || u == (Uuid{15: 1}) || u[0]>>2 == 62 {
			t.Fatalf("reserved or dash-leading id %x", u)
		}
	}
}

// TestSingleNodeRestartKeepsLeadership replays a FileLog-style log (one
// record per entry) into a new controller, as a restarted single node
// does: the broker registers a new incarnation, is unfenced at once, and
// still leads its partitions at the same leader epoch.
func TestSingleNodeRestartKeepsLeadership(t *testing.T) {
	c, log := newTest(t, 1)
	if _, err := c.CreateTopic(TopicSpec{Name: "a", NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	first := c.Image().Broker(1)
	for i := 0; i < 3; i++ {
		c = New(Config{NodeID: 1, DefaultPartitions: 2, DefaultReplicationFactor: 1}, log, log.recs)
		epoch, err := c.RegisterBroker(1, nil, nil)
		if err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		im := c.Image()
		b := im.Broker(1)
		if b.Fenced || b.Epoch != epoch || epoch <= first.Epoch || b.IncarnationID == first.IncarnationID {
			t.Fatalf("restart %d: broker %+v, epoch %d", i, b, epoch)
		}
		for _, p := range im.Topic("a").Partitions {
			if p.Leader != 1 || p.LeaderEpoch != 0 {
				t.Fatalf("restart %d: partition %+v", i, p)
			}
		}
		if im.Offset != int64(len(log.recs)) {
			t.Fatalf("offset %d with %d records", im.Offset, len(log.recs))
		}
		first = b
	}
	// The same controller refuses a second incarnation of a live broker.
	if _, err := c.RegisterBroker(1, nil, nil); CodeOf(err) != kerr.DuplicateBrokerRegistration.Code {
		t.Fatalf("second registration in one process: %v", err)
	}
	first2, n, err := c.AllocateProducerIDs(1)
	if err != nil || first2 != 0 || n != DefaultProducerIDBlockSize {
		t.Fatalf("producer ids: %d %d %v", first2, n, err)
	}
}

// batchMemLog is a log of batches, as the Raft log will be.
type batchMemLog struct{ entries [][]metadata.Record }

func (l *batchMemLog) Append(recs []metadata.Record) error { panic("Append on a batch log") }
func (l *batchMemLog) AppendBatch(recs []metadata.Record) (int64, error) {
	l.entries = append(l.entries, recs)
	return int64(len(l.entries)) * 10, nil // any increasing index
}

func TestBatchLogOffsetsAreEntryIndexes(t *testing.T) {
	log := &batchMemLog{}
	c := New(Config{DefaultPartitions: 3, DefaultReplicationFactor: 1}, log, nil)
	var offsets []int64
	c.Subscribe(func(prev, next *metadata.Image, recs []metadata.Record) { offsets = append(offsets, next.Offset) })
	epoch, err := c.RegisterBroker(1, nil, nil)
	if err != nil || epoch != 1 {
		t.Fatalf("epoch %d: %v", epoch, err)
	}
	if _, err := c.CreateTopic(TopicSpec{Name: "a", NumPartitions: -1, ReplicationFactor: -1}, false); err != nil {
		t.Fatal(err)
	}
	if len(log.entries) != 3 || len(log.entries[2]) != 4 || !slices.Equal(offsets, []int64{0, 10, 20, 30}) {
		t.Fatalf("entries %d, offsets %v", len(log.entries), offsets)
	}
	if b := c.Image().Broker(1); b.RegistrationOffset != 10 || b.Fenced {
		t.Fatalf("broker %+v", b)
	}
}

func TestConfigValuesAreValidUTF8(t *testing.T) {
	c, _ := newTest(t, 1)
	c.CreateTopic(TopicSpec{Name: "a", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]*string{"k\xff": ptr("v\xfe")}}, false)
	v := "x\xff"
	c.AlterTopicConfigs("a", []ConfigOp{{Name: "m", Op: 0, Value: &v}}, false, false)
	got := c.Image().Configs(metadata.ResourceTopic, "a")
	if got["k\uFFFD"] != "v\uFFFD" || got["m"] != "x\uFFFD" || len(got) != 2 {
		t.Fatalf("configs %q", got)
	}
}

func ptr(s string) *string { return &s }

func TestTickSchedule(t *testing.T) {
	c := New(Config{AutoLeaderRebalance: true, LeaderImbalanceCheckInterval: time.Minute}, &memLog{}, nil)
	t0 := time.UnixMilli(1_000_000)
	if next, _ := c.Tick(t0); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next with no brokers: %v", next)
	}
	res, err := c.BrokerRegistration(Registration{BrokerID: 1, IncarnationID: Uuid{5}, PreviousBrokerEpoch: -1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.BrokerHeartbeat(Heartbeat{BrokerID: 1, BrokerEpoch: res.BrokerEpoch, CurrentMetadataOffset: c.Image().Offset}, t0); err != nil {
		t.Fatal(err)
	}
	if next, _ := c.Tick(t0); !next.Equal(t0.Add(DefaultSessionTimeout + time.Millisecond)) {
		t.Fatalf("next with a session: %v", next)
	}
	if _, err := c.Tick(t0.Add(DefaultSessionTimeout)); err != nil || c.Image().Broker(1).Fenced {
		t.Fatal("fenced at exactly the session timeout", err)
	}
	if _, err := c.Tick(t0.Add(DefaultSessionTimeout + time.Millisecond)); err != nil || !c.Image().Broker(1).Fenced {
		t.Fatal("not fenced after the session timeout", err)
	}
}
