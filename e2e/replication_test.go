package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
)

// Kafka's replication system-test scenarios on three combined `samsa
// serve` processes: while an idempotent acks=all producer writes keyed
// records, each key with its own sequence, the leader of a partition or
// the active controller is shut down cleanly (SIGTERM) or hard (SIGKILL),
// or bounced either way a few times, the leadership chased each round.
// The topic has replication factor 3 and min.insync.replicas 2, so one
// node down never stops the writes. Afterwards a different client reads
// the topic back: every acknowledged record is there exactly once, each
// key's records in the order they were produced. The producer rotates
// across franz-go, sarama and samsa's own client.

const (
	replSession   = 6000 // broker.session.timeout.ms
	replHeartbeat = 500  // broker.heartbeat.interval.ms
	replLag       = 2000 // replica.lag.time.max.ms
	replKeys      = 6
	replBounces   = 3
)

// replCluster starts three combined nodes with short session and lag
// timeouts and waits until it serves.
func replCluster(t *testing.T) *pcluster {
	c := combinedCluster(t)
	for _, n := range c.nodes {
		n.args = []string{"serve", "-c", filepath.Join(n.dir, "server.properties"),
			"--override", fmt.Sprintf("broker.session.timeout.ms=%d", replSession),
			"--override", fmt.Sprintf("broker.heartbeat.interval.ms=%d", replHeartbeat),
			"--override", fmt.Sprintf("replica.lag.time.max.ms=%d", replLag),
		}
	}
	c.start(1, 2, 3)
	c.waitReady(60 * time.Second)
	return c
}

func (c *pcluster) seeds() []string {
	var s []string
	for _, n := range c.nodes {
		if n.broker {
			s = append(s, n.addr())
		}
	}
	return s
}

// partitionState is one partition in a broker's Metadata.
type partitionState struct {
	leader   int32
	replicas []int32
	isr      []int32
}

// partitionStates is topic's partitions in n's Metadata.
func (n *pnode) partitionStates(topic string) (map[int32]partitionState, error) {
	m, err := n.metadata(topic)
	if err != nil {
		return nil, err
	}
	if len(m.Topics) != 1 {
		return nil, fmt.Errorf("metadata answered %d topics", len(m.Topics))
	}
	if err := kerr.ErrorForCode(m.Topics[0].ErrorCode); err != nil {
		return nil, err
	}
	out := map[int32]partitionState{}
	for _, p := range m.Topics[0].Partitions {
		isr := slices.Clone(p.ISR)
		slices.Sort(isr)
		out[p.Partition] = partitionState{leader: p.Leader, replicas: p.Replicas, isr: isr}
	}
	return out, nil
}

// waitFullISR waits until every running broker sees each of topic's
// partitions led, with all three replicas in the ISR.
func (c *pcluster) waitFullISR(topic string, timeout time.Duration) {
	c.t.Helper()
	c.waitFor(topic+" with three replicas in every ISR", timeout, func() error {
		for _, n := range c.running() {
			if !n.broker {
				continue
			}
			ps, err := n.partitionStates(topic)
			if err != nil {
				return fmt.Errorf("%v: %v", n, err)
			}
			if len(ps) != 3 {
				return fmt.Errorf("%v: %d partitions", n, len(ps))
			}
			for p, s := range ps {
				if s.leader < 0 || len(s.isr) != 3 {
					return fmt.Errorf("%v: partition %d leader %d isr %v", n, p, s.leader, s.isr)
				}
			}
		}
		return nil
	})
}

// createReplTopic creates topic with 3 partitions, RF 3 and
// min.insync.replicas 2 and waits for its full ISRs.
func (c *pcluster) createReplTopic(topic string) {
	c.t.Helper()
	adm := kadm.NewClient(newClient(c.t, c.anyBroker().addr(), kgo.SeedBrokers(c.seeds()...)))
	mi := "2"
	c.waitFor("create "+topic, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": &mi}, topic)
		if err == nil {
			err = r.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		return err
	})
	c.waitFullISR(topic, 20*time.Second)
}

// keyedProducer is one client's idempotent acks=all producer.
type keyedProducer interface {
	send(key, value string, done func(error))
	close(ctx context.Context) error
}

type kgoProducer struct{ cl *kgo.Client }

func newKgoProducer(t *testing.T, seeds []string, topic string) keyedProducer {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond),
		kgo.MetadataMinAge(50*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	return &kgoProducer{cl}
}

