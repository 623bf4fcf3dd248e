package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// checkOrdered verifies that consumed records hold, per key, values
// "key/0", "key/1", ... with no gap and no duplicate, and that the keyed
// records landed on murmur2's partition.
func checkOrdered(t *testing.T, recs []*kgo.Record, keys, perKey int, partitions int) {
	t.Helper()
	next := map[string]int{}
	for _, r := range recs {
		k := string(r.Key)
		want := Murmur2Partition(r.Key, partitions)
		if int(r.Partition) != want {
			t.Fatalf("key %q on partition %d, murmur2 says %d", k, r.Partition, want)
		}
		i, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), k+"/"))
		if err != nil {
			t.Fatalf("bad value %q", r.Value)
		}
		if i != next[k] {
			var trail []string
			for _, x := range recs {
				if string(x.Key) == k {
					trail = append(trail, fmt.Sprintf("%s@%d/%d(pid %d seq-epoch %d)", x.Value, x.Partition, x.Offset, x.ProducerID, x.ProducerEpoch))
				}
			}
			if len(trail) > 40 {
				trail = trail[:40]
			}
			t.Fatalf("key %q: got %d, want %d (reordered, duplicated or lost); %d records consumed; this key's first ones: %s",
				k, i, next[k], len(recs), strings.Join(trail, " "))
		}
		next[k]++
	}
	if len(next) != keys {
		t.Fatalf("%d keys, want %d", len(next), keys)
	}
	for k, n := range next {
		if n != perKey {
			t.Fatalf("key %q: %d records, want %d", k, n, perKey)
		}
	}
}

// produceKeyed produces keys×perKey records with Produce and waits.
func produceKeyed(t *testing.T, p *Producer, topic string, keys, perKey int, during func(i int)) {
	t.Helper()
	var f func(int, *atomic.Int64)
	if during != nil {
		f = func(i int, _ *atomic.Int64) { during(i) }
	}
	produceKeyedAcked(t, p, topic, keys, perKey, f)
}

// produceKeyedAcked is produceKeyed whose during also sees how many records
// have been acknowledged so far.
func produceKeyedAcked(t *testing.T, p *Producer, topic string, keys, perKey int, during func(i int, acked *atomic.Int64)) {
	t.Helper()
	ctx := testCtx(t)
	var wg sync.WaitGroup
	var failed, acked atomic.Int64
	var firstErr atomic.Value
	for i := 0; i < perKey; i++ {
		for k := 0; k < keys; k++ {
			key := fmt.Sprintf("k%d", k)
			wg.Add(1)
			r := &Record{Topic: topic, Key: []byte(key), Value: []byte(fmt.Sprintf("%s/%d", key, i))}
			if err := p.Produce(ctx, r, func(r *Record, err error) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					acked.Add(1)
				}
				wg.Done()
			}); err != nil {
				t.Fatal(err)
			}
		}
		if during != nil {
			during(i, &acked)
		}
	}
	waitDumping(t, &wg, p)
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d records failed, first: %v", n, firstErr.Load())
	}
}

func TestProduceKeyedOrdered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		topic := newTopic(t, b, 4)
		p := newTestProducer(t, b)
		produceKeyed(t, p, topic, 20, 200, nil)
		checkOrdered(t, consume(t, b, topic, 4000), 20, 200, 4)
	})
}

func TestProduceSyncResults(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		topic := newTopic(t, b, 2)
		p := newTestProducer(t, b, Linger(time.Hour)) // ProduceSync must not wait for linger
		ts := time.UnixMilli(1700000000123)
		recs := []*Record{
			{Topic: topic, Key: []byte("a"), Value: []byte("1"), Timestamp: ts,
				Headers: []RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "h2", Value: nil}}},
			{Topic: topic, Key: nil, Value: []byte("2")},
			{Topic: topic, Key: []byte("a"), Value: nil},
		}
		start := time.Now()
		if err := p.ProduceSync(testCtx(t), recs...); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("ProduceSync took %v", d)
		}
		if recs[0].Partition != int32(Murmur2Partition([]byte("a"), 2)) || recs[0].Offset < 0 {
			t.Fatalf("record 0: partition %d offset %d", recs[0].Partition, recs[0].Offset)
		}
		if recs[2].Partition != recs[0].Partition || recs[2].Offset <= recs[0].Offset {
			t.Fatalf("same key: %d@%d then %d@%d", recs[0].Offset, recs[0].Partition, recs[2].Offset, recs[2].Partition)
		}
		got := consume(t, b, topic, 3)
		var first *kgo.Record
		for _, r := range got {
			if string(r.Value) == "1" {
				first = r
			}
		}
		if first == nil || !first.Timestamp.Equal(ts) || len(first.Headers) != 2 ||
			first.Headers[0].Key != "h1" || string(first.Headers[0].Value) != "v1" || first.Headers[1].Value != nil {
			t.Fatalf("record 0 came back as %+v", first)
		}
		for _, r := range got {
			if r.Offset == recs[2].Offset && r.Partition == recs[2].Partition && r.Value != nil {
				t.Fatalf("null value came back as %q", r.Value)
			}
		}
	})
}

