package group

import (
	"bytes"
	"encoding/hex"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
)

// cgLog is a compacted __consumer_offsets as far as one group goes: the
// records appended, replayed in order.
type cgLog struct{ recs []CGRecordKV }

func (l *cgLog) write(recs []CGRecordKV) { l.recs = append(l.recs, recs...) }

func (l *cgLog) state(t *testing.T) *CGState {
	t.Helper()
	s := &CGState{}
	for _, kv := range l.recs {
		r, err := Decode(kv.Key, kv.Value)
		if err != nil || r.CG == nil || r.Group != "g" {
			t.Fatalf("decode %x: %+v %v", kv.Key, r, err)
		}
		s.Apply(r.CG)
	}
	return s
}

type cgFixture struct {
	t      *testing.T
	cfg    *ConsumerConfig
	g      *ConsumerGroup
	log    *cgLog
	now    time.Time
	tid    [16]byte
	topics map[string]TopicMeta
}

func newCGFixture(t *testing.T) *cgFixture {
	tid := [16]byte{7, 1}
	return &cgFixture{t: t, cfg: &ConsumerConfig{SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second},
		log: &cgLog{}, now: time.Unix(100, 0), tid: tid,
		topics: map[string]TopicMeta{"t": {ID: tid, Name: "t", Partitions: 4}}}
}

// hb heartbeats and writes what changed, as the coordinator does.
func (f *cgFixture) hb(member string, epoch int32, owned []int32) CGResult {
	f.t.Helper()
	req := CGHeartbeat{Version: 1, MemberID: member, Epoch: epoch, RebalanceTimeout: 5 * time.Second,
		ClientID: "cid-" + member, ClientHost: "/10.0.0.1"}
	if epoch == 0 {
		req.Subscribed = []string{"t"}
		rack, inst, assignor := "rack-"+member, "inst-"+member, "range"
		req.RackID, req.InstanceID, req.Assignor = &rack, &inst, &assignor
	}
	if owned != nil {
		req.Owned = Assignment{f.tid: owned}
	}
	r := f.g.Heartbeat(f.now, req, f.topics)
	if r.Err != 0 {
		f.t.Fatalf("heartbeat %s: %+v", member, r)
	}
	f.log.write(f.g.Changes())
	return r
}

