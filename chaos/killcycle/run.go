// Package killcycle kills one `samsa serve` process with SIGKILL over and
// over while idempotent acks=all producers write to it, and checks that
// nothing acknowledged is ever lost, duplicated or moved.
//
// Each cycle starts the node on the same data directory, waits until it
// serves, runs a few producers (franz-go, and in some cycles samsa's own
// client) sending unique values for a random short time, and kills the
// process while sends are in flight. Every send is recorded in a history
// (package chaos/history). Every few cycles, and after the last, the node
// is started once more and every partition is read from its start to its
// end; the reads are judged against the sends acknowledged before them
// (Checker).
package killcycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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

// Config is one run.
type Config struct {
	Bin string // the samsa binary
	// Kafka, when set, is the path of scripts/kafka-reference: the run
	// kills a single Apache Kafka node instead of samsa, for comparison.
	Kafka      string
	Dir        string // the run's directory: data/, history.jsonl, node.log
	Cycles     int
	Seed       uint64
	CheckEvery int // a read round every CheckEvery cycles (0: only after the last)
	Partitions int32
	Producers  int // franz-go producers per cycle: 1 to Producers
	InFlight   int // sends one producer has outstanding at most
	// MinRun and MaxRun bound how long a cycle produces, from its first
	// acknowledgement, before the kill.
	MinRun, MaxRun time.Duration
	StartTimeout   time.Duration // for the node to serve after a start
	Progress       io.Writer     // a line every few cycles; nil = quiet
}

func (c *Config) defaults() {
	if c.Cycles == 0 {
		c.Cycles = 1000
	}
	if c.Partitions == 0 {
		c.Partitions = 3
	}
	if c.Producers == 0 {
		c.Producers = 3
	}
	if c.InFlight == 0 {
		c.InFlight = 8
	}
	if c.MinRun == 0 {
		c.MinRun = 20 * time.Millisecond
	}
	if c.MaxRun == 0 {
		c.MaxRun = 300 * time.Millisecond
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = time.Minute
	}
}

// Result is what a run found.
type Result struct {
	Verdict
	Cycles        int
	KillsInFlight int             // kills with sends outstanding
	Restarts      []time.Duration // start to serving, of every start after a kill
	Elapsed       time.Duration
	SamsaCycles   int // cycles that ran samsa's client producer too
	History       string
}

// Line is the one-line verdict.
func (r Result) Line() string {
	status := "OK"
	if !r.OK() {
		status = "ANOMALIES"
	}
	lost := r.Anomalies[Lost]
	return fmt.Sprintf("killcycle %s: cycles=%d acked=%d indeterminate=%d failed=%d lost=%d duplicates=%d (%s) kills-in-flight=%d samsa-client-cycles=%d read-rounds=%d restart p50=%v p99=%v max=%v elapsed=%v",
		status, r.Cycles, r.Acked, r.Indeterminate, r.Failed, lost, r.Anomalies[Duplicate], r.Summary(),
		r.KillsInFlight, r.SamsaCycles, r.Rounds,
		quantile(r.Restarts, 0.5), quantile(r.Restarts, 0.99), quantile(r.Restarts, 1), r.Elapsed.Round(time.Second))
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)].Round(time.Millisecond)
}

const topic = "killcycle"

// recorder writes the history and feeds the checker, in one order.
type recorder struct {
	mu sync.Mutex
	w  *history.Writer
	c  *Checker
}

func (r *recorder) add(op history.Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.c.Add(r.w.Add(op))
}

func (r *recorder) verdict() Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c.Verdict()
}

