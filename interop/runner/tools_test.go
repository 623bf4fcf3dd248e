package main

import (
	"maps"
	"slices"
	"testing"
)

// The samples are the tools' output as Kafka 4.4.0 prints it (against a
// three-node samsa cluster).

func TestColonFieldsAndIDs(t *testing.T) {
	out := "ClusterId:              4L6g3nShT-eMCtK--X86sw\nLeaderId:               1\nLeaderEpoch:            2\n" +
		"HighWatermark:          8\nMaxFollowerLag:         0\nMaxFollowerLagTimeMs:   0\n" +
		`CurrentVoters:          [{"id": 3, "endpoints": ["CONTROLLER://127.0.0.1:31102"]}, {"id": 1, "endpoints": ["CONTROLLER://127.0.0.1:31100"]}, {"id": 2, "endpoints": ["CONTROLLER://127.0.0.1:31101"]}]` +
		"\nCurrentObservers:       []\n"
	f := colonFields(out)
	if f["ClusterId"] != "4L6g3nShT-eMCtK--X86sw" || f["LeaderId"] != "1" || f["HighWatermark"] != "8" {
		t.Fatalf("fields %v", f)
	}
	if got := idsOf(f["CurrentVoters"]); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("voters %v", got)
	}
	if got := idsOf(f["CurrentObservers"]); len(got) != 0 {
		t.Fatalf("observers %v", got)
	}
	if got := idsOf("[4, 5]"); !slices.Equal(got, []int32{4, 5}) {
		t.Fatalf("plain ids %v", got)
	}
}

func TestReplicationRows(t *testing.T) {
	out := "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus  \t\n" +
		"1     \tAAAAAAAAAAAAAAAAAAAAAA\t8           \t0  \t1796220941320     \t1796220941320        \tLeader  \t\n" +
		"2     \tAAAAAAAAAAAAAAAAAAAAAA\t7           \t1  \t1796220941264     \t1796220941164        \tFollower\t\n"
	rows, err := replicationRows(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0] != (replicationRow{id: 1, leo: 8, lastFetch: 1796220941320, lastCaughtUp: 1796220941320,
		status: "Leader", directoryID: "AAAAAAAAAAAAAAAAAAAAAA"}) || rows[1].lag != 1 || rows[1].status != "Follower" {
		t.Fatalf("rows %+v", rows)
	}
	if _, err := replicationRows("NodeId\tLogEndOffset\n1\t8\n"); err == nil {
		t.Fatal("a header without the expected columns was accepted")
	}
	if _, err := replicationRows(out + "3 AAAAAAAAAAAAAAAAAAAAAA x 0 1 1 Follower\n"); err == nil {
		t.Fatal("a row with a non-numeric LogEndOffset accepted")
	}
}

func TestParseTopicDescribe(t *testing.T) {
	out := "Topic: t3\tTopicId: QNRwPh_OQmieSkp_aYYRqQ\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: \n" +
		"\tTopic: t3\tPartition: 0\tLeader: 3\tReplicas: 3,1,2\tIsr: 3,1,2\tElr: N/A\tLastKnownElr: N/A\n" +
		"\tTopic: t3\tPartition: 1\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2\tElr: N/A\tLastKnownElr: N/A\n" +
		"\tTopic: t3\tPartition: 2\tLeader: none\tReplicas: 2,3,1\tIsr: \tElr: N/A\tLastKnownElr: N/A\n"
	d, err := parseTopicDescribe(out, "t3")
	if err != nil {
		t.Fatal(err)
	}
	if d.topicID != "QNRwPh_OQmieSkp_aYYRqQ" || d.partitions != 3 || d.rf != 3 || len(d.parts) != 3 {
		t.Fatalf("%+v", d)
	}
	p1, p2 := d.parts[1], d.parts[2]
	if p1.leader != 1 || !slices.Equal(p1.replicas, []int32{1, 2, 3}) || !slices.Equal(p1.isr, []int32{1, 2}) {
		t.Fatalf("partition 1: %+v", p1)
	}
	if p2.leader != -1 || len(p2.isr) != 0 {
		t.Fatalf("partition 2: %+v", p2)
	}
	if _, err := parseTopicDescribe(out, "other"); err == nil {
		t.Fatal("another topic's description accepted")
	}
}

func TestConfigLines(t *testing.T) {
	out := "Dynamic configs for topic t3 are:\n" +
		"  cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact, DEFAULT_CONFIG:log.cleanup.policy=delete}\n" +
		"  retention.ms=123456 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=123456}\n" +
		"  broker.rack=null sensitive=false synonyms={}\n"
	want := map[string]string{"cleanup.policy": "compact", "retention.ms": "123456", "broker.rack": "null"}
	if got := configLines(out); !maps.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestParseBrokerAPIVersions(t *testing.T) {
	out := "127.0.0.1:31000 (id: 1 rack: null isFenced: false) -> (\n" +
		"\tProduce(0): 0 to 13 [usable: 13],\n\tSaslHandshake(17): UNSUPPORTED,\n\tOffsetDelete(47): 0 [usable: 0],\n)\n" +
		"127.0.0.1:31001 (id: 2 rack: r1 isFenced: true) -> (\n\tFetch(1): 4 to 18 [usable: 18]\n)\n"
	got, err := parseBrokerAPIVersions(out)
	if err != nil {
		t.Fatal(err)
	}
	b1, b2 := got[1], got[2]
	if len(got) != 2 || b1.addr != "127.0.0.1:31000" || b1.fenced || b2.addr != "127.0.0.1:31001" || !b2.fenced {
		t.Fatalf("%+v %+v", b1, b2)
	}
	if !maps.Equal(b1.ranges, map[int16]apiRange{0: {0, 13}, 47: {0, 0}}) || !maps.Equal(b2.ranges, map[int16]apiRange{1: {4, 18}}) {
		t.Fatalf("ranges %v %v", b1.ranges, b2.ranges)
	}
	if d := rangeDiff(b1.ranges, map[int16]apiRange{0: {0, 13}, 47: {0, 1}}); d != "OffsetDelete (47) listed as 0, advertised 0–1" {
		t.Fatalf("diff %q", d)
	}
	if _, err := parseBrokerAPIVersions("Request METADATA failed"); err == nil {
		t.Fatal("output without a broker accepted")
	}
}
