package controller

import (
	"testing"

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
