package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeBroker is a loopback TCP server speaking the Kafka framing, with
// bodies from kmsg: it answers ApiVersions itself (advertising versions)
// and every other request through handle.
type fakeBroker struct {
	ln       net.Listener
	versions map[int16]int16
	handle   func(req kmsg.Request) kmsg.Response
	wg       sync.WaitGroup
	requests atomic.Int64
}

func startFake(t *testing.T, versions map[int16]int16, handle func(kmsg.Request) kmsg.Response) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBroker{ln: ln, versions: versions, handle: handle}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeBroker) addr() string { return f.ln.Addr().String() }

func (f *fakeBroker) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			for f.serveOne(c) == nil {
			}
		}()
	}
}

func (f *fakeBroker) serveOne(c net.Conn) error {
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	key, ver := int16(binary.BigEndian.Uint16(b)), int16(binary.BigEndian.Uint16(b[2:]))
	corr := b[4:8]
	idLen := int16(binary.BigEndian.Uint16(b[8:]))
	rest := b[10:]
	if idLen > 0 {
		rest = rest[idLen:]
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(ver)
	if req.IsFlexible() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return err
		}
	}
	if err := req.ReadFrom(rest); err != nil {
		return err
	}
	f.requests.Add(1)
	var resp kmsg.Response
	if key == 18 {
		av := kmsg.NewPtrApiVersionsResponse()
		for k, v := range f.versions {
			av.ApiKeys = append(av.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MaxVersion: v})
		}
		av.ApiKeys = append(av.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: 18, MaxVersion: 3})
		resp = av
	} else {
		resp = f.handle(req)
		if resp == nil {
			return errors.New("no response")
		}
	}
	resp.SetVersion(ver)
	out := append([]byte{0, 0, 0, 0}, corr...)
	if resp.IsFlexible() && key != 18 {
		out = append(out, 0) // empty header tags
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	_, err := c.Write(out)
	return err
}

func quorumResponse(leader, epoch int32, hw int64, voters ...kmsg.DescribeQuorumResponseTopicPartitionReplicaState) *kmsg.DescribeQuorumResponse {
	r := kmsg.NewPtrDescribeQuorumResponse()
	tp := kmsg.NewDescribeQuorumResponseTopic()
	tp.Topic = metadataTopic
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.LeaderID, p.LeaderEpoch, p.HighWatermark, p.CurrentVoters = leader, epoch, hw, voters
	tp.Partitions = append(tp.Partitions, p)
	r.Topics = append(r.Topics, tp)
	return r
}