func (p *kgoProducer) send(key, value string, done func(error)) {
	p.cl.Produce(context.Background(), &kgo.Record{Key: []byte(key), Value: []byte(value)},
		func(_ *kgo.Record, err error) { done(err) })
}

func (p *kgoProducer) close(ctx context.Context) error {
	defer p.cl.Close()
	return p.cl.Flush(ctx)
}

type saramaProducer struct {
	ap    sarama.AsyncProducer
	topic string
	wg    sync.WaitGroup
}

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Metadata.RefreshFrequency = time.Second
	cfg.Metadata.Retry.Max = 1000
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

func newSaramaProducer(t *testing.T, seeds []string, topic string) keyedProducer {
	cfg := saramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 1 << 20
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	cfg.Producer.Flush.Frequency = 2 * time.Millisecond
	ap, err := sarama.NewAsyncProducer(seeds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &saramaProducer{ap: ap, topic: topic}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		for m := range ap.Successes() {
			m.Metadata.(func(error))(nil)
		}
	}()
	go func() {
		defer p.wg.Done()
		for e := range ap.Errors() {
			e.Msg.Metadata.(func(error))(e.Err)
		}
	}()
	return p
}

func (p *saramaProducer) send(key, value string, done func(error)) {
	p.ap.Input() <- &sarama.ProducerMessage{Topic: p.topic, Key: sarama.StringEncoder(key),
		Value: sarama.StringEncoder(value), Metadata: done}
}

func (p *saramaProducer) close(ctx context.Context) error {
	// AsyncClose flushes what is buffered; the callbacks have run once
	// both channels are closed.
	p.ap.AsyncClose()
	ch := make(chan struct{})
	go func() { p.wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sarama producer close: %w", ctx.Err())
	}
}

type samsaProducer struct {
	pr    *client.Producer
	topic string
}

