package broker_test

// The API versions Apache Kafka 4.4 added over 4.1 for keys samsa serves.
// Each expectation is what a Kafka 4.4.0 node answered to the same request
// (scripts/kafka-reference start, requests sent at exactly these versions).

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

// clusterAndNode reads the cluster ID and the node's ID from Metadata.
func clusterAndNode(t *testing.T, c *conn) (string, int32) {
	t.Helper()
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	resp := kmsg.NewPtrMetadataResponse()
	c.roundTrip(t, md, resp)
	if resp.ClusterID == nil || len(resp.Brokers) != 1 {
		t.Fatalf("metadata: cluster %v, brokers %+v", resp.ClusterID, resp.Brokers)
	}
	return *resp.ClusterID, resp.Brokers[0].NodeID
}

// TestApiVersionsV5ClusterAndNode: KIP-1242. Both IDs or neither; one alone
// is INVALID_REQUEST; a pair that is not this broker's is
// REBOOTSTRAP_REQUIRED. Errors carry no key list.
func TestApiVersionsV5ClusterAndNode(t *testing.T) {
	n := samsatest.Start(t)
	c := rawConn(t, n.Addr())
	cluster, node := clusterAndNode(t, c)
	other, empty := "AAAAAAAAAAAAAAAAAAAAAA", ""
	for _, tc := range []struct {
		name    string
		cluster *string
		node    int32
		want    *kerr.Error // nil: no error
	}{
		{"neither", nil, -1, nil},
		{"this broker", &cluster, node, nil},
		{"cluster without node", &cluster, -1, kerr.InvalidRequest},
		{"node without cluster", nil, node, kerr.InvalidRequest},
		{"node -2 without cluster", nil, -2, kerr.InvalidRequest},
		{"other cluster", &other, node, kerr.RebootstrapRequired},
		{"other node", &cluster, node + 6, kerr.RebootstrapRequired},
		{"empty cluster", &empty, node, kerr.RebootstrapRequired},
		{"empty cluster without node", &empty, -1, kerr.InvalidRequest},
	} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(5)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-test", "1.0"
		req.ClusterID, req.NodeID = tc.cluster, tc.node
		resp := kmsg.NewPtrApiVersionsResponse()
		c.roundTrip(t, req, resp)
		var want int16
		if tc.want != nil {
			want = tc.want.Code
		}
		if resp.ErrorCode != want {
			t.Errorf("%s: error %v, want %v", tc.name, kerr.ErrorForCode(resp.ErrorCode), tc.want)
			continue
		}
		if tc.want == nil && len(resp.ApiKeys) == 0 {
			t.Errorf("%s: no key list", tc.name)
		}
		if tc.want != nil && (len(resp.ApiKeys) != 0 || len(resp.FinalizedFeatures) != 0 || resp.FinalizedFeaturesEpoch != -1) {
			t.Errorf("%s: error answer carries %d keys, %d features, epoch %d", tc.name, len(resp.ApiKeys), len(resp.FinalizedFeatures), resp.FinalizedFeaturesEpoch)
		}
	}
	// Before v5 the two fields do not exist: v4 with a cluster ID set
	// encodes without it and is answered normally.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(4)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-test", "1.0"
	req.ClusterID, req.NodeID = &other, 77
	resp := kmsg.NewPtrApiVersionsResponse()
	c.roundTrip(t, req, resp)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("v4: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

// coordinator asks FindCoordinator for group until it is answered: the
// first ask creates __consumer_offsets.
func coordinator(t *testing.T, c *conn, group string) {
	t.Helper()
	for try := 0; ; try++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.SetVersion(4)
		req.CoordinatorKeys = []string{group}
		resp := kmsg.NewPtrFindCoordinatorResponse()
		c.roundTrip(t, req, resp)
		if len(resp.Coordinators) == 1 && resp.Coordinators[0].ErrorCode == 0 {
			return
		}
		if try == 100 {
			t.Fatalf("no coordinator for %s: %+v", group, resp.Coordinators)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func commitV10(t *testing.T, c *conn, group string, topics ...kmsg.OffsetCommitRequestTopic) *kmsg.OffsetCommitResponse {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(10)
	req.Group, req.Generation, req.Topics = group, -1, topics
	// The coordinator may still be loading its __consumer_offsets
	// partition (COORDINATOR_LOAD_IN_PROGRESS, retriable): retry as clients do.
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp := kmsg.NewPtrOffsetCommitResponse()
		c.roundTrip(t, req, resp)
		loading := len(resp.Topics) > 0 && len(resp.Topics[0].Partitions) > 0 &&
			resp.Topics[0].Partitions[0].ErrorCode == kerr.CoordinatorLoadInProgress.Code
		if !loading || time.Now().After(deadline) {
			return resp
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func commitTopic(id [16]byte, offsets map[int32]int64, order ...int32) kmsg.OffsetCommitRequestTopic {
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.TopicID = id
	for _, p := range order {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, offsets[p], -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	return rt
}

// fetchGroup sends an OffsetFetch for one group at version v; topics nil
// asks for every committed partition.
func fetchGroup(t *testing.T, c *conn, v int16, group string, topics []kmsg.OffsetFetchRequestGroupTopic) kmsg.OffsetFetchResponseGroup {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(v)
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group, g.Topics = group, topics
	req.Groups = append(req.Groups, g)
	resp := kmsg.NewPtrOffsetFetchResponse()
	c.roundTrip(t, req, resp)
	if len(resp.Groups) != 1 {
		t.Fatalf("v%d fetch: %d groups", v, len(resp.Groups))
	}
	return resp.Groups[0]
}

func fetchByID(id [16]byte, partitions ...int32) kmsg.OffsetFetchRequestGroupTopic {
	ft := kmsg.NewOffsetFetchRequestGroupTopic()
	ft.TopicID, ft.Partitions = id, partitions
	return ft
}

// partitionOffsets flattens a fetched topic into partition → offset
// (error codes other than 0 as offset -1000-code).
func partitionOffsets(ps []kmsg.OffsetFetchResponseGroupTopicPartition) map[int32]int64 {
	out := map[int32]int64{}
	for _, p := range ps {
		if p.ErrorCode != 0 {
			out[p.Partition] = -1000 - int64(p.ErrorCode)
			continue
		}
		out[p.Partition] = p.Offset
	}
	return out
}

// TestOffsetCommitFetchByTopicID: OffsetCommit v10 and OffsetFetch v10
// (KAFKA-14690, KAFKA-14691) name topics by ID only. Offsets committed by
// ID are the ones fetched by name and the reverse.
func TestOffsetCommitFetchByTopicID(t *testing.T) {
	n := samsatest.Start(t)
	adm := kadm.NewClient(newClient(t, n.Addr()))
	created, err := adm.CreateTopic(ctxT(t), 3, 1, nil, "by-id")
	if err != nil {
		t.Fatal(err)
	}
	id := [16]byte(created.ID)
	unknown := [16]byte{1, 2, 3}
	c := rawConn(t, n.Addr())
	const group = "g-by-id"
	coordinator(t, c, group)

	resp := commitV10(t, c, group,
		commitTopic(id, map[int32]int64{0: 5, 1: 6, 9: 1}, 0, 1, 9),
		commitTopic(unknown, map[int32]int64{0: 1}, 0),
		commitTopic([16]byte{}, map[int32]int64{0: 1}, 0))
	if len(resp.Topics) != 3 {
		t.Fatalf("commit: %d topics, want 3", len(resp.Topics))
	}
	wantCommit := []struct {
		id    [16]byte
		codes map[int32]int16
	}{
		{id, map[int32]int16{0: 0, 1: 0, 9: kerr.UnknownTopicOrPartition.Code}},
		{unknown, map[int32]int16{0: kerr.UnknownTopicID.Code}},
		{[16]byte{}, map[int32]int16{0: kerr.UnknownTopicID.Code}},
	}
	for i, w := range wantCommit {
		st := resp.Topics[i]
		if st.TopicID != w.id || st.Topic != "" {
			t.Errorf("commit topic %d: id %x name %q, want id %x and no name", i, st.TopicID, st.Topic, w.id)
		}
		for _, sp := range st.Partitions {
			if sp.ErrorCode != w.codes[sp.Partition] {
				t.Errorf("commit topic %d partition %d: %v, want %v", i, sp.Partition, kerr.ErrorForCode(sp.ErrorCode), kerr.ErrorForCode(w.codes[sp.Partition]))
			}
		}
	}

	// v9 by name commits partition 2; v10 by ID sees all three.
	v9 := kmsg.NewPtrOffsetCommitRequest()
	v9.SetVersion(9)
	v9.Group, v9.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "by-id"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 2, 42
	rt.Partitions = append(rt.Partitions, rp)
	v9.Topics = append(v9.Topics, rt)
	v9resp := kmsg.NewPtrOffsetCommitResponse()
	c.roundTrip(t, v9, v9resp)
	if v9resp.Topics[0].Topic != "by-id" || v9resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("v9 commit: %+v", v9resp.Topics)
	}

	g := fetchGroup(t, c, 10, group, []kmsg.OffsetFetchRequestGroupTopic{
		fetchByID(id, 0, 1, 2, 9), fetchByID(unknown, 0), fetchByID([16]byte{}, 0)})
	if g.ErrorCode != 0 || len(g.Topics) != 3 {
		t.Fatalf("v10 fetch by ID: error %d, %d topics", g.ErrorCode, len(g.Topics))
	}
	wantFetch := []struct {
		id   [16]byte
		offs map[int32]int64
	}{
		{id, map[int32]int64{0: 5, 1: 6, 2: 42, 9: -1}},
		{unknown, map[int32]int64{0: -1000 - int64(kerr.UnknownTopicID.Code)}},
		{[16]byte{}, map[int32]int64{0: -1000 - int64(kerr.UnknownTopicID.Code)}},
	}
	for i, w := range wantFetch {
		got := g.Topics[i]
		if got.TopicID != w.id || got.Topic != "" {
			t.Errorf("fetch topic %d: id %x name %q, want id %x and no name", i, got.TopicID, got.Topic, w.id)
		}
		if offs := partitionOffsets(got.Partitions); !equalOffsets(offs, w.offs) {
			t.Errorf("fetch topic %d: %v, want %v", i, offs, w.offs)
		}
	}

	all := fetchGroup(t, c, 10, group, nil)
	if len(all.Topics) != 1 || all.Topics[0].TopicID != id || all.Topics[0].Topic != "" {
		t.Fatalf("v10 fetch all: %+v", all.Topics)
	}
	if offs := partitionOffsets(all.Topics[0].Partitions); !equalOffsets(offs, map[int32]int64{0: 5, 1: 6, 2: 42}) {
		t.Fatalf("v10 fetch all: %v", offs)
	}
	byName := fetchGroup(t, c, 9, group, nil)
	if len(byName.Topics) != 1 || byName.Topics[0].Topic != "by-id" {
		t.Fatalf("v9 fetch all: %+v", byName.Topics)
	}
	if offs := partitionOffsets(byName.Topics[0].Partitions); !equalOffsets(offs, map[int32]int64{0: 5, 1: 6, 2: 42}) {
		t.Fatalf("v9 fetch all: %v", offs)
	}

	// Once the topic is deleted its ID names nothing: UNKNOWN_TOPIC_ID by
	// ID, and the all-topics answer by ID leaves it out.
	if _, err := adm.DeleteTopic(ctxT(t), "by-id"); err != nil {
		t.Fatal(err)
	}
	g = fetchGroup(t, c, 10, group, []kmsg.OffsetFetchRequestGroupTopic{fetchByID(id, 0, 1)})
	gone := -1000 - int64(kerr.UnknownTopicID.Code)
	if len(g.Topics) != 1 || !equalOffsets(partitionOffsets(g.Topics[0].Partitions), map[int32]int64{0: gone, 1: gone}) {
		t.Fatalf("v10 fetch of a deleted topic: %+v", g.Topics)
	}
	if all := fetchGroup(t, c, 10, group, nil); all.ErrorCode != 0 || len(all.Topics) != 0 {
		t.Fatalf("v10 fetch all after delete: error %d, topics %+v", all.ErrorCode, all.Topics)
	}
	resp = commitV10(t, c, group, commitTopic(id, map[int32]int64{0: 7}, 0))
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicID.Code {
		t.Fatalf("v10 commit to a deleted topic: %v", kerr.ErrorForCode(code))
	}
}

func equalOffsets(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestListOffsetsTieredTimestamps: with no tiered storage, -5 (latest
// tiered, v9+, KIP-1005) and -6 (earliest pending upload, v11+, KIP-1023)
// find no offset, without an error. Each special timestamp below the
// version that brought it, and an unknown negative one, is
// UNSUPPORTED_VERSION: Kafka 4.4's answers for every version and timestamp
// here.
func TestListOffsetsTieredTimestamps(t *testing.T) {
	n := samsatest.Start(t)
	cl := newClient(t, n.Addr())
	if _, err := kadm.NewClient(cl).CreateTopic(ctxT(t), 1, 1, nil, "tiered"); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, n.Addr())
	unsupported := kerr.UnsupportedVersion.Code
	for _, v := range []int16{1, 2, 5, 6, 7, 8, 9, 10, 11} {
		for _, tc := range []struct {
			ts     int64
			since  int16
			offset int64
		}{
			{-1, 0, 0}, {-2, 0, 0}, {-3, 7, -1}, {-4, 8, 0}, {-5, 9, -1}, {-6, 11, -1},
			{-7, 99, -1}, {-100, 99, -1},
		} {
			tc := tc
			var code int16
			if v < tc.since {
				tc.offset, code = -1, unsupported
			}
			req := kmsg.NewPtrListOffsetsRequest()
			req.SetVersion(v)
			req.ReplicaID = -1
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "tiered"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, tc.ts, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := kmsg.NewPtrListOffsetsResponse()
			c.roundTrip(t, req, resp)
			sp := resp.Topics[0].Partitions[0]
			if sp.ErrorCode != code || sp.Offset != tc.offset {
				t.Errorf("v%d timestamp %d: offset %d, %v; want offset %d, %v", v, tc.ts, sp.Offset,
					kerr.ErrorForCode(sp.ErrorCode), tc.offset, kerr.ErrorForCode(code))
			}
		}
	}
}

// TestDescribeLogDirsV5: IsCordoned (KIP-1066) is false, the rest as v4.
func TestDescribeLogDirsV5(t *testing.T) {
	n := samsatest.Start(t)
	if _, err := kadm.NewClient(newClient(t, n.Addr())).CreateTopic(ctxT(t), 2, 1, nil, "dirs"); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, n.Addr())
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.SetVersion(5)
	resp := kmsg.NewPtrDescribeLogDirsResponse()
	c.roundTrip(t, req, resp)
	if resp.ErrorCode != 0 || len(resp.Dirs) != 1 {
		t.Fatalf("error %d, %d dirs", resp.ErrorCode, len(resp.Dirs))
	}
	d := resp.Dirs[0]
	if d.IsCordoned || d.ErrorCode != 0 || d.TotalBytes <= 0 || d.UsableBytes < 0 {
		t.Fatalf("dir %s: cordoned %v, error %d, total %d, usable %d", d.Dir, d.IsCordoned, d.ErrorCode, d.TotalBytes, d.UsableBytes)
	}
	parts := 0
	for _, dt := range d.Topics {
		if dt.Topic == "dirs" {
			parts += len(dt.Partitions)
		}
	}
	if parts != 2 {
		t.Fatalf("topic dirs: %d partitions listed, want 2", parts)
	}
}

// TestDeleteGroupsV3: the error message v3 adds stays null, as Kafka 4.4
// answers, for a deleted group and for an unknown one.
func TestDeleteGroupsV3(t *testing.T) {
	n := samsatest.Start(t)
	created, err := kadm.NewClient(newClient(t, n.Addr())).CreateTopic(ctxT(t), 1, 1, nil, "dg")
	if err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, n.Addr())
	coordinator(t, c, "dg-group")
	if resp := commitV10(t, c, "dg-group", commitTopic([16]byte(created.ID), map[int32]int64{0: 3}, 0)); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.SetVersion(3)
	req.Groups = []string{"dg-group", "no-such-group"}
	resp := kmsg.NewPtrDeleteGroupsResponse()
	c.roundTrip(t, req, resp)
	want := map[string]int16{"dg-group": 0, "no-such-group": kerr.GroupIDNotFound.Code}
	if len(resp.Groups) != 2 {
		t.Fatalf("%d groups answered", len(resp.Groups))
	}
	for _, g := range resp.Groups {
		if g.ErrorCode != want[g.Group] || g.ErrorMessage != nil {
			t.Errorf("group %s: %v, message %v; want %v and no message", g.Group, kerr.ErrorForCode(g.ErrorCode), g.ErrorMessage, kerr.ErrorForCode(want[g.Group]))
		}
	}
	if g := fetchGroup(t, c, 9, "dg-group", nil); len(g.Topics) != 0 {
		t.Fatalf("deleted group still has offsets: %+v", g.Topics)
	}
}
