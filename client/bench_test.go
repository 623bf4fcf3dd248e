package client

// Side-by-side producer benchmark: samsa vs franz-go (kgo), IBM/sarama and
// segmentio/kafka-go, same broker, same machine, one run, clients taking
// turns (samsa kgo sarama kafka-go, samsa kgo sarama kafka-go, ...).
//
//	go test ./client/ -run '^$' -bench Produce -benchtime 300000x
//
// b.N is the number of records each client produces per round (use -benchtime
// Nx). Environment:
//
//	BENCH_BOOTSTRAP=host:port  use that broker instead of starting one
//	BENCH_BROKER_PID=pid       with BENCH_BOOTSTRAP: that broker's process, for
//	                           brokerCPU/rec (e.g. scripts/kafka-reference's
//	                           DIR/node-1/kafka.pid)
//	BENCH_BROKER=inproc        start the broker inside the test process
//	                           (default: a child process, see below)
//	BENCH_FSYNC=1              keep samsa's default fsync-before-ack
//	                           (default: log.flush.interval.messages=Long.MAX,
//	                           Apache Kafka's default: no fsync on the ack path)
//	BENCH_ROUNDS=n             rounds per client (default 5)
//	BENCH_CLIENTS=samsa,kgo    which clients (default all four)
//	BENCH_BUFFER=n             records each client may buffer (default 10000)
//	BENCH_DIR=dir              the broker's log directory (default: under
//	                           /dev/shm if it exists, else a temporary one)
//	BENCH_CPUPROFILE_DIR=dir   CPU profiles of the timed sections only
//	BENCH_SAMSA_CONNS=n        samsa's ProduceConnections (default 2, its default)
//
// The broker is a real samsa node (samsatest). By default it runs in a child
// process (this test binary re-executed), so that the allocation and CPU
// numbers below are the client's alone; it still shares the machine's cores
// with the client, so a client that burns less CPU leaves more for the
// broker.
//
// Measured per client, over its rounds (one timed section each: produce
// b.N records, wait for every acknowledgement):
//
//	rec/s, MB/s      records and value bytes per wall-clock second
//	allocs/rec, B/rec  runtime.MemStats Mallocs/TotalAlloc deltas per record;
//	                 the records are built before the timer, so this is what
//	                 the client itself allocates
//	p50, p99         per-record latency, Produce call → acknowledgement callback
//	CPU/rec          getrusage(RUSAGE_SELF) user+sys per record (client only
//	                 unless BENCH_BROKER=inproc); brokerCPU/rec the same for the
//	                 broker child (/proc/<pid>/stat)
//	vs kgo, paired   rate over kgo's; paired is the median over rounds of the
//	                 same ratio within one round (back-to-back runs share the
//	                 machine's load swings)
//
// Each run's topic is deleted after it. Fairness: acks=all, idempotent where the client supports it (kafka-go has
// no idempotent producer; sarama allows only 1 request in flight with it),
// no compression, linger 5 ms, 1 MiB batches, the same buffer bound, the
// same record bodies, six partitions, murmur2 for keys (sticky/round-robin
// for keyless: each client's default), async production with one
// completion per record.

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/samsatest"
)

const benchLinger = 5 * time.Millisecond

var benchKeys = func() [][]byte {
	ks := make([][]byte, 1024)
	for i := range ks {
		ks[i] = []byte(fmt.Sprintf("key-%06d", i))
	}
	return ks
}()

func TestMain(m *testing.M) {
	if dir := os.Getenv("SAMSA_BENCH_BROKER_DIR"); dir != "" {
		benchBrokerChild(dir)
		return
	}
	os.Exit(m.Run())
}

func benchBrokerOpts() []samsatest.Option {
	if os.Getenv("BENCH_FSYNC") != "" {
		return nil
	}
	return []samsatest.Option{samsatest.Config("log.flush.interval.messages", strconv.FormatInt(math.MaxInt64, 10))}
}

// benchBrokerChild runs a samsa node until stdin closes (the parent died
// or is done), printing its address first.
func benchBrokerChild(dir string) {
	n, err := samsatest.New(dir, benchBrokerOpts()...)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println(n.Addr())
	var b [1]byte
	os.Stdin.Read(b[:])
	n.Close()
}

type benchBrokerT struct {
	addrs []string
	pid   int // 0 unless a child process
}

