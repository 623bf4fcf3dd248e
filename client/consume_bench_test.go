package client

// Side-by-side consumer benchmark: samsa vs franz-go (kgo), IBM/sarama and
// segmentio/kafka-go, same broker, same machine, one run, clients taking
// turns (samsa kgo sarama kafka-go, samsa kgo sarama kafka-go, ...).
//
//	go test ./client/ -run '^$' -bench Consume -benchtime 200000x
//
// b.N is the number of records in the topic, which every client reads in
// full each round (use -benchtime Nx). Per case, one six-partition topic
// is filled once, untimed, by samsa's producer (round-robin over the
// partitions: b.N/6 records each, in batches of up to 1 MiB, linger 5 ms,
// no compression, keyless values of the case's size); then every client
// reads it from the earliest offset, without a consumer group (assign
// mode / partition consumers), once untimed as a warm-up and then once
// per round. The environment is the producer benchmark's (bench_test.go):
// BENCH_BOOTSTRAP, BENCH_BROKER=inproc, BENCH_FSYNC, BENCH_DIR,
// BENCH_ROUNDS (default 5), BENCH_CLIENTS (e.g. samsa,kgo) and
// BENCH_CPUPROFILE_DIR (CPU profiles of the timed sections only, one file
// per client and case: consume-<client>-<case>.pprof; the last round's).
//
// The timed section runs from the consumer's creation (so it includes
// bootstrap metadata, connection setup and the ListOffsets for the start,
// a few ms for every client; see the "first" column) to the delivery of
// the last record to the application; closing the consumer is not timed.
// Each client must deliver exactly the records of every partition (counted
// per partition) with the right value length, or the benchmark fails.
//
// Measured per client, over its rounds:
//
//	rec/s, MB/s      records and value bytes per wall-clock second
//	allocs/rec, B/rec  runtime.MemStats Mallocs/TotalAlloc deltas per record
//	first            median time from creation to the first record delivered
//	CPU/rec          getrusage(RUSAGE_SELF) user+sys per record (client only
//	                 unless BENCH_BROKER=inproc); brokerCPU/rec the same for the
//	                 broker child (/proc/<pid>/stat)
//	vs kgo, paired   rate over kgo's; paired is the median over rounds of the
//	                 same ratio within one round
//
// Fairness: fetch max wait 100 ms, min bytes 1, 1 MiB per partition per
// fetch, 50 MiB per fetch response where the client has such a setting
// (sarama asks for sarama.MaxResponseSize, 100 MiB, and kafka-go's MaxBytes
// is both limits; with six partitions at 1 MiB neither cap is reached),
// records counted as each client hands them to the application:
//
//	samsa     NewConsumer + ConsumePartitions(AtStart), Poll loop
//	kgo       NewClient + ConsumePartitions(AtStart), PollFetches + EachRecord
//	sarama    NewConsumer + ConsumePartition(OffsetOldest) per partition, a
//	          goroutine per partition draining Messages()
//	kafka-go  a kafka.Reader per partition (Partition set, no GroupID), a
//	          goroutine per partition calling FetchMessage: the Reader is
//	          kafka-go's idiomatic consumer (it fetches with Conn.ReadBatch
//	          underneath and hands messages over through a channel);
//	          ReadLagInterval -1 turns off its periodic lag request.
//
// Everything else is each client's default (kgo uses fetch sessions; samsa
// does full fetches without sessions).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	consumeParts        = 6
	consumeMaxWait      = 100 * time.Millisecond
	consumeMaxBytes     = 50 << 20
	consumePartMaxBytes = 1 << 20
)

type consumeCase struct {
	name string
	size int
}

var consumeCases = []consumeCase{{"100B", 100}, {"1KB", 1024}}

// consumeJob is what a client reads: partitions 0..len(ends)-1 of topic
// from offset 0 up to ends[p] (each partition's end offset = its record
// count, the topic being fresh).
type consumeJob struct {
	addrs []string
	topic string
	ends  []int64
	n     int
	size  int
	logf  func(format string, args ...any)
}

// consumeTally counts what a client delivered, per partition. Partition
// goroutines (sarama, kafka-go) touch only their own slots.
type consumeTally struct {
	size  int
	count []int64
	bad   []int64     // wrong value length
	first []time.Time // first record of the partition
	stray atomic.Int64
}

func newConsumeTally(size int) *consumeTally {
	return &consumeTally{size: size, count: make([]int64, consumeParts), bad: make([]int64, consumeParts), first: make([]time.Time, consumeParts)}
}