func newSamsaProducer(t *testing.T, seeds []string, topic string) keyedProducer {
	pr, err := client.NewProducer(client.SeedBrokers(seeds...), client.Linger(2*time.Millisecond),
		client.RetryBackoff(20*time.Millisecond, 200*time.Millisecond), client.MetadataMinAge(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return &samsaProducer{pr: pr, topic: topic}
}

func (p *samsaProducer) send(key, value string, done func(error)) {
	err := p.pr.Produce(context.Background(), &client.Record{Topic: p.topic, Key: []byte(key), Value: []byte(value)},
		func(_ *client.Record, err error) { done(err) })
	if err != nil {
		done(err)
	}
}

func (p *samsaProducer) close(ctx context.Context) error { return p.pr.Close(ctx) }

// readRecord is one record read back.
type readRecord struct {
	partition  int32
	offset     int64
	key, value string
}

// reader reads topic's partitions from the start up to ends (exclusive).
type reader func(t *testing.T, seeds []string, topic string, ends map[int32]int64) []readRecord

func readKgo(t *testing.T, seeds []string, topic string, ends map[int32]int64) []readRecord {
	offs := map[int32]kgo.Offset{}
	for p := range ends {
		offs[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	ctx := ctxT(t, 60*time.Second)
	var out []readRecord
	left := remaining(ends)
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read of %s: partitions %v unfinished", topic, left)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("franz-go fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, readRecord{r.Partition, r.Offset, string(r.Key), string(r.Value)})
			if r.Offset+1 >= ends[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

func readSarama(t *testing.T, seeds []string, topic string, ends map[int32]int64) []readRecord {
	cons, err := sarama.NewConsumer(seeds, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var out []readRecord
	timeout := time.After(60 * time.Second)
	for p, end := range ends {
		if end == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama consume %s/%d: %v", topic, p, err)
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				out = append(out, readRecord{m.Partition, m.Offset, string(m.Key), string(m.Value)})
				done = m.Offset+1 >= end
			case err := <-pc.Errors():
				t.Logf("sarama fetch %s/%d: %v", topic, p, err)
			case <-timeout:
				t.Fatalf("sarama read of %s/%d: not at %d in time", topic, p, end)
			}
		}
		pc.Close()
	}
	return out
}

func readSamsa(t *testing.T, seeds []string, topic string, ends map[int32]int64) []readRecord {
	offs := map[int32]client.Offset{}
	for p := range ends {
		offs[p] = client.AtStart()
	}
	cons, err := client.NewConsumer(client.SeedBrokers(seeds...), client.ConsumePartitions(map[string]map[int32]client.Offset{topic: offs}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close(context.Background())
	ctx := ctxT(t, 60*time.Second)
	var out []readRecord
	left := remaining(ends)
	for len(left) > 0 {
		fs, err := cons.Poll(ctx)
		if ctx.Err() != nil {
			t.Fatalf("samsa read of %s: partitions %v unfinished (%v)", topic, left, err)
		}
		for _, r := range fs.Records() {
			out = append(out, readRecord{r.Partition, r.Offset, string(r.Key), string(r.Value)})
			if r.Offset+1 >= ends[r.Partition] {
				delete(left, r.Partition)
			}
		}
	}
	return out
}

func remaining(ends map[int32]int64) map[int32]bool {
	left := map[int32]bool{}
	for p, e := range ends {
		if e > 0 {
			left[p] = true
		}
	}
	return left
}

type replClient struct {
	name    string
	produce func(t *testing.T, seeds []string, topic string) keyedProducer
	read    reader
}

var replClients = []replClient{
	{"franz-go", newKgoProducer, readKgo},
	{"sarama", newSaramaProducer, readSarama},
	{"samsa", newSamsaProducer, readSamsa},
}

// keyedLoad produces keyed records with a sequence per key from one
// goroutine until stopped, each key at most perKeyInFlight records
// unacknowledged: a key whose partition's leader is unreachable waits
// without holding the other keys back.
type keyedLoad struct {
	t        *testing.T
	p        keyedProducer
	stopc    chan struct{}
	finished chan struct{}
	sem      [replKeys]chan struct{}
	acks     chan struct{} // a token after each answer

	mu       sync.Mutex
	produced [replKeys]int
	acked    [replKeys]map[int]bool
	nAcked   int
	failures []error
}

const perKeyInFlight = 300

func startLoad(t *testing.T, p keyedProducer) *keyedLoad {
	l := &keyedLoad{t: t, p: p, stopc: make(chan struct{}), finished: make(chan struct{}), acks: make(chan struct{}, 1)}
	for k := range l.acked {
		l.acked[k] = map[int]bool{}
		l.sem[k] = make(chan struct{}, perKeyInFlight)
	}
	go func() {
		defer close(l.finished)
		for {
			sent := false
			for k := 0; k < replKeys; k++ {
				select {
				case <-l.stopc:
					return
				case l.sem[k] <- struct{}{}:
				default:
					continue // k is at its limit
				}
				sent = true
				l.mu.Lock()
				seq := l.produced[k]
				l.produced[k]++
				l.mu.Unlock()
				l.p.send(fmt.Sprintf("k%d", k), fmt.Sprintf("k%d/%d", k, seq), func(err error) {
					l.mu.Lock()
					if err != nil {
						l.failures = append(l.failures, fmt.Errorf("k%d/%d: %w", k, seq, err))
					} else {
						l.acked[k][seq] = true
						l.nAcked++
					}
					l.mu.Unlock()
					<-l.sem[k]
					select {
					case l.acks <- struct{}{}:
					default:
					}
				})
			}
			if !sent { // every key at its limit: wait for an answer
				select {
				case <-l.stopc:
					return
				case <-l.acks:
				}
			}
		}
	}()
	return l
}

// unanswered is how many records sent have no answer yet.
func (l *keyedLoad) unanswered() int {
	n := 0
	for _, s := range l.sem {
		n += len(s)
	}
	return n
}

// progress waits until n more records are acknowledged, each key at
// least n/replKeys of them: a producer that does not get there in time is
// stuck (on a partition, if only some keys lag).
func (l *keyedLoad) progress(what string, n int, timeout time.Duration) {
	l.t.Helper()
	l.progressKeys(what, nil, n, timeout)
}

// progressKeys is progress over keys only (nil: all).
func (l *keyedLoad) progressKeys(what string, keys []int, n int, timeout time.Duration) {
	l.t.Helper()
	if keys == nil {
		for k := 0; k < replKeys; k++ {
			keys = append(keys, k)
		}
	}
	l.mu.Lock()
	var from [replKeys]int
	for k := range l.acked {
		from[k] = len(l.acked[k])
	}
	l.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		var lag []string
		for _, k := range keys {
			if got := len(l.acked[k]) - from[k]; got < n/replKeys {
				lag = append(lag, fmt.Sprintf("k%d +%d", k, got))
			}
		}
		failed := len(l.failures)
		l.mu.Unlock()
		if len(lag) == 0 {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: producer stuck: after %v, %d more records acknowledged wanted per key, got %v (%d failed)", what, timeout, n/replKeys, lag, failed)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the load, waits until every record sent has its answer, and
// closes the producer.
func (l *keyedLoad) stop() {
	l.t.Helper()
	close(l.stopc)
	<-l.finished
	deadline := time.Now().Add(90 * time.Second)
	for l.unanswered() > 0 {
		if time.Now().After(deadline) {
			l.t.Fatalf("producer stuck: %d records without an answer after 90s", l.unanswered())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.p.close(ctx); err != nil {
		l.t.Fatalf("producer close: %v", err)
	}
}

// verify reads topic back with read and checks every acknowledged record
// once, each key in production order.
func (l *keyedLoad) verify(c *pcluster, topic string, read reader) {
	t := l.t
	t.Helper()
	adm := kadm.NewClient(newClient(t, c.anyBroker().addr(), kgo.SeedBrokers(c.seeds()...)))
	var ends map[int32]int64
	c.waitFor("end offsets of "+topic, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lo, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		ends = map[int32]int64{}
		var errs []error
		lo.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				errs = append(errs, o.Err)
			}
			ends[o.Partition] = o.Offset
		})
		if len(ends) != 3 {
			errs = append(errs, fmt.Errorf("%d partitions", len(ends)))
		}
		return errors.Join(errs...)
	})
	recs := read(t, c.seeds(), topic, ends)
	l.mu.Lock()
	defer l.mu.Unlock()
	var produced int
	for _, n := range l.produced {
		produced += n
	}
	if len(l.failures) > 0 {
		t.Errorf("%d of %d records failed, first: %v", len(l.failures), produced, l.failures[0])
	}
	next := map[string]int{} // key → the least sequence number it may read next
	part := map[string]int32{}
	seen := make([]map[int]bool, replKeys)
	for k := range seen {
		seen[k] = map[int]bool{}
	}
	for _, r := range recs {
		ks, seqs, _ := strings.Cut(r.value, "/")
		seq, err := strconv.Atoi(seqs)
		k, err2 := strconv.Atoi(strings.TrimPrefix(ks, "k"))
		if err != nil || err2 != nil || ks != r.key || k < 0 || k >= replKeys {
			t.Fatalf("bad record %q=%q at %d/%d", r.key, r.value, r.partition, r.offset)
		}
		if p, ok := part[ks]; ok && p != r.partition {
			t.Fatalf("key %s on partitions %d and %d", ks, p, r.partition)
		}
		part[ks] = r.partition
		if seq < next[ks] {
			t.Fatalf("key %s: %d read at %d/%d after %d (duplicated or reordered)", ks, seq, r.partition, r.offset, next[ks]-1)
		}
		if seq > next[ks] && len(l.failures) == 0 {
			t.Fatalf("key %s: %d read at %d/%d after %d: %d..%d lost", ks, seq, r.partition, r.offset, next[ks]-1, next[ks], seq-1)
		}
		next[ks] = seq + 1
		seen[k][seq] = true
	}
	var lost []string
	for k := range l.acked {
		for seq := range l.acked[k] {
			if !seen[k][seq] {
				lost = append(lost, fmt.Sprintf("k%d/%d", k, seq))
			}
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Fatalf("%d acknowledged records lost (of %d), e.g. %v", len(lost), l.nAcked, lost[:min(len(lost), 10)])
	}
	if len(recs) != l.nAcked+countUnacked(l, seen) {
		t.Fatalf("read %d records, %d acknowledged", len(recs), l.nAcked)
	}
	t.Logf("%s: %d records produced, %d acknowledged, %d read back, ends %v", topic, produced, l.nAcked, len(recs), ends)
}

// countUnacked is how many distinct records were read that failed at the
// producer (each may be stored or not).
func countUnacked(l *keyedLoad, seen []map[int]bool) int {
	n := 0
	for k := range seen {
		for seq := range seen[k] {
			if !l.acked[k][seq] {
				n++
			}
		}
	}
	return n
}

// replTarget names the node a fault hits.
type replTarget func(c *pcluster, topic string) *pnode

// leaderOf0 is the leader of the topic's partition 0.
func leaderOf0(c *pcluster, topic string) *pnode {
	c.t.Helper()
	var leader int32 = -1
	c.waitFor("leader of "+topic+"/0", 20*time.Second, func() error {
		ps, err := c.anyBroker().partitionStates(topic)
		if err != nil {
			return err
		}
		leader = ps[0].leader
		if leader < 0 || !c.node(leader).alive() {
			return fmt.Errorf("leader %d", leader)
		}
		return nil
	})
	return c.node(leader)
}

func activeControllerNode(c *pcluster, _ string) *pnode { return c.node(c.activeController().leader) }

// replFault is one of Kafka's four failures.
type replFault func(c *pcluster, l *keyedLoad, topic string, target replTarget)

func cleanShutdown(c *pcluster, _ *keyedLoad, topic string, target replTarget) {
	n := target(c, topic)
	c.t.Logf("SIGTERM %v", n)
	if code := n.sigterm(); code != 0 {
		c.t.Fatalf("%v exited %d on SIGTERM", n, code)
	}
}

func hardShutdown(c *pcluster, _ *keyedLoad, topic string, target replTarget) {
	n := target(c, topic)
	c.t.Logf("SIGKILL %v", n)
	n.kill9()
}

func cleanBounce(c *pcluster, l *keyedLoad, topic string, target replTarget) {
	for i := 0; i < replBounces; i++ {
		n := target(c, topic)
		c.t.Logf("bounce %d: SIGTERM %v, start again", i+1, n)
		if code := n.sigterm(); code != 0 {
			c.t.Fatalf("%v exited %d on SIGTERM", n, code)
		}
		n.launch()
		c.waitReady(60 * time.Second)
		l.progress(fmt.Sprintf("after bounce %d", i+1), 200, 30*time.Second)
	}
}

func hardBounce(c *pcluster, l *keyedLoad, topic string, target replTarget) {
	for i := 0; i < replBounces; i++ {
		n := target(c, topic)
		n.kill9()
		if i%2 == 0 {
			// As Kafka's test waits for a ZooKeeper session to expire:
			// the controller fences the node and moves its leaderships,
			// so it comes back a follower with a log to reconcile.
			other := c.anyBroker(n.id)
			c.waitFor(fmt.Sprintf("%v fenced", n), time.Duration(replSession)*time.Millisecond+15*time.Second, func() error {
				fenced, err := other.describeCluster()
				if err == nil && !fenced[n.id] {
					err = fmt.Errorf("%v unfenced", n)
				}
				return err
			})
			c.t.Logf("bounce %d: SIGKILL %v, fenced, start again", i+1, n)
		} else {
			c.t.Logf("bounce %d: SIGKILL %v, start again at once", i+1, n)
		}
		n.launch()
		c.waitReady(60 * time.Second)
		l.progress(fmt.Sprintf("after bounce %d", i+1), 200, 30*time.Second)
	}
}

// use makes the cluster's helpers fail t (a subtest) until the returned
// function gives them back to the test before.
func (c *pcluster) use(t *testing.T) func() {
	prev := c.t
	c.t = t
	for _, n := range c.nodes {
		n.t = t
	}
	return func() {
		c.t = prev
		for _, n := range c.nodes {
			n.t = prev
		}
	}
}

// restore starts every stopped node again and waits for the cluster.
func (c *pcluster) restore() {
	c.t.Helper()
	for _, n := range c.nodes {
		if !n.alive() {
			n.launch()
		}
	}
	c.waitReady(60 * time.Second)
}

// runReplScenario is one (fault, target) pair with producer prod and
// reader read on a fresh topic.
func runReplScenario(t *testing.T, c *pcluster, topic string, fault replFault, target replTarget, prod, read replClient) {
	began := time.Now()
	defer c.use(t)()
	c.createReplTopic(topic)
	l := startLoad(t, prod.produce(t, c.seeds(), topic))
	l.progress("before the fault", 500, 30*time.Second)
	fault(c, l, topic, target)
	l.progress("after the fault", 500, 40*time.Second)
	l.stop()
	l.verify(c, topic, read.read)
	c.restore()
	t.Logf("%s produced by %s, read by %s: %v", topic, prod.name, read.name, time.Since(began).Round(time.Millisecond))
}

type replScenario struct {
	name   string
	fault  replFault
	target replTarget
}

// TestReplicationLeaderFailures: the four failures of a partition's
// leader, then a follower paused past replica.lag.time.max.ms.
func TestReplicationLeaderFailures(t *testing.T) {
	t.Parallel()
	c := replCluster(t)
	if !runReplScenarios(t, c, "leader", leaderOf0, 0) {
		return // the cluster may be in any state
	}
	t.Run("paused-follower", func(t *testing.T) {
		defer c.use(t)()
		checkPausedFollower(t, c)
	})
}

// TestReplicationControllerFailures: the four failures of the active
// controller (a combined node, so a broker with leaderships too).
func TestReplicationControllerFailures(t *testing.T) {
	t.Parallel()
	c := replCluster(t)
	runReplScenarios(t, c, "controller", activeControllerNode, 1)
}

// runReplScenarios runs the four failures of target on c one after the
// other, until one fails (it reports whether all passed).
func runReplScenarios(t *testing.T, c *pcluster, target string, tf replTarget, rotate int) bool {
	scenarios := []replScenario{
		{"clean-shutdown", cleanShutdown, tf},
		{"hard-shutdown", hardShutdown, tf},
		{"clean-bounce", cleanBounce, tf},
		{"hard-bounce", hardBounce, tf},
	}
	for i, s := range scenarios {
		prod := replClients[(i+rotate)%len(replClients)]
		read := replClients[(i+rotate+1)%len(replClients)]
		ok := t.Run(s.name+"-"+target+"/"+prod.name, func(t *testing.T) {
			runReplScenario(t, c, fmt.Sprintf("repl-%s-%s", target, s.name), s.fault, s.target, prod, read)
		})
		if !ok {
			return false // the cluster may be in any state
		}
	}
	return true
}

// checkPausedFollower: a follower stopped with SIGSTOP leaves the ISR of
// a partition once replica.lag.time.max.ms passed without its fetches,
// before its broker session ends; acks=all produces go on (two replicas
// still meet min.insync.replicas); after SIGCONT it rejoins the ISR, and
// once it leads the partition (its leader shut down) every acknowledged
// record is read from its log.
func checkPausedFollower(t *testing.T, c *pcluster) {
	const topic = "repl-paused-follower"
	c.createReplTopic(topic)
	ctl := c.activeController().leader
	ps, err := c.anyBroker().partitionStates(topic)
	if err != nil {
		t.Fatal(err)
	}
	// A partition whose first replica after the leader (the one an
	// election picks next) is not the active controller.
	p, f := int32(-1), int32(-1)
	for part := int32(0); part < 3; part++ {
		s := ps[part]
		for _, r := range s.replicas {
			if r != s.leader {
				if r != ctl {
					p, f = part, r
				}
				break
			}
		}
		if p >= 0 {
			break
		}
	}
	if p < 0 {
		t.Fatalf("no partition of %s whose next leader is not the active controller %d: %+v", topic, ctl, ps)
	}
	leader := c.node(ps[p].leader)
	follower := c.node(f)
	other := c.anyBroker(f)
	t.Logf("partition %d: leader %d, replicas %v; pausing follower %d (active controller %d)", p, leader.id, ps[p].replicas, f, ctl)

	l := startLoad(t, newKgoProducer(t, []string{leader.addr(), c.anyBroker(f, leader.id).addr()}, topic))
	l.progress("before the pause", 500, 30*time.Second)
	paused := time.Now()
	if err := follower.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	resume := func() {
		if stopped {
			follower.cmd.Process.Signal(syscall.SIGCONT)
			stopped = false
		}
	}
	defer resume()
	var shrunk time.Duration
	c.waitFor(fmt.Sprintf("follower %d out of the ISR of %s/%d", f, topic, p), time.Duration(replSession)*time.Millisecond+10*time.Second, func() error {
		ps, err := other.partitionStates(topic)
		if err != nil {
			return err
		}
		if slices.Contains(ps[p].isr, f) {
			return fmt.Errorf("isr %v", ps[p].isr)
		}
		shrunk = time.Since(paused)
		fenced, err := other.describeCluster()
		if err != nil {
			return err
		}
		if fenced[f] {
			// The ISR shrank by the fencing, not by the leader's lag rule.
			t.Fatalf("follower %d fenced by the time its ISR shrank (%v after the pause): the lag rule did not remove it", f, shrunk)
		}
		return nil
	})
	t.Logf("follower %d out of the ISR %v after SIGSTOP (replica.lag.time.max.ms %d)", f, shrunk.Round(time.Millisecond), replLag)
	if shrunk < time.Duration(replLag)*time.Millisecond {
		t.Fatalf("ISR shrank %v after the pause, before replica.lag.time.max.ms %dms", shrunk, replLag)
	}
	// The keys of partition p (franz-go's default partitioner hashes as
	// Java's) go on being acknowledged by the two replicas left.
	var keys []int
	part := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	for k := 0; k < replKeys; k++ {
		if int32(part.Partition(&kgo.Record{Key: []byte(fmt.Sprintf("k%d", k))}, 3)) == p {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		t.Fatalf("no key of %d on partition %d", replKeys, p)
	}
	l.progressKeys(fmt.Sprintf("partition %d with follower %d paused", p, f), keys, 100*replKeys, 20*time.Second)
	fenced, err := other.describeCluster()
	if err != nil {
		t.Fatal(err)
	}
	resume()
	resumed := time.Now()
	c.waitFullISR(topic, 30*time.Second)
	t.Logf("paused %v (fenced by then: %v); follower %d back in every ISR %v after SIGCONT",
		resumed.Sub(paused).Round(time.Millisecond), fenced[f], f, time.Since(resumed).Round(time.Millisecond))
	l.progress("after the follower's return", 300, 30*time.Second)

	// Its leader shut down, the follower leads: the acknowledged records
	// are all in its log.
	if code := leader.sigterm(); code != 0 {
		t.Fatalf("%v exited %d on SIGTERM", leader, code)
	}
	c.waitFor(fmt.Sprintf("follower %d leads %s/%d", f, topic, p), 20*time.Second, func() error {
		ps, err := follower.partitionStates(topic)
		if err != nil {
			return err
		}
		if ps[p].leader != f {
			return fmt.Errorf("leader %d", ps[p].leader)
		}
		return nil
	})
	l.progress("with the follower leading", 300, 40*time.Second)
	l.stop()
	l.verify(c, topic, readSarama)
	c.restore()
}

// TestReplicationLaggingFollowerNotElected: with three controllers apart
// from three brokers (so a broker paused and another killed leave the
// quorum whole), a follower paused with SIGSTOP leaves the ISR; then its
// partition's leader shuts down (SIGTERM). The third replica, the only ISR member
// left, leads; the paused one, which lacks acknowledged records, never
// does (no unclean election). acks=all produces to the partition wait
// (one replica is below min.insync.replicas) until the paused follower
// is resumed, has caught up from the new leader and is back in the ISR;
// then every acknowledged record reads back once, in order.
func TestReplicationLaggingFollowerNotElected(t *testing.T) {
	t.Parallel()
	c := separateCluster(t,
		fmt.Sprintf("KAFKA_BROKER_SESSION_TIMEOUT_MS=%d", replSession),
		fmt.Sprintf("KAFKA_BROKER_HEARTBEAT_INTERVAL_MS=%d", replHeartbeat),
		fmt.Sprintf("KAFKA_REPLICA_LAG_TIME_MAX_MS=%d", replLag))
	c.start(1, 2, 3, 4, 5, 6)
	c.waitReady(60 * time.Second)
	const topic = "repl-lagging-follower"
	c.createReplTopic(topic)
	ps, err := c.anyBroker().partitionStates(topic)
	if err != nil {
		t.Fatal(err)
	}
	const p = 0
	leader := c.node(ps[p].leader)
	var follower, third *pnode
	for _, r := range ps[p].replicas {
		switch {
		case r == leader.id:
		case follower == nil:
			follower = c.node(r)
		default:
			third = c.node(r)
		}
	}
	t.Logf("partition %d: leader %d, replicas %v; pausing %d, then stopping %d", p, leader.id, ps[p].replicas, follower.id, leader.id)
	var keys []int
	part := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	for k := 0; k < replKeys; k++ {
		if int32(part.Partition(&kgo.Record{Key: []byte(fmt.Sprintf("k%d", k))}, 3)) == p {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		t.Fatalf("no key of %d on partition %d", replKeys, p)
	}

	l := startLoad(t, newSamsaProducer(t, c.seeds(), topic))
	l.progress("before the pause", 500, 30*time.Second)
	if err := follower.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	stopped := true
	defer func() {
		if stopped {
			follower.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	c.waitFor(fmt.Sprintf("broker %d out of the ISR of %s/%d", follower.id, topic, p), 20*time.Second, func() error {
		ps, err := third.partitionStates(topic)
		if err == nil && slices.Contains(ps[p].isr, follower.id) {
			err = fmt.Errorf("isr %v", ps[p].isr)
		}
		return err
	})
	shrunk := time.Since(paused)
	l.progressKeys("with the follower paused", keys, 100*replKeys, 20*time.Second)
	progressed := time.Since(paused)
	// A controlled shutdown moves the leadership at once, while the
	// paused broker is still unfenced: only the ISR rule keeps it from
	// leading.
	if err := leader.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var elected time.Duration
	var electedFenced bool
	c.waitFor(fmt.Sprintf("broker %d leads %s/%d", third.id, topic, p), time.Duration(replSession)*time.Millisecond+15*time.Second, func() error {
		ps, err := third.partitionStates(topic)
		if err != nil {
			return err
		}
		if ps[p].leader == follower.id {
			t.Fatalf("the paused follower %d, out of the ISR, was elected: %+v", follower.id, ps[p])
		}
		if ps[p].leader != third.id {
			return fmt.Errorf("leader %d isr %v", ps[p].leader, ps[p].isr)
		}
		if !slices.Equal(ps[p].isr, []int32{third.id}) {
			return fmt.Errorf("isr %v", ps[p].isr)
		}
		elected = time.Since(paused)
		fenced, err := third.describeCluster()
		electedFenced = fenced[follower.id]
		return err
	})
	if electedFenced {
		t.Fatalf("broker %d led %s/%d alone only %v after the pause, the paused broker fenced by then: not the ISR rule alone", third.id, topic, p, elected)
	}
	// Its controlled shutdown ends once the paused broker, whose metadata
	// stands still, is fenced (as Kafka's controller waits for every
	// active broker to apply the shutdown). Then it exits at once: its
	// fetcher from the paused broker does not wait out the fetch.
	select {
	case <-leader.exited:
	case <-time.After(time.Duration(replSession)*time.Millisecond + 20*time.Second):
		t.Fatalf("%v did not exit after SIGTERM", leader)
	}
	exited := time.Now()
	leader.checkLog()
	if code := leader.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("%v exited %d on SIGTERM", leader, code)
	}
	if at, ok := logTime(leader.logText(), "broker fenced by the controller"); !ok {
		t.Fatalf("%v: no fencing in its log:\n%s", leader, leader.logText())
	} else if d := exited.Sub(at); d > 3*time.Second {
		t.Fatalf("%v exited %v after its controlled shutdown ended", leader, d.Round(time.Millisecond))
	}
	t.Logf("after the pause: out of the ISR %v, %d records more %v, broker %d leads alone %v (paused broker %d fenced then: %v), leader %d exited %v",
		shrunk.Round(time.Millisecond), 100*replKeys, progressed.Round(time.Millisecond), third.id, elected.Round(time.Millisecond),
		follower.id, electedFenced, leader.id, exited.Sub(paused).Round(time.Millisecond))
	// Alone it is below min.insync.replicas: for a while (the producer
	// retrying all along) nothing more of the partition is acknowledged.
	countKeys := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		n := 0
		for _, k := range keys {
			n += len(l.acked[k])
		}
		return n
	}
	before := countKeys()
	time.Sleep(time.Second)
	if n := countKeys() - before; n > 0 {
		t.Fatalf("%d records of %s/%d acknowledged with the ISR [%d] below min.insync.replicas 2", n, topic, p, third.id)
	}
	t.Logf("nothing of %s/%d acknowledged in 1s with the ISR [%d]", topic, p, third.id)
	follower.cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	resumed := time.Now()
	c.waitFor(fmt.Sprintf("broker %d back in the ISR of %s/%d", follower.id, topic, p), 30*time.Second, func() error {
		ps, err := third.partitionStates(topic)
		if err == nil && !slices.Contains(ps[p].isr, follower.id) {
			err = fmt.Errorf("leader %d isr %v", ps[p].leader, ps[p].isr)
		}
		return err
	})
	t.Logf("broker %d back in the ISR %v after SIGCONT", follower.id, time.Since(resumed).Round(time.Millisecond))
	l.progressKeys("with the follower back", keys, 300*replKeys, 30*time.Second)
	l.stop()
	l.verify(c, topic, readKgo)
	leader.launch()
	c.waitReady(60 * time.Second)
}

// logTime is the time of the first slog line of log with msg.
func logTime(log, msg string) (time.Time, bool) {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="`+msg+`"`) {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		return at, err == nil
	}
	return time.Time{}, false
}
