package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupOverrides make rebalances fast: a short initial delay still lets
// three members that start together share one generation.
var groupOverrides = []string{
	"offsets.topic.replication.factor=1",
	"offsets.topic.num.partitions=3",
	"group.initial.rebalance.delay.ms=300",
	"group.min.session.timeout.ms=1000",
	"group.consumer.heartbeat.interval.ms=200",
	"group.consumer.session.timeout.ms=3000",
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
	runGroupScenario(t, "fg", kgoMember())
}

// TestGroupFranzGoKIP848: the same with the consumer protocol
// (ConsumerGroupHeartbeat, server-side range assignor).
func TestGroupFranzGoKIP848(t *testing.T) {
	runGroupScenario(t, "fg848", kgoMember(kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer())))
}

func kgoMember(extra ...kgo.Opt) groupMember {
	return func(t *testing.T, addr, group, topic string, id int, out chan<- delivery) func() {
		opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.SessionTimeout(2 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond),
			kgo.AutoCommitInterval(200 * time.Millisecond), kgo.FetchMaxWait(200 * time.Millisecond)}
		if id == 0 && len(extra) == 0 {
			opts = append(opts, kgo.InstanceID("static-0"))
		}
		cl, err := kgo.NewClient(append(opts, extra...)...)
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
	}
}

// TestGroupSarama: sarama.ConsumerGroup members with auto-commit.
func TestGroupSarama(t *testing.T) {
	runGroupScenario(t, "sa", saramaMember)
}

// TestGroupSaramaNoFsync: the same with Kafka's durability policy (no
// fsync on the ack path), where the high watermark moves during the
// append itself, so commits complete inside the coordinator's append.
func TestGroupSaramaNoFsync(t *testing.T) {
	runGroupScenario(t, "sanf", saramaMember, "log.flush.interval.messages=9223372036854775807")
}