func (t *consumeTally) add(p int32, v []byte) {
	if uint32(p) >= consumeParts {
		t.stray.Add(1)
		return
	}
	if t.count[p] == 0 {
		t.first[p] = time.Now()
	}
	t.count[p]++
	if len(v) != t.size {
		t.bad[p]++
	}
}

// check reports how what was delivered differs from job.
func (t *consumeTally) check(job *consumeJob) error {
	var errs []error
	var total int64
	for p := range job.ends {
		total += t.count[p]
		if t.count[p] != job.ends[p] {
			errs = append(errs, fmt.Errorf("partition %d: %d records, want %d", p, t.count[p], job.ends[p]))
		}
		if t.bad[p] > 0 {
			errs = append(errs, fmt.Errorf("partition %d: %d values not %d bytes long", p, t.bad[p], job.size))
		}
	}
	if s := t.stray.Load(); s > 0 {
		errs = append(errs, fmt.Errorf("%d records of unknown partitions", s))
	}
	if total != int64(job.n) {
		errs = append(errs, fmt.Errorf("%d records in all, want %d", total, job.n))
	}
	return errors.Join(errs...)
}

func (t *consumeTally) firstAt() time.Time {
	var first time.Time
	for _, f := range t.first {
		if !f.IsZero() && (first.IsZero() || f.Before(first)) {
			first = f
		}
	}
	return first
}

// consumeClient reads every record of job into t: consume creates the
// client, returns once the last record is delivered (or ctx ends) and
// hands back a close function, which the caller runs after the timer.
type consumeClient struct {
	name    string
	consume func(ctx context.Context, job *consumeJob, t *consumeTally) (closeFn func(), err error)
}

var consumeClients = []consumeClient{{"samsa", consumeSamsa}, {"kgo", consumeKgo}, {"sarama", consumeSarama}, {"kafka-go", consumeKafkaGo}}

func BenchmarkConsume(b *testing.B) {
	br := benchBroker(b)
	rounds := benchEnvInt("BENCH_ROUNDS", 5)
	clients := consumeClients
	if v := os.Getenv("BENCH_CLIENTS"); v != "" {
		clients = nil
		for _, c := range consumeClients {
			if slices.Contains(strings.Split(v, ","), c.name) {
				clients = append(clients, c)
			}
		}
	}
	for _, cc := range consumeCases {
		b.Run(cc.name, func(b *testing.B) {
			n := b.N
			value := make([]byte, cc.size)
			for i := range value {
				value[i] = byte('a' + i%26)
			}
			topic := newTopic(b, backend{name: "bench", addrs: br.addrs}, consumeParts)
			defer deleteTopic(b, br.addrs, topic)
			job := &consumeJob{addrs: br.addrs, topic: topic, n: n, size: cc.size, logf: b.Logf}
			job.ends = fillConsumeTopic(b, br.addrs, topic, value, n)
			stats := make([]benchStats, len(clients))
			firsts := make([][]time.Duration, len(clients))
			for _, c := range clients { // warm-up, untimed
				runConsume(b, br, c, cc, job, nil, nil)
			}
			for round := 0; round < rounds; round++ {
				for ci, c := range clients {
					runConsume(b, br, c, cc, job, &stats[ci], &firsts[ci])
				}
			}
			b.StopTimer()
			var out strings.Builder
			fmt.Fprintf(&out, "\nconsume %s, %d records per round (%d partitions), %d rounds\n", cc.name, n, consumeParts, rounds)
			fmt.Fprintf(&out, "%-9s %11s %8s %11s %9s %9s %9s %13s %8s %8s\n", "client", "rec/s", "MB/s", "allocs/rec", "B/rec", "first", "CPU/rec", "brokerCPU/rec", "vs kgo", "paired")
			var kgoStats *benchStats
			for ci, c := range clients {
				if c.name == "kgo" {
					kgoStats = &stats[ci]
				}
			}
			for ci, c := range clients {
				s := &stats[ci]
				if s.recs == 0 {
					continue
				}
				ratio, paired := "-", "-"
				if kgoStats != nil && kgoStats.recs > 0 {
					ratio = fmt.Sprintf("%.2fx", s.recPerSec()/kgoStats.recPerSec())
					paired = fmt.Sprintf("%.2fx", s.pairedRatio(kgoStats))
				}
				fs := firsts[ci]
				slices.Sort(fs)
				fmt.Fprintf(&out, "%-9s %11.0f %8.1f %11.3f %9.0f %9s %9s %13s %8s %8s\n", c.name,
					s.recPerSec(), float64(s.bytes)/s.wall.Seconds()/1e6,
					float64(s.mallocs)/float64(s.recs), float64(s.allocB)/float64(s.recs),
					fs[len(fs)/2].Round(100*time.Microsecond), (s.cpu / time.Duration(s.recs)).String(),
					(s.brokerCPU / time.Duration(s.recs)).String(), ratio, paired)
				b.ReportMetric(s.recPerSec(), c.name+"-rec/s")
				b.ReportMetric(float64(s.mallocs)/float64(s.recs), c.name+"-allocs/rec")
				if kgoStats != nil && kgoStats.recs > 0 && c.name != "kgo" {
					b.ReportMetric(s.recPerSec()/kgoStats.recPerSec(), c.name+"/kgo")
				}
			}
			if n >= 1000 {
				fmt.Print(out.String())
			}
		})
	}
}

