package group

import (
	"testing"
	"time"
)

// FuzzDecode: __consumer_offsets records are read back from disk at every
// coordinator load, so any bytes must decode or fail, never crash; and
// what samsa writes must decode to what it wrote.
func FuzzDecode(f *testing.F) {
	f.Add(OffsetKey("g", "t", 3), OffsetValue(Offset{Offset: 42, LeaderEpoch: 1, Metadata: "m", CommitTime: 7}), "g", "t", int64(42))
	f.Add(GroupKey("g"), GroupValue(Snapshot{ProtocolType: "consumer", Generation: 2, Protocol: "range", Leader: "a",
		Members: []SnapshotMember{{ID: "a", ClientID: "c", SessionTimeout: time.Second, Subscription: []byte{1}, Assignment: []byte{2}}}}), "g", "", int64(0))
	f.Add([]byte{0, 9, 1}, []byte(nil), "", "", int64(0))
	// KIP-848 consumer group records.
	f.Add(CGKey(CGMetadataKind, "g", ""), cgMetadataValue(3, 99), "g", "m", int64(3))
	f.Add(CGKey(CGMemberMetadataKind, "g", "m"), cgMemberMetadataValue(CGMemberMeta{ClientID: "c", Subscribed: []string{"t"}}), "g", "m", int64(1))
	f.Add(CGKey(CGCurrentAssignmentKind, "g", "m"), cgCurrentValue(CGCurrent{Epoch: 2, Assigned: Assignment{{1}: {0, 1}}}), "g", "m", int64(2))
	f.Add(CGKey(CGTargetMemberKind, "g", "m"), cgTargetMemberValue(Assignment{{1}: {3}}), "g", "m", int64(0))
	f.Fuzz(func(t *testing.T, key, value []byte, group, topic string, offset int64) {
		_, _ = Decode(key, value)
		_, _ = Decode(key, nil)
		// Round trip of what samsa writes.
		r, err := Decode(OffsetKey(group, topic, 5), OffsetValue(Offset{Offset: offset, LeaderEpoch: 3, CommitTime: 9}))
		if err != nil || !r.IsOffset || r.Group != group || r.Topic != topic || r.Partition != 5 || r.Offset == nil || r.Offset.Offset != offset {
			t.Fatalf("offset record round trip: %+v %v", r, err)
		}
		g, err := Decode(GroupKey(group), GroupValue(Snapshot{ProtocolType: topic, Generation: int32(offset), Members: []SnapshotMember{{ID: group, Subscription: key}}}))
		if err != nil || g.IsOffset || g.Group != group || g.Snapshot == nil || g.Snapshot.ProtocolType != topic ||
			g.Snapshot.Generation != int32(offset) || len(g.Snapshot.Members) != 1 || string(g.Snapshot.Members[0].Subscription) != string(key) {
			t.Fatalf("group record round trip: %+v %v", g, err)
		}
		// Consumer group records: a member's current assignment.
		epoch := int32(offset)
		cur := CGCurrent{Epoch: epoch, PrevEpoch: epoch - 1, State: memberStable, Assigned: Assignment{{byte(offset)}: {int32(len(key)), 0}}}
		c, err := Decode(CGKey(CGCurrentAssignmentKind, group, topic), cgCurrentValue(cur))
		if err != nil || c.CG == nil || c.Group != group || c.CG.Member != topic || c.CG.Current.Epoch != epoch ||
			c.CG.Current.PrevEpoch != epoch-1 || !sameAssignment(c.CG.Current.Assigned, cur.Assigned) {
			t.Fatalf("current assignment round trip: %+v %v", c, err)
		}
		m, err := Decode(CGKey(CGMemberMetadataKind, group, topic), cgMemberMetadataValue(CGMemberMeta{ClientID: topic, Subscribed: []string{group}, Regex: &topic}))
		if err != nil || m.CG == nil || m.CG.Meta.ClientID != topic || len(m.CG.Meta.Subscribed) != 1 || m.CG.Meta.Subscribed[0] != group || *m.CG.Meta.Regex != topic {
			t.Fatalf("member metadata round trip: %+v %v", m, err)
		}
		// Whatever decodes replays and restores without panicking.
		if r, err := Decode(key, value); err == nil && r.CG != nil {
			s := &CGState{}
			s.Apply(r.CG)
			RestoreConsumerGroup(r.Group, &ConsumerConfig{SessionTimeout: time.Second}, s, time.Unix(0, 0)).Changes()
		}
	})
}
