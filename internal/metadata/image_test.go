package metadata

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func str(s string) *string { return &s }

// richImage exercises every kind of record: brokers in each state,
// topics with changed partitions, configs, features, producer ids.
func richImage(t testing.TB) *Image {
	t.Helper()
	tid, uid := Uuid{1, 2}, Uuid{3, 4}
	recs := []Record{
		{Type: TypeFeatureLevel, FeatureLevel: &FeatureLevelRecord{Name: "metadata.version", FeatureLevel: 27}},
		{Type: TypeFeatureLevel, FeatureLevel: &FeatureLevelRecord{Name: "group.version", FeatureLevel: 1}},
		{Type: TypeRegisterBroker, RegisterBroker: &RegisterBrokerRecord{BrokerID: 1, IncarnationID: Uuid{9}, BrokerEpoch: 1,
			Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h1", Port: 9092}, {Name: "INTERNAL", Host: "h1", Port: 9094}},
			Rack:      str("a"), Fenced: true}},
		{Type: TypeRegisterBroker, RegisterBroker: &RegisterBrokerRecord{BrokerID: 2, IncarnationID: Uuid{8}, BrokerEpoch: 2,
			Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h2", Port: 9092}}, Features: []FeatureRange{{Name: "metadata.version", Min: 1, Max: 27}}, Fenced: true}},
		{Type: TypeRegisterBroker, RegisterBroker: &RegisterBrokerRecord{BrokerID: 3, IncarnationID: Uuid{7}, BrokerEpoch: 3, Fenced: true}},
		{Type: TypeUnfenceBroker, UnfenceBroker: &UnfenceBrokerRecord{ID: 1, Epoch: 1}},
		{Type: TypeBrokerRegistrationChange, BrokerRegistrationChange: &BrokerRegistrationChangeRecord{BrokerID: 2, BrokerEpoch: 2, Fenced: ChangeUnfence}},
		{Type: TypeBrokerRegistrationChange, BrokerRegistrationChange: &BrokerRegistrationChangeRecord{BrokerID: 2, BrokerEpoch: 2, InControlledShutdown: ChangeInControlledShutdown}},
		{Type: TypeTopic, Topic: &TopicRecord{Name: "t", ID: tid}},
		{Type: TypePartition, Partition: &PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}},
		{Type: TypePartition, Partition: &PartitionRecord{TopicID: tid, Partition: 1, Replicas: []int32{2, 1}, ISR: []int32{2, 1}, Leader: 2}},
		{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: tid, Partition: 1, Leader: 1, ISR: []int32{1}}},
		{Type: TypeTopic, Topic: &TopicRecord{Name: "u", ID: uid}},
		{Type: TypePartition, Partition: &PartitionRecord{TopicID: uid, Partition: 0, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3}},
		{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: uid, Partition: 0, Leader: NoLeader}},
		{Type: TypeConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "t", Name: "retention.ms", Value: str("1000")}},
		{Type: TypeConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "t", Name: "cleanup.policy", Value: str("compact")}},
		{Type: TypeConfig, Config: &ConfigRecord{ResourceType: ResourceBroker, ResourceName: "", Name: "log.retention.ms", Value: str("5")}},
		{Type: TypeProducerIDs, ProducerIDs: &ProducerIDsRecord{BrokerID: 1, BrokerEpoch: 1, NextProducerID: 2000}},
	}
	im := Empty()
	for i, r := range recs {
		var err error
		if im, err = im.ApplyBatch(int64(10+i), []Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	return im
}

func TestApplyBatchSetsOffsetAndMergesChanges(t *testing.T) {
	im := richImage(t)
	if im.Offset != 28 {
		t.Fatalf("offset %d", im.Offset)
	}
	if _, err := im.ApplyBatch(28, nil); err == nil {
		t.Fatal("an entry at the current offset was applied")
	}
	p := im.Topic("t").Partitions[1]
	if p.Leader != 1 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 || !slices.Equal(p.ISR, []int32{1}) || !slices.Equal(p.Replicas, []int32{2, 1}) {
		t.Fatalf("partition change merge: %+v", p)
	}
	if u := im.Topic("u").Partitions[0]; u.Leader != NoLeader || u.LeaderEpoch != 1 || !slices.Equal(u.ISR, []int32{3}) {
		t.Fatalf("offline partition: %+v", u)
	}
	b1, b2, b3 := im.Broker(1), im.Broker(2), im.Broker(3)
	if b1.Fenced || !b1.Active() || b1.RegistrationOffset != 12 || b1.ControlledShutdownOffset != -1 {
		t.Fatalf("broker 1: %+v", b1)
	}
	if b2.Fenced || !b2.InControlledShutdown || b2.Active() || b2.ControlledShutdownOffset != 17 {
		t.Fatalf("broker 2: %+v", b2)
	}
	if !b3.Fenced || b3.Active() {
		t.Fatalf("broker 3: %+v", b3)
	}
	// A change of the leader only (no ISR) keeps the ISR; one of nothing
	// but the ISR keeps the leader and its epoch.
	tid := im.Topic("t").ID
	next, _ := im.ApplyBatch(29, []Record{
		{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: tid, Partition: 0, Leader: 2}},
		{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: tid, Partition: 1, Leader: NoLeaderChange, ISR: []int32{1, 2}}},
	})
	if p := next.Topic("t").Partitions[0]; p.Leader != 2 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 || !slices.Equal(p.ISR, []int32{1, 2}) {
		t.Fatalf("leader-only change: %+v", p)
	}
	if p := next.Topic("t").Partitions[1]; p.Leader != 1 || p.LeaderEpoch != 1 || p.PartitionEpoch != 2 || !slices.Equal(p.ISR, []int32{1, 2}) {
		t.Fatalf("isr-only change: %+v", p)
	}
	if p := im.Topic("t").Partitions[0]; p.Leader != 1 {
		t.Fatal("ApplyBatch modified its receiver")
	}
}

