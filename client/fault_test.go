package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fault injection runs against kfake only: it can move leaders and answer
// requests with chosen errors.

type (
	kmsgRequest  = kmsg.Request
	kmsgResponse = kmsg.Response
)

// errorProduceResponse answers req with code for every partition.
func errorProduceResponse(req kmsg.Request, code int16) kmsg.Response {
	preq := req.(*kmsg.ProduceRequest)
	resp := preq.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range preq.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func TestLeaderMovesKeepOrder(t *testing.T) {
	b := newFake(t, 3)
	topic := newTopic(t, b, 4)
	p := newTestProducer(t, b, Linger(time.Millisecond))
	produceKeyed(t, p, topic, 16, 300, func(i int) {
		if i%20 == 10 {
			part := rand.Int32N(4)
			leader := b.fake.LeaderFor(topic, part)
			if err := b.fake.MoveTopicPartition(topic, part, (leader+1)%3); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	checkOrdered(t, consume(t, b, topic, 16*300), 16, 300, 4)
}

func TestInjectedRetriableErrors(t *testing.T) {
	for _, code := range []int16{ErrNotLeaderOrFollower.Code, ErrRequestTimedOut.Code, ErrNotEnoughReplicas.Code, ErrUnknownProducerID.Code} {
		t.Run(ErrorForCode(code).(*KafkaError).Name, func(t *testing.T) {
			b := newFake(t, 3)
			topic := newTopic(t, b, 3)
			var n, injected atomic.Int64
			b.fake.ControlKey(0, func(req kmsg.Request) (kmsg.Response, error, bool) {
				b.fake.KeepControl()
				if n.Add(1) != 1 && rand.IntN(3) != 0 {
					return nil, nil, false
				}
				injected.Add(1)
				return errorProduceResponse(req, code), nil, true
			})
			p := newTestProducer(t, b, Linger(time.Millisecond))
			produceKeyed(t, p, topic, 12, 200, nil)
			if injected.Load() == 0 {
				t.Fatal("no error injected")
			}
			checkOrdered(t, consume(t, b, topic, 12*200), 12, 200, 3)
		})
	}
}

// TestDroppedConnections closes every connection (through the Dialer)
// every few milliseconds: requests already written are appended by the
// broker but their responses are lost, so the producer resends the same
// batches and the broker must drop them as duplicates.
func TestDroppedConnections(t *testing.T) {
	b := newFake(t, 3)
	topic := newTopic(t, b, 4)
	var (
		mu    sync.Mutex
		conns []net.Conn
		drops atomic.Int64
	)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			drops.Add(int64(len(conns)))
			conns = nil
			mu.Unlock()
		}
	}()
	p := newTestProducer(t, b, Dialer(dial), Linger(time.Millisecond))
	produceKeyed(t, p, topic, 16, 300, func(i int) {
		if i%10 == 0 {
			time.Sleep(3 * time.Millisecond)
		}
	})
	close(stop)
	wg.Wait()
	if drops.Load() == 0 {
		t.Fatal("no connection dropped")
	}
	t.Logf("dropped %d connections", drops.Load())
	checkOrdered(t, consume(t, b, topic, 16*300), 16, 300, 4)
}

// A non-retriable error fails exactly the records of that batch, with the
// Kafka code; the partition then starts a new producer id and goes on.
func TestNonRetriableError(t *testing.T) {
	b := newFake(t, 1)
	topic := newTopic(t, b, 1)
	var n atomic.Int64
	b.fake.ControlKey(0, func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.fake.KeepControl()
		if n.Add(1) != 2 {
			return nil, nil, false
		}
		return errorProduceResponse(req, ErrMessageTooLarge.Code), nil, true
	})
	p := newTestProducer(t, b)
	var failed []int
	for i := 0; i < 3; i++ {
		err := p.ProduceSync(testCtx(t), &Record{Topic: topic, Value: []byte(fmt.Sprint(i))})
		if err != nil {
			var ke *KafkaError
			if !errors.As(err, &ke) || ke.Code != 10 || !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("record %d: %v", i, err)
			}
			failed = append(failed, i)
		}
	}
	if len(failed) != 1 || failed[0] != 1 {
		t.Fatalf("failed records %v, want [1]", failed)
	}
	got := consume(t, b, topic, 2)
	if len(got) != 2 || string(got[0].Value) != "0" || string(got[1].Value) != "2" {
		t.Fatalf("consumed %v", got)
	}
}

