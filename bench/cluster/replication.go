package main

// The replication suite (-suite replication): produce throughput and
// latency of replicated partitions (RF 3, acks=all) and produce
// unavailability after kill -9 of a partition leader, samsa against Kafka
// on the same three-node clusters as the control-plane figures.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
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
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/bench/internal/openloop"
)

// relaxedFlush is Kafka's default log.flush.interval.messages (Long.MAX):
// set as a samsa topic's flush.messages it turns off fsync before the
// acknowledgement, on the leader and on the followers.
const relaxedFlush = "9223372036854775807"

// Produce modes: a system and its durability policy.
const (
	modeKafka   = "kafka"       // Kafka's defaults: no fsync per write
	modeSamsa   = "samsa"       // samsa with Kafka's policy: topic flush.messages=Long.MAX
	modeSamsaFs = "samsa-fsync" // samsa's default: fsync before the acknowledgement, on every replica
)

// replPlan is what the replication suite does.
type replPlan struct {
	Partitions     int           `json:"partitions"`
	RF             int           `json:"replication_factor"`
	MinISR         int           `json:"min_insync_replicas"`
	Sizes          []int         `json:"record_sizes"`
	Warmup         time.Duration `json:"warmup_ns"`    // untimed full-speed produce before the max run
	MaxDur         time.Duration `json:"max_ns"`       // the timed max-throughput run
	RateDur        time.Duration `json:"rate_ns"`      // the fixed-rate run
	RateShare      float64       `json:"rate_share"`   // of Kafka's max
	Rounds         int           `json:"rounds"`       // fixed-rate runs per mode, the modes taking turns
	Kills          int           `json:"kills"`        // leader kills per configuration
	KillRate       float64       `json:"kill_rate"`    // records/s of the producer during the kills
	Session        time.Duration `json:"session_ns"`   // broker.session.timeout.ms of both systems
	ShortSession   time.Duration `json:"short_ns"`     // samsa's shorter one (0: not run)
	ShortHeartbeat time.Duration `json:"short_hb_ns"`  // broker.heartbeat.interval.ms with it
	Settle         time.Duration `json:"settle_ns"`    // steady acks before each kill
	Throughput     bool          `json:"throughput"`   // run the throughput/latency part
	Unavailability bool          `json:"unavailable"`  // run the kill part
	Batch          int           `json:"batch_bytes"`  // producer batch.size
	Linger         time.Duration `json:"linger_ns"`    // producer linger.ms
	BufferMem      int           `json:"buffer_bytes"` // producer buffer.memory
	// KafkaMax is Kafka's maximum (records/s by record size) given with
	// -repl-kafka-max, for runs without Kafka: samsa alone at the rates of
	// an earlier run. A Kafka run of the same size replaces it.
	KafkaMax map[int]float64 `json:"kafka_max_given,omitempty"`
}

// ReplResults is everything the replication suite measured.
type ReplResults struct {
	Started      time.Time    `json:"started"`
	Finished     time.Time    `json:"finished"`
	Command      string       `json:"command"`
	Machine      machineInfo  `json:"machine"`
	KafkaVersion string       `json:"kafka_version,omitempty"`
	KafkaJVM     string       `json:"kafka_jvm,omitempty"`
	Medium       string       `json:"medium"`
	DataDir      string       `json:"data_dir"`
	FS           string       `json:"fs"`
	Systems      []string     `json:"systems"`
	Plan         replPlan     `json:"plan"`
	Produce      []produceRun `json:"produce"`
	Unavail      []unavailRun `json:"unavailability"`
	Errors       []string     `json:"errors,omitempty"`
}

// produceRun is one mode and record size: a max-throughput run, then a
// fixed-rate run.
type produceRun struct {
	Mode       string    `json:"mode"`
	Size       int       `json:"record_size"`
	LoadBefore string    `json:"load_before"`
	Max        maxRun    `json:"max"`
	Rate       rateRun   `json:"rate"`    // every round pooled (the one run of a JSON without rounds)
	Rounds     []rateRun `json:"rounds"`  // the fixed-rate runs, one per round
	RateOf     string    `json:"rate_of"` // whose max set the rate
	Started    time.Time `json:"started"`
	Error      string    `json:"error,omitempty"`
}

