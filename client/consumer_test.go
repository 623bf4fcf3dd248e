package client

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// produceN produces n records "v<i>" with key "k<i%keys>" round-robin over
// partitions (ManualPartitioner), and returns them with offsets set.
func produceN(t testing.TB, p *Producer, topic string, partitions int32, from, n int) []*Record {
	t.Helper()
	recs := make([]*Record, n)
	for i := range recs {
		j := from + i
		recs[i] = &Record{Topic: topic, Partition: int32(j) % partitions, Key: []byte(fmt.Sprintf("k%d", j)),
			Value: []byte(fmt.Sprintf("v%d", j)), Headers: []RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(j))}}}
	}
	if err := p.ProduceSync(testCtx(t), recs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return recs
}

func newTestConsumer(t testing.TB, b backend, opts ...ConsumerOpt) *Consumer {
	t.Helper()
	base := []ConsumerOpt{SeedBrokers(b.addrs...), RetryBackoff(20*time.Millisecond, 200*time.Millisecond),
		MetadataMinAge(20 * time.Millisecond), FetchMaxWait(100 * time.Millisecond)}
	if os.Getenv("SAMSA_CLIENT_LOG") != "" {
		base = append(base, Logf(t.Logf))
	}
	c, err := NewConsumer(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// pollN polls until n records arrived (failing on timeout) and returns them.
func pollN(t testing.TB, c *Consumer, n int, timeout time.Duration) []*Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*Record
	for len(out) < n {
		fs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("polled %d of %d records: %v", len(out), n, err)
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// pollQuiet polls for d and returns whatever arrives (expected: nothing).
func pollQuiet(c *Consumer, d time.Duration) []*Record {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []*Record
	for {
		fs, err := c.Poll(ctx)
		if err != nil {
			return out
		}
		out = append(out, fs.Records()...)
	}
}

// checkSame verifies got holds exactly want (by partition and offset),
// in offset order per partition, with equal keys, values and headers.
func checkSame(t testing.TB, got, want []*Record) {
	t.Helper()
	byPos := map[TopicPartition]map[int64]*Record{}
	for _, w := range want {
		tp := TopicPartition{w.Topic, w.Partition}
		if byPos[tp] == nil {
			byPos[tp] = map[int64]*Record{}
		}
		byPos[tp][w.Offset] = w
	}
	last := map[TopicPartition]int64{}
	seen := map[TopicPartition]map[int64]bool{}
	for _, g := range got {
		tp := TopicPartition{g.Topic, g.Partition}
		w := byPos[tp][g.Offset]
		if w == nil {
			t.Fatalf("unexpected record %s@%d %q", tp, g.Offset, g.Value)
		}
		if seen[tp] == nil {
			seen[tp] = map[int64]bool{}
		}
		if seen[tp][g.Offset] {
			t.Fatalf("duplicate %s@%d", tp, g.Offset)
		}
		seen[tp][g.Offset] = true
		if l, ok := last[tp]; ok && g.Offset <= l {
			t.Fatalf("%s: offset %d after %d", tp, g.Offset, l)
		}
		last[tp] = g.Offset
		if !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || len(g.Headers) != len(w.Headers) {
			t.Fatalf("%s@%d: got %q=%q (%d headers), want %q=%q", tp, g.Offset, g.Key, g.Value, len(g.Headers), w.Key, w.Value)
		}
		for i := range g.Headers {
			if g.Headers[i].Key != w.Headers[i].Key || !bytes.Equal(g.Headers[i].Value, w.Headers[i].Value) {
				t.Fatalf("%s@%d: header %d differs", tp, g.Offset, i)
			}
		}
		if g.Timestamp.IsZero() {
			t.Fatalf("%s@%d: no timestamp", tp, g.Offset)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
}

func TestConsumerAssign(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Parallel()
		topic := newTopic(t, b, 3)
		p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
		first := produceN(t, p, topic, 3, 0, 30)

		// Whole topic from the start.
		all := newTestConsumer(t, b, ConsumeTopics(topic))
		checkSame(t, pollN(t, all, 30, 20*time.Second), first)

		// Partitions at the end, at an exact offset, at a timestamp.
		mid := time.Now()
		time.Sleep(5 * time.Millisecond)
		c := newTestConsumer(t, b, ConsumePartitions(map[string]map[int32]Offset{topic: {0: AtEnd(), 1: AtOffset(4), 2: AtTimestamp(mid)}}))
		var want []*Record
		for _, r := range first {
			if r.Partition == 1 && r.Offset >= 4 {
				want = append(want, r)
			}
		}
		checkSame(t, pollN(t, c, len(want), 20*time.Second), want)
		if extra := pollQuiet(c, 300*time.Millisecond); len(extra) > 0 {
			t.Fatalf("%d records beyond the start offsets", len(extra))
		}
		second := produceN(t, p, topic, 3, 30, 9)
		got := pollN(t, c, 9, 20*time.Second)
		checkSame(t, got, second)
		checkSame(t, pollN(t, all, 9, 20*time.Second), second)
	})
}

func TestConsumerCodecs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Parallel()
		for _, codec := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
			t.Run(codec.String(), func(t *testing.T) {
				topic := newTopic(t, b, 1)
				p := newTestProducer(t, b, Compression(codec, 0), WithPartitioner(ManualPartitioner()), Linger(20*time.Millisecond))
				recs := make([]*Record, 50)
				for i := range recs {
					recs[i] = &Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i)), Value: bytes.Repeat([]byte{byte('a' + i%26)}, 100+i),
						Headers: []RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}, {Key: "null"}}}
				}
				if err := p.ProduceSync(testCtx(t), recs...); err != nil {
					t.Fatal(err)
				}
				// Start inside a batch: records below 7 must be skipped.
				c := newTestConsumer(t, b, ConsumePartitions(map[string]map[int32]Offset{topic: {0: AtOffset(7)}}))
				checkSame(t, pollN(t, c, 43, 20*time.Second), recs[7:])
			})
		}
	})
}

