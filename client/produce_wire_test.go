package client

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// appendProduceBody with the batches spliced back in must equal kmsg's own
// encoding, for every version the producer may pick.
func TestAppendProduceBodyMatchesKmsg(t *testing.T) {
	txn := "txn"
	for v := int16(3); v <= 12; v++ {
		for _, tid := range []*string{nil, &txn} {
			req := kmsg.NewPtrProduceRequest()
			req.Version = v
			req.TransactionID = tid
			req.Acks = -1
			req.TimeoutMillis = 30000
			req.Topics = []kmsg.ProduceRequestTopic{
				{Topic: "a", Partitions: []kmsg.ProduceRequestTopicPartition{
					{Partition: 0, Records: bytes.Repeat([]byte{1}, 70)},
					{Partition: 3, Records: nil},
					{Partition: 5, Records: bytes.Repeat([]byte{2}, 300)},
				}},
				{Topic: "topic-b", Partitions: []kmsg.ProduceRequestTopicPartition{
					{Partition: 1, Records: []byte{}},
				}},
			}
			want := req.AppendTo(nil)
			buf, cuts, recs, total := appendProduceBody(nil, req, nil, nil)
			var got []byte
			at := 0
			for i, cut := range cuts {
				got = append(got, buf[at:cut]...)
				got = append(got, recs[i]...)
				at = cut
			}
			got = append(got, buf[at:]...)
			if !bytes.Equal(got, want) || total != len(want) {
				t.Fatalf("v%d tid=%v: encodings differ (total %d, want %d)\n got %x\nwant %x", v, tid != nil, total, len(want), got, want)
			}
		}
	}
}

// produceSet.decode must read what kmsg encodes, for every version.
func TestProduceSetDecode(t *testing.T) {
	msg := "boom"
	for v := int16(3); v <= 12; v++ {
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = v
		resp.ThrottleMillis = 7
		resp.Topics = []kmsg.ProduceResponseTopic{
			{Topic: "b", Partitions: []kmsg.ProduceResponseTopicPartition{
				{Partition: 2, ErrorCode: 6, ErrorMessage: &msg, BaseOffset: -1, LogAppendTime: -1,
					ErrorRecords:  []kmsg.ProduceResponseTopicPartitionErrorRecord{{RelativeOffset: 1, ErrorMessage: &msg}},
					CurrentLeader: kmsg.ProduceResponseTopicPartitionCurrentLeader{LeaderID: 3, LeaderEpoch: 4}},
			}},
			{Topic: "a", Partitions: []kmsg.ProduceResponseTopicPartition{
				{Partition: 1, BaseOffset: 100, LogAppendTime: 55, LogStartOffset: 3},
			}},
		}
		body := resp.AppendTo(nil)
		pa := &partitionProducer{topic: "a", partition: 1}
		pb := &partitionProducer{topic: "b", partition: 2}
		pc := &partitionProducer{topic: "c", partition: 0}
		ba, bb, bc := &recBatch{pp: pa}, &recBatch{pp: pb}, &recBatch{pp: pc}
		set := &produceSet{batches: []*recBatch{ba, bb, bc}}
		set.req.Version = v
		if err := set.decode(body); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if !ba.res.found || ba.res.err != nil || ba.res.baseOffset != 100 || ba.res.appendTime != 55 {
			t.Fatalf("v%d: a: %+v", v, ba.res)
		}
		if !bb.res.found || !errors.Is(bb.res.err, ErrNotLeaderOrFollower) {
			t.Fatalf("v%d: b: %+v", v, bb.res)
		}
		if v >= 8 && !strings.Contains(bb.res.err.Error(), msg) {
			t.Fatalf("v%d: b's message lost: %v", v, bb.res.err)
		}
		if bc.res.found {
			t.Fatalf("v%d: c found", v)
		}
		if err := set.decode(body[:len(body)-6]); err == nil {
			t.Fatalf("v%d: truncated response decoded", v)
		}
	}
}

// With one request in flight per connection the bridge is saturated most
// of the time, so partitions keep putting off sealing (deferSeal) and rely
// on the bridge's poke; with a small buffer, Produce blocks too. Every
// record must still arrive, in order per key, on every backend.
func TestSaturatedConnectionDefersSealing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		topic := newTopic(t, b, 4)
		p := newTestProducer(t, b, MaxInFlightRequestsPerConn(1), Linger(time.Millisecond),
			MaxBufferedRecords(200), BatchBytes(4<<10))
		produceKeyed(t, p, topic, 8, 250, nil)
		checkOrdered(t, consume(t, b, topic, 8*250), 8, 250, 4)
	})
}