type maxRun struct {
	Records   int     `json:"records"`
	Seconds   float64 `json:"seconds"`
	RecPerSec float64 `json:"rec_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
	Errors    int64   `json:"errors"`
}

type rateRun struct {
	Target   float64 `json:"target_rate"`
	Achieved float64 `json:"achieved_rate"`
	Records  int     `json:"records"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	P999ms   float64 `json:"p999_ms"`
	MaxMs    float64 `json:"max_ms"`
	Errors   int64   `json:"errors"`
	// LoadBefore is the load average at the run's start (rounds).
	LoadBefore string `json:"load_before,omitempty"`
}

// unavailRun is one configuration's leader kills.
type unavailRun struct {
	Config    string        `json:"config"` // kafka, samsa, samsa-3s
	System    string        `json:"system"`
	Session   time.Duration `json:"session_ns"`
	Heartbeat time.Duration `json:"heartbeat_ns"` // 0: the default (2 s)
	Kills     []leaderKill  `json:"kills"`
	Error     string        `json:"error,omitempty"`
}

// leaderKill is one SIGKILL of the partition's leader.
type leaderKill struct {
	Killed     int32         `json:"killed"`
	Controller bool          `json:"was_controller"` // the victim was also the active controller
	NewLeader  int32         `json:"new_leader"`
	Unavail    time.Duration `json:"unavailable_ns"` // kill → first acknowledgement of a record sent after the kill
	Rejoin     time.Duration `json:"rejoin_ns"`      // restart → back in the ISR
	LoadBefore string        `json:"load_before"`
	Error      string        `json:"error,omitempty"`
}

// replDefaults are the full and the -quick plans.
func replDefaults(quick bool) replPlan {
	p := replPlan{Partitions: 6, RF: 3, MinISR: 2, Sizes: []int{1024, 100},
		Warmup: 8 * time.Second, MaxDur: 15 * time.Second, RateDur: 20 * time.Second, RateShare: 0.5, Rounds: 3,
		Kills: 20, KillRate: 500, Session: 9 * time.Second, ShortSession: 3 * time.Second,
		ShortHeartbeat: time.Second, Settle: 500 * time.Millisecond, Throughput: true, Unavailability: true,
		Batch: 16384, Linger: 5 * time.Millisecond, BufferMem: 32 << 20}
	if quick {
		p.Warmup, p.MaxDur, p.RateDur, p.Kills, p.Rounds = time.Second, 2*time.Second, 2*time.Second, 1, 1
		p.Sizes = []int{1024}
	}
	return p
}

// producerOpts are bench/compare's producer settings (the Java producer's
// defaults: batch.size 16384, linger.ms 5, buffer.memory 32 MiB, no
// compression; idempotent with acks=all, 5 requests in flight per broker).
func (p replPlan) producerOpts(seeds []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(int32(p.Batch)),
		kgo.ProducerLinger(p.Linger),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedBytes(p.BufferMem),
		kgo.MaxBufferedRecords(1 << 30),
		kgo.RecordDeliveryTimeout(2 * time.Minute),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.ClientID("samsa-cluster-bench"),
	}
}

// replTopicConfigs are a mode's topic configs.
func (p replPlan) replTopicConfigs(mode string) map[string]*string {
	isr := strconv.Itoa(p.MinISR)
	c := map[string]*string{"min.insync.replicas": &isr}
	if mode == modeSamsa {
		v := relaxedFlush
		c["flush.messages"] = &v
	}
	return c
}