// fillConsumeTopic produces n records round-robin over the topic's
// partitions with samsa's producer and returns each partition's end offset.
func fillConsumeTopic(b *testing.B, addrs []string, topic string, value []byte, n int) []int64 {
	p, err := NewProducer(SeedBrokers(addrs...), Linger(benchLinger), BatchBytes(1<<20),
		RequiredAcks(AcksAll), Idempotent(true), Compression(CodecNone, 0),
		MaxBufferedRecords(int64(benchBuffer)), MaxBufferedBytes(256<<20),
		WithPartitioner(ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	recs := make([]Record, n)
	var failed atomic.Int64
	var firstErr atomic.Value
	cb := func(_ *Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	for i := range recs {
		recs[i] = Record{Topic: topic, Partition: int32(i % consumeParts), Value: value}
		if err := p.Produce(ctx, &recs[i], cb); err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatalf("fill: flush: %v", err)
	}
	p.Close(ctx)
	if k := failed.Load(); k > 0 {
		b.Fatalf("fill: %d of %d records failed, first: %v", k, n, firstErr.Load())
	}
	cl, err := New(SeedBrokers(addrs...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	tps := make([]TopicPartition, consumeParts)
	for i := range tps {
		tps[i] = TopicPartition{topic, int32(i)}
	}
	offs, err := cl.ListOffsets(ctx, tps, AtEnd())
	if err != nil {
		b.Fatalf("fill: list offsets: %v", err)
	}
	ends := make([]int64, consumeParts)
	var total int64
	for i, tp := range tps {
		o := offs[tp]
		if o.Err != nil {
			b.Fatalf("fill: %s: %v", tp, o.Err)
		}
		ends[i] = o.Offset
		total += o.Offset
	}
	if total != int64(n) {
		b.Fatalf("fill: topic holds %d records, want %d (%v)", total, n, ends)
	}
	return ends
}

// runConsume runs one client's timed section; s nil: a warm-up.
func runConsume(b *testing.B, br benchBrokerT, c consumeClient, cc consumeCase, job *consumeJob, s *benchStats, firsts *[]time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(job.n)*50*time.Microsecond)
	defer cancel()
	t := newConsumeTally(job.size)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if dir := os.Getenv("BENCH_CPUPROFILE_DIR"); dir != "" && s != nil {
		f, err := os.Create(filepath.Join(dir, "consume-"+c.name+"-"+cc.name+".pprof"))
		if err != nil {
			b.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	cpu0, bcpu0 := selfCPU(), procCPU(br.pid)
	t0 := time.Now()
	closeFn, err := c.consume(ctx, job, t)
	wall := time.Since(t0)
	cpu1, bcpu1 := selfCPU(), procCPU(br.pid)
	runtime.ReadMemStats(&m1)
	if closeFn != nil {
		closeFn()
	}
	if err == nil {
		err = t.check(job)
	}
	if err != nil {
		b.Fatalf("%s: %v", c.name, err)
	}
	if s == nil {
		return
	}
	s.recs += job.n
	s.bytes += int64(job.n) * int64(job.size)
	s.wall += wall
	s.rates = append(s.rates, float64(job.n)/wall.Seconds())
	s.cpu += cpu1 - cpu0
	s.brokerCPU += bcpu1 - bcpu0
	s.mallocs += m1.Mallocs - m0.Mallocs
	s.allocB += m1.TotalAlloc - m0.TotalAlloc
	*firsts = append(*firsts, t.firstAt().Sub(t0))
}

// nonEmpty returns the partitions that hold records.
func (job *consumeJob) nonEmpty() []int32 {
	var ps []int32
	for p, end := range job.ends {
		if end > 0 {
			ps = append(ps, int32(p))
		}
	}
	return ps
}

func consumeSamsa(ctx context.Context, job *consumeJob, t *consumeTally) (func(), error) {
	parts := map[int32]Offset{}
	for _, p := range job.nonEmpty() {
		parts[p] = AtStart()
	}
	c, err := NewConsumer(SeedBrokers(job.addrs...), ConsumePartitions(map[string]map[int32]Offset{job.topic: parts}),
		FetchMaxWait(consumeMaxWait), FetchMinBytes(1), FetchMaxBytes(consumeMaxBytes), FetchMaxPartitionBytes(consumePartMaxBytes))
	if err != nil {
		return nil, err
	}
	closeFn := func() { c.Close(context.Background()) }
	for total := 0; total < job.n; {
		fs, err := c.Poll(ctx)
		if err != nil {
			return closeFn, err
		}
		for i := range fs {
			f := &fs[i]
			if f.Err != nil {
				return closeFn, fmt.Errorf("%s[%d]: %w", f.Topic, f.Partition, f.Err)
			}
			for _, r := range f.Records {
				t.add(r.Partition, r.Value)
			}
			total += len(f.Records)
		}
	}
	return closeFn, nil
}

func consumeKgo(ctx context.Context, job *consumeJob, t *consumeTally) (func(), error) {
	parts := map[int32]kgo.Offset{}
	for _, p := range job.nonEmpty() {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(job.addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{job.topic: parts}),
		kgo.FetchMaxWait(consumeMaxWait), kgo.FetchMinBytes(1), kgo.FetchMaxBytes(consumeMaxBytes), kgo.FetchMaxPartitionBytes(consumePartMaxBytes))
	if err != nil {
		return nil, err
	}
	total := 0
	for total < job.n {
		fs := cl.PollFetches(ctx)
		var ferr error
		fs.EachError(func(topic string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("%s[%d]: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return cl.Close, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			t.add(r.Partition, r.Value)
			total++
		})
	}
	return cl.Close, nil
}

func consumeSarama(ctx context.Context, job *consumeJob, t *consumeTally) (func(), error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Consumer.Fetch.Min = 1
	cfg.Consumer.Fetch.Default = consumePartMaxBytes
	cfg.Consumer.MaxWaitTime = consumeMaxWait
	cfg.Consumer.Return.Errors = true
	cons, err := sarama.NewConsumer(job.addrs, cfg)
	if err != nil {
		return nil, err
	}
	var pcs []sarama.PartitionConsumer
	closeFn := func() {
		for _, pc := range pcs {
			pc.Close()
		}
		cons.Close()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, consumeParts)
	for _, p := range job.nonEmpty() {
		pc, err := cons.ConsumePartition(job.topic, p, sarama.OffsetOldest)
		if err != nil {
			cancel()
			wg.Wait()
			return closeFn, err
		}
		pcs = append(pcs, pc)
		last := job.ends[p] - 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						errs[p] = errors.New("messages channel closed")
						return
					}
					t.add(m.Partition, m.Value)
					if m.Offset >= last {
						return
					}
				case e := <-pc.Errors():
					// sarama retries; report and go on
					// (a stall ends with ctx).
					job.logf("sarama: %v", e)
				case <-ctx.Done():
					errs[p] = ctx.Err()
					return
				}
			}
		}()
	}
	wg.Wait()
	return closeFn, errors.Join(errs...)
}

func consumeKafkaGo(ctx context.Context, job *consumeJob, t *consumeTally) (func(), error) {
	var readers []*kafka.Reader
	closeFn := func() {
		for _, r := range readers {
			r.Close()
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, consumeParts)
	for _, p := range job.nonEmpty() {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: job.addrs, Topic: job.topic, Partition: int(p),
			MinBytes: 1, MaxBytes: consumePartMaxBytes, MaxWait: consumeMaxWait,
			StartOffset: kafka.FirstOffset, ReadLagInterval: -1,
		})
		readers = append(readers, r)
		last := job.ends[p] - 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					errs[p] = err
					return
				}
				t.add(int32(m.Partition), m.Value)
				if m.Offset >= last {
					return
				}
			}
		}()
	}
	wg.Wait()
	return closeFn, errors.Join(errs...)
}