// Retries stop at the delivery timeout, and the error says why.
func TestDeliveryTimeoutDuringRetries(t *testing.T) {
	b := newFake(t, 1)
	topic := newTopic(t, b, 1)
	b.fake.ControlKey(0, func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.fake.KeepControl()
		return errorProduceResponse(req, ErrNotEnoughReplicas.Code), nil, true
	})
	p := newTestProducer(t, b, DeliveryTimeout(300*time.Millisecond))
	start := time.Now()
	err := p.ProduceSync(testCtx(t), &Record{Topic: topic, Value: []byte("x")})
	if !errors.Is(err, ErrDeliveryTimeout) || !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("failed after %v", d)
	}
}

// A callback that blocks must not stall sending: records keep reaching the
// broker while the result goroutine is stuck.
func TestSlowCallbackDoesNotStallSending(t *testing.T) {
	b := newFake(t, 1)
	topic := newTopic(t, b, 2)
	var produced atomic.Int64
	b.fake.ControlKey(0, func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.fake.KeepControl()
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			produced.Add(int64(len(t.Partitions)))
		}
		return nil, nil, false
	})
	p := newTestProducer(t, b, Linger(0), WithPartitioner(ManualPartitioner()))
	block := make(chan struct{})
	p.Produce(testCtx(t), &Record{Topic: topic, Partition: 0}, func(*Record, error) { <-block })
	deadline := time.Now().Add(5 * time.Second)
	for produced.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 20; i++ {
		p.Produce(testCtx(t), &Record{Topic: topic, Partition: int32(i % 2)}, nil)
		time.Sleep(time.Millisecond)
	}
	for produced.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(block)
	if produced.Load() < 5 {
		t.Fatalf("only %d partition batches sent while a callback blocked", produced.Load())
	}
}

// The adaptive sticky partitioner steers keyless records away from a slow
// broker: with one of three brokers answering Produce 60 ms late, its
// partitions get well under the records each of the others gets.
func TestAdaptiveStickySlowBroker(t *testing.T) {
	b := newFake(t, 3)
	topic := newTopic(t, b, 6)
	// A small buffer: records are routed as acknowledgements make room,
	// so the backlogs the partitioner sees are the brokers' doing.
	p := newTestProducer(t, b, MaxBufferedBytes(1<<20))
	if err := p.ProduceSync(testCtx(t), &Record{Topic: topic, Value: []byte("warm")}); err != nil {
		t.Fatal(err)
	}
	// The slow broker: the one leading the fewest partitions (kfake's
	// placement varies), so that most records have somewhere fast to go.
	led := map[int32]int{}
	for _, pm := range p.cl.Metadata().Topics[topic].Partitions {
		led[pm.Leader]++
	}
	slow := int32(-1)
	for id, n := range led {
		if slow < 0 || n < led[slow] || (n == led[slow] && id < slow) {
			slow = id
		}
	}
	b.fake.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		b.fake.KeepControl()
		if b.fake.CurrentNode() == slow {
			b.fake.SleepControl(func() { time.Sleep(60 * time.Millisecond) })
		}
		return nil, nil, false
	})
	slowParts := map[int32]bool{}
	for k, pm := range p.cl.Metadata().Topics[topic].Partitions {
		if pm.Leader == slow {
			slowParts[int32(k)] = true
		}
	}
	if len(slowParts) == 0 {
		t.Fatalf("the slow broker leads no partition: %+v", p.cl.Metadata().Topics[topic].Partitions)
	}
	ctx := testCtx(t)
	const n = 30000
	var wg sync.WaitGroup
	var onSlow, failed atomic.Int64
	value := make([]byte, 1000)
	for range n {
		wg.Add(1)
		if err := p.Produce(ctx, &Record{Topic: topic, Value: value}, func(r *Record, err error) {
			if err != nil {
				failed.Add(1)
			} else if slowParts[r.Partition] {
				onSlow.Add(1)
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d records failed", failed.Load())
	}
	// Records per partition, slow broker's against the others'.
	perSlow := float64(onSlow.Load()) / float64(len(slowParts))
	perFast := float64(n-onSlow.Load()) / float64(6-len(slowParts))
	t.Logf("slow broker's %d partitions: %.0f records each; the others: %.0f each", len(slowParts), perSlow, perFast)
	if perSlow > 0.6*perFast {
		t.Fatalf("slow broker's partitions got %.0f records each, the others %.0f: want well under (0.6×)", perSlow, perFast)
	}
}
