package metadata

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// The replication fields (reassignment moves, ELR) travel in Partition and
// PartitionChange records, merge like the other lists (nil: unchanged,
// empty: cleared), survive a snapshot, and a snapshot written before they
// existed still decodes.
func TestReplicationFieldsMergeAndSnapshot(t *testing.T) {
	tid := Uuid{5, 6}
	im := Empty().Apply(
		Record{Type: TypeTopic, Topic: &TopicRecord{Name: "r", ID: tid}},
		Record{Type: TypePartition, Partition: &PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1, 2, 3, 4},
			ISR: []int32{1, 2}, Leader: 1, AddingReplicas: []int32{4}, RemovingReplicas: []int32{3}, ELR: []int32{}}},
	)
	p := im.Topic("r").Partitions[0]
	if !reflect.DeepEqual(p.AddingReplicas, []int32{4}) || !reflect.DeepEqual(p.RemovingReplicas, []int32{3}) || p.ELR != nil {
		t.Fatalf("partition record: %+v", p)
	}
	if !p.Reassigning() || !reflect.DeepEqual(p.TargetReplicas(), []int32{1, 2, 4}) || !reflect.DeepEqual(p.OriginalReplicas(), []int32{1, 2, 3}) {
		t.Fatalf("target %v original %v", p.TargetReplicas(), p.OriginalReplicas())
	}
	// An ELR change alone keeps the leader epoch.
	im = im.Apply(Record{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: tid, Partition: 0,
		Leader: NoLeaderChange, ISR: []int32{1}, ELR: []int32{2}, LastKnownELR: []int32{3}}})
	p = im.Topic("r").Partitions[0]
	if !reflect.DeepEqual(p.ELR, []int32{2}) || !reflect.DeepEqual(p.LastKnownELR, []int32{3}) || p.LeaderEpoch != 0 || p.PartitionEpoch != 1 ||
		!reflect.DeepEqual(p.AddingReplicas, []int32{4}) {
		t.Fatalf("after change: %+v", p)
	}
	snap := im.Snapshot()
	back, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Topic("r").Partitions[0], p) {
		t.Fatalf("restored %+v, want %+v", back.Topic("r").Partitions[0], p)
	}
	// Completing the move clears the lists (empty, not nil, in the record).
	im = im.Apply(Record{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: tid, Partition: 0,
		Leader: NoLeaderChange, Replicas: []int32{1, 2, 4}, AddingReplicas: []int32{}, RemovingReplicas: []int32{}, ELR: []int32{}, LastKnownELR: []int32{}}})
	p = im.Topic("r").Partitions[0]
	if p.Reassigning() || p.ELR != nil || p.LastKnownELR != nil {
		t.Fatalf("after completion: %+v", p)
	}
	// The cleared record round-trips through the batch codec as a clear.
	rec := Record{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: tid, Partition: 0, Leader: NoLeaderChange, ELR: []int32{}}}
	b, err := EncodeBatch([]Record{rec})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"elr":[]`) || strings.Contains(string(b), "addingReplicas") {
		t.Fatalf("encoded %s", b)
	}
	dec, err := DecodeBatch(b)
	if err != nil || dec[0].PartitionChange.ELR == nil || dec[0].PartitionChange.AddingReplicas != nil {
		t.Fatalf("decoded %+v, %v", dec, err)
	}
	// A partition without the new fields snapshots exactly as before.
	plain := Empty().Apply(
		Record{Type: TypeTopic, Topic: &TopicRecord{Name: "p", ID: tid}},
		Record{Type: TypePartition, Partition: &PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}},
	)
	old := `{"replicas":[1],"isr":[1],"leader":1,"leaderEpoch":0,"partitionEpoch":0}`
	if !bytes.Contains(plain.Snapshot(), []byte(old)) {
		t.Fatalf("snapshot of a plain partition changed form: %s", plain.Snapshot())
	}
	if _, err := DecodeSnapshot(plain.Snapshot()); err != nil {
		t.Fatal(err)
	}
}
