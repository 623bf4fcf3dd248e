package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func buildBatch(t *testing.T, base int64, n int, attrs int16, codec Codec, pid int64) []byte {
	t.Helper()
	s := batch.BatchSpec{BaseOffset: base, PartitionLeaderEpoch: -1, Attributes: attrs, Codec: codec, BaseTimestamp: 1000,
		ProducerID: pid, ProducerEpoch: 0, BaseSequence: 0}
	for i := 0; i < n; i++ {
		s.Records = append(s.Records, batch.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Value: []byte(fmt.Sprint(base + int64(i)))})
	}
	b, err := batch.Build(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeBatches: records below the fetch offset are dropped, control
// batches and aborted transactions are skipped, a cut last batch ends the
// data, and the next offset follows the last whole batch.
func TestDecodeBatches(t *testing.T) {
	tp := TopicPartition{"t", 0}
	var data []byte
	data = append(data, buildBatch(t, 0, 5, 0, CodecZstd, -1)...)                     // 0-4
	data = append(data, buildBatch(t, 5, 3, batch.TransactionalBit, CodecNone, 7)...) // 5-7 aborted
	data = append(data, buildBatch(t, 8, 1, batch.TransactionalBit|batch.ControlBit, CodecNone, 7)...)
	data = append(data, buildBatch(t, 9, 2, 0, CodecGzip, -1)...) // 9-10
	cut := buildBatch(t, 11, 4, 0, CodecNone, -1)
	data = append(data, cut[:len(cut)-3]...)

	p := &kmsg.FetchResponseTopicPartition{RecordBatches: data}
	recs, next, err := decodeBatches(tp, p, 3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Value))
		if fmt.Sprint(r.Offset) != string(r.Value) || r.Timestamp.UnixMilli() != 1000+r.Offset-baseOf(r.Offset) {
			t.Fatalf("record %d: value %q ts %v", r.Offset, r.Value, r.Timestamp)
		}
	}
	if fmt.Sprint(got) != "[3 4 5 6 7 9 10]" || next != 11 {
		t.Fatalf("read_uncommitted: %v next %d", got, next)
	}

	p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 7, FirstOffset: 5}}
	recs, next, _ = decodeBatches(tp, p, 0, 1<<20)
	got = got[:0]
	for _, r := range recs {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 9 10]" || next != 11 {
		t.Fatalf("read_committed: %v next %d", got, next)
	}

	// Corruption: an error, unless records before it decoded.
	bad := buildBatch(t, 0, 2, 0, CodecNone, -1)
	bad[len(bad)-1] ^= 0xff
	if _, _, err := decodeBatches(tp, &kmsg.FetchResponseTopicPartition{RecordBatches: bad}, 0, 1<<20); !errors.Is(err, batch.ErrCorrupt) {
		t.Fatalf("corrupt batch: %v", err)
	}
}

func baseOf(off int64) int64 {
	switch {
	case off < 5:
		return 0
	case off < 8:
		return 5
	default:
		return 9
	}
}

// TestConsumerLeaderMove: a partition moving to another broker is followed
// (NOT_LEADER_OR_FOLLOWER → metadata refresh → fetch from the new leader).
func TestConsumerLeaderMove(t *testing.T) {
	t.Parallel()
	b := newFake(t, 3)
	topic := newTopic(t, b, 1)
	p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
	c := newTestConsumer(t, b, ConsumeTopics(topic))
	first := produceN(t, p, topic, 1, 0, 10)
	checkSame(t, pollN(t, c, 10, 20*time.Second), first)
	old := b.fake.LeaderFor(topic, 0)
	if err := b.fake.MoveTopicPartition(topic, 0, (old+1)%3); err != nil {
		t.Fatal(err)
	}
	second := produceN(t, p, topic, 1, 10, 10)
	checkSame(t, pollN(t, c, 10, 20*time.Second), second)
}

