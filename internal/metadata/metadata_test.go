package metadata

import (
	"os"
	"path/filepath"
	"testing"
)

func topicRecs(name string, id Uuid, n int) []Record {
	recs := []Record{{Type: TypeTopic, Topic: &TopicRecord{Name: name, ID: id}}}
	for i := 0; i < n; i++ {
		recs = append(recs, Record{Type: TypePartition, Partition: &PartitionRecord{TopicID: id, Partition: int32(i),
			Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}})
	}
	return recs
}

func TestImageApplyIsCopyOnWrite(t *testing.T) {
	a := Empty().Apply(topicRecs("a", Uuid{1}, 2)...)
	b := a.Apply(topicRecs("b", Uuid{2}, 1)...)
	v := "1000"
	c := b.Apply(Record{Type: TypeConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "a", Name: "retention.ms", Value: &v}},
		Record{Type: TypeRemoveTopic, RemoveTopic: &RemoveTopicRecord{TopicID: Uuid{2}}})
	if a.Topic("b") != nil || b.Topic("b") == nil || c.Topic("b") != nil {
		t.Fatal("images share topic maps")
	}
	if len(a.Topic("a").Partitions) != 2 || a.Offset != 3 || c.Offset != 7 {
		t.Fatalf("partitions %d offsets %d %d", len(a.Topic("a").Partitions), a.Offset, c.Offset)
	}
	if b.Configs(ResourceTopic, "a") != nil || c.Configs(ResourceTopic, "a")["retention.ms"] != "1000" {
		t.Fatal("config not applied copy-on-write")
	}
	d := c.Apply(Record{Type: TypeConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "a", Name: "retention.ms"}})
	if d.Configs(ResourceTopic, "a") != nil || c.Configs(ResourceTopic, "a") == nil {
		t.Fatal("config removal")
	}
	// A partition of an unknown topic is ignored.
	e := d.Apply(Record{Type: TypePartition, Partition: &PartitionRecord{TopicID: Uuid{9}, Partition: 0}})
	if len(e.Topics()) != 1 {
		t.Fatal("orphan partition created a topic")
	}
}

func TestFileLogReplaysAndTruncatesTornTail(t *testing.T) {
	dir := t.TempDir()
	l, recs, err := OpenFileLog(dir)
	if err != nil || len(recs) != 0 {
		t.Fatal(err, len(recs))
	}
	if err := l.Append(topicRecs("a", Uuid{1}, 3)); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(topicRecs("b", Uuid{2}, 1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	path := filepath.Join(dir, "metadata.log")
	good, _ := os.Stat(path)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 0, 50, 1, 2, 3, 4, '{'})
	f.Close()
	l, recs, err = OpenFileLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(recs) != 6 {
		t.Fatalf("replayed %d records, want 6", len(recs))
	}
	if st, _ := os.Stat(path); st.Size() != good.Size() {
		t.Fatalf("torn tail not truncated: %d vs %d", st.Size(), good.Size())
	}
	im := Empty().Apply(recs...)
	if im.Topic("a") == nil || len(im.Topic("a").Partitions) != 3 || im.Topic("b") == nil {
		t.Fatal("image after replay")
	}
}

func TestDecodeRecordRejectsMismatchedBody(t *testing.T) {
	if _, err := DecodeRecord([]byte(`{"type":"Topic"}`)); err == nil {
		t.Fatal("record without body accepted")
	}
	if _, err := DecodeRecord([]byte(`not json`)); err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	r := topicRecs("a", Uuid{1}, 1)[1]
	b, _ := r.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if rec, err := DecodeRecord(b); err == nil {
			Empty().Apply(rec)
		}
	})
}