func TestCompression(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, c := range []struct {
			codec Codec
			level int
		}{{CodecNone, 0}, {CodecGzip, 0}, {CodecGzip, 9}, {CodecSnappy, 0}, {CodecLZ4, 0}, {CodecLZ4, 5}, {CodecZstd, 0}, {CodecZstd, 19}} {
			t.Run(fmt.Sprintf("%s-%d", c.codec, c.level), func(t *testing.T) {
				topic := newTopic(t, b, 1)
				p := newTestProducer(t, b, Compression(c.codec, c.level))
				val := bytes.Repeat([]byte("compressible "), 50)
				var recs []*Record
				for i := 0; i < 200; i++ {
					recs = append(recs, &Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: val})
				}
				if err := p.ProduceSync(testCtx(t), recs...); err != nil {
					t.Fatal(err)
				}
				got := consume(t, b, topic, 200)
				if len(got) != 200 {
					t.Fatalf("got %d records", len(got))
				}
				for i, r := range got {
					if string(r.Key) != strconv.Itoa(i) || !bytes.Equal(r.Value, val) {
						t.Fatalf("record %d: key %q, value %d bytes", i, r.Key, len(r.Value))
					}
				}
			})
		}
	})
}

func TestAcks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, acks := range []Acks{AcksNone, AcksLeader, AcksAll} {
			t.Run(fmt.Sprint(acks), func(t *testing.T) {
				topic := newTopic(t, b, 1)
				p := newTestProducer(t, b, Idempotent(false), RequiredAcks(acks))
				var recs []*Record
				for i := 0; i < 100; i++ {
					recs = append(recs, &Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
				}
				if err := p.ProduceSync(testCtx(t), recs...); err != nil {
					t.Fatal(err)
				}
				if acks == AcksNone {
					if recs[0].Offset != -1 {
						t.Fatalf("acks=0 offset %d, want -1", recs[0].Offset)
					}
				} else if recs[99].Offset != 99 {
					t.Fatalf("offset %d, want 99", recs[99].Offset)
				}
				got := consume(t, b, topic, 100)
				for i, r := range got {
					if string(r.Value) != strconv.Itoa(i) {
						t.Fatalf("record %d = %q", i, r.Value)
					}
				}
			})
		}
	})
}

func TestIdempotenceValidation(t *testing.T) {
	if _, err := NewProducer(SeedBrokers("x:1"), RequiredAcks(AcksLeader)); err == nil {
		t.Fatal("acks=1 with idempotence accepted")
	}
	if _, err := NewProducer(SeedBrokers("x:1"), MaxInFlightPerPartition(6)); err == nil {
		t.Fatal("6 in flight with idempotence accepted")
	}
	if _, err := NewProducer(); !errors.Is(err, ErrNoSeedBrokers) {
		t.Fatalf("no seeds: %v", err)
	}
}

func TestCloseFlushes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		topic := newTopic(t, b, 3)
		p, err := NewProducer(SeedBrokers(b.addrs...), Linger(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var done atomic.Int64
		for i := 0; i < 1000; i++ {
			p.Produce(testCtx(t), &Record{Topic: topic, Value: []byte("x")}, func(_ *Record, err error) {
				if err == nil {
					done.Add(1)
				}
			})
		}
		if err := p.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if done.Load() != 1000 {
			t.Fatalf("%d of 1000 callbacks succeeded before Close returned", done.Load())
		}
		if err := p.Produce(testCtx(t), &Record{Topic: topic}, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Produce after Close: %v", err)
		}
		consume(t, b, topic, 1000)
	})
}