// Run runs cfg.Cycles kill cycles and the read rounds, and judges them.
// An error is a failure of the harness (the node did not start, a read
// did not finish), not an anomaly: anomalies are in the Result.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.defaults()
	start := time.Now()
	res := Result{History: filepath.Join(cfg.Dir, "history.jsonl")}
	hf, err := os.Create(res.History)
	if err != nil {
		return res, err
	}
	defer hf.Close()
	logf, err := os.OpenFile(filepath.Join(cfg.Dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return res, err
	}
	defer logf.Close()
	rec := &recorder{w: history.NewWriter(hf), c: NewChecker()}
	var n target
	if cfg.Kafka != "" {
		n, err = newKafkaNode(cfg.Kafka, filepath.Join(cfg.Dir, "kafka"))
	} else {
		n, err = newNode(cfg.Bin, filepath.Join(cfg.Dir, "data"), logf)
	}
	if err != nil {
		return res, err
	}
	defer n.kill() // a harness failure leaves no node behind
	defer rec.w.Flush()
	every := max(1, min(50, cfg.Cycles/10)) // cycles between progress lines
	var nextValue atomic.Int64
	round := 0
	for cycle := 0; cycle <= cfg.Cycles; cycle++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		t0 := time.Now()
		if err := n.start(cfg.StartTimeout); err != nil {
			return res, fmt.Errorf("cycle %d: %w", cycle, err)
		}
		if cycle > 0 {
			res.Restarts = append(res.Restarts, time.Since(t0))
		} else if err := createTopic(ctx, n.address(), cfg.Partitions); err != nil {
			n.kill()
			return res, err
		}
		last := cycle == cfg.Cycles
		if last || (cfg.CheckEvery > 0 && cycle > 0 && cycle%cfg.CheckEvery == 0) {
			round++
			if err := readRound(ctx, n.address(), rec, 1<<30+round); err != nil {
				n.kill()
				return res, fmt.Errorf("read round after cycle %d: %w", cycle, err)
			}
		}
		if last {
			if err := n.stop(30 * time.Second); err != nil {
				return res, err
			}
			if t := n.trouble(); t != "" {
				return res, fmt.Errorf("after the last cycle the node logged %q", t)
			}
			break
		}
		inFlight, usedSamsa := produceAndKill(cfg, cycle, n, rec, &nextValue)
		if t := n.trouble(); t != "" {
			return res, fmt.Errorf("cycle %d: the node logged %q", cycle, t)
		}
		res.Cycles++
		if inFlight > 0 {
			res.KillsInFlight++
		}
		if usedSamsa {
			res.SamsaCycles++
		}
		if cfg.Progress != nil && (cycle+1)%every == 0 {
			v := rec.verdict()
			fmt.Fprintf(cfg.Progress, "cycle %d/%d: sends=%d acked=%d indeterminate=%d %s restart p50=%v p99=%v %v\n",
				cycle+1, cfg.Cycles, v.Sends, v.Acked, v.Indeterminate, v.Summary(),
				quantile(res.Restarts, 0.5), quantile(res.Restarts, 0.99), time.Since(start).Round(time.Second))
		}
	}
	if err := rec.w.Flush(); err != nil {
		return res, err
	}
	res.Verdict = rec.verdict()
	res.Elapsed = time.Since(start)
	return res, nil
}

func createTopic(ctx context.Context, addr string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		r, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
		if err == nil {
			err = r.Err
		}
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("create topic: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// producer is one client of a cycle: franz-go or samsa's.
type producer struct {
	process int
	rec     *recorder
	slots   chan struct{} // InFlight tokens
	wg      sync.WaitGroup
	out     *atomic.Int64 // outstanding sends of the cycle
	acked   func()        // called on every acknowledgement
}

func (p *producer) invoke(v int64) {
	p.slots <- struct{}{}
	p.wg.Add(1)
	p.out.Add(1)
	p.rec.add(history.Op{Process: p.process, Type: history.Invoke, F: history.Send, Topic: topic, Value: v})
}

func (p *producer) done(v int64, part int32, off int64, err error) {
	op := history.Op{Process: p.process, Type: history.OK, F: history.Send, Topic: topic, Value: v, Partition: part, Offset: off}
	if err != nil {
		op = history.Op{Process: p.process, Type: outcome.Of(err), F: history.Send, Topic: topic, Value: v, Error: err.Error()}
	}
	p.rec.add(op)
	if err == nil {
		p.acked()
	}
	p.out.Add(-1)
	<-p.slots
	p.wg.Done()
}

// produceAndKill runs one cycle's producers against the serving node and
// kills it after the cycle's random time; it returns the sends outstanding
// at the kill and whether samsa's client produced.
func produceAndKill(cfg Config, cycle int, n target, rec *recorder, next *atomic.Int64) (int64, bool) {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(cycle)))
	runFor := cfg.MinRun + time.Duration(rng.Int64N(int64(cfg.MaxRun-cfg.MinRun)+1))
	kgoProducers := 1 + rng.IntN(cfg.Producers)
	useSamsa := rng.IntN(3) == 0
	var out atomic.Int64
	firstAck := make(chan struct{})
	var once sync.Once
	acked := func() { once.Do(func() { close(firstAck) }) }
	stop := make(chan struct{})
	var loops sync.WaitGroup
	var closers []func()
	var prods []*producer
	newProducer := func() *producer {
		p := &producer{process: cycle*16 + len(prods), rec: rec, slots: make(chan struct{}, cfg.InFlight), out: &out, acked: acked}
		prods = append(prods, p)
		return p
	}
	loop := func(p *producer, send func(v int64)) {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for {
				select {
				case <-stop:
					return
				case p.slots <- struct{}{}:
					<-p.slots // a slot is free; invoke takes it for the send
				}
				v := next.Add(1)
				p.invoke(v)
				send(v)
			}
		}()
	}
	for i := 0; i < kgoProducers; i++ {
		p := newProducer()
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.address()), kgo.DefaultProduceTopic(topic),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Duration(rng.IntN(3))*time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
		if err != nil {
			panic(err) // only bad options fail here
		}
		closers = append(closers, cl.Close)
		loop(p, func(v int64) {
			s := strconv.FormatInt(v, 10)
			cl.Produce(context.Background(), &kgo.Record{Key: []byte(s), Value: []byte(s)}, func(r *kgo.Record, err error) {
				p.done(v, r.Partition, r.Offset, err)
			})
		})
	}
	if useSamsa {
		p := newProducer()
		pr, err := client.NewProducer(client.SeedBrokers(n.address()), client.Linger(time.Millisecond),
			client.RetryBackoff(10*time.Millisecond, 50*time.Millisecond))
		if err != nil {
			panic(err)
		}
		closers = append(closers, func() {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // give up on what is outstanding at once
			pr.Close(ctx)
		})
		loop(p, func(v int64) {
			s := strconv.FormatInt(v, 10)
			pr.Produce(context.Background(), &client.Record{Topic: topic, Key: []byte(s), Value: []byte(s)}, func(r *client.Record, err error) {
				p.done(v, r.Partition, r.Offset, err)
			})
		})
	}
	// The cycle's time runs from the first acknowledgement, so that every
	// cycle writes something even where partitions take a while to be
	// writable after a start (Kafka).
	select {
	case <-firstAck:
	case <-time.After(cfg.StartTimeout):
	}
	time.Sleep(runFor)
	inFlight := out.Load()
	n.kill()
	close(stop)
	loops.Wait()
	for _, c := range closers {
		c()
	}
	for _, p := range prods {
		p.wg.Wait()
	}
	return inFlight, useSamsa
}