func TestBrokerRecordsNeedTheCurrentEpoch(t *testing.T) {
	im := richImage(t)
	next := im.Apply(
		Record{Type: TypeFenceBroker, FenceBroker: &FenceBrokerRecord{ID: 1, Epoch: 99}},
		Record{Type: TypeUnfenceBroker, UnfenceBroker: &UnfenceBrokerRecord{ID: 3, Epoch: 1}},
		Record{Type: TypeUnregisterBroker, UnregisterBroker: &UnregisterBrokerRecord{BrokerID: 2, BrokerEpoch: 1}},
		Record{Type: TypeFenceBroker, FenceBroker: &FenceBrokerRecord{ID: 7, Epoch: 1}},
	)
	if next.Broker(1).Fenced || !next.Broker(3).Fenced || next.Broker(2) == nil || next.Broker(7) != nil {
		t.Fatal("a record with another broker epoch took effect")
	}
	next = next.Apply(Record{Type: TypeFenceBroker, FenceBroker: &FenceBrokerRecord{ID: 1, Epoch: 1}},
		Record{Type: TypeUnregisterBroker, UnregisterBroker: &UnregisterBrokerRecord{BrokerID: 2, BrokerEpoch: 2}})
	if !next.Broker(1).Fenced || next.Broker(2) != nil || im.Broker(2) == nil {
		t.Fatal("fence/unregister with the current epoch")
	}
	// A new incarnation leaves controlled shutdown; an amended one keeps it and its offset.
	amend := next.Apply(Record{Type: TypeRegisterBroker, RegisterBroker: &RegisterBrokerRecord{BrokerID: 2, IncarnationID: Uuid{8}, BrokerEpoch: 2, InControlledShutdown: true}})
	if b := amend.Broker(2); !b.InControlledShutdown || b.ControlledShutdownOffset != amend.Offset {
		t.Fatalf("re-registration in controlled shutdown: %+v", b)
	}
	again := amend.Apply(Record{Type: TypeRegisterBroker, RegisterBroker: &RegisterBrokerRecord{BrokerID: 2, IncarnationID: Uuid{8}, BrokerEpoch: 2, InControlledShutdown: true}})
	if b := again.Broker(2); b.ControlledShutdownOffset != amend.Offset || b.RegistrationOffset != again.Offset {
		t.Fatalf("amended registration: %+v", b)
	}
}