// runReplication runs the suite over syss (Kafka first when present: its
// maximum sets the fixed rate). Every system's cluster is up at once for
// the throughput part, so the fixed-rate runs can take turns: each of
// Rounds rounds runs every mode once, the order rotating from round to
// round, and a round's runs see about the same load on this shared machine.
// The unavailability part then runs one cluster at a time.
func runReplication(syss []*system, res *ReplResults, dataRoot string, base plan, keep bool, jsonOut string) {
	slices.SortStableFunc(syss, func(a, b *system) int {
		if a.kafka == b.kafka {
			return 0
		}
		if a.kafka {
			return -1
		}
		return 1
	})
	pl := res.Plan
	save := func() {
		if jsonOut != "" {
			writeJSON(res, jsonOut)
		}
	}
	var up []*replCluster
	for _, s := range syss {
		cp := base
		cp.Extra = []string{fmt.Sprintf("broker.session.timeout.ms=%d", pl.Session.Milliseconds())}
		c, err := startCluster(s, filepath.Join(dataRoot, "repl-"+s.Name), cp)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", s.Name, firstLine(err.Error())))
			logf("error: %s: %v", s.Name, err)
			continue
		}
		up = append(up, c)
	}
	if pl.Throughput {
		runThroughput(up, pl, res, save)
	}
	for _, c := range up {
		if pl.Unavailability {
			res.Unavail = append(res.Unavail, c.unavailability(pl, c.sys.Name, pl.Session, 0))
			save()
		}
		c.stop()
		if !keep && c.err == nil {
			os.RemoveAll(c.dir)
		}
	}
	if !pl.Unavailability || pl.ShortSession <= 0 {
		return
	}
	for _, s := range syss {
		if s.kafka {
			continue
		}
		cp := base
		cp.Extra = []string{fmt.Sprintf("broker.session.timeout.ms=%d", pl.ShortSession.Milliseconds()),
			fmt.Sprintf("broker.heartbeat.interval.ms=%d", pl.ShortHeartbeat.Milliseconds())}
		dir := filepath.Join(dataRoot, "repl-"+s.Name+"-short")
		c, err := startCluster(s, dir, cp)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s (short session): %v", s.Name, firstLine(err.Error())))
			logf("error: %v", err)
			continue
		}
		name := fmt.Sprintf("%s-%ds", s.Name, int(pl.ShortSession.Seconds()))
		res.Unavail = append(res.Unavail, c.unavailability(pl, name, pl.ShortSession, pl.ShortHeartbeat))
		save()
		c.stop()
		if !keep && c.err == nil {
			os.RemoveAll(dir)
		}
	}
}

// runThroughput is the throughput part on the running clusters: per record
// size, every mode's maximum (Kafka's first), then the rounds of fixed-rate
// runs at RateShare of Kafka's maximum.
func runThroughput(up []*replCluster, pl replPlan, res *ReplResults, save func()) {
	kafkaMax := maps.Clone(pl.KafkaMax) // record size → records/s
	if kafkaMax == nil {
		kafkaMax = map[int]float64{}
	}
	type modeRun struct {
		c     *replCluster
		i     int // in res.Produce
		topic string
		val   []byte
		lat   []time.Duration // every round's latencies
	}
	for _, size := range pl.Sizes {
		var runs []*modeRun
		for _, c := range up {
			modes := []string{modeKafka}
			if !c.sys.kafka {
				modes = []string{modeSamsa, modeSamsaFs}
			}
			for _, m := range modes {
				r, topic, val := c.produceMax(pl, m, size)
				if m == modeKafka && r.Error == "" {
					kafkaMax[size] = r.Max.RecPerSec
				}
				res.Produce = append(res.Produce, r)
				save()
				if r.Error == "" {
					runs = append(runs, &modeRun{c: c, i: len(res.Produce) - 1, topic: topic, val: val})
				}
			}
		}
		for round := 0; round < pl.Rounds; round++ {
			for j := range runs {
				m := runs[(j+round)%len(runs)]
				r := &res.Produce[m.i]
				if r.Error != "" {
					continue
				}
				rate, ok := kafkaMax[size]
				r.RateOf = modeKafka
				if given, ok := pl.KafkaMax[size]; ok && given == rate {
					r.RateOf = "kafka (-repl-kafka-max)"
				}
				if !ok {
					rate, r.RateOf = r.Max.RecPerSec, r.Mode
				}
				rate *= pl.RateShare
				load := loadavg()
				rr, lat, err := m.c.fixedRate(pl, m.topic, m.val, rate, pl.RateDur)
				rr.LoadBefore = load
				if err != nil {
					r.Error = m.c.fail(err).Error()
					logf("%s %d B: round %d: error: %v", r.Mode, size, round+1, err)
					save()
					continue
				}
				r.Rounds = append(r.Rounds, rr)
				m.lat = append(m.lat, lat...)
				r.Rate = pooled(r.Rounds, m.lat)
				save()
				logf("%s %d B: round %d: %.0f records/s (%.0f%% of %s's max): p50 %.2f ms, p99 %.2f ms, max %.1f ms (load %s)",
					r.Mode, size, round+1, rr.Achieved, pl.RateShare*100, r.RateOf, rr.P50ms, rr.P99ms, rr.MaxMs, load)
			}
		}
		// Every cluster is up at once, data on tmpfs: drop this size's
		// topics before the next (a full run kept 18 GB in memory).
		for _, m := range runs {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if _, err := m.c.adm.DeleteTopics(ctx, m.topic); err != nil {
				logf("deleting %s: %v", m.topic, err)
			}
			cancel()
		}
	}
}