func benchBroker(b *testing.B) benchBrokerT {
	if v := os.Getenv("BENCH_BOOTSTRAP"); v != "" {
		pid, _ := strconv.Atoi(os.Getenv("BENCH_BROKER_PID"))
		return benchBrokerT{addrs: strings.Split(v, ","), pid: pid}
	}
	if os.Getenv("BENCH_BROKER") == "inproc" {
		n := samsatest.Start(b, benchBrokerOpts()...)
		return benchBrokerT{addrs: []string{n.Addr()}}
	}
	// The broker's log goes to tmpfs when there is one: a few GB are
	// written per run, and disk writeback would put the disk's noise into
	// the numbers. Each run's topic is deleted after it.
	dir := b.TempDir()
	if v := os.Getenv("BENCH_DIR"); v != "" {
		dir = v
	} else if d, err := os.MkdirTemp("/dev/shm", "samsa-client-bench-"); err == nil {
		dir = d
		b.Cleanup(func() { os.RemoveAll(d) })
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SAMSA_BENCH_BROKER_DIR="+filepath.Join(dir, "data"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	line = strings.TrimSpace(line)
	if err != nil || strings.HasPrefix(line, "ERR") {
		b.Fatalf("broker child: %q %v", line, err)
	}
	return benchBrokerT{addrs: []string{line}, pid: cmd.Process.Pid}
}

// procCPU returns the user+sys CPU time of process pid so far.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	// After the command: state(0) ... utime(11) stime(12), in clock ticks.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type benchCase struct {
	name  string
	size  int
	keyed bool
}

var benchCases = []benchCase{{"100B-keyless", 100, false}, {"100B-keyed", 100, true}, {"1KB-keyless", 1024, false}}

// benchRun is one client's timed section. prepare (untimed) builds the
// client and the n records and warms up (metadata, producer id,
// connections); produce sends record i and calls done(i) from the
// record's completion; wait blocks until every record is done.
type benchRun struct {
	produce func(i int)
	close   func()
}

type benchClient struct {
	name    string
	prepare func(b *testing.B, addrs []string, topic string, value []byte, keyed bool, n int, done func(i int, err error)) benchRun
}

var benchClients = []benchClient{{"samsa", prepSamsa}, {"kgo", prepKgo}, {"sarama", prepSarama}, {"kafka-go", prepKafkaGo}}

// benchStats accumulates one client's rounds.
type benchStats struct {
	recs      int
	bytes     int64
	wall      time.Duration
	cpu       time.Duration
	brokerCPU time.Duration
	mallocs   uint64
	allocB    uint64
	lat       []int64   // ns
	rates     []float64 // rec/s per round
}

// pairedRatio is the median over rounds of s's rate over base's rate in
// the same round: the clients of one round ran back to back, so a load
// swing on the machine moves both.
func (s *benchStats) pairedRatio(base *benchStats) float64 {
	var rs []float64
	for i := range min(len(s.rates), len(base.rates)) {
		rs = append(rs, s.rates[i]/base.rates[i])
	}
	if len(rs) == 0 {
		return 0
	}
	slices.Sort(rs)
	if len(rs)%2 == 0 {
		return (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
	}
	return rs[len(rs)/2]
}

func (s *benchStats) recPerSec() float64 { return float64(s.recs) / s.wall.Seconds() }

func (s *benchStats) pct(q int) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	if !slices.IsSorted(s.lat) {
		slices.Sort(s.lat)
	}
	return time.Duration(s.lat[len(s.lat)*q/100])
}

func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

var benchBuffer = benchEnvInt("BENCH_BUFFER", 10000)