func TestConsumerSeekPauseResume(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Parallel()
		topic := newTopic(t, b, 2)
		p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
		recs := produceN(t, p, topic, 2, 0, 20)
		c := newTestConsumer(t, b, ConsumeTopics(topic))
		checkSame(t, pollN(t, c, 20, 20*time.Second), recs)

		p0, p1 := TopicPartition{topic, 0}, TopicPartition{topic, 1}
		c.Pause(p0)
		more := produceN(t, p, topic, 2, 20, 10)
		var want1, want0 []*Record
		for _, r := range more {
			if r.Partition == 1 {
				want1 = append(want1, r)
			} else {
				want0 = append(want0, r)
			}
		}
		checkSame(t, pollN(t, c, len(want1), 20*time.Second), want1)
		if got := pollQuiet(c, 300*time.Millisecond); len(got) > 0 {
			t.Fatalf("paused partition returned %d records", len(got))
		}
		c.Resume(p0)
		checkSame(t, pollN(t, c, len(want0), 20*time.Second), want0)

		// Seek back: the records again.
		c.Seek(map[TopicPartition]Offset{p1: AtOffset(2), p0: AtStart()})
		var again []*Record
		for _, r := range append(recs, more...) {
			if r.Partition == 0 || r.Offset >= 2 {
				again = append(again, r)
			}
		}
		checkSame(t, pollN(t, c, len(again), 20*time.Second), again)
		if pos, ok := c.Position(p1); !ok || pos != 15 {
			t.Fatalf("position of %s = %d %v, want 15", p1, pos, ok)
		}

		// Out of range: reset to the start (default), or an error with NoReset.
		c.Seek(map[TopicPartition]Offset{p1: AtOffset(1000)})
		checkSame(t, pollN(t, c, 15, 20*time.Second), filter(append(recs, more...), func(r *Record) bool { return r.Partition == 1 }))
		strict := newTestConsumer(t, b, ConsumePartitions(map[string]map[int32]Offset{topic: {0: AtOffset(1000)}}), ConsumeResetOffset(NoReset()))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		fs, err := strict.Poll(ctx)
		if err != nil || len(fs.Errors()) != 1 {
			t.Fatalf("NoReset: got %v, %v; want an OFFSET_OUT_OF_RANGE partition error", fs, err)
		}
	})
}

func filter(recs []*Record, keep func(*Record) bool) []*Record {
	var out []*Record
	for _, r := range recs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// The consumer fetches a partition's next slice while the application
// works through the last one. The prefetched slice must not move the
// consumed position (Position, commits), and a Seek must drop it.
func TestConsumerPrefetch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Parallel()
		topic := newTopic(t, b, 1)
		p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
		var recs []*Record
		for i := 0; i < 10; i++ { // ten batches of ten records
			recs = append(recs, produceN(t, p, topic, 1, 10*i, 10)...)
		}
		tp := TopicPartition{topic, 0}
		// One batch per fetch: the first batch is always whole (KIP-74).
		c := newTestConsumer(t, b, ConsumePartitions(map[string]map[int32]Offset{topic: {0: AtStart()}}), FetchMaxPartitionBytes(1))
		ctx := testCtx(t)
		fs, err := c.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		first := fs.Records()
		if len(first) == 0 || len(first) > 20 {
			t.Fatalf("first poll: %d records, want one or two batches of 10", len(first))
		}
		checkSame(t, first, recs[:len(first)])
		// Let the prefetch land, then check the position is what was
		// polled, not what was fetched.
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.mu.Lock()
			nbuf, fetchAt := c.parts[tp].nbuf, c.parts[tp].fetchAt
			c.mu.Unlock()
			if nbuf > 0 && fetchAt > int64(len(first)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no slice prefetched after polling %d records (buffered %d, next fetch at %d)", len(first), nbuf, fetchAt)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if pos, ok := c.Position(tp); !ok || pos != int64(len(first)) {
			t.Fatalf("position %d %v with a prefetched slice, want the polled %d", pos, ok, len(first))
		}
		// Seek back: the prefetched slice is dropped, reading starts over.
		c.Seek(map[TopicPartition]Offset{tp: AtOffset(3)})
		checkSame(t, pollN(t, c, 97, 20*time.Second), recs[3:])
		if pos, ok := c.Position(tp); !ok || pos != 100 {
			t.Fatalf("position %d %v after reading everything, want 100", pos, ok)
		}
		if got := pollQuiet(c, 300*time.Millisecond); len(got) > 0 {
			t.Fatalf("%d records after the end (duplicates)", len(got))
		}
	})
}
