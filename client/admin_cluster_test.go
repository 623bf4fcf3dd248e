package client

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

// kfake does not serve DescribeQuorum: fakeQuorum makes it advertise the
// request (up to maxVersion) and answers it with answer.
func fakeQuorum(t *testing.T, b backend, maxVersion int16, answer func(*kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse) {
	t.Helper()
	// kfake's own ApiVersions answer, to extend.
	c, err := newAdminClient(t, b).anyConn(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "samsa", "1"
	kresp, err := c.request(testCtx(t), av, false)
	if err != nil {
		t.Fatal(err)
	}
	base := kresp.(*kmsg.ApiVersionsResponse)
	if base.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %v", ErrorForCode(base.ErrorCode))
	}
	if slices.ContainsFunc(base.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool { return k.ApiKey == 55 }) {
		t.Fatal("kfake serves DescribeQuorum now: answer it with kfake itself")
	}
	b.fake.ControlKey(18, func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		b.fake.KeepControl()
		resp := *base
		resp.Version = kreq.GetVersion()
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = 55, 0, maxVersion
		resp.ApiKeys = append(slices.Clone(base.ApiKeys), k)
		return &resp, nil, true
	})
	b.fake.ControlKey(55, func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		b.fake.KeepControl()
		req := kreq.(*kmsg.DescribeQuorumRequest)
		resp := answer(req)
		resp.Version = req.Version
		return resp, nil, true
	})
}