// pooled is the rate figure over every round: quantiles of all their
// latencies together, records and errors summed, the achieved rate the
// rounds' mean.
func pooled(rounds []rateRun, lat []time.Duration) rateRun {
	slices.Sort(lat)
	r := rateRun{Target: rounds[0].Target}
	for _, x := range rounds {
		r.Records += x.Records
		r.Errors += x.Errors
		r.Achieved += x.Achieved / float64(len(rounds))
	}
	q := func(f float64) float64 { return float64(lat[min(int(f*float64(len(lat))), len(lat)-1)]) / 1e6 }
	r.P50ms, r.P99ms, r.P999ms, r.MaxMs = q(0.5), q(0.99), q(0.999), float64(lat[len(lat)-1])/1e6
	return r
}

// replCluster is a running cluster of the replication suite.
type replCluster struct {
	*cluster
	cl  *kgo.Client
	adm *kadm.Client
	err error // the first error: keep the data for a look
}

func startCluster(s *system, dir string, pl plan) (*replCluster, error) {
	logf("%s: formatting 3 nodes in %s (load %s)", s.Name, dir, loadavg())
	c, err := newCluster(s, dir, pl, 0)
	if err != nil {
		return nil, err
	}
	ph, err := c.coldStart(context.Background())
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("cold start: %w", err)
	}
	logf("%s: ready after %v", s.Name, ph.Ready.Round(time.Millisecond))
	// kadm's Metadata answers from franz-go's metadata cache for
	// MetadataMinAge (default 5 s): the polls must see each change at once.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs()...), kgo.ClientID("samsa-cluster-bench"),
		kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		c.stop()
		return nil, err
	}
	return &replCluster{cluster: c, cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (c *replCluster) stop() {
	c.cl.Close()
	c.cluster.stop()
}

func (c *replCluster) fail(err error) error {
	if c.err == nil {
		c.err = err
	}
	return err
}

// createTopic creates topic (partitions, RF, configs; assignment when not
// nil) and waits until every partition has a leader and a full ISR.
func (c *replCluster) createTopic(ctx context.Context, topic string, partitions int, rf int, configs map[string]*string, assignment [][]int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = topic
	if assignment == nil {
		t.NumPartitions, t.ReplicationFactor = int32(partitions), int16(rf)
	} else {
		t.NumPartitions, t.ReplicationFactor = -1, -1
		for i, rs := range assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), rs
			t.ReplicaAssignment = append(t.ReplicaAssignment, a)
		}
	}
	for k, v := range configs {
		cf := kmsg.NewCreateTopicsRequestTopicConfig()
		cf.Name, cf.Value = k, v
		t.Configs = append(t.Configs, cf)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return fmt.Errorf("CreateTopics %s: %w", topic, err)
	}
	if err := createTopicsErr(resp, topic); err != nil {
		return fmt.Errorf("CreateTopics %s: %w", topic, err)
	}
	return c.waitPartitions(ctx, topic, partitions, func(p kadm.PartitionDetail) error {
		if p.Leader < 0 || len(p.ISR) < rf {
			return fmt.Errorf("partition %d: leader %d, ISR %v", p.Partition, p.Leader, p.ISR)
		}
		return nil
	})
}