func TestFlush(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		topic := newTopic(t, b, 3)
		p := newTestProducer(t, b, Linger(time.Hour))
		var done atomic.Int64
		for i := 0; i < 500; i++ {
			p.Produce(testCtx(t), &Record{Topic: topic, Key: []byte(strconv.Itoa(i))}, func(*Record, error) { done.Add(1) })
		}
		if err := p.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if done.Load() != 500 || p.BufferedRecords() != 0 {
			t.Fatalf("after Flush: %d done, %d buffered", done.Load(), p.BufferedRecords())
		}
	})
}

func TestBackpressureContext(t *testing.T) {
	b := newFake(t, 1)
	topic := newTopic(t, b, 1)
	// Hold every produce request so nothing completes.
	release := make(chan struct{})
	b.fake.ControlKey(0, func(kmsgReq kmsgRequest) (kmsgResponse, error, bool) {
		b.fake.KeepControl()
		<-release
		return nil, nil, false
	})
	p := newTestProducer(t, b, MaxBufferedRecords(10), Linger(0))
	for i := 0; i < 10; i++ {
		if err := p.Produce(testCtx(t), &Record{Topic: topic, Value: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Produce(ctx, &Record{Topic: topic, Value: []byte("x")}, func(*Record, error) { t.Error("callback of a record that was not buffered") })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 90*time.Millisecond {
		t.Fatalf("blocked Produce: %v after %v", err, time.Since(start))
	}
	if err := p.TryProduce(&Record{Topic: topic}, nil); !errors.Is(err, ErrBufferFull) {
		t.Fatalf("TryProduce: %v", err)
	}
	// ProduceSync with an ended ctx returns at once.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := p.ProduceSync(cctx, &Record{Topic: topic}); !errors.Is(err, context.Canceled) {
		t.Fatalf("ProduceSync: %v", err)
	}
	close(release)
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestCloseContextAborts(t *testing.T) {
	b := newFake(t, 1)
	topic := newTopic(t, b, 1)
	release := make(chan struct{})
	defer close(release)
	b.fake.ControlKey(0, func(kmsgRequest) (kmsgResponse, error, bool) {
		b.fake.KeepControl()
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		return nil, nil, false
	})
	p, err := NewProducer(SeedBrokers(b.addrs...), Linger(0))
	if err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int64
	for i := 0; i < 50; i++ {
		p.Produce(testCtx(t), &Record{Topic: topic, Value: []byte("x")}, func(_ *Record, err error) {
			if errors.Is(err, ErrClosed) {
				failed.Add(1)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if failed.Load() != 50 {
		t.Fatalf("%d of 50 records failed with ErrClosed", failed.Load())
	}
}

func TestUnknownTopicDeliveryTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p := newTestProducer(t, b, DeliveryTimeout(500*time.Millisecond))
		err := p.ProduceSync(testCtx(t), &Record{Topic: "samsa-no-such-topic-" + strconv.Itoa(int(time.Now().UnixNano()%1e6)), Value: []byte("x")})
		if !errors.Is(err, ErrDeliveryTimeout) || !errors.Is(err, ErrUnknownTopicOrPartition) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestRecordTooLarge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		topic := newTopic(t, b, 1)
		p := newTestProducer(t, b, BatchBytes(4096))
		err := p.ProduceSync(testCtx(t), &Record{Topic: topic, Value: make([]byte, 5000)})
		if !errors.Is(err, ErrRecordTooLarge) {
			t.Fatalf("got %v", err)
		}
		// Records close to the limit still go out, one batch each.
		var recs []*Record
		for i := 0; i < 5; i++ {
			recs = append(recs, &Record{Topic: topic, Value: make([]byte, 3900)})
		}
		if err := p.ProduceSync(testCtx(t), recs...); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPartitioners(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		topic := newTopic(t, b, 4)
		run := func(part Partitioner, recs []*Record) {
			t.Helper()
			p := newTestProducer(t, b, WithPartitioner(part))
			if err := p.ProduceSync(testCtx(t), recs...); err != nil {
				t.Fatal(err)
			}
		}
		mk := func(n int, f func(i int) *Record) []*Record {
			var rs []*Record
			for i := 0; i < n; i++ {
				r := f(i)
				r.Topic = topic
				rs = append(rs, r)
			}
			return rs
		}
		rr := mk(8, func(int) *Record { return &Record{Key: []byte("same")} })
		run(RoundRobinPartitioner(), rr)
		for i, r := range rr {
			if r.Partition != int32(i%4) {
				t.Fatalf("round robin: record %d on %d", i, r.Partition)
			}
		}
		man := mk(8, func(i int) *Record { return &Record{Partition: int32(3 - i%4)} })
		run(ManualPartitioner(), man)
		for i, r := range man {
			if r.Partition != int32(3-i%4) {
				t.Fatalf("manual: record %d on %d", i, r.Partition)
			}
		}
		cust := mk(4, func(int) *Record { return &Record{} })
		run(PartitionerFunc(func(_ string, _ *Record, n int) int { return n - 1 }), cust)
		for _, r := range cust {
			if r.Partition != 3 {
				t.Fatalf("custom: partition %d", r.Partition)
			}
		}
		bad := mk(1, func(int) *Record { return &Record{Partition: 9} })
		p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
		if err := p.ProduceSync(testCtx(t), bad...); !errors.Is(err, ErrInvalidPartition) {
			t.Fatalf("manual partition 9 of 4: %v", err)
		}
		// A custom partitioner's answer beyond int32 is invalid too, not
		// truncated into range.
		huge := PartitionerFunc(func(string, *Record, int) int { return 1<<32 + 1 })
		hp := newTestProducer(t, b, WithPartitioner(huge))
		if err := hp.ProduceSync(testCtx(t), mk(1, func(int) *Record { return &Record{} })...); !errors.Is(err, ErrInvalidPartition) {
			t.Fatalf("custom partition 1<<32+1 of 4: %v", err)
		}
		// Uniform sticky: keyless records stay on one partition for
		// switchBytes, then move.
		sticky := mk(40, func(int) *Record { return &Record{Value: make([]byte, 100)} })
		run(UniformStickyPartitioner(1000), sticky)
		switches := 0
		for i := 1; i < len(sticky); i++ {
			if sticky[i].Partition != sticky[i-1].Partition {
				switches++
			}
		}
		if switches < 3 || switches > 5 {
			t.Fatalf("sticky: %d partition switches over 40×108 bytes, want ~4", switches)
		}
	})
}

// TestProduceConnections checks that a broker's partitions are dealt over
// ProduceConnections connections (each lane its own connection, each
// partition on one lane) and that order per key holds across lanes.
func TestProduceConnections(t *testing.T) {
	if _, err := NewProducer(SeedBrokers("127.0.0.1:1"), ProduceConnections(0)); err == nil {
		t.Fatal("ProduceConnections(0) accepted")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, lanes := range []int{1, 3} {
			t.Run(fmt.Sprint(lanes), func(t *testing.T) {
				topic := newTopic(t, b, 6)
				p := newTestProducer(t, b, ProduceConnections(lanes))
				produceKeyed(t, p, topic, 30, 100, nil)
				checkOrdered(t, consume(t, b, topic, 3000), 30, 100, 6)

				led := map[int32]int{} // partitions per leader
				for _, pm := range p.cl.Metadata().Topics[topic].Partitions {
					led[pm.Leader]++
				}
				p.brokersMu.Lock()
				used := map[int32]map[int]bool{}
				for k := range p.brokers {
					if used[k.id] == nil {
						used[k.id] = map[int]bool{}
					}
					used[k.id][k.lane] = true
				}
				p.brokersMu.Unlock()
				for id, n := range led {
					want := min(n, lanes)
					if got := len(used[id]); got != want {
						t.Errorf("broker %d leads %d partitions: %d lanes in use, want %d", id, n, got, want)
					}
					p.cl.mu.Lock()
					be := p.cl.brokers[id]
					p.cl.mu.Unlock()
					be.mu.Lock()
					seen := map[*conn]bool{be.conn: true}
					for lane := 1; lane < want; lane++ {
						if lane > len(be.lanes) || be.lanes[lane-1] == nil || seen[be.lanes[lane-1]] {
							t.Errorf("broker %d lane %d: no connection of its own", id, lane)
							continue
						}
						seen[be.lanes[lane-1]] = true
					}
					if lanes == 1 && len(be.lanes) > 0 {
						t.Errorf("broker %d: %d extra connections with ProduceConnections(1)", id, len(be.lanes))
					}
					be.mu.Unlock()
				}
			})
		}
	})
}

// TestSplitTooLargeBatch: batches larger than the topic's max.message.bytes
// come back MESSAGE_TOO_LARGE and are split in halves until they fit;
// every record arrives once, in order, with idempotence on and off. A
// single record larger than the limit still fails, with code 10.
func TestSplitTooLargeBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, idem := range []bool{true, false} {
			t.Run(fmt.Sprintf("idempotent=%v", idem), func(t *testing.T) {
				limit := "20000"
				topic := newTopicConfig(t, b, 2, map[string]*string{"max.message.bytes": &limit})
				var splits atomic.Int64
				opts := []Option{Linger(50 * time.Millisecond), Logf(func(format string, args ...any) {
					if strings.Contains(format, "split into") {
						splits.Add(1)
					}
				})}
				if !idem {
					opts = append(opts, Idempotent(false), MaxInFlightPerPartition(1))
				}
				p := newTestProducer(t, b, opts...)
				// 10 keys × 60 records of ~1 KB: batches of up to
				// ~300 KB before splitting.
				pad := strings.Repeat("x", 1000)
				ctx := testCtx(t)
				var wg sync.WaitGroup
				var failed atomic.Int64
				for i := 0; i < 60; i++ {
					for k := 0; k < 10; k++ {
						key := fmt.Sprintf("k%d", k)
						wg.Add(1)
						r := &Record{Topic: topic, Key: []byte(key), Value: []byte(fmt.Sprintf("%s/%d", key, i)), Headers: []RecordHeader{{Key: "pad", Value: []byte(pad)}}}
						if err := p.Produce(ctx, r, func(r *Record, err error) {
							if err != nil {
								t.Errorf("record %s: %v", r.Value, err)
								failed.Add(1)
							}
							wg.Done()
						}); err != nil {
							t.Fatal(err)
						}
					}
				}
				wg.Wait()
				if failed.Load() > 0 {
					t.FailNow()
				}
				if splits.Load() == 0 {
					t.Fatal("no batch was split: the test did not exercise splitting")
				}
				checkOrdered(t, consume(t, b, topic, 600), 10, 60, 2)
				big := &Record{Topic: topic, Value: make([]byte, 30000)}
				if err := p.ProduceSync(ctx, big); !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("a 30 KB record under a 20 KB limit: %v, want MESSAGE_TOO_LARGE", err)
				}
				t.Logf("%d splits", splits.Load())
			})
		}
	})
}