func TestTopicNamesAndIDsStayOneToOne(t *testing.T) {
	im := Empty().Apply(
		Record{Type: TypeTopic, Topic: &TopicRecord{Name: "a", ID: Uuid{1}}},
		Record{Type: TypeTopic, Topic: &TopicRecord{Name: "a", ID: Uuid{2}}},
		Record{Type: TypeTopic, Topic: &TopicRecord{Name: "b", ID: Uuid{2}}},
	)
	if im.TopicByID(Uuid{1}) != nil || im.Topic("a") != nil || im.Topic("b").ID != (Uuid{2}) || len(im.Topics()) != 1 {
		t.Fatalf("topics %v", im.Topics())
	}
	if _, err := DecodeSnapshot(im.Snapshot()); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	im := richImage(t)
	b := im.Snapshot()
	if !bytes.Equal(b, im.Snapshot()) {
		t.Fatal("snapshot bytes differ for the same image")
	}
	got, err := DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Snapshot(), b) {
		t.Fatal("decoded snapshot encodes differently")
	}
	if !reflect.DeepEqual(got, im) {
		t.Fatalf("decoded image differs:\n%+v\n%+v", got, im)
	}
	// The restored image goes on applying records like the original.
	tid := im.Topic("t").ID
	rec := Record{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: tid, Partition: 0, Leader: 2}}
	a, _ := im.ApplyBatch(40, []Record{rec})
	c, _ := got.ApplyBatch(40, []Record{rec})
	if !bytes.Equal(a.Snapshot(), c.Snapshot()) {
		t.Fatal("restored image diverges")
	}
	if e, err := DecodeSnapshot(Empty().Snapshot()); err != nil || len(e.Topics()) != 0 || e.Offset != 0 {
		t.Fatal("empty image snapshot", err)
	}
}

// reseal rewrites a snapshot's header around a changed body.
func reseal(body []byte) []byte {
	out := make([]byte, snapshotHeader, snapshotHeader+len(body))
	copy(out, snapshotMagic)
	binary.BigEndian.PutUint16(out[4:], snapshotVersion)
	binary.BigEndian.PutUint32(out[6:], uint32(len(body)))
	binary.BigEndian.PutUint32(out[10:], crc32.Checksum(body, snapshotCRC))
	return append(out, body...)
}