func newAdminClient(t *testing.T, b backend) *Client {
	t.Helper()
	cl, err := New(SeedBrokers(b.addrs...), RetryBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func replicaState(id int32, leo, fetch, caughtUp int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp = id, leo, fetch, caughtUp
	return r
}

// quorumAnswer is a DescribeQuorum answer for the metadata partition with
// the given partition error.
func quorumAnswer(code int16, fill func(*kmsg.DescribeQuorumResponseTopicPartition)) *kmsg.DescribeQuorumResponse {
	resp := kmsg.NewPtrDescribeQuorumResponse()
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = MetadataTopic
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.ErrorCode = code
	if fill != nil {
		fill(&p)
	}
	rt.Partitions = append(rt.Partitions, p)
	resp.Topics = append(resp.Topics, rt)
	return resp
}

func TestDescribeQuorumFake(t *testing.T) {
	b := newFake(t, 3)
	now := time.Now().UnixMilli()
	var asked atomic.Value
	fakeQuorum(t, b, 2, func(req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
		asked.Store(req)
		resp := quorumAnswer(0, func(p *kmsg.DescribeQuorumResponseTopicPartition) {
			p.LeaderID, p.LeaderEpoch, p.HighWatermark = 2, 7, 100
			// Out of order: the client sorts.
			p.CurrentVoters = append(p.CurrentVoters, replicaState(3, -1, -1, -1),
				replicaState(2, 104, now, now), replicaState(1, 90, now-5000, now-6000))
			p.CurrentVoters[1].ReplicaDirectoryID = [16]byte{1, 2, 3}
			p.Observers = append(p.Observers, replicaState(4, 100, now-1000, now-1500))
		})
		for id := int32(1); id <= 3; id++ {
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = id
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = "CONTROLLER", "127.0.0.1", uint16(9092+id)
			n.Listeners = append(n.Listeners, l)
			resp.Nodes = append(resp.Nodes, n)
		}
		return resp
	})
	cl := newAdminClient(t, b)
	q, err := cl.DescribeQuorum(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := asked.Load().(*kmsg.DescribeQuorumRequest)
	if req == nil || req.Version != 2 || len(req.Topics) != 1 || req.Topics[0].Topic != "__cluster_metadata" ||
		len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != 0 {
		t.Fatalf("request %+v", req)
	}
	if q.LeaderID != 2 || q.LeaderEpoch != 7 || q.HighWatermark != 100 || q.Version != 2 {
		t.Fatalf("quorum %+v", q)
	}
	type row struct {
		id              int32
		leo, lag        int64
		fetch, caughtUp int64
	}
	got := func(rs []QuorumReplica) []row {
		var out []row
		for _, r := range rs {
			ms := func(t time.Time) int64 {
				if t.IsZero() {
					return -1
				}
				return t.UnixMilli()
			}
			out = append(out, row{r.ID, r.LogEndOffset, r.Lag, ms(r.LastFetch), ms(r.LastCaughtUp)})
		}
		return out
	}
	// Lag is behind the leader's log end offset (104), not the high watermark.
	wantVoters := []row{{1, 90, 14, now - 5000, now - 6000}, {2, 104, 0, now, now}, {3, -1, -1, -1, -1}}
	if g := got(q.Voters); !slices.Equal(g, wantVoters) {
		t.Errorf("voters %+v, want %+v", g, wantVoters)
	}
	if g := got(q.Observers); !slices.Equal(g, []row{{4, 100, 4, now - 1000, now - 1500}}) {
		t.Errorf("observers %+v", g)
	}
	if q.Voters[1].DirectoryID != ([16]byte{1, 2, 3}) {
		t.Errorf("directory id %v", q.Voters[1].DirectoryID)
	}
	if len(q.Nodes) != 3 || !slices.Equal(q.Nodes[3], []Listener{{"CONTROLLER", "127.0.0.1", 9095}}) {
		t.Errorf("nodes %+v", q.Nodes)
	}
}

// TestDescribeQuorumFakeV0: a v0 broker has no fetch times, no nodes, and
// a leader outside the voters leaves the high watermark to measure lag by.
func TestDescribeQuorumFakeV0(t *testing.T) {
	b := newFake(t, 1)
	fakeQuorum(t, b, 0, func(req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
		return quorumAnswer(0, func(p *kmsg.DescribeQuorumResponseTopicPartition) {
			p.LeaderID, p.LeaderEpoch, p.HighWatermark = 9, 1, 50
			p.CurrentVoters = append(p.CurrentVoters, replicaState(1, 45, 123, 123))
		})
	})
	q, err := newAdminClient(t, b).DescribeQuorum(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if q.Version != 0 || q.Nodes != nil || len(q.Voters) != 1 {
		t.Fatalf("quorum %+v", q)
	}
	// v0 does not carry the timestamps: the client must not invent them.
	if v := q.Voters[0]; v.Lag != 5 || !v.LastFetch.IsZero() || !v.LastCaughtUp.IsZero() {
		t.Fatalf("voter %+v", v)
	}
}

func TestDescribeQuorumErrors(t *testing.T) {
	t.Run("unsupported", func(t *testing.T) {
		_, err := newAdminClient(t, newFake(t, 1)).DescribeQuorum(testCtx(t))
		if !errors.Is(err, ErrUnsupportedVersion) {
			t.Fatalf("err %v, want UNSUPPORTED_VERSION", err)
		}
	})
	t.Run("request error", func(t *testing.T) {
		b := newFake(t, 1)
		var n atomic.Int32
		fakeQuorum(t, b, 2, func(*kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
			n.Add(1)
			resp := quorumAnswer(0, nil)
			resp.ErrorCode, resp.ErrorMessage = ErrClusterAuthorizationFailed.Code, kmsg.StringPtr("no DESCRIBE on CLUSTER")
			return resp
		})
		_, err := newAdminClient(t, b).DescribeQuorum(testCtx(t))
		if !errors.Is(err, ErrClusterAuthorizationFailed) || !strings.Contains(err.Error(), "no DESCRIBE on CLUSTER") {
			t.Fatalf("err %v", err)
		}
		if n.Load() != 1 {
			t.Fatalf("a non-retriable error was asked %d times", n.Load())
		}
	})
	t.Run("retriable then answered", func(t *testing.T) {
		b := newFake(t, 3)
		var n atomic.Int32
		fakeQuorum(t, b, 2, func(*kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
			if n.Add(1) < adminAttempts {
				return quorumAnswer(ErrNotLeaderOrFollower.Code, nil)
			}
			return quorumAnswer(0, func(p *kmsg.DescribeQuorumResponseTopicPartition) { p.LeaderID = 1 })
		})
		q, err := newAdminClient(t, b).DescribeQuorum(testCtx(t))
		if err != nil || q.LeaderID != 1 || n.Load() != adminAttempts {
			t.Fatalf("quorum %+v, err %v, after %d requests", q, err, n.Load())
		}
	})
	t.Run("retriable until given up", func(t *testing.T) {
		b := newFake(t, 1)
		var n atomic.Int32
		fakeQuorum(t, b, 2, func(*kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
			n.Add(1)
			return quorumAnswer(ErrNotLeaderOrFollower.Code, nil)
		})
		_, err := newAdminClient(t, b).DescribeQuorum(testCtx(t))
		if !errors.Is(err, ErrNotLeaderOrFollower) || n.Load() != adminAttempts {
			t.Fatalf("err %v after %d requests", err, n.Load())
		}
	})
	t.Run("no metadata partition", func(t *testing.T) {
		b := newFake(t, 1)
		fakeQuorum(t, b, 2, func(*kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
			resp := quorumAnswer(0, nil)
			resp.Topics[0].Topic = "other"
			return resp
		})
		_, err := newAdminClient(t, b).DescribeQuorum(testCtx(t))
		if err == nil || !strings.Contains(err.Error(), "does not describe __cluster_metadata[0]") {
			t.Fatalf("err %v", err)
		}
	})
}

const mismatchedEndpointType = 114 // MISMATCHED_ENDPOINT_TYPE

func TestDescribeClusterFake(t *testing.T) {
	b := newFake(t, 3, kfake.ClusterID("fake-cluster"))
	cl := newAdminClient(t, b)
	ci, err := cl.DescribeCluster(testCtx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	if ci.ClusterID != "fake-cluster" || !ci.FencedIncluded || ci.Version != 2 || len(ci.Brokers) != 3 {
		t.Fatalf("cluster %+v", ci)
	}
	var addrs []string
	for i, br := range ci.Brokers {
		if br.ID != int32(i) || br.Fenced || br.Rack == "" {
			t.Errorf("broker %+v", br)
		}
		addrs = append(addrs, br.Host+":"+strconv.Itoa(int(br.Port)))
	}
	if !slices.Equal(addrs, b.addrs) {
		t.Errorf("endpoints %v, want %v", addrs, b.addrs)
	}

	// A fenced broker, and an error with its message.
	b.fake.ControlKey(60, func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		resp := kreq.(*kmsg.DescribeClusterRequest).ResponseKind().(*kmsg.DescribeClusterResponse)
		resp.ClusterID, resp.ControllerID = "fake-cluster", 1
		for id := int32(2); id >= 1; id-- {
			br := kmsg.NewDescribeClusterResponseBroker()
			br.NodeID, br.Host, br.Port, br.IsFenced = id, "h", 1, id == 2
			resp.Brokers = append(resp.Brokers, br)
		}
		return resp, nil, true
	})
	ci, err = cl.DescribeCluster(testCtx(t), true)
	if err != nil || len(ci.Brokers) != 2 || ci.Brokers[0].ID != 1 || ci.Brokers[0].Fenced || !ci.Brokers[1].Fenced || ci.Brokers[0].Rack != "" {
		t.Fatalf("cluster %+v, %v", ci, err)
	}
	b.fake.ControlKey(60, func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		resp := kreq.(*kmsg.DescribeClusterRequest).ResponseKind().(*kmsg.DescribeClusterResponse)
		resp.ErrorCode, resp.ErrorMessage = mismatchedEndpointType, kmsg.StringPtr("a controller listener")
		return resp, nil, true
	})
	if _, err = cl.DescribeCluster(testCtx(t), true); !errors.Is(err, ErrorForCode(mismatchedEndpointType)) ||
		!strings.Contains(err.Error(), "a controller listener") {
		t.Fatalf("err %v", err)
	}
}

func TestOfflinePartitionsFake(t *testing.T) {
	b := newFake(t, 2)
	b.fake.ControlKey(3, func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.MetadataRequest)
		if req.Topics != nil { // not the every-topic request
			return nil, nil, false
		}
		b.fake.KeepControl()
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		topic := func(name string, code int16, parts ...kmsg.MetadataResponseTopicPartition) {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic, rt.ErrorCode, rt.Partitions = kmsg.StringPtr(name), code, parts
			resp.Topics = append(resp.Topics, rt)
		}
		part := func(p, leader int32, code int16) kmsg.MetadataResponseTopicPartition {
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Partition, rp.Leader, rp.ErrorCode, rp.Replicas, rp.ISR, rp.OfflineReplicas = p, leader, code, []int32{1}, []int32{1}, []int32{1}
			return rp
		}
		topic("b", 0, part(0, -1, 0), part(1, 0, 0))
		topic("a", 0, part(1, 1, ErrLeaderNotAvailable.Code), part(0, 0, 0))
		topic("c", ErrTopicAuthorizationFailed.Code)
		return resp, nil, true
	})
	got, err := newAdminClient(t, b).OfflinePartitions(testCtx(t))
	if !errors.Is(err, ErrTopicAuthorizationFailed) || !strings.Contains(err.Error(), `topic "c"`) {
		t.Fatalf("err %v", err)
	}
	if len(got) != 2 || got[0].TopicPartition != (TopicPartition{"a", 1}) || !errors.Is(got[0].Err, ErrLeaderNotAvailable) ||
		got[1].TopicPartition != (TopicPartition{"b", 0}) || got[1].Leader != -1 || got[1].Err != nil ||
		!slices.Equal(got[1].OfflineReplicas, []int32{1}) {
		t.Fatalf("offline %+v", got)
	}
}

// TestClusterAdminBackends runs the three calls against a samsa node, a
// three-node samsa cluster and, when KAFKA_REFERENCE_BOOTSTRAP is set, the
// three-node reference cluster.
func TestClusterAdminBackends(t *testing.T) {
	bs := backends(t)
	if samsaBackend != nil {
		c := samsatest.StartCluster(t, 3)
		bs = append(bs, backend{name: "samsa-cluster", addrs: c.Bootstrap()})
	}
	for _, b := range bs {
		if b.fake != nil {
			continue // above
		}
		t.Run(b.name, func(t *testing.T) {
			cl := newAdminClient(t, b)
			ctx := testCtx(t)
			ci, err := cl.DescribeCluster(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			md, err := cl.anyBrokerRequest(ctx, kmsg.NewPtrMetadataRequest(), -1, func(kmsg.Response) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			mdr := md.(*kmsg.MetadataResponse)
			if ci.ClusterID == "" || ci.ClusterID != deref(mdr.ClusterID) || !ci.FencedIncluded || len(ci.Brokers) != len(mdr.Brokers) {
				t.Fatalf("cluster %+v; metadata cluster %q, %d brokers", ci, deref(mdr.ClusterID), len(mdr.Brokers))
			}
			for _, br := range ci.Brokers {
				if br.Fenced || br.Port <= 0 || br.Host == "" {
					t.Errorf("broker %+v", br)
				}
			}
			offline, err := cl.OfflinePartitions(ctx)
			if err != nil || offline == nil || len(offline) != 0 {
				t.Errorf("offline partitions %+v, %v", offline, err)
			}
			q, err := cl.DescribeQuorum(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := len(ci.Brokers) // the reference's nodes, and samsa's, are combined
			if len(q.Voters) != want || q.HighWatermark <= 0 || q.LeaderEpoch <= 0 {
				t.Fatalf("quorum %+v, want %d voters", q, want)
			}
			var leader *QuorumReplica
			for i, v := range q.Voters {
				if v.ID == q.LeaderID {
					leader = &q.Voters[i]
				}
				if v.LogEndOffset < 0 || v.Lag < 0 || v.LastFetch.IsZero() {
					t.Errorf("voter %+v", v)
				}
				if ls := q.Nodes[v.ID]; q.Version >= 2 && (len(ls) == 0 || ls[0].Port == 0) {
					t.Errorf("voter %d listeners %+v", v.ID, ls)
				}
			}
			if leader == nil || leader.Lag != 0 || leader.LogEndOffset < q.HighWatermark {
				t.Fatalf("leader %d not a caught-up voter: %+v", q.LeaderID, q.Voters)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