// TestConsumerIterator: Records yields records in order and stops with ctx.
func TestConsumerIterator(t *testing.T) {
	t.Parallel()
	b := newFake(t, 1)
	topic := newTopic(t, b, 2)
	p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
	want := produceN(t, p, topic, 2, 0, 20)
	c := newTestConsumer(t, b, ConsumeTopics(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []*Record
	for r, err := range c.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
		if len(got) == 20 {
			break
		}
	}
	checkSame(t, got, want)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	for range c.Records(ctx2) {
		t.Fatal("record beyond the end")
	}
}

// TestGroupManualCommit: with auto-commit off, only what the member
// commits counts; a later member resumes there.
func TestGroupManualCommit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Parallel()
		topic := newTopic(t, b, 2)
		group := newGroupName()
		p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
		want := produceN(t, p, topic, 2, 0, 20)
		c := newTestConsumer(t, b, ConsumerGroup(group), ConsumeTopics(topic), AutoCommit(0))
		got := pollN(t, c, 20, 30*time.Second)
		checkSame(t, got, want)
		// Commit the first 3 of each partition.
		var done []*Record
		for _, r := range got {
			if r.Offset < 3 {
				done = append(done, r)
			}
		}
		ctx := testCtx(t)
		if err := c.CommitRecords(ctx, done...); err != nil {
			t.Fatal(err)
		}
		committed, err := c.Committed(ctx, nil)
		if err != nil || len(committed) != 2 || committed[TopicPartition{topic, 0}] != 3 || committed[TopicPartition{topic, 1}] != 3 {
			t.Fatalf("committed %v, %v", committed, err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		c2 := newTestConsumer(t, b, ConsumerGroup(group), ConsumeTopics(topic), AutoCommit(0))
		checkSame(t, pollN(t, c2, 14, 30*time.Second), filter(want, func(r *Record) bool { return r.Offset >= 3 }))
		if err := c2.CommitPolled(ctx); err != nil {
			t.Fatal(err)
		}
		committed, err = c2.Committed(ctx, []TopicPartition{{topic, 0}})
		if err != nil || committed[TopicPartition{topic, 0}] != 10 {
			t.Fatalf("committed after CommitPolled %v, %v", committed, err)
		}
	})
}

// TestGroupErrorSurfaces: a group failure that retrying does not fix
// reaches Poll as a partition -1 error.
func TestGroupErrorSurfaces(t *testing.T) {
	t.Parallel()
	b := newFake(t, 1)
	b.fake.ControlKey(11, func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		b.fake.KeepControl()
		resp := kreq.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.Version = kreq.GetVersion()
		resp.ErrorCode = ErrGroupAuthorizationFailed.Code
		return resp, nil, true
	})
	topic := newTopic(t, b, 1)
	c := newTestConsumer(t, b, ConsumerGroup(newGroupName()), ConsumeTopics(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs, err := c.Poll(ctx)
	if err != nil || len(fs) != 1 || fs[0].Partition != -1 || !errors.Is(fs[0].Err, ErrGroupAuthorizationFailed) {
		t.Fatalf("got %+v, %v; want GROUP_AUTHORIZATION_FAILED", fs, err)
	}
}

// TestConsumeTopicCreatedLater: a topic that does not exist yet is picked
// up once created, in assign and in group mode.
func TestConsumeTopicCreatedLater(t *testing.T) {
	t.Parallel()
	b := newFake(t, 1)
	topic := fmt.Sprintf("later-%d", time.Now().UnixNano())
	c := newTestConsumer(t, b, ConsumeTopics(topic))
	g := newTestConsumer(t, b, ConsumeTopics(topic), ConsumerGroup(newGroupName()), HeartbeatInterval(100*time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	kc, err := kgo.NewClient(kgo.SeedBrokers(b.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if _, err := kadm.NewClient(kc).CreateTopic(testCtx(t), 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
	want := produceN(t, p, topic, 2, 0, 10)
	checkSame(t, pollN(t, c, 10, 10*time.Second), want)
	checkSame(t, pollN(t, g, 10, 10*time.Second), want)
}