// waitDumping waits for wg; if that takes over 20 s (every record of these
// tests completes in well under a second), it logs every goroutine's stack
// once, so that a stall in the pipeline can be diagnosed from CI output.
func waitDumping(t *testing.T, wg *sync.WaitGroup, p *Producer) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(20 * time.Second):
	}
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Logf("records still buffered after 20 s: %d; goroutines:\n%s", p.BufferedRecords(), buf)
	<-done
	t.Errorf("records took over 20 s to complete (see the goroutine dump above)")
}

// Records produced before their topic exists wait for its metadata; records
// produced after it appears must not overtake them, and none may wait
// until the delivery timeout for a metadata change it missed.
func TestRecordsWaitingForMetadataKeepOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for round := 0; round < 3; round++ {
			topic := fmt.Sprintf("samsa-later-%d-%d", time.Now().UnixNano()%1e9, topicSeq.Add(1))
			p := newTestProducer(t, b)
			ctx := testCtx(t)
			var wg sync.WaitGroup
			var failed atomic.Int64
			const keys, perKey = 8, 1500
			produce := func(i int) {
				for k := 0; k < keys; k++ {
					key := fmt.Sprintf("k%d", k)
					wg.Add(1)
					r := &Record{Topic: topic, Key: []byte(key), Value: []byte(fmt.Sprintf("%s/%d", key, i))}
					if err := p.Produce(ctx, r, func(_ *Record, err error) {
						if err != nil {
							failed.Add(1)
						}
						wg.Done()
					}); err != nil {
						t.Error(err)
					}
				}
			}
			// The topic appears while records keep coming, so new
			// records reach the topic goroutine around the moment its
			// metadata does (a race the old code lost now and then:
			// this guards the rule, it cannot force the interleaving).
			created := make(chan error, 1)
			go func() {
				time.Sleep(10 * time.Millisecond)
				cl, err := kgo.NewClient(kgo.SeedBrokers(b.addrs...))
				if err != nil {
					created <- err
					return
				}
				defer cl.Close()
				resp, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic)
				if err == nil {
					err = resp.Err
				}
				created <- err
			}()
			for i := 0; i < perKey; i++ {
				produce(i)
				if i%20 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			if err := <-created; err != nil {
				t.Fatalf("create topic: %v", err)
			}
			start := time.Now()
			waitDumping(t, &wg, p)
			if failed.Load() > 0 {
				t.Fatalf("%d records failed", failed.Load())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("records took %v after the topic appeared", d)
			}
			checkOrdered(t, consume(t, b, topic, keys*perKey), keys, perKey, 3)
		}
	})
}