// The probes against a broker on loopback: versions are negotiated down to
// what it advertises, flexible and non-flexible headers both parse, and
// each probe reports what the response says.
func TestProbesAgainstFakeBroker(t *testing.T) {
	var created []string
	var mu sync.Mutex
	var gotVersions sync.Map
	f := startFake(t, map[int16]int16{3: 12, 19: 7, 55: 2}, func(req kmsg.Request) kmsg.Response {
		gotVersions.Store(req.Key(), req.GetVersion())
		switch r := req.(type) {
		case *kmsg.MetadataRequest:
			if r.Topics == nil || len(r.Topics) != 0 {
				t.Errorf("Metadata asks for topics %v, want none", r.Topics)
			}
			resp := kmsg.NewPtrMetadataResponse()
			for _, id := range []int32{3, 1, 2} {
				resp.Brokers = append(resp.Brokers, kmsg.MetadataResponseBroker{NodeID: id, Host: "127.0.0.1", Port: 1})
			}
			return resp
		case *kmsg.CreateTopicsRequest:
			resp := kmsg.NewPtrCreateTopicsResponse()
			for _, tp := range r.Topics {
				mu.Lock()
				code := int16(0)
				if tp.Topic == "dup" {
					code = kerr.TopicAlreadyExists.Code
				}
				if tp.Topic == "bad" {
					code = kerr.InvalidReplicationFactor.Code
				}
				created = append(created, tp.Topic)
				mu.Unlock()
				rt := kmsg.NewCreateTopicsResponseTopic()
				rt.Topic, rt.ErrorCode = tp.Topic, code
				resp.Topics = append(resp.Topics, rt)
			}
			return resp
		case *kmsg.DescribeQuorumRequest:
			return quorumResponse(2, 7, 48, kmsg.DescribeQuorumResponseTopicPartitionReplicaState{ReplicaID: 1, LogEndOffset: 48})
		}
		return nil
	})
	p := newProber(2*time.Second, time.Millisecond)
	defer p.close()
	ctx := context.Background()
	ids, err := p.brokers(ctx, f.addr())
	if err != nil || !slices.Equal(ids, []int32{1, 2, 3}) {
		t.Fatalf("brokers = %v, %v", ids, err)
	}
	if err := p.createTopic(ctx, f.addr(), "t1", 3); err != nil {
		t.Errorf("createTopic: %v", err)
	}
	if err := p.createTopic(ctx, f.addr(), "dup", 3); err != nil {
		t.Errorf("createTopic of an existing topic: %v", err)
	}
	if err := p.createTopic(ctx, f.addr(), "bad", 3); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Errorf("createTopic bad = %v, want INVALID_REPLICATION_FACTOR", err)
	}
	q, err := p.describeQuorum(ctx, f.addr())
	if err != nil || q.Leader != 2 || q.Epoch != 7 || q.HighWatermark != 48 || len(q.Voters) != 1 {
		t.Errorf("describeQuorum = %+v, %v", q, err)
	}
	for key, want := range map[int16]int16{3: 12, 19: 7, 55: 2} {
		if v, _ := gotVersions.Load(key); v != want {
			t.Errorf("key %d sent at v%v, want v%d (the broker's max)", key, v, want)
		}
	}
	// One connection served all of it: ApiVersions once, then five requests.
	if n := f.requests.Load(); n != 6 {
		t.Errorf("%d requests, want 6 (the connection should be reused)", n)
	}
	if !slices.Equal(created, []string{"t1", "dup", "bad"}) {
		t.Errorf("created %v", created)
	}
}

// A broker that does not offer an API is an error naming it, not a
// request at a version it does not know.
func TestProbeUnsupportedAPI(t *testing.T) {
	f := startFake(t, map[int16]int16{3: 12}, func(kmsg.Request) kmsg.Response { return nil })
	p := newProber(time.Second, time.Millisecond)
	defer p.close()
	_, err := p.describeQuorum(context.Background(), f.addr())
	if err == nil || !strings.Contains(err.Error(), "DescribeQuorum") {
		t.Errorf("describeQuorum on a broker without it: %v", err)
	}
}