func eqPtr(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func sameMembers(t *testing.T, a, b *ConsumerGroup) {
	t.Helper()
	if a.Epoch() != b.Epoch() || a.AssignmentEpoch() != b.AssignmentEpoch() || a.State() != b.State() || a.Assignor() != b.Assignor() {
		t.Fatalf("group: epoch %d/%d assignment epoch %d/%d state %s/%s assignor %s/%s", a.Epoch(), b.Epoch(),
			a.AssignmentEpoch(), b.AssignmentEpoch(), a.State(), b.State(), a.Assignor(), b.Assignor())
	}
	am, bm := a.Members(), b.Members()
	if len(am) != len(bm) {
		t.Fatalf("members %d vs %d", len(am), len(bm))
	}
	for i := range am {
		x, y := am[i], bm[i]
		if x.ID != y.ID || x.Epoch != y.Epoch || x.prevEpoch != y.prevEpoch || !eqPtr(x.InstanceID, y.InstanceID) ||
			!eqPtr(x.RackID, y.RackID) || x.RackID == nil || x.ClientID != y.ClientID || x.ClientHost != y.ClientHost ||
			!slices.Equal(x.Subscribed, y.Subscribed) || x.RebalanceTimeout != y.RebalanceTimeout ||
			!sameAssignment(x.Assigned, y.Assigned) || !sameAssignment(x.Pending, y.Pending) ||
			!sameAssignment(a.Target(x.ID), b.Target(y.ID)) || !maps.EqualFunc(x.epochs, y.epochs, maps.Equal) {
			t.Fatalf("member %s: %+v vs %+v (targets %v %v)", x.ID, x, y, a.Target(x.ID), b.Target(y.ID))
		}
	}
}

// Encode → decode → restore: a group mid-rebalance (one member with
// partitions pending revocation, one waiting for them) comes back with
// the same epochs, assignments and targets, and carries on from there.
func TestConsumerGroupRecordsRestore(t *testing.T) {
	f := newCGFixture(t)
	f.g = NewConsumerGroup("g", f.cfg, f.now)
	f.hb("a", 0, nil)
	f.hb("b", 0, nil)
	r := f.hb("a", 1, []int32{0, 1, 2, 3}) // a is told to revoke two
	if len(f.g.members["a"].Pending) == 0 {
		t.Fatalf("a should have partitions pending revocation: %+v", r)
	}
	kept := r.Assignment[f.tid]

	f.now = f.now.Add(time.Minute)
	s := f.log.state(t)
	g2 := RestoreConsumerGroup("g", f.cfg, s, f.now)
	sameMembers(t, f.g, g2)
	if g2.State() != "Reconciling" {
		t.Fatal(g2.State())
	}
	if c := g2.Changes(); len(c) != 0 {
		t.Fatalf("a restored group has nothing new to write: %d records", len(c))
	}
	// Sessions and the revocation deadline restart at load time.
	if d := g2.Deadline(); !d.Equal(f.now.Add(5*time.Second)) || !g2.members["b"].expires.Equal(f.now.Add(f.cfg.SessionTimeout)) {
		t.Fatalf("deadline %v, b expires %v", d, g2.members["b"].expires)
	}
	// The members carry on with their epochs: no fencing, no new epoch.
	f.g = g2
	epoch := g2.Epoch()
	f.hb("a", g2.members["a"].Epoch, kept)
	bEpoch := g2.members["b"].Epoch
	r = f.hb("b", bEpoch, []int32{})
	if len(r.Assignment[f.tid]) != 2 || g2.State() != "Stable" || g2.Epoch() != epoch {
		t.Fatalf("after restore: %+v state %s epoch %d→%d", r, g2.State(), epoch, g2.Epoch())
	}
	// And what they wrote restores too.
	sameMembers(t, g2, RestoreConsumerGroup("g", f.cfg, f.log.state(t), f.now))
}

// A member's leave writes its three tombstones in Kafka's order, then the
// new group epoch; deleting the group tombstones everything.
func TestConsumerGroupRecordsTombstones(t *testing.T) {
	f := newCGFixture(t)
	f.g = NewConsumerGroup("g", f.cfg, f.now)
	f.hb("a", 0, nil)
	f.hb("b", 0, nil)
	f.g.Heartbeat(f.now, CGHeartbeat{MemberID: "b", Epoch: -1}, f.topics)
	recs := f.g.Changes()
	var kinds []int16
	for _, kv := range recs {
		r, err := Decode(kv.Key, kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		if r.CG.Tombstone && r.CG.Member != "b" {
			t.Fatalf("tombstone of %q", r.CG.Member)
		}
		if r.CG.Tombstone {
			kinds = append(kinds, -r.CG.Kind)
		} else {
			kinds = append(kinds, r.CG.Kind)
		}
	}
	if len(kinds) < 4 || !slices.Equal(kinds[:4], []int16{-8, -7, -5, 3}) {
		t.Fatalf("leave records (negative: tombstone): %v", kinds)
	}
	f.log.write(recs)
	s := f.log.state(t)
	if _, ok := s.Members["b"]; ok || len(s.Members) != 1 || s.Current["b"] != nil || s.Targets["b"] != nil {
		t.Fatalf("b still in the records: %+v", s)
	}
	sameMembers(t, f.g, RestoreConsumerGroup("g", f.cfg, s, f.now))

	// The session of a expires: the group is empty, and is then deleted.
	f.now = f.now.Add(time.Hour)
	f.g.Tick(f.now)
	f.log.write(f.g.Changes())
	if s := f.log.state(t); !s.Live() || len(s.Members) != 0 {
		t.Fatalf("an empty group stays: %+v", s)
	}
	tombs := f.g.Tombstones()
	for _, kv := range tombs {
		if kv.Value != nil {
			t.Fatalf("not a tombstone: %x", kv.Key)
		}
	}
	f.log.write(tombs)
	if s := f.log.state(t); s.Live() {
		t.Fatalf("a deleted group is gone: %+v", s)
	}
	last, _ := Decode(tombs[len(tombs)-1].Key, nil)
	if last.CG.Kind != CGMetadataKind {
		t.Fatalf("the group epoch is tombstoned last, got kind %d", last.CG.Kind)
	}
}

// A failed write is written again with the next change, tombstones too.
func TestConsumerGroupRecordsWriteFailed(t *testing.T) {
	f := newCGFixture(t)
	f.g = NewConsumerGroup("g", f.cfg, f.now)
	f.hb("a", 0, nil)
	f.hb("b", 0, nil)
	f.g.Heartbeat(f.now, CGHeartbeat{MemberID: "b", Epoch: -1}, f.topics)
	lost := f.g.Changes()
	f.g.WriteFailed(lost)
	again := f.g.Changes()
	for _, kv := range lost {
		if !slices.ContainsFunc(again, func(x CGRecordKV) bool {
			return bytes.Equal(x.Key, kv.Key) && bytes.Equal(x.Value, kv.Value)
		}) {
			t.Fatalf("record %x not rewritten after a failure", kv.Key)
		}
	}
	if c := f.g.Changes(); len(c) != 0 {
		t.Fatalf("nothing left after the rewrite: %d", len(c))
	}
}

// Records as Kafka 4.x writes them, bytes laid out by hand from its JSON
// schemas (kmsg has no types for these): tagged fields samsa does not
// know (CreationTimeMs, ClassicMemberMetadata) are skipped, and a
// partition-metadata record (pre-4.1) is read and ignored.
func TestConsumerGroupRecordsKafkaBytes(t *testing.T) {
	str := func(s string) []byte { return kbin.AppendString(nil, s) }
	key := func(kind int16, parts ...string) []byte {
		b := kbin.AppendInt16(nil, kind)
		for _, p := range parts {
			b = append(b, str(p)...)
		}
		return b
	}
	mustHex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tid := "0102030405060708090a0b0c0d0e0f10"
	recs := []struct{ k, v []byte }{
		// ConsumerGroupMetadataValue v0: Epoch 5, tags {0: MetadataHash 9, 1: CreationTimeMs 77}.
		{key(3, "g"), mustHex("0000" + "00000005" + "02" + "00" + "08" + "0000000000000009" + "01" + "08" + "000000000000004d")},
		// ConsumerGroupPartitionMetadataValue v0: one topic (ignored).
		{key(4, "g"), mustHex("0000" + "02" + tid + "0274" + "00000004" + "01" + "00" + "00")},
		// ConsumerGroupMemberMetadataValue v0: InstanceId null, RackId "r",
		// ClientId "c", ClientHost "/h", [t], regex null, 30000 ms,
		// ServerAssignor "uniform", tag 0 ClassicMemberMetadata {45000, []}.
		{key(5, "g", "m"), mustHex("0000" + "00" + "0272" + "0263" + "032f68" + "02" + "0274" + "00" + "00007530" +
			"08756e69666f726d" + "01" + "00" + "06" + "0000afc8" + "01" + "00")},
		// ConsumerGroupTargetAssignmentMetadataValue v0: AssignmentEpoch 5.
		{key(6, "g"), mustHex("0000" + "00000005" + "00")},
		// ConsumerGroupTargetAssignmentMemberValue v0: t → [0, 2].
		{key(7, "g", "m"), mustHex("0000" + "02" + tid + "03" + "00000000" + "00000002" + "00" + "00")},
		// ConsumerGroupCurrentMemberAssignmentValue v0: epoch 5, previous 4,
		// state STABLE, assigned t → [0, 2] (with an unknown tag), pending [].
		{key(8, "g", "m"), mustHex("0000" + "00000005" + "00000004" + "00" + "02" + tid + "03" + "00000000" + "00000002" +
			"01" + "05" + "01" + "00" + "01" + "00")},
	}
	s := &CGState{}
	for _, r := range recs {
		d, err := Decode(r.k, r.v)
		if err != nil || d.CG == nil || d.Group != "g" {
			t.Fatalf("decode %x → %x: %+v %v", r.k, r.v, d, err)
		}
		s.Apply(d.CG)
	}
	var id [16]byte
	copy(id[:], mustHex(tid))
	g := RestoreConsumerGroup("g", &ConsumerConfig{SessionTimeout: time.Second}, s, time.Unix(0, 0))
	m := g.members["m"]
	if g.Epoch() != 5 || g.AssignmentEpoch() != 5 || g.topicsHash != 9 || m == nil || m.Epoch != 5 || m.prevEpoch != 4 ||
		m.InstanceID != nil || *m.RackID != "r" || m.ClientID != "c" || m.ClientHost != "/h" || !slices.Equal(m.Subscribed, []string{"t"}) ||
		m.RebalanceTimeout != 30*time.Second || g.Assignor() != "uniform" || !slices.Equal(m.Assigned[id], []int32{0, 2}) ||
		!slices.Equal(g.Target("m")[id], []int32{0, 2}) || g.State() != "Stable" {
		t.Fatalf("restored from Kafka's records: %+v member %+v", g, m)
	}
	// That record has no AssignmentEpochs (as written before KIP-1251):
	// the partitions count as assigned at the member epoch.
	for _, p := range []int32{0, 2} {
		if e, ok := m.epochs.get(id, p); !ok || e != 5 {
			t.Fatalf("partition %d restored with assignment epoch %d (%v), want the member epoch 5", p, e, ok)
		}
	}
	// Kafka 4.4's bytes for epoch 5, previous 4, STABLE, assigned t → [0,
	// 2] at epochs [3, 5], pending t → [1] at [2] (printed by its
	// MessageUtil.toVersionPrefixedBytes): samsa writes the same bytes and
	// reads the same epochs back.
	kafka44 := mustHex("0000" + "00000005" + "00000004" + "00" +
		"02" + tid + "03" + "00000000" + "00000002" + "01" + "00" + "09" + "03" + "00000003" + "00000005" +
		"02" + tid + "02" + "00000001" + "01" + "00" + "05" + "02" + "00000002" + "00")
	epochs := Epochs{}
	epochs.set(id, 0, 3)
	epochs.set(id, 2, 5)
	epochs.set(id, 1, 2)
	cur := cgCurrentValue(CGCurrent{Epoch: 5, PrevEpoch: 4, Assigned: Assignment{id: {2, 0}}, Pending: Assignment{id: {1}}, Epochs: epochs})
	if !bytes.Equal(cur, kafka44) {
		t.Fatalf("current assignment encoding:\n got %x\nwant %x", cur, kafka44)
	}
	d, err := Decode(key(8, "g", "m"), kafka44)
	if err != nil || !maps.EqualFunc(d.CG.Current.Epochs, epochs, maps.Equal) {
		t.Fatalf("Kafka 4.4's assignment epochs read as %v (%v), want %v", d.CG.Current.Epochs, err, epochs)
	}
	// A future value version or a truncated value is an error, not a panic.
	if _, err := Decode(key(3, "g"), mustHex("0001")); err == nil {
		t.Fatal("value version 1 accepted")
	}
	if _, err := Decode(key(8, "g", "m"), mustHex("0000000000")); err == nil {
		t.Fatal("truncated value accepted")
	}
	if _, err := Decode(key(5, "g"), nil); err == nil {
		t.Fatal("member key without a member id accepted")
	}
}
