package broker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestAdvertisedEndpointFollowsListener: a client sees the endpoint
// advertised under the listener name its connection arrived on
// (Kafka's rule), the classic docker-compose two-listener setup.
func TestAdvertisedEndpointFollowsListener(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	n := samsatest.Start(t, samsatest.Port(p1),
		samsatest.Config("listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,PLAINTEXT_HOST://127.0.0.1:%d,CONTROLLER://127.0.0.1:0", p1, p2)),
		samsatest.Config("advertised.listeners", fmt.Sprintf("PLAINTEXT://kafka-1.internal:%d,PLAINTEXT_HOST://127.0.0.1:%d", p1, p2)),
		samsatest.Config("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT,CONTROLLER:PLAINTEXT"),
		samsatest.Config("inter.broker.listener.name", "PLAINTEXT"))
	_ = n
	for _, tc := range []struct {
		port     int
		wantHost string
	}{{p1, "kafka-1.internal"}, {p2, "127.0.0.1"}} {
		c := rawConn(t, fmt.Sprintf("127.0.0.1:%d", tc.port))
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(12)
		resp := kmsg.NewPtrMetadataResponse()
		c.roundTrip(t, req, resp)
		if len(resp.Brokers) != 1 || resp.Brokers[0].Host != tc.wantHost || int(resp.Brokers[0].Port) != tc.port {
			t.Fatalf("via port %d: brokers %+v, want %s:%d", tc.port, resp.Brokers, tc.wantHost, tc.port)
		}
		dc := kmsg.NewPtrDescribeClusterRequest()
		dresp := kmsg.NewPtrDescribeClusterResponse()
		c.roundTrip(t, dc, dresp)
		if len(dresp.Brokers) != 1 || dresp.Brokers[0].Host != tc.wantHost {
			t.Fatalf("describe cluster via %d: %+v", tc.port, dresp.Brokers)
		}
	}
}

// TestApiVersionsAdvertisesOnlyImplemented pins the advertised API set.
func TestApiVersionsAdvertisesOnlyImplemented(t *testing.T) {
	n := samsatest.Start(t)
	c := rawConn(t, n.Addr())
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-test", "1.0"
	resp := kmsg.NewPtrApiVersionsResponse()
	c.roundTrip(t, req, resp)
	if resp.ErrorCode != 0 {
		t.Fatalf("error %d", resp.ErrorCode)
	}
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	want := map[int16][2]int16{0: {0, 13}, 1: {4, 18}, 2: {1, 11}, 3: {0, 13}, 18: {0, 5}, 19: {2, 7}, 20: {1, 6},
		21: {0, 2}, 22: {0, 5}, 23: {2, 4}, 32: {1, 4}, 33: {0, 2}, 35: {1, 5}, 37: {0, 3}, 43: {0, 2}, 44: {0, 1}, 45: {0, 1}, 46: {0, 0}, 55: {0, 2}, 60: {0, 2}, 64: {0, 0}, 75: {0, 0}}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %d (%s): advertised %v, want %v", k, kmsg.NameForKey(k), got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && !groupKey(k) {
			t.Errorf("key %d (%s) advertised but not expected", k, kmsg.NameForKey(k))
		}
	}
	// Bad software name (v3+): INVALID_REQUEST, with no key list (as Kafka 4.4).
	req.ClientSoftwareName = "-bad name"
	c.roundTrip(t, req, resp)
	if resp.ErrorCode != 42 || len(resp.ApiKeys) != 0 {
		t.Fatalf("bad software name: code %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

// groupKey reports the consumer-group API keys, which a separate issue adds.
func groupKey(k int16) bool {
	switch k {
	case 8, 9, 10, 11, 12, 13, 14, 15, 16, 42, 47, 68, 69:
		return true
	}
	return false
}

// TestPipelinedResponsesInRequestOrder sends several requests before
// reading, including an acks=0 produce that gets no response.
func TestPipelinedResponsesInRequestOrder(t *testing.T) {
	n := samsatest.Start(t)
	adm := kadm.NewClient(newClient(t, n.Addr()))
	if _, err := adm.CreateTopic(ctxT(t), 1, 1, nil, "pipe"); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, n.Addr())
	var frames []byte
	f := kmsg.NewRequestFormatter()
	// AppendRequest sizes the frame from the start of dst, so each
	// request is formatted on its own and then concatenated.
	add := func(req kmsg.Request, corr int32) { frames = append(frames, f.AppendRequest(nil, req, corr)...) }
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	add(md, 1)
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(9)
	pr.Acks = 0
	add(pr, 2)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(0)
	add(av, 3)
	add(md, 4)
	if _, err := c.c.Write(frames); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int32{1, 3, 4} {
		body := c.read(t)
		if got := int32(binary.BigEndian.Uint32(body)); got != want {
			t.Fatalf("correlation id %d, want %d", got, want)
		}
	}
}

// TestFetchLongPollWakesOnProduce parks a fetch with a long max wait and
// checks that a produce wakes it at once, not at the deadline.
func TestFetchLongPollWakesOnProduce(t *testing.T) {
	for _, flush := range []string{"1", "9223372036854775807"} {
		t.Run("flush.messages="+flush, func(t *testing.T) {
			n := samsatest.Start(t, samsatest.Config("log.flush.interval.messages", flush))
			ctx := ctxT(t)
			adm := kadm.NewClient(newClient(t, n.Addr()))
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, "lp"); err != nil {
				t.Fatal(err)
			}
			c := newClient(t, n.Addr(), kgo.ConsumeTopics("lp"), kgo.FetchMaxWait(10*time.Second))
			done := make(chan time.Time, 1)
			go func() {
				fs := c.PollFetches(ctx)
				if len(fs.Records()) == 1 {
					done <- time.Now()
				}
			}()
			time.Sleep(300 * time.Millisecond) // let the fetch park
			p := newClient(t, n.Addr(), kgo.DefaultProduceTopic("lp"))
			sent := time.Now()
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			select {
			case at := <-done:
				if d := at.Sub(sent); d > 2*time.Second {
					t.Fatalf("fetch woke %v after the produce", d)
				}
			case <-time.After(8 * time.Second):
				t.Fatal("parked fetch was not woken by the produce")
			}
		})
	}
}

