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
	})
}