func saramaMember(t *testing.T, addr, group, topic string, id int, out chan<- delivery) func() {
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
func runGroupScenario(t *testing.T, prefix string, start groupMember, overrides ...string) {
	p := startSamsa(t, "", append(append([]string(nil), groupOverrides...), overrides...)...)
	topic, grp := prefix+"-group-topic", prefix+"-group"
	prod := newClient(t, p.addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	adm := kadm.NewClient(prod)
	ctx := ctxT(t, 90*time.Second)
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	var stops []func()
	for i := 0; i < 3; i++ {
		stops = append(stops, start(t, p.addr(), grp, topic, i, c.in))
	}
	// Produce until every member has partitions: with KIP-848 there is no
	// initial rebalance delay, so the first member may briefly own all.
	total := 0
	for deadline := time.Now().Add(40 * time.Second); ; {
		produceN(t, prod, topic, 60)
		total += 60
		c.waitTotal(t, total, 40*time.Second)
		if len(c.partitionsOf(0)) > 0 && len(c.partitionsOf(1)) > 0 && len(c.partitionsOf(2)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("some member never got a partition: %v", c.byMember())
		}
		time.Sleep(100 * time.Millisecond)
	}
	gone := c.partitionsOf(0)
	t.Logf("first generation: %v", c.byMember())
	stops[0]()
	c.reset()
	produceN(t, prod, topic, 300)
	total += 300
	c.waitTotal(t, total, 40*time.Second)
	for part := range gone {
		if !c.seenAfterReset(part, 1, 2) {
			t.Fatalf("partition %d of the departed member was not reassigned: %v", part, c.byMember())
		}
	}
	t.Logf("after member 0 left: %v", c.byMember())
	stops[1]()
	stops[2]()

	before := committed(t, adm, grp, topic)
	t.Logf("committed before the restart: %v", before)
	for part, off := range before {
		if want := c.maxOffset(part) + 1; off != want {
			t.Fatalf("partition %d: committed %d, consumed up to %d", part, off, want)
		}
	}
	// SIGKILL: the commits were acknowledged only once fsynced.
	p.kill9()
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
	c.waitTotal(t, total+60, 40*time.Second)
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

// TestGroupAdmin drives the group admin APIs through kadm: describe and
// list (with a state filter), delete refused for a live group, offset
// deletion refused for a subscribed topic, a live Stable group reloaded
// after a broker crash, then deletion of offsets and the group, which
// stays deleted across another restart (tombstones).
func TestGroupAdmin(t *testing.T) {
	p := startSamsa(t, "", groupOverrides...)
	const topic, grp = "adm-group-topic", "adm-group"
	adm := kadm.NewClient(newClient(t, p.addr()))
	ctx := ctxT(t, 90*time.Second)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceN(t, newClient(t, p.addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner())), topic, 10)
	cons := newClient(t, p.addr(), kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(200*time.Millisecond), kgo.FetchMaxWait(200*time.Millisecond))
	for got := 0; got < 10; {
		got += cons.PollFetches(ctx).NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	d := describeGroup(t, adm, grp)
	if d.State != "Stable" || d.ProtocolType != "consumer" || len(d.Members) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	member := d.Members[0].MemberID
	if ls, err := adm.ListGroups(ctx, "Stable"); err != nil || ls[grp].State != "Stable" {
		t.Fatalf("list Stable: %v %+v", err, ls)
	}
	if ls, _ := adm.ListGroups(ctx, "Empty"); len(ls) != 0 {
		t.Fatalf("list Empty: %+v", ls)
	}
	if res, _ := adm.DeleteGroups(ctx, grp); !errors.Is(res[grp].Err, kerr.NonEmptyGroup) {
		t.Fatalf("deleting a live group: %v", res[grp].Err)
	}
	ts := kadm.TopicsSet{}
	ts.Add(topic, 0)
	if res, _ := adm.DeleteOffsets(ctx, grp, ts); !errors.Is(res[topic][0], kerr.GroupSubscribedToTopic) {
		t.Fatalf("deleting a subscribed topic's offsets: %v", res)
	}

	// The group was persisted when it became Stable: after a crash it is
	// reloaded with its member, which keeps heartbeating.
	p.kill9()
	p.restart()
	if d := describeGroup(t, adm, grp); d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != member {
		t.Fatalf("after restart: %+v", d)
	}
	cons.Close()
	if d := describeGroup(t, adm, grp); d.State != "Empty" {
		t.Fatalf("after the member left: %+v", d)
	}
	if res, err := adm.DeleteOffsets(ctx, grp, ts); err != nil || res[topic][0] != nil {
		t.Fatalf("delete offsets: %v %v", err, res)
	}
	offs, err := adm.FetchOffsets(ctx, grp)
	if _, ok := offs.Lookup(topic, 0); err != nil || ok {
		t.Fatalf("partition 0's offset should be gone: %v %+v", err, offs)
	}
	if o, ok := offs.Lookup(topic, 1); !ok || o.At != 5 {
		t.Fatalf("partition 1's offset should remain at 5: %+v", o)
	}
	if res, err := adm.DeleteGroups(ctx, grp); err != nil || res[grp].Err != nil {
		t.Fatalf("delete group: %v %+v", err, res)
	}
	p.stop()
	p.restart()
	if res, _ := adm.DescribeGroups(ctx, grp); !errors.Is(res[grp].Err, kerr.GroupIDNotFound) {
		t.Fatalf("deleted group after restart: %+v", res[grp])
	}
	if offs, _ := adm.FetchOffsets(ctx, grp); len(offs) != 0 {
		t.Fatalf("deleted group's offsets after restart: %+v", offs)
	}
}

func describeGroup(t *testing.T, adm *kadm.Client, grp string) kadm.DescribedGroup {
	t.Helper()
	res, err := adm.DescribeGroups(ctxT(t, 20*time.Second), grp)
	if err != nil || res[grp].Err != nil {
		t.Fatalf("describe %s: %v %v", grp, err, res[grp].Err)
	}
	return res[grp]
}

// TestGroupKIP848Admin: a consumer-protocol group as the admin APIs see
// it: ConsumerGroupDescribe (epochs, assignor, assignment by topic name),
// ListGroups type filter, DescribeGroups refusing it (not classic), and a
// range-assigned two-member split of a four-partition topic.
func TestGroupKIP848Admin(t *testing.T) {
	p := startSamsa(t, "", groupOverrides...)
	const topic, grp = "adm848-topic", "adm848-group"
	adm := kadm.NewClient(newClient(t, p.addr()))
	ctx := ctxT(t, 60*time.Second)
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		cl := newClient(t, p.addr(), kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
			kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()), kgo.FetchMaxWait(200*time.Millisecond))
		go func() {
			for ctx.Err() == nil {
				cl.PollFetches(ctx)
			}
		}()
	}
	var d kadm.DescribedConsumerGroup
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := adm.DescribeConsumerGroups(ctx, grp)
		if err != nil {
			t.Fatal(err)
		}
		if d = res[grp]; d.Err == nil && d.State == "Stable" && len(d.Members) == 2 {
			break
		}
	}
	if d.State != "Stable" || len(d.Members) != 2 || d.AssignorName != "range" || d.AssignmentEpoch != d.Epoch {
		t.Fatalf("describe: %+v", d)
	}
	for _, m := range d.Members {
		if ps := m.Assignment[topic]; len(ps) != 2 || m.MemberEpoch != d.Epoch || m.MemberType != 1 {
			t.Fatalf("member %s: %+v", m.MemberID, m)
		}
	}
	if ls, err := adm.ListGroupsByType(ctx, []string{"consumer"}); err != nil || ls[grp].State != "Stable" {
		t.Fatalf("list consumer groups: %v %+v", err, ls)
	}
	if ls, _ := adm.ListGroupsByType(ctx, []string{"classic"}); len(ls) != 0 {
		t.Fatalf("list classic groups: %+v", ls)
	}
	if res, _ := adm.DescribeGroups(ctx, grp); !errors.Is(res[grp].Err, kerr.GroupIDNotFound) {
		t.Fatalf("classic describe of a consumer group: %+v", res[grp])
	}
}
