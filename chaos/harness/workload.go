package harness

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/chaos/outcome"
	"github.com/samsa-io/samsa/client"
)

// The workload: producers sending unique values (franz-go's and samsa's
// own client, alternately), one consumer by assign and one by subscribe,
// all recorded in the history. A record's value is its unique int64 in
// decimal, its key the same. Each producer client sends to every
// partition from a loop of its own (one process per partition, one send
// at a time each), so that a partition that cannot take writes holds up
// only its own loops: the time to the first ack on a partition after a
// fault is that partition's unavailability, not its neighbours'.

// createTopic creates the run's topic: RF 3, min.insync.replicas=2,
// unclean election off (unless the run is unsafe: cfg), and waits until
// every partition has a leader.
func createTopic(ctx context.Context, bootstrap []string, topic string, partitions int, cfg map[string]*string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		r, err := adm.CreateTopic(ctx, int32(partitions), 3, cfg, topic)
		if err == nil {
			err = r.Err
		}
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			break
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("create topic %s: %v", topic, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
	for {
		m, err := adm.Metadata(ctx, topic)
		if err == nil {
			t := m.Topics[topic]
			ok := t.Err == nil && len(t.Partitions) == partitions
			for _, p := range t.Partitions {
				ok = ok && p.Err == nil && p.Leader >= 0 && len(p.ISR) == 3
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: partitions without a leader and full ISR after 60s", topic)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// leaderOf returns a partition's leader as the cluster's metadata says,
// or for p = -1 the active controller as DescribeQuorum says.
func leaderOf(adm *kadm.Client, cl *client.Client, topic string) func(ctx context.Context, p int32) (int32, error) {
	return func(ctx context.Context, p int32) (int32, error) {
		if p < 0 {
			q, err := cl.DescribeQuorum(ctx)
			if err != nil {
				return 0, err
			}
			if q.LeaderID < 0 {
				return 0, errors.New("no quorum leader")
			}
			return q.LeaderID, nil
		}
		m, err := adm.Metadata(ctx, topic)
		if err != nil {
			return 0, err
		}
		pd, ok := m.Topics[topic].Partitions[p]
		if !ok || pd.Err != nil || pd.Leader < 0 {
			return 0, fmt.Errorf("no leader for partition %d: %v", p, pd.Err)
		}
		return pd.Leader, nil
	}
}

// workload is the clients of a run.
type workload struct {
	h         *history.Writer
	bootstrap []string
	topic     string
	next      atomic.Int64 // the last value handed out
	logf      func(format string, args ...any)
	set       settings // acks of the producers
	// requestTimeout bounds the wait for a Produce response (0: the
	// clients' defaults); see Config.RequestTimeout.
	requestTimeout time.Duration
}

// DefaultRequestTimeout is Config.RequestTimeout's default: the Java
// producer's request.timeout.ms in Jepsen's Redpanda test, which also runs against Kafka.
const DefaultRequestTimeout = 3 * time.Second

// Produce request timeouts for a total wait of t: the broker's acks=all
// wait (the request's timeout field) is two thirds of it, the rest is the
// client's margin for the response to arrive (franz-go's
// RequestTimeoutOverhead, samsa's RequestTimeout). Retries back off as the
// Java producer's defaults do: 100 ms doubling to at most 1 s.
func splitTimeout(t time.Duration) (broker, margin time.Duration) {
	return t * 2 / 3, t - t*2/3
}

func (w *workload) franzTimeouts() []kgo.Opt {
	if w.requestTimeout <= 0 {
		return nil
	}
	broker, margin := splitTimeout(w.requestTimeout)
	return []kgo.Opt{kgo.ProduceRequestTimeout(broker), kgo.RequestTimeoutOverhead(margin),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(100*time.Millisecond<<min(tries, 4), time.Second)
		})}
}

func (w *workload) samsaTimeouts() []client.Option {
	if w.requestTimeout <= 0 {
		return nil
	}
	broker, margin := splitTimeout(w.requestTimeout)
	return []client.Option{client.ProduceRequestTimeout(broker), client.RequestTimeout(margin),
		client.RetryBackoff(100*time.Millisecond, time.Second)}
}

// sendTimeout bounds one send, retries included.
const sendTimeout = 10 * time.Second

// produceFranz sends values with franz-go (idempotent, acks=all; acks=1
// without idempotence in the acks1 mode) until ctx ends: one client, and
// one loop per partition, process first+p, sending one value at a time.
func (w *workload) produceFranz(ctx context.Context, first, partitions int, gap time.Duration) error {
	cl, err := kgo.NewClient(append(append(w.set.franzAcks(), w.franzTimeouts()...),
		kgo.SeedBrokers(w.bootstrap...),
		kgo.DefaultProduceTopic(w.topic),
		kgo.RecordDeliveryTimeout(sendTimeout),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ClientID(fmt.Sprintf("chaos-franz-%d", first)),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	perPartition(partitions, func(p int32) {
		process := first + int(p)
		for ctx.Err() == nil {
			v := w.next.Add(1)
			s := strconv.FormatInt(v, 10)
			w.h.Add(history.Op{Process: process, Type: history.Invoke, F: history.Send, Topic: w.topic, Value: v})
			sctx, cancel := context.WithTimeout(context.Background(), sendTimeout+5*time.Second)
			r := &kgo.Record{Key: []byte(s), Value: []byte(s), Partition: p}
			err := cl.ProduceSync(sctx, r).FirstErr()
			cancel()
			op := history.Op{Process: process, Type: history.OK, F: history.Send, Topic: w.topic, Value: v}
			if err != nil {
				op.Type, op.Error = outcome.Of(err), err.Error()
			} else {
				op.Partition, op.Offset = r.Partition, r.Offset
			}
			w.h.Add(op)
			sleep(ctx, gap)
		}
	})
	return nil
}

// perPartition runs loop for each partition at once and waits for all.
func perPartition(partitions int, loop func(p int32)) {
	var wg sync.WaitGroup
	for p := range partitions {
		wg.Go(func() { loop(int32(p)) })
	}
	wg.Wait()
}

// produceSamsa sends values with samsa's client (idempotent, acks=all;
// acks=1 without idempotence in the acks1 mode) until ctx ends, as
// produceFranz does.
func (w *workload) produceSamsa(ctx context.Context, first, partitions int, gap time.Duration) error {
	p, err := client.NewProducer(append(append(w.set.samsaAcks(), w.samsaTimeouts()...),
		client.SeedBrokers(w.bootstrap...),
		client.DeliveryTimeout(sendTimeout),
		client.Linger(0),
		client.WithPartitioner(client.ManualPartitioner()),
		client.ClientID(fmt.Sprintf("chaos-samsa-%d", first)),
	)...)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.Close(cctx)
		cancel()
	}()
	perPartition(partitions, func(part int32) {
		process := first + int(part)
		for ctx.Err() == nil {
			v := w.next.Add(1)
			s := strconv.FormatInt(v, 10)
			w.h.Add(history.Op{Process: process, Type: history.Invoke, F: history.Send, Topic: w.topic, Value: v})
			r := &client.Record{Topic: w.topic, Partition: part, Key: []byte(s), Value: []byte(s)}
			done := make(chan error, 1)
			sctx, cancel := context.WithTimeout(context.Background(), sendTimeout+5*time.Second)
			op := history.Op{Process: process, Type: history.OK, F: history.Send, Topic: w.topic, Value: v}
			if err := p.Produce(sctx, r, func(_ *client.Record, err error) { done <- err }); err != nil {
				// Refused before it was buffered: never sent.
				op.Type, op.Error = history.Fail, err.Error()
			} else {
				select {
				case err = <-done:
				case <-sctx.Done():
					err = sctx.Err()
				}
				if err != nil {
					op.Type, op.Error = outcome.Of(err), err.Error()
				} else {
					op.Partition, op.Offset = r.Partition, r.Offset
				}
			}
			cancel()
			w.h.Add(op)
			sleep(ctx, gap)
		}
	})
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// consume polls until ctx ends, recording every poll: by assign (every
// partition from its start) or by subscribe (a group).
func (w *workload) consume(ctx context.Context, process int, mode history.Mode, partitions int) error {
	opts := []kgo.Opt{kgo.SeedBrokers(w.bootstrap...), kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.ClientID(fmt.Sprintf("chaos-%s-%d", mode, process))}
	if mode == history.Assign {
		ps := map[int32]kgo.Offset{}
		for p := range partitions {
			ps[int32(p)] = kgo.NewOffset().AtStart()
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.topic: ps}))
	} else {
		opts = append(opts, kgo.ConsumerGroup("chaos-"+w.topic), kgo.ConsumeTopics(w.topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(6*time.Second),
			kgo.HeartbeatInterval(time.Second))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		w.h.Add(history.Op{Process: process, Type: history.Invoke, F: history.Poll, Topic: w.topic, Mode: mode})
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		op := history.Op{Process: process, Type: history.OK, F: history.Poll, Topic: w.topic, Mode: mode}
		var errs []error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				errs = append(errs, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			op.Records = append(op.Records, record(r, &errs))
		})
		if err := errors.Join(errs...); err != nil {
			op.Error = err.Error()
		}
		w.h.Add(op)
	}
	return nil
}

// record is a consumed record as the history holds it.
func record(r *kgo.Record, errs *[]error) history.Record {
	v, err := strconv.ParseInt(string(r.Value), 10, 64)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("partition %d offset %d: value %q is not a decimal int64", r.Partition, r.Offset, r.Value))
	}
	return history.Record{Partition: r.Partition, Offset: r.Offset, Value: v}
}

// finalReads reads every partition from offset 0 to its high watermark
// with a fresh client, one final-read entry per partition; it returns the
// partitions' high watermarks (-1 where unknown).
func (w *workload) finalReads(ctx context.Context, process int, partitions int, timeout time.Duration) []int64 {
	hws := make([]int64, partitions)
	var wg sync.WaitGroup
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hws[p] = w.finalRead(ctx, process, int32(p), timeout)
		}()
	}
	wg.Wait()
	return hws
}

