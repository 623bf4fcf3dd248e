package metadata

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// bigImage: 5 brokers, 1000 topics of 10 partitions with 3 replicas, a
// config on each topic.
func bigImage(b *testing.B) *Image {
	var recs []Record
	for id := int32(1); id <= 5; id++ {
		recs = append(recs, Record{Type: TypeRegisterBroker, RegisterBroker: &RegisterBrokerRecord{BrokerID: id, BrokerEpoch: int64(id),
			Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: fmt.Sprintf("broker-%d.example", id), Port: 9092}}}})
	}
	for i := 0; i < 1000; i++ {
		var tid Uuid
		binary.BigEndian.PutUint64(tid[:], uint64(i+7))
		name := fmt.Sprintf("topic-%04d", i)
		recs = append(recs, Record{Type: TypeTopic, Topic: &TopicRecord{Name: name, ID: tid}},
			Record{Type: TypeConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: name, Name: "retention.ms", Value: str("86400000")}})
		for p := int32(0); p < 10; p++ {
			reps := []int32{1 + (p+int32(i))%5, 1 + (p+int32(i)+1)%5, 1 + (p+int32(i)+2)%5}
			recs = append(recs, Record{Type: TypePartition, Partition: &PartitionRecord{TopicID: tid, Partition: p, Replicas: reps, ISR: reps, Leader: reps[0]}})
		}
	}
	return Empty().Apply(recs...)
}

// go test -run '^$' -bench Snapshot -benchmem ./internal/metadata/
func BenchmarkSnapshotEncode(b *testing.B) {
	im := bigImage(b)
	var n int
	for b.Loop() {
		n = len(im.Snapshot())
	}
	b.ReportMetric(float64(n), "snapshot-bytes")
}

func BenchmarkSnapshotDecode(b *testing.B) {
	snap := bigImage(b).Snapshot()
	for b.Loop() {
		if _, err := DecodeSnapshot(snap); err != nil {
			b.Fatal(err)
		}
	}
}