// readChunk bounds the records of one final-read entry, so that history
// lines stay short.
const readChunk = 10000

// readRound reads every partition from its log start to its high
// watermark and records what it read as final-read entries of process.
func readRound(ctx context.Context, addr string, rec *recorder, process int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	var starts, ends kadm.ListedOffsets
	for {
		starts, err = adm.ListStartOffsets(ctx, topic)
		if err == nil {
			err = starts.Error()
		}
		if err == nil {
			ends, err = adm.ListEndOffsets(ctx, topic)
		}
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("list offsets: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	from := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) {
		from[o.Partition] = kgo.NewOffset().At(o.Offset)
		if e, ok := ends.Lookup(topic, o.Partition); ok && e.Offset > o.Offset {
			end[o.Partition] = e.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxBytes(16<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	pending := map[int32][]history.Record{}
	flush := func(p int32) {
		rec.add(history.Op{Process: process, Type: history.Invoke, F: history.FinalRead, Topic: topic, Partition: p})
		rec.add(history.Op{Process: process, Type: history.OK, F: history.FinalRead, Topic: topic, Partition: p, Records: pending[p]})
		pending[p] = nil
	}
	for p := range from {
		// Every partition has at least one entry, even an empty one.
		flush(p)
	}
	for len(end) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("final read: %d partitions not read to their end: %w", len(end), ctx.Err())
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("final read: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			e, ok := end[r.Partition]
			if !ok || r.Offset >= e {
				return
			}
			v, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				v = math.MinInt64 // no send carries it: a phantom
			}
			pending[r.Partition] = append(pending[r.Partition], history.Record{Partition: r.Partition, Offset: r.Offset, Value: v})
			if len(pending[r.Partition]) >= readChunk {
				flush(r.Partition)
			}
			if r.Offset == e-1 {
				delete(end, r.Partition)
			}
		})
	}
	for p, recs := range pending {
		if len(recs) > 0 {
			flush(p)
		}
	}
	return nil
}

// Record is a run kept for the reliability report (chaos/report reads
// every killcycle-*.json of its input directories): how it ran and what
// its checker found.
type Record struct {
	Target        string         `json:"target"` // "samsa" or "kafka"
	Version       string         `json:"version,omitempty"`
	Seed          uint64         `json:"seed"`
	Started       string         `json:"started"` // RFC 3339, UTC
	Cycles        int            `json:"cycles"`
	Acked         int            `json:"acked"`
	Indeterminate int            `json:"indeterminate"`
	Failed        int            `json:"failed"`
	Rounds        int            `json:"read_rounds"`
	Anomalies     map[string]int `json:"anomalies"`
	Examples      []string       `json:"examples,omitempty"`
	KillsInFlight int            `json:"kills_in_flight"`
	SamsaCycles   int            `json:"samsa_client_cycles"`
	RestartP50    time.Duration  `json:"restart_p50_ns"`
	RestartP99    time.Duration  `json:"restart_p99_ns"`
	RestartMax    time.Duration  `json:"restart_max_ns"`
	Elapsed       time.Duration  `json:"elapsed_ns"`
	OK            bool           `json:"ok"`
	Line          string         `json:"line"`
}

// Record is r as a Record of a run of cfg started at start.
func (r Result) Record(cfg Config, version string, start time.Time) Record {
	target := "samsa"
	if cfg.Kafka != "" {
		target = "kafka"
	}
	anomalies := map[string]int{}
	for _, k := range kinds {
		anomalies[k] = r.Anomalies[k]
	}
	return Record{
		Target: target, Version: version, Seed: cfg.Seed, Started: start.UTC().Format(time.RFC3339),
		Cycles: r.Cycles, Acked: r.Acked, Indeterminate: r.Indeterminate, Failed: r.Failed, Rounds: r.Rounds,
		Anomalies: anomalies, Examples: r.Examples, KillsInFlight: r.KillsInFlight, SamsaCycles: r.SamsaCycles,
		RestartP50: quantile(r.Restarts, 0.5), RestartP99: quantile(r.Restarts, 0.99), RestartMax: quantile(r.Restarts, 1),
		Elapsed: r.Elapsed, OK: r.OK(), Line: r.Line(),
	}
}