func (w *workload) finalRead(ctx context.Context, process int, p int32, timeout time.Duration) int64 {
	w.h.Add(history.Op{Process: process, Type: history.Invoke, F: history.FinalRead, Topic: w.topic, Partition: p})
	op := history.Op{Process: process, Type: history.Info, F: history.FinalRead, Topic: w.topic, Partition: p, Offset: -1}
	defer func() { w.h.Add(op) }()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.bootstrap...), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.topic: {p: kgo.NewOffset().At(0)}}))
	if err != nil {
		op.Error = err.Error()
		return -1
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	hw := int64(-1)
	for hw < 0 {
		lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
		offs, err := adm.ListEndOffsets(lctx, w.topic)
		lcancel()
		if err == nil {
			if o, ok := offs.Lookup(w.topic, p); ok && o.Err == nil {
				hw = o.Offset
				break
			} else if ok {
				err = o.Err
			}
		}
		if ctx.Err() != nil {
			op.Error = fmt.Sprintf("high watermark unknown: %v", err)
			return -1
		}
		sleep(ctx, 200*time.Millisecond)
	}
	op.Offset = hw
	var errs []error
	next := int64(0)
	for next < hw {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			op.Error = fmt.Sprintf("read to offset %d of high watermark %d before the timeout", next, hw)
			return hw
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < hw {
				op.Records = append(op.Records, record(r, &errs))
			}
			next = r.Offset + 1
		})
	}
	op.Type = history.OK
	if err := errors.Join(errs...); err != nil {
		op.Error = err.Error()
	}
	return hw
}