func TestDecodeSnapshotRejects(t *testing.T) {
	good := richImage(t).Snapshot()
	body := good[snapshotHeader:]
	edit := func(old, new string) []byte {
		if !bytes.Contains(body, []byte(old)) {
			t.Fatalf("%q not in the snapshot", old)
		}
		return reseal(bytes.Replace(body, []byte(old), []byte(new), 1))
	}
	flip := append([]byte(nil), good...)
	flip[len(flip)-3] ^= 1
	cases := map[string][]byte{
		"empty":            nil,
		"short header":     good[:10],
		"magic":            append([]byte("XMIG"), good[4:]...),
		"version":          append(append([]byte("SMIG"), 0, 9), good[6:]...),
		"truncated":        good[:len(good)-1],
		"extended":         append(append([]byte(nil), good...), ' '),
		"checksum":         flip,
		"not json":         reseal([]byte("not json")),
		"trailing value":   reseal(append(append([]byte(nil), body...), []byte(" {}")...)),
		"unknown field":    edit(`"offset":`, `"bogus":1,"offset":`),
		"missing section":  edit(`"configs":[`, `"configz":[`),
		"negative offset":  edit(`"offset":28`, `"offset":-1`),
		"broker order":     edit(`"id":2,`, `"id":0,`),
		"broker offsets":   edit(`"registrationOffset":12`, `"registrationOffset":99`),
		"shutdown offset":  edit(`"controlledShutdownOffset":17`, `"controlledShutdownOffset":-1`),
		"topic order":      edit(`"name":"u"`, `"name":"a"`),
		"feature order":    edit(`"name":"group.version"`, `"name":"zz"`),
		"empty config set": reseal([]byte(`{"offset":1,"nextProducerId":0,"features":[],"brokers":[],"topics":[],"configs":[{"resourceType":2,"resourceName":"t","entries":[]}]}`)),
		"duplicate id":     reseal([]byte(`{"offset":1,"nextProducerId":0,"features":[],"brokers":[],"topics":[{"name":"a","id":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"partitions":[]},{"name":"b","id":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"partitions":[]}],"configs":[]}`)),
		"config order":     edit(`"name":"cleanup.policy"`, `"name":"z"`),
		"spacing":          edit(`"offset":28`, `"offset": 28`),
		"long uuid":        edit(`"incarnationId":[9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]`, `"incarnationId":[9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,5]`),
		"escaped name":     edit(`"name":"u"`, `"name":"\u0075"`),
	}
	for name, b := range cases {
		if _, err := DecodeSnapshot(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := DecodeSnapshot(reseal(body)); err != nil {
		t.Fatalf("resealed good body rejected: %v", err)
	}
}

func TestBatchRoundTripAndRejects(t *testing.T) {
	recs := topicRecs("a", Uuid{1}, 2)
	recs = append(recs, Record{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: Uuid{1}, Partition: 1, Leader: NoLeaderChange, ISR: []int32{}}})
	b, err := EncodeBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("batch round trip:\n%+v\n%+v", got, recs)
	}
	if got[3].PartitionChange.ISR == nil || got[3].PartitionChange.Replicas != nil {
		t.Fatal("an empty ISR and an unchanged replica list must stay apart")
	}
	if _, err := EncodeBatch(nil); err == nil {
		t.Fatal("empty batch encoded")
	}
	if _, err := EncodeBatch([]Record{{Type: TypeTopic}}); err == nil {
		t.Fatal("record without body encoded")
	}
	body := string(b[1:])
	for name, in := range map[string]string{
		"empty":         "",
		"version":       "\x02" + body,
		"no records":    "\x01[]",
		"null":          "\x01null",
		"trailing":      "\x01" + body + "[]",
		"unknown field": "\x01" + strings.Replace(body, `"type":"Topic"`, `"type":"Topic","x":1`, 1),
		"two bodies":    "\x01" + strings.Replace(body, `"type":"Topic",`, `"type":"Topic","removeTopic":{"topicId":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]},`, 1),
		"unknown type":  "\x01" + strings.Replace(body, `"type":"Topic"`, `"type":"Nope"`, 1),
		"bad leader":    "\x01" + strings.Replace(body, `"leader":-2`, `"leader":-3`, 1),
		"not an array":  "\x01{}",
	} {
		if _, err := DecodeBatch([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := DecodeBatch([]byte("\x01" + body + " \n")); err != nil {
		t.Errorf("trailing whitespace: %v", err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	good, _ := EncodeBatch(topicRecs("a", Uuid{1}, 2))
	f.Add(good)
	f.Add([]byte("\x01[]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeBatch(b)
		if err != nil {
			return
		}
		again, err := EncodeBatch(recs)
		if err != nil {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
		if back, err := DecodeBatch(again); err != nil || !reflect.DeepEqual(back, recs) {
			t.Fatalf("re-encoded batch: %v", err)
		}
		checkRestorable(t, richImage(t), recs)
	})
}

// checkRestorable applies recs and checks that the result survives a
// snapshot: every image the log can build must be restorable.
func checkRestorable(t *testing.T, im *Image, recs []Record) {
	next, err := im.ApplyBatch(im.Offset+1, recs)
	if err != nil {
		t.Fatal(err)
	}
	snap := next.Snapshot()
	back, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatalf("image built from decoded records is not restorable: %v", err)
	}
	if !bytes.Equal(back.Snapshot(), snap) {
		t.Fatal("snapshot not canonical")
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(richImage(f).Snapshot())
	f.Add(Empty().Snapshot())
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := DecodeSnapshot(b)
		if err != nil {
			return
		}
		if !bytes.Equal(im.Snapshot(), b) {
			t.Fatal("accepted a snapshot that is not in canonical form")
		}
	})
}

// FuzzDecodeSnapshotBody fuzzes the body behind a valid header, so the
// mutations reach the structural checks instead of the checksum.
func FuzzDecodeSnapshotBody(f *testing.F) {
	f.Add(richImage(f).Snapshot()[snapshotHeader:])
	f.Add(Empty().Snapshot()[snapshotHeader:])
	f.Fuzz(func(t *testing.T, body []byte) {
		im, err := DecodeSnapshot(reseal(body))
		if err != nil {
			return
		}
		if !bytes.Equal(im.Snapshot()[snapshotHeader:], body) {
			t.Fatal("accepted a body that is not in canonical form")
		}
	})
}

// FuzzApplyRecord applies any record that decodes to a populated image and
// checks that the image stays restorable from its snapshot.
func FuzzApplyRecord(f *testing.F) {
	for _, r := range []Record{
		{Type: TypePartitionChange, PartitionChange: &PartitionChangeRecord{TopicID: Uuid{1, 2}, Partition: 1, Leader: 2, ISR: []int32{2}}},
		{Type: TypeRegisterBroker, RegisterBroker: &RegisterBrokerRecord{BrokerID: 4, BrokerEpoch: 30, InControlledShutdown: true}},
		{Type: TypeBrokerRegistrationChange, BrokerRegistrationChange: &BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 1, Fenced: ChangeFence, InControlledShutdown: ChangeInControlledShutdown}},
		{Type: TypeTopic, Topic: &TopicRecord{Name: "u", ID: Uuid{1, 2}}},
		{Type: TypeConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "t", Name: "retention.ms"}},
	} {
		b, _ := r.Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := DecodeRecord(b)
		if err != nil {
			return
		}
		checkRestorable(t, richImage(t), []Record{rec})
	})
}

// TestBrokerConfigsBesideTopicConfigs: BROKER-resource configs (the
// cluster default "" and one broker's) live beside topic configs of the
// same name, survive the topic's deletion and a snapshot, and a null value
// removes one key.
func TestBrokerConfigsBesideTopicConfigs(t *testing.T) {
	id := Uuid{5}
	cfg := func(typ int8, name, key string, v *string) Record {
		return Record{Type: TypeConfig, Config: &ConfigRecord{ResourceType: typ, ResourceName: name, Name: key, Value: v}}
	}
	im := Empty().Apply(
		Record{Type: TypeTopic, Topic: &TopicRecord{Name: "2", ID: id}},
		cfg(ResourceTopic, "2", "retention.ms", str("1")),
		cfg(ResourceBroker, "2", "log.cleaner.threads", str("2")),
		cfg(ResourceBroker, "2", "num.io.threads", str("4")),
		cfg(ResourceBroker, "", "log.cleaner.threads", str("3")),
		cfg(ResourceBroker, "2", "num.io.threads", nil),
		Record{Type: TypeRemoveTopic, RemoveTopic: &RemoveTopicRecord{TopicID: id}},
	)
	check := func(stage string, im *Image) {
		if got := im.Configs(ResourceBroker, "2"); len(got) != 1 || got["log.cleaner.threads"] != "2" {
			t.Fatalf("%s: broker 2 %v", stage, got)
		}
		if got := im.Configs(ResourceBroker, ""); len(got) != 1 || got["log.cleaner.threads"] != "3" {
			t.Fatalf("%s: default %v", stage, got)
		}
		if got := im.Configs(ResourceTopic, "2"); got != nil {
			t.Fatalf("%s: deleted topic's configs %v", stage, got)
		}
	}
	check("applied", im)
	got, err := DecodeSnapshot(im.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	check("snapshot", got)
}
