package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupOverrides make rebalances fast: a short initial delay still lets
// three members that start together share one generation.
var groupOverrides = []string{
	"offsets.topic.replication.factor=1",
	"offsets.topic.num.partitions=3",
	"group.initial.rebalance.delay.ms=300",
	"group.min.session.timeout.ms=1000",
}

// delivery is one record a group member received.
type delivery struct {
	member    int
	partition int32
	offset    int64
}

// groupMember starts one member of group on topic, sending what it
// receives to out; the returned func stops it (a clean close that commits
// and leaves, unless the client's static membership skips the leave).
type groupMember func(t *testing.T, addr, group, topic string, id int, out chan<- delivery) (stop func())

// TestGroupFranzGo: kgo.ConsumerGroup members; one is static and is
// closed without leaving, so its partitions move only when the session
// expires (a killed member, as the coordinator sees it).
func TestGroupFranzGo(t *testing.T) {
	runGroupScenario(t, "fg", func(t *testing.T, addr, group, topic string, id int, out chan<- delivery) func() {
		opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.SessionTimeout(2 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond),
			kgo.AutoCommitInterval(200 * time.Millisecond), kgo.FetchMaxWait(200 * time.Millisecond)}
		if id == 0 {
			opts = append(opts, kgo.InstanceID("static-0"))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachRecord(func(r *kgo.Record) { out <- delivery{id, r.Partition, r.Offset} })
			}
		}()
		return func() { cancel(); <-done; cl.Close() }
	})
}

// TestGroupSarama: sarama.ConsumerGroup members with auto-commit.
func TestGroupSarama(t *testing.T) {
	runGroupScenario(t, "sa", func(t *testing.T, addr, group, topic string, id int, out chan<- delivery) func() {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		cfg.Consumer.Group.Session.Timeout = 3 * time.Second
		cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
		cfg.Consumer.Group.Rebalance.Timeout = 5 * time.Second
		cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
		cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, saramaHandler{id, out}); err != nil && ctx.Err() == nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
		return func() { cancel(); <-done; cg.Close() }
	})
}

type saramaHandler struct {
	id  int
	out chan<- delivery
}

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.out <- delivery{h.id, m.Partition, m.Offset}
		s.MarkMessage(m, "")
	}
	return nil
}

// TestGroupKafkaGo: kafka-go Readers with a GroupID (JoinGroup v1/v2,
// SyncGroup/Heartbeat/LeaveGroup v0, OffsetCommit v2, OffsetFetch v1);
// each message is committed as it is read.
func TestGroupKafkaGo(t *testing.T) {
	runGroupScenario(t, "kg", func(t *testing.T, addr, group, topic string, id int, out chan<- delivery) func() {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: group, Topic: topic,
			MaxWait: 200 * time.Millisecond, HeartbeatInterval: 200 * time.Millisecond,
			SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second, JoinGroupBackoff: 200 * time.Millisecond,
			StartOffset: kafka.FirstOffset, ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 200 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				out <- delivery{id, int32(m.Partition), m.Offset}
			}
		}()
		return func() { cancel(); <-done; r.Close() }
	})
}

// runGroupScenario: three members share six partitions and see every
// record; member 0 goes away and the others take over its partitions
// without losing a record; the group's committed offsets survive a
// broker restart and a new member resumes from them.
func runGroupScenario(t *testing.T, prefix string, start groupMember) {
	p := startSamsa(t, "", groupOverrides...)
	topic, grp := prefix+"-group-topic", prefix+"-group"
	prod := newClient(t, p.addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	adm := kadm.NewClient(prod)
	ctx := ctxT(t, 90*time.Second)
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	const n = 300
	produceN(t, prod, topic, n)

	var stops []func()
	for i := 0; i < 3; i++ {
		stops = append(stops, start(t, p.addr(), grp, topic, i, c.in))
	}
	c.waitTotal(t, n, 40*time.Second)
	for i := 0; i < 3; i++ {
		if len(c.partitionsOf(i)) == 0 {
			t.Fatalf("member %d got no partition: %v", i, c.byMember())
		}
	}
	gone := c.partitionsOf(0)
	stops[0]()
	c.reset()
	produceN(t, prod, topic, n)
	c.waitTotal(t, 2*n, 40*time.Second)
	for part := range gone {
		if !c.seenAfterReset(part, 1, 2) {
			t.Fatalf("partition %d of the departed member was not reassigned: %v", part, c.byMember())
		}
	}
	stops[1]()
	stops[2]()

	before := committed(t, adm, grp, topic)
	for part, off := range before {
		if want := c.maxOffset(part) + 1; off != want {
			t.Fatalf("partition %d: committed %d, consumed up to %d", part, off, want)
		}
	}
	p.stop()
	p.restart()
	prod = newClient(t, p.addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	adm = kadm.NewClient(prod)
	after := committed(t, adm, grp, topic)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("committed offsets changed across the restart: %v → %v", before, after)
	}
	produceN(t, prod, topic, 60)
	c.reset()
	stop := start(t, p.addr(), grp, topic, 3, c.in)
	defer stop()
	c.waitTotal(t, 2*n+60, 40*time.Second)
	for _, d := range c.since() {
		if d.offset < after[d.partition] {
			t.Fatalf("after the restart partition %d restarted at %d, below its commit %d", d.partition, d.offset, after[d.partition])
		}
	}
}

func produceN(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	var rs []*kgo.Record
	for i := 0; i < n; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctxT(t, 20*time.Second), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func committed(t *testing.T, adm *kadm.Client, grp, topic string) map[int32]int64 {
	t.Helper()
	res, err := adm.FetchOffsets(ctxT(t, 20*time.Second), grp)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	res.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	if len(out) != 6 {
		t.Fatalf("committed offsets for %d partitions, want 6: %v", len(out), out)
	}
	return out
}

// collector gathers deliveries from every member; duplicates (at-least-
// once redelivery after a rebalance) are allowed, losses are not.
type collector struct {
	in chan delivery
	mu sync.Mutex
	// mu guards the following.
	seen   map[[2]int64]bool // partition, offset
	all    []delivery
	marker int // index in all where the current phase began
}

func newCollector() *collector {
	c := &collector{in: make(chan delivery, 1024), seen: map[[2]int64]bool{}}
	go func() {
		for d := range c.in {
			c.mu.Lock()
			c.seen[[2]int64{int64(d.partition), d.offset}] = true
			c.all = append(c.all, d)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) waitTotal(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := len(c.seen)
		c.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("only %d of %d records delivered", len(c.seen), n)
}

func (c *collector) reset() {
	c.mu.Lock()
	c.marker = len(c.all)
	c.mu.Unlock()
}

func (c *collector) since() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]delivery(nil), c.all[c.marker:]...)
}

func (c *collector) partitionsOf(member int) map[int32]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int32]bool{}
	for _, d := range c.all {
		if d.member == member {
			out[d.partition] = true
		}
	}
	return out
}

func (c *collector) seenAfterReset(part int32, members ...int) bool {
	for _, d := range c.since() {
		for _, m := range members {
			if d.partition == part && d.member == m {
				return true
			}
		}
	}
	return false
}

func (c *collector) maxOffset(part int32) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	max := int64(-1)
	for _, d := range c.all {
		if d.partition == part && d.offset > max {
			max = d.offset
		}
	}
	return max
}

func (c *collector) byMember() map[int][]int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int][]int32{}
	seen := map[[2]int]bool{}
	for _, d := range c.all {
		k := [2]int{d.member, int(d.partition)}
		if !seen[k] {
			seen[k] = true
			out[d.member] = append(out[d.member], d.partition)
		}
	}
	return out
}