// A broker that never answers: the attempt deadline ends the request.
func TestProbeAttemptDeadline(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	f := startFake(t, map[int16]int16{3: 12}, func(kmsg.Request) kmsg.Response { <-block; return nil })
	p := newProber(100*time.Millisecond, time.Millisecond)
	defer p.close()
	t0 := time.Now()
	_, err := p.brokers(context.Background(), f.addr())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("brokers on a silent broker: %v, want a deadline", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// race returns the first success among the addresses (here the one that
// answers, while the other refuses connections), with its value; and when
// nothing succeeds before the context ends, every address's last error.
func TestRace(t *testing.T) {
	f := startFake(t, map[int16]int16{55: 2}, func(kmsg.Request) kmsg.Response {
		return quorumResponse(3, 9, 10)
	})
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	p := newProber(time.Second, 2*time.Millisecond)
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var attempts atomic.Int64
	q, at, err := race(ctx, p, []string{deadAddr, f.addr()}, func(ctx context.Context, addr string, _ int) (quorum, error) {
		attempts.Add(1)
		return p.describeQuorum(ctx, addr)
	})
	if err != nil || q.Leader != 3 || at.IsZero() {
		t.Fatalf("race = %+v, %v, %v", q, at, err)
	}

	// Success only from the third attempt on.
	var n atomic.Int64
	_, _, err = race(ctx, p, []string{f.addr()}, func(ctx context.Context, addr string, attempt int) (int, error) {
		n.Add(1)
		if attempt < 2 {
			return 0, errors.New("not yet")
		}
		return attempt, nil
	})
	if err != nil || n.Load() != 3 {
		t.Errorf("retrying race: %v after %d attempts", err, n.Load())
	}

	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, _, err = race(short, p, []string{deadAddr, f.addr()}, func(ctx context.Context, addr string, _ int) (int, error) {
		return 0, errors.New("never " + addr)
	})
	if err == nil || !strings.Contains(err.Error(), "never "+deadAddr) || !strings.Contains(err.Error(), "never "+f.addr()) {
		t.Errorf("race that never succeeds: %v", err)
	}
	if _, _, err := race(ctx, p, nil, func(context.Context, string, int) (int, error) { return 1, nil }); err == nil {
		t.Errorf("race over no addresses succeeded")
	}
}

func TestParseQuorum(t *testing.T) {
	q, err := parseQuorum(quorumResponse(1, 4, 100))
	if err != nil || q.Leader != 1 || q.Epoch != 4 {
		t.Errorf("parseQuorum = %+v, %v", q, err)
	}
	r := quorumResponse(1, 4, 100)
	r.Topics[0].Partitions[0].ErrorCode = kerr.NotLeaderForPartition.Code
	if _, err := parseQuorum(r); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("partition error: %v", err)
	}
	r = quorumResponse(1, 4, 100)
	r.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	if _, err := parseQuorum(r); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("top-level error: %v", err)
	}
	r = quorumResponse(1, 4, 100)
	r.Topics[0].Topic = "other"
	if _, err := parseQuorum(r); err == nil {
		t.Errorf("a response without the metadata topic parsed")
	}
}

func TestRejoined(t *testing.T) {
	const restart = 1_000_000
	v := func(id int32, leo, fetch, caught int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		return kmsg.DescribeQuorumResponseTopicPartitionReplicaState{ReplicaID: id, LogEndOffset: leo,
			LastFetchTimestamp: fetch, LastCaughtUpTimestamp: caught}
	}
	cases := []struct {
		name string
		q    quorum
		want bool
	}{
		{"fresh fetch, caught up", quorum{Leader: 1, HighWatermark: 50, Voters: []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{v(2, 50, restart+5, restart+5)}}, true},
		{"stale fetch from before the kill", quorum{Leader: 1, HighWatermark: 50, Voters: []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{v(2, 50, restart-5, restart-5)}}, false},
		{"fresh fetch, behind", quorum{Leader: 1, HighWatermark: 50, Voters: []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{v(2, 40, restart+5, restart-100)}}, false},
		{"behind but caught up after the restart", quorum{Leader: 1, HighWatermark: 50, Voters: []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{v(2, 49, restart+5, restart+1)}}, true},
		{"no timestamps reported, caught up", quorum{Leader: 1, HighWatermark: 50, Voters: []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{v(2, 50, -1, -1)}}, true},
		{"not a voter", quorum{Leader: 1, HighWatermark: 50, Voters: []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{v(3, 50, restart+5, restart+5)}}, false},
		{"no leader", quorum{Leader: -1, HighWatermark: 50, Voters: []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{v(2, 50, restart+5, restart+5)}}, false},
		{"leader again", quorum{Leader: 2}, true},
	}
	for _, c := range cases {
		if got := c.q.rejoined(2, restart); got != c.want {
			t.Errorf("%s: rejoined = %v", c.name, got)
		}
	}
}

func TestHasAll(t *testing.T) {
	if !hasAll([]int32{1, 2, 3}, []int32{3, 1, 2}) || hasAll([]int32{1, 3}, []int32{1, 2, 3}) || !hasAll(nil, nil) {
		t.Errorf("hasAll")
	}
}