// waitPartitions polls Metadata until ok accepts every one of the topic's
// partitions.
func (c *replCluster) waitPartitions(ctx context.Context, topic string, partitions int, ok func(kadm.PartitionDetail) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.plan.Timeout)
	defer cancel()
	var last error
	for {
		md, err := c.adm.Metadata(ctx, topic)
		if err == nil {
			last = checkPartitions(md, topic, partitions, ok)
			if last == nil {
				return nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", topic, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func checkPartitions(md kadm.Metadata, topic string, partitions int, ok func(kadm.PartitionDetail) error) error {
	t, found := md.Topics[topic]
	if !found {
		return errors.New("not in Metadata")
	}
	if t.Err != nil {
		return t.Err
	}
	if len(t.Partitions) != partitions {
		return fmt.Errorf("%d partitions", len(t.Partitions))
	}
	for _, p := range t.Partitions {
		if p.Err != nil {
			return fmt.Errorf("partition %d: %w", p.Partition, p.Err)
		}
		if err := ok(p); err != nil {
			return err
		}
	}
	return nil
}

// produceMax creates a fresh topic for mode and size, warms up and runs the
// maximum; the fixed-rate rounds (runThroughput) use the same topic and
// record value.
func (c *replCluster) produceMax(pl replPlan, mode string, size int) (r produceRun, topic string, val []byte) {
	r = produceRun{Mode: mode, Size: size, LoadBefore: loadavg(), Started: time.Now()}
	fail := func(err error) (produceRun, string, []byte) {
		r.Error = c.fail(err).Error()
		logf("%s %d B: error: %v", mode, size, err)
		return r, "", nil
	}
	ctx := context.Background()
	topic = fmt.Sprintf("produce-%s-%d", mode, size)
	if err := c.createTopic(ctx, topic, pl.Partitions, pl.RF, pl.replTopicConfigs(mode), nil); err != nil {
		return fail(err)
	}
	val = make([]byte, size)
	rand.Read(val)
	if _, err := c.maxProduce(pl, topic, val, pl.Warmup); err != nil {
		return fail(fmt.Errorf("warm-up: %w", err))
	}
	var err error
	r.Max, err = c.maxProduce(pl, topic, val, pl.MaxDur)
	if err != nil {
		return fail(err)
	}
	logf("%s %d B: max %.0f records/s, %.1f MB/s (load %s)", mode, size, r.Max.RecPerSec, r.Max.MBPerSec, loadavg())
	return r, topic, val
}

// maxProduce produces records as fast as the producer allows for dur (Produce
// blocks while the buffer is full), then flushes; the rate is over the
// whole time to the last acknowledgement.
func (c *replCluster) maxProduce(pl replPlan, topic string, val []byte, dur time.Duration) (maxRun, error) {
	cl, err := kgo.NewClient(append(pl.producerOpts(c.addrs()), kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return maxRun{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dur+3*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
		return maxRun{}, fmt.Errorf("first record: %w", err)
	}
	var errs atomic.Int64
	var firstErr atomic.Value
	cb := func(_ *kgo.Record, err error) {
		if err != nil && errs.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	n := 0
	t0 := time.Now()
	for time.Since(t0) < dur {
		for i := 0; i < 256; i++ {
			cl.Produce(ctx, &kgo.Record{Value: val}, cb)
		}
		n += 256
	}
	if err := cl.Flush(ctx); err != nil {
		return maxRun{}, err
	}
	d := time.Since(t0).Seconds()
	r := maxRun{Records: n, Seconds: d, RecPerSec: float64(n) / d, MBPerSec: float64(n) * float64(len(val)) / d / 1e6,
		Errors: errs.Load()}
	if r.Errors > 0 {
		return r, fmt.Errorf("%d records failed: %v", r.Errors, firstErr.Load())
	}
	return r, nil
}

// fixedRate sends rate records/s for dur, each record's latency measured
// from when it was due (start + i/rate) to its acknowledgement, so a stall
// is charged to every record that should have gone out during it.
func (c *replCluster) fixedRate(pl replPlan, topic string, val []byte, rate float64, dur time.Duration) (rateRun, []time.Duration, error) {
	cl, err := kgo.NewClient(append(pl.producerOpts(c.addrs()), kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return rateRun{}, nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dur+3*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
		return rateRun{}, nil, fmt.Errorf("first record: %w", err)
	}
	total := int(rate * dur.Seconds())
	if total < 1 {
		return rateRun{}, nil, fmt.Errorf("rate %.1f records/s over %v is no record", rate, dur)
	}
	res := openloop.Run(ctx, cl, val, rate, total)
	r := rateRun{Target: rate, Achieved: float64(total) / res.Sent.Seconds(), Records: total,
		P50ms: res.QuantileMs(0.50), P99ms: res.QuantileMs(0.99), P999ms: res.QuantileMs(0.999),
		MaxMs: float64(res.Latencies[total-1]) / 1e6, Errors: res.Errors}
	if r.Errors > 0 {
		return r, nil, fmt.Errorf("%d records failed", r.Errors)
	}
	return r, res.Latencies, nil
}

// activeController is the leader DescribeQuorum names.
func (c *replCluster) activeController(ctx context.Context) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, c.plan.Timeout)
	defer cancel()
	q, _, err := race(ctx, c.p, c.addrs(), func(ctx context.Context, addr string, _ int) (quorum, error) {
		q, err := c.p.describeQuorum(ctx, addr)
		if err == nil && q.Leader < 0 {
			err = errors.New("no leader")
		}
		return q, err
	})
	return q.Leader, err
}

// ackWatch follows a continuous producer's acknowledgements: the first one
// of a record sent after a mark.
type ackWatch struct {
	mu    sync.Mutex
	mark  time.Time // records sent after it count
	first time.Time // the first acknowledgement of such a record
	fails int64
	last  error
}

func (w *ackWatch) arm(at time.Time) {
	w.mu.Lock()
	w.mark, w.first = at, time.Time{}
	w.mu.Unlock()
}

func (w *ackWatch) acked(sent, at time.Time, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.fails++
		w.last = err
		return
	}
	if !w.mark.IsZero() && sent.After(w.mark) && (w.first.IsZero() || at.Before(w.first)) {
		w.first = at
	}
}

func (w *ackWatch) firstAck() (time.Time, int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.fails, w.last
}

// waitAck waits until w has seen an acknowledgement since its mark.
func (w *ackWatch) waitAck(ctx context.Context) (time.Time, error) {
	for {
		at, fails, last := w.firstAck()
		if fails > 0 {
			return time.Time{}, fmt.Errorf("%d records failed: %v", fails, last)
		}
		if !at.IsZero() {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, errors.New("no acknowledgement")
		case <-time.After(time.Millisecond):
		}
	}
}

// unavailability creates a one-partition topic (RF 3, min.insync.replicas
// 2) whose preferred leader is not the active controller, runs a producer
// at KillRate records/s against it and kills its leader Kills times: the
// figure is from the SIGKILL to the first acknowledgement of a record sent
// after the process is gone. Between kills the node is restarted, must
// be back in the ISR, and a preferred election returns the leadership to
// it, so every kill takes the same node.
func (c *replCluster) unavailability(pl replPlan, config string, session, heartbeat time.Duration) (u unavailRun) {
	u = unavailRun{Config: config, System: c.sys.Name, Session: session, Heartbeat: heartbeat}
	fail := func(err error) unavailRun {
		u.Error = c.fail(err).Error()
		logf("%s: error: %v", config, err)
		return u
	}
	ctx := context.Background()
	ctl, err := c.activeController(ctx)
	if err != nil {
		return fail(fmt.Errorf("finding the active controller: %w", err))
	}
	var victim int32
	var rest []int32
	for _, id := range c.ids() {
		if id != ctl && victim == 0 {
			victim = id
		} else {
			rest = append(rest, id)
		}
	}
	topic := "unavail"
	if err := c.createTopic(ctx, topic, 1, pl.RF, pl.replTopicConfigs(modeKafka), [][]int32{append([]int32{victim}, rest...)}); err != nil {
		return fail(err)
	}
	cl, err := kgo.NewClient(append(pl.producerOpts(c.addrs()), kgo.DefaultProduceTopic(topic),
		kgo.MetadataMinAge(100*time.Millisecond))...)
	if err != nil {
		return fail(err)
	}
	defer cl.Close()
	w := &ackWatch{}
	pctx, stop := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() { // the continuous producer
		defer pwg.Done()
		val := make([]byte, 100)
		interval := time.Duration(float64(time.Second) / pl.KillRate)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
			sent := time.Now()
			cl.Produce(pctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
				if pctx.Err() == nil {
					w.acked(sent, time.Now(), err)
				}
			})
		}
	}()
	defer func() { stop(); pwg.Wait() }()

	epoch := int32(-1) // the leader epoch of the last leadership the harness saw settle
	for k := 0; k < pl.Kills; k++ {
		kr := c.killLeader(ctx, pl, topic, victim, w, &epoch)
		u.Kills = append(u.Kills, kr)
		if kr.Error != "" {
			u.Error = c.fail(fmt.Errorf("kill %d: %s", k+1, kr.Error)).Error()
			logf("%s: kill %d: error: %s", config, k+1, kr.Error)
			return u
		}
		logf("%s: kill %d: leader %d (controller: %v) → %d; first write acknowledged after %v; back in the ISR %v after restart",
			config, k+1, kr.Killed, kr.Controller, kr.NewLeader, kr.Unavail.Round(time.Millisecond), kr.Rejoin.Round(time.Millisecond))
	}
	return u
}

// killLeader is one kill. Metadata answers can come from a node that has
// not applied the latest change yet, so every wait also asks for a leader
// epoch newer than the last one seen settle (*epoch, updated).
func (c *replCluster) killLeader(ctx context.Context, pl replPlan, topic string, victim int32, w *ackWatch, epoch *int32) (kr leaderKill) {
	kr = leaderKill{Killed: victim, NewLeader: -1, LoadBefore: loadavg()}
	ctx, died, cancel := c.watch(ctx, c.plan.Timeout)
	defer cancel()
	// The victim leads with a full ISR and the producer is acknowledged.
	err := c.waitPartitions(ctx, topic, 1, func(p kadm.PartitionDetail) error {
		if p.Leader != victim || len(p.ISR) < pl.RF || p.LeaderEpoch <= *epoch {
			return fmt.Errorf("leader %d (epoch %d), ISR %v (want leader %d after epoch %d and %d in the ISR)",
				p.Leader, p.LeaderEpoch, p.ISR, victim, *epoch, pl.RF)
		}
		*epoch = p.LeaderEpoch
		return nil
	})
	if err != nil {
		kr.Error = orDied(err, died).Error()
		return kr
	}
	w.arm(time.Now())
	if _, err := w.waitAck(ctx); err != nil {
		kr.Error = "before the kill: " + orDied(err, died).Error()
		return kr
	}
	time.Sleep(pl.Settle) // steady traffic at the kill, not the first records after a leader change
	if ctl, err := c.activeController(ctx); err == nil {
		kr.Controller = ctl == victim
	}
	n := c.node(victim)
	t0 := time.Now()
	n.signalKill()
	n.wait()
	w.arm(time.Now())
	at, err := w.waitAck(ctx)
	if err != nil {
		kr.Error = "after the kill: " + orDied(err, died).Error()
		return kr
	}
	kr.Unavail = at.Sub(t0)
	err = c.waitPartitions(ctx, topic, 1, func(p kadm.PartitionDetail) error {
		if p.Leader < 0 || p.Leader == victim || p.LeaderEpoch <= *epoch {
			return fmt.Errorf("leader %d (epoch %d) after the kill", p.Leader, p.LeaderEpoch)
		}
		kr.NewLeader, *epoch = p.Leader, p.LeaderEpoch
		return nil
	})
	if err != nil {
		kr.Error = "new leader in Metadata: " + orDied(err, died).Error()
		return kr
	}
	// Restart; wait for the ISR to take it back, then hand it the
	// leadership again (preferred election).
	t1 := time.Now()
	if err := n.start(); err != nil {
		kr.Error = fmt.Sprintf("restart node %d: %v", victim, err)
		return kr
	}
	rctx, rdied, rcancel := c.watch(context.Background(), c.plan.Timeout)
	defer rcancel()
	err = c.waitPartitions(rctx, topic, 1, func(p kadm.PartitionDetail) error {
		if !slices.Contains(p.ISR, victim) || p.LeaderEpoch < *epoch {
			return fmt.Errorf("node %d not in the ISR %v (leader epoch %d)", victim, p.ISR, p.LeaderEpoch)
		}
		return nil
	})
	if err != nil {
		kr.Error = "rejoin: " + orDied(err, rdied).Error()
		return kr
	}
	kr.Rejoin = time.Since(t1)
	for {
		rs, err := c.adm.ElectLeaders(rctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
		if err == nil {
			if r, ok := rs[topic][0]; ok && r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				err = r.Err
			}
		}
		if err == nil {
			break
		}
		select {
		case <-rctx.Done():
			kr.Error = "preferred election: " + orDied(err, rdied).Error()
			return kr
		case <-time.After(100 * time.Millisecond):
		}
	}
	return kr
}