func BenchmarkProduce(b *testing.B) {
	br := benchBroker(b)
	rounds := benchEnvInt("BENCH_ROUNDS", 5)
	clients := benchClients
	if v := os.Getenv("BENCH_CLIENTS"); v != "" {
		clients = nil
		for _, c := range benchClients {
			if slices.Contains(strings.Split(v, ","), c.name) {
				clients = append(clients, c)
			}
		}
	}
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			n := b.N
			value := make([]byte, bc.size)
			for i := range value {
				value[i] = byte('a' + i%26)
			}
			stats := make([]benchStats, len(clients))
			for round := 0; round < rounds; round++ {
				for ci, c := range clients {
					runOne(b, br, c, bc, value, n, &stats[ci])
				}
			}
			b.StopTimer()
			var out strings.Builder
			fmt.Fprintf(&out, "\n%s, %d records per round, %d rounds, buffer %d records\n", bc.name, n, rounds, benchBuffer)
			fmt.Fprintf(&out, "%-9s %11s %8s %11s %9s %9s %9s %9s %12s %8s %8s\n", "client", "rec/s", "MB/s", "allocs/rec", "B/rec", "p50", "p99", "CPU/rec", "brokerCPU/rec", "vs kgo", "paired")
			var kgoRate float64
			var kgoStats *benchStats
			for ci, c := range clients {
				if c.name == "kgo" {
					kgoRate = stats[ci].recPerSec()
					kgoStats = &stats[ci]
				}
			}
			for ci, c := range clients {
				s := &stats[ci]
				if s.recs == 0 {
					continue
				}
				ratio, paired := "-", "-"
				if kgoRate > 0 {
					ratio = fmt.Sprintf("%.2fx", s.recPerSec()/kgoRate)
					paired = fmt.Sprintf("%.2fx", s.pairedRatio(kgoStats))
				}
				fmt.Fprintf(&out, "%-9s %11.0f %8.1f %11.3f %9.0f %9s %9s %9s %12s %8s %8s\n", c.name,
					s.recPerSec(), float64(s.bytes)/s.wall.Seconds()/1e6,
					float64(s.mallocs)/float64(s.recs), float64(s.allocB)/float64(s.recs),
					s.pct(50).Round(10*time.Microsecond), s.pct(99).Round(10*time.Microsecond), (s.cpu / time.Duration(s.recs)).String(),
					(s.brokerCPU / time.Duration(s.recs)).String(), ratio, paired)
				b.ReportMetric(s.recPerSec(), c.name+"-rec/s")
				b.ReportMetric(float64(s.mallocs)/float64(s.recs), c.name+"-allocs/rec")
				if kgoRate > 0 && c.name != "kgo" {
					b.ReportMetric(s.recPerSec()/kgoRate, c.name+"/kgo")
				}
			}
			if n >= 1000 {
				fmt.Print(out.String())
			}
		})
	}
}

func runOne(b *testing.B, br benchBrokerT, c benchClient, bc benchCase, value []byte, n int, s *benchStats) {
	topic := newTopic(b, backend{name: "bench", addrs: br.addrs}, 6)
	defer deleteTopic(b, br.addrs, topic)
	start := make([]int64, n)
	lat := make([]int64, n)
	epoch := time.Now()
	var (
		wg     sync.WaitGroup
		errMu  sync.Mutex
		errCnt int
		first  error
	)
	done := func(i int, err error) {
		if err != nil {
			errMu.Lock()
			if errCnt == 0 {
				first = err
			}
			errCnt++
			errMu.Unlock()
		} else {
			lat[i] = int64(time.Since(epoch)) - start[i]
		}
		wg.Done()
	}
	run := c.prepare(b, br.addrs, topic, value, bc.keyed, n, done)
	defer run.close()
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if dir := os.Getenv("BENCH_CPUPROFILE_DIR"); dir != "" {
		// A profile of the timed sections only, one file per client
		// and case (appending rounds is not possible: the last wins).
		f, err := os.Create(filepath.Join(dir, c.name+"-"+bc.name+".pprof"))
		if err != nil {
			b.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	cpu0, bcpu0 := selfCPU(), procCPU(br.pid)
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		start[i] = int64(time.Since(epoch))
		run.produce(i)
	}
	wg.Wait()
	wall := time.Since(t0)
	cpu1, bcpu1 := selfCPU(), procCPU(br.pid)
	runtime.ReadMemStats(&m1)
	if errCnt > 0 {
		b.Fatalf("%s: %d of %d records failed, first: %v", c.name, errCnt, n, first)
	}
	s.recs += n
	s.bytes += int64(n) * int64(len(value))
	s.wall += wall
	s.rates = append(s.rates, float64(n)/wall.Seconds())
	s.cpu += cpu1 - cpu0
	s.brokerCPU += bcpu1 - bcpu0
	s.mallocs += m1.Mallocs - m0.Mallocs
	s.allocB += m1.TotalAlloc - m0.TotalAlloc
	s.lat = append(s.lat, lat...)
}

func deleteTopic(b *testing.B, addrs []string, topic string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).DeleteTopics(ctx, topic); err != nil {
		b.Logf("delete topic %s: %v", topic, err)
	}
}

// index returns the position of p in s (p points into s).
func index[T any](s []T, p *T) int {
	return int((uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(&s[0]))) / unsafe.Sizeof(s[0]))
}