func TestSkipTags(t *testing.T) {
	// two tags: tag 0 with 3 bytes, tag 5 with 0 bytes; then the body "xy"
	b := []byte{2, 0, 3, 'a', 'b', 'c', 5, 0, 'x', 'y'}
	rest, err := skipTags(b)
	if err != nil || string(rest) != "xy" {
		t.Errorf("skipTags = %q, %v", rest, err)
	}
	for _, bad := range [][]byte{nil, {1}, {1, 0}, {1, 0, 9, 'a'}, {0x80}} {
		if _, err := skipTags(bad); err == nil {
			t.Errorf("skipTags(%v) accepted", bad)
		}
	}
}

func TestParseResponseHeader(t *testing.T) {
	resp := kmsg.NewPtrMetadataResponse()
	resp.SetVersion(12) // flexible: the header has tags
	frame := append([]byte{0, 0, 0, 7, 0}, resp.AppendTo(nil)...)
	out := kmsg.NewPtrMetadataResponse()
	out.SetVersion(12)
	if err := parseResponse(frame, 7, out); err != nil {
		t.Errorf("parseResponse: %v", err)
	}
	if err := parseResponse(frame, 8, out); err == nil || !strings.Contains(err.Error(), "correlation") {
		t.Errorf("wrong correlation id: %v", err)
	}
	if err := parseResponse(frame[:3], 7, out); err == nil {
		t.Errorf("short frame parsed")
	}
	// ApiVersions keeps header v0 even when flexible.
	av := kmsg.NewPtrApiVersionsResponse()
	av.SetVersion(3)
	av.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 3, MaxVersion: 12}}
	frame = append([]byte{0, 0, 0, 1}, av.AppendTo(nil)...)
	avOut := kmsg.NewPtrApiVersionsResponse()
	avOut.SetVersion(3)
	if err := parseResponse(frame, 1, avOut); err != nil || len(avOut.ApiKeys) != 1 || avOut.ApiKeys[0].MaxVersion != 12 {
		t.Errorf("ApiVersions: %+v, %v", avOut.ApiKeys, err)
	}
}

// FuzzParseResponse feeds arbitrary frames to the response parser for the
// responses the probes read: an error or a response, never a panic.
func FuzzParseResponse(f *testing.F) {
	q := quorumResponse(1, 2, 3)
	q.SetVersion(2)
	f.Add(int16(55), int16(2), append([]byte{0, 0, 0, 1, 0}, q.AppendTo(nil)...))
	m := kmsg.NewPtrMetadataResponse()
	m.SetVersion(12)
	m.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 1, Host: "h", Port: 9}}
	f.Add(int16(3), int16(12), append([]byte{0, 0, 0, 1, 0}, m.AppendTo(nil)...))
	c := kmsg.NewPtrCreateTopicsResponse()
	c.SetVersion(5)
	c.Topics = []kmsg.CreateTopicsResponseTopic{{Topic: "t"}}
	f.Add(int16(19), int16(5), append([]byte{0, 0, 0, 1, 0}, c.AppendTo(nil)...))
	f.Add(int16(18), int16(3), []byte{0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, key, version int16, frame []byte) {
		var resp kmsg.Response
		switch key {
		case 3, 18, 19, 55:
			resp = kmsg.ResponseForKey(key)
		default:
			return
		}
		if version < 0 || version > resp.MaxVersion() {
			return
		}
		resp.SetVersion(version)
		if err := parseResponse(frame, 1, resp); err != nil {
			return
		}
		if dq, ok := resp.(*kmsg.DescribeQuorumResponse); ok {
			parseQuorum(dq)
		}
		if cr, ok := resp.(*kmsg.CreateTopicsResponse); ok {
			createTopicsErr(cr, "t")
		}
	})
}