// TestFetchFromInsideBatchReturnsWholeBatch and the high watermark bound.
func TestFetchFromInsideBatchReturnsWholeBatch(t *testing.T) {
	n := samsatest.Start(t)
	ctx := ctxT(t)
	p := newClient(t, n.Addr(), kgo.DefaultProduceTopic("inside"), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(50*time.Millisecond))
	var recs []*kgo.Record
	for i := 0; i < 10; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprint(i))})
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, n.Addr())
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "inside"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = 5
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrFetchResponse()
	c.roundTrip(t, req, resp)
	part := resp.Topics[0].Partitions[0]
	if part.ErrorCode != 0 || part.HighWatermark != 10 {
		t.Fatalf("partition: code %d hw %d", part.ErrorCode, part.HighWatermark)
	}
	var batch kmsg.RecordBatch
	if err := batch.ReadFrom(part.RecordBatches); err != nil {
		t.Fatal(err)
	}
	if batch.FirstOffset > 5 || batch.FirstOffset+int64(batch.LastOffsetDelta) < 5 {
		t.Fatalf("batch %d..%d does not contain offset 5", batch.FirstOffset, batch.FirstOffset+int64(batch.LastOffsetDelta))
	}
}

// TestIdempotentDuplicateReturnsOriginalOffset resends a batch with the
// same producer id, epoch and sequence: Kafka dedupes it and answers with
// the offset the first copy got.
func TestIdempotentDuplicateReturnsOriginalOffset(t *testing.T) {
	n := samsatest.Start(t)
	adm := kadm.NewClient(newClient(t, n.Addr()))
	if _, err := adm.CreateTopic(ctxT(t), 1, 1, nil, "dedupe"); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, n.Addr())
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.SetVersion(4)
	ipr := kmsg.NewPtrInitProducerIDResponse()
	c.roundTrip(t, ip, ipr)
	if ipr.ErrorCode != 0 || ipr.ProducerID < 0 {
		t.Fatalf("init producer id: %+v", ipr)
	}
	send := func(seq int32, epoch int16) (int16, int64) {
		b := idemBatch(ipr.ProducerID, epoch, seq, 3)
		pr := kmsg.NewPtrProduceRequest()
		pr.SetVersion(9)
		pr.Acks = -1
		pr.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "dedupe"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = b
		rt.Partitions = append(rt.Partitions, rp)
		pr.Topics = append(pr.Topics, rt)
		resp := kmsg.NewPtrProduceResponse()
		c.roundTrip(t, pr, resp)
		p := resp.Topics[0].Partitions[0]
		return p.ErrorCode, p.BaseOffset
	}
	if code, off := send(0, 0); code != 0 || off != 0 {
		t.Fatalf("first: %d %d", code, off)
	}
	if code, off := send(3, 0); code != 0 || off != 3 {
		t.Fatalf("second: %d %d", code, off)
	}
	if code, off := send(0, 0); code != 0 || off != 0 {
		t.Fatalf("duplicate of the first: code %d offset %d, want 0 0", code, off)
	}
	if code, _ := send(9, 0); code != 45 {
		t.Fatalf("sequence gap: code %d, want OUT_OF_ORDER_SEQUENCE_NUMBER (45)", code)
	}
	if code, _ := send(0, 1); code != 0 {
		t.Fatalf("new epoch from 0: code %d", code)
	}
	if code, _ := send(6, 0); code != 47 {
		t.Fatalf("old epoch: code %d, want INVALID_PRODUCER_EPOCH (47)", code)
	}
	end, _ := kadm.NewClient(newClient(t, n.Addr())).ListEndOffsets(ctxT(t), "dedupe")
	if o := end["dedupe"][0].Offset; o != 9 {
		t.Fatalf("log end %d, want 9 (three batches of 3, the duplicate not stored)", o)
	}
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