func prepSamsa(b *testing.B, addrs []string, topic string, value []byte, keyed bool, n int, done func(int, error)) benchRun {
	p, err := NewProducer(SeedBrokers(addrs...), Linger(benchLinger), BatchBytes(1<<20),
		RequiredAcks(AcksAll), Idempotent(true), Compression(CodecNone, 0),
		MaxBufferedRecords(int64(benchBuffer)), MaxBufferedBytes(256<<20),
		ProduceConnections(benchEnvInt("BENCH_SAMSA_CONNS", 2)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := p.ProduceSync(ctx, &Record{Topic: topic, Value: value}); err != nil {
		b.Fatal(err)
	}
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Topic: topic, Value: value}
		if keyed {
			recs[i].Key = benchKeys[i%len(benchKeys)]
		}
	}
	cb := func(r *Record, err error) { done(index(recs, r), err) }
	return benchRun{
		produce: func(i int) { p.Produce(ctx, &recs[i], cb) },
		close:   func() { p.Close(context.Background()) },
	}
}

func prepKgo(b *testing.B, addrs []string, topic string, value []byte, keyed bool, n int, done func(int, error)) benchRun {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(benchLinger), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(benchBuffer), kgo.MaxBufferedBytes(256<<20),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	recs := make([]kgo.Record, n)
	for i := range recs {
		recs[i] = kgo.Record{Value: value}
		if keyed {
			recs[i].Key = benchKeys[i%len(benchKeys)]
		}
	}
	cb := func(r *kgo.Record, err error) { done(index(recs, r), err) }
	return benchRun{
		produce: func(i int) { cl.Produce(ctx, &recs[i], cb) },
		close:   cl.Close,
	}
}

func prepSarama(b *testing.B, addrs []string, topic string, value []byte, keyed bool, n int, done func(int, error)) benchRun {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = sarama.CompressionNone
	cfg.Net.MaxOpenRequests = 1 // required by sarama for idempotence
	cfg.Producer.Flush.Frequency = benchLinger
	cfg.Producer.Flush.MaxMessages = 0
	cfg.Producer.MaxMessageBytes = 1 << 20
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
	cfg.ChannelBufferSize = benchBuffer
	p, err := sarama.NewAsyncProducer(addrs, cfg)
	if err != nil {
		b.Fatal(err)
	}
	p.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(value)}
	select {
	case <-p.Successes():
	case err := <-p.Errors():
		b.Fatal(err)
	}
	msgs := make([]sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(value), Metadata: i}
		if keyed {
			msgs[i].Key = sarama.ByteEncoder(benchKeys[i%len(benchKeys)])
		}
	}
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case m := <-p.Successes():
				done(m.Metadata.(int), nil)
			case e := <-p.Errors():
				done(e.Msg.Metadata.(int), e.Err)
			case <-quit:
				return
			}
		}
	}()
	return benchRun{
		produce: func(i int) { p.Input() <- &msgs[i] },
		close:   func() { close(quit); p.Close() },
	}
}

func prepKafkaGo(b *testing.B, addrs []string, topic string, value []byte, keyed bool, n int, done func(int, error)) benchRun {
	warm := make(chan error, 1)
	// A transport of its own: kafka-go's shared DefaultTransport caches
	// metadata for 6 s, so a topic created since its last refresh stays
	// UNKNOWN_TOPIC_OR_PARTITION for up to that long (the old harness's
	// failing 1 KB case).
	tr := &kafka.Transport{MetadataTTL: time.Second}
	w := &kafka.Writer{
		Transport: tr,
		Addr:      kafka.TCP(addrs...), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
		BatchTimeout: benchLinger, BatchSize: benchBuffer, BatchBytes: 1 << 20,
		RequiredAcks: kafka.RequireAll, Async: true, Compression: 0,
		Completion: func(msgs []kafka.Message, err error) {
			for i := range msgs {
				if idx, ok := msgs[i].WriterData.(int); ok {
					done(idx, err)
				} else {
					warm <- err
				}
			}
		},
	}
	ctx := context.Background()
	// kafka-go's writer does not wait for a new topic's metadata: retry
	// the warm-up record until it is acknowledged.
	for i := 0; ; i++ {
		err := w.WriteMessages(ctx, kafka.Message{Value: value})
		if err == nil {
			err = <-warm
		}
		if err == nil {
			break
		}
		if i == 100 {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: value, WriterData: i}
		if keyed {
			msgs[i].Key = benchKeys[i%len(benchKeys)]
		}
	}
	return benchRun{
		produce: func(i int) {
			if err := w.WriteMessages(ctx, msgs[i]); err != nil {
				done(i, err)
			}
		},
		close: func() { w.Close(); tr.CloseIdleConnections() },
	}
}