type conn struct {
	c    net.Conn
	br   *bufio.Reader
	corr int32
}

func rawConn(t testing.TB, addr string) *conn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &conn{c: c, br: bufio.NewReader(c)}
}

func (c *conn) read(t testing.TB) []byte {
	var sz [4]byte
	if _, err := io.ReadFull(c.br, sz[:]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(c.br, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

func (c *conn) roundTrip(t testing.TB, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	c.corr++
	if _, err := c.c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, c.corr)); err != nil {
		t.Fatal(err)
	}
	body := c.read(t)
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corr {
		t.Fatalf("correlation %d, want %d", got, c.corr)
	}
	body = body[4:]
	if req.IsFlexible() && req.Key() != 18 {
		body = body[1:]
	}
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decoding %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
}

// idemBatch builds an uncompressed batch of n records from an idempotent producer.
func idemBatch(pid int64, epoch int16, seq int32, n int) []byte {
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(fmt.Sprintf("%100d", seq+int32(i)))}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1),
		FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: int32(n), Records: recs}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32c(out[21:]))
	return out
}

// TestFetchEmptyPartitionSendsEmptyRecords: a partition with nothing to
// return carries an empty record set, not a null one, on every version
// (librdkafka fails to parse a null MessageSet: kcat tailing a topic).
func TestFetchEmptyPartitionSendsEmptyRecords(t *testing.T) {
	n := samsatest.Start(t)
	if _, err := kadm.NewClient(newClient(t, n.Addr())).CreateTopic(ctxT(t), 1, 1, nil, "empty"); err != nil {
		t.Fatal(err)
	}
	c := rawConn(t, n.Addr())
	for _, v := range []int16{4, 11, 12} {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(v)
		req.MaxBytes = 1 << 20
		req.MaxWaitMillis = 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "empty"
		for _, part := range []int32{0, 7} { // 7 does not exist: an error partition
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = part
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := kmsg.NewPtrFetchResponse()
		c.roundTrip(t, req, resp)
		for _, p := range resp.Topics[0].Partitions {
			if p.RecordBatches == nil {
				t.Fatalf("v%d partition %d: null record set", v, p.Partition)
			}
		}
	}
}
