package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samsa-io/samsa/samsatest"
	"github.com/twmb/franz-go/pkg/kfake"
)

var groupSeq atomic.Int64

func newGroupName() string {
	return fmt.Sprintf("samsa-group-%d-%d", time.Now().UnixNano()%1e9, groupSeq.Add(1))
}

// member runs one group consumer in its own goroutine, recording what it
// polls in a shared ledger.
type member struct {
	name   string
	c      *Consumer
	kill   chan struct{} // closed: stop as a crash would, between polls
	done   chan struct{}
	mu     sync.Mutex
	seen   map[TopicPartition]map[int64]bool
	assign []TopicPartition
}

type ledger struct {
	mu    sync.Mutex
	count map[TopicPartition]map[int64]int
	total int // distinct records
	who   map[TopicPartition]map[int64][]string
}

func (l *ledger) add(r *Record, by string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tp := TopicPartition{r.Topic, r.Partition}
	if l.who == nil {
		l.who = map[TopicPartition]map[int64][]string{}
	}
	if l.who[tp] == nil {
		l.who[tp] = map[int64][]string{}
	}
	l.who[tp][r.Offset] = append(l.who[tp][r.Offset], by)
	if l.count[tp] == nil {
		l.count[tp] = map[int64]int{}
	}
	if l.count[tp][r.Offset] == 0 {
		l.total++
	}
	l.count[tp][r.Offset]++
}

func (l *ledger) distinct() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func startMember(t *testing.T, b backend, name, group, topic string, l *ledger, opts ...ConsumerOpt) *member {
	m := &member{name: name, kill: make(chan struct{}), done: make(chan struct{}), seen: map[TopicPartition]map[int64]bool{}}
	base := []ConsumerOpt{ConsumerGroup(group), ConsumeTopics(topic), SessionTimeout(6 * time.Second),
		HeartbeatInterval(300 * time.Millisecond), RebalanceTimeout(10 * time.Second), AutoCommit(100 * time.Millisecond),
		OnAssigned(func(_ context.Context, _ *Consumer, tps []TopicPartition) {
			m.mu.Lock()
			m.assign = append(m.assign, tps...)
			m.mu.Unlock()
		})}
	m.c = newTestConsumer(t, b, append(base, opts...)...)
	go func() {
		defer close(m.done)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-m.kill:
			case <-m.done:
			}
			cancel()
		}()
		for {
			fs, err := m.c.Poll(ctx)
			if err != nil {
				return
			}
			for _, r := range fs.Records() {
				m.mu.Lock()
				tp := TopicPartition{r.Topic, r.Partition}
				if m.seen[tp] == nil {
					m.seen[tp] = map[int64]bool{}
				}
				m.seen[tp][r.Offset] = true
				m.mu.Unlock()
				l.add(r, m.name)
			}
		}
	}()
	return m
}

func (m *member) crash() {
	close(m.kill)
	<-m.done
	m.c.CloseWithoutLeaving()
}

func (m *member) stop(t *testing.T) {
	close(m.kill)
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.c.Close(ctx); err != nil {
		t.Logf("%s: close: %v", m.name, err)
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkLedger: every produced offset seen; a record seen twice must have
// been seen by a crashed member (its uncommitted records are redelivered).
func checkLedger(t *testing.T, l *ledger, want []*Record, crashed ...*member) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range want {
		tp := TopicPartition{r.Topic, r.Partition}
		n := l.count[tp][r.Offset]
		if n == 0 {
			t.Fatalf("record %s@%d lost", tp, r.Offset)
		}
		if n > 1 {
			ok := false
			for _, m := range crashed {
				m.mu.Lock()
				ok = ok || m.seen[tp][r.Offset]
				m.mu.Unlock()
			}
			if !ok {
				t.Fatalf("record %s@%d delivered %d times (to %v), not by a crashed member", tp, r.Offset, n, l.who[tp][r.Offset])
			}
		}
	}
	if l.total != len(want) {
		t.Fatalf("%d distinct records, want %d", l.total, len(want))
	}
}

// groupBackend is a backend with its group timing: kfake and samsa run
// with short session timeouts and KIP-848 heartbeat intervals; the
// reference Kafka keeps its defaults (6s minimum classic session, 45s
// KIP-848 session, 5s KIP-848 heartbeat).
type groupBackend struct {
	backend
	session time.Duration // classic session timeout to ask for
	fast848 bool          // KIP-848 sessions time out quickly: crash tests are cheap
}

func groupBackends(t *testing.T) []groupBackend {
	out := []groupBackend{{backend: newFake(t, 3, kfake.GroupMinSessionTimeout(100*time.Millisecond), kfake.BrokerConfigs(map[string]string{
		"group.consumer.heartbeat.interval.ms": "200", "group.consumer.session.timeout.ms": "2000",
	})), session: 2 * time.Second, fast848: true}}
	if samsaBackend != nil {
		n := samsatest.Start(t, samsatest.Config("group.min.session.timeout.ms", "100"),
			samsatest.Config("group.consumer.heartbeat.interval.ms", "200"), samsatest.Config("group.consumer.session.timeout.ms", "2000"))
		out = append(out, groupBackend{backend: backend{name: "samsa", addrs: []string{n.Addr()}}, session: 2 * time.Second, fast848: true})
	}
	if k, ok := referenceKafka(); ok {
		out = append(out, groupBackend{backend: k, session: 6 * time.Second})
	}
	return out
}

// TestGroupThreeMembers: three members share a topic; every record is
// delivered; one member crashes (or leaves) and its partitions go to the
// others; one leaves cleanly; nothing is lost across the rebalances; a new
// member resumes from the committed offsets.
func TestGroupThreeMembers(t *testing.T) {
	for _, b := range groupBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, proto := range []struct {
				name  string
				crash bool
				opts  []ConsumerOpt
			}{
				{"cooperative-sticky", true, nil},
				{"range", b.name != "kafka", []ConsumerOpt{Balancers(RangeBalancer())}},
				{"roundrobin", false, []ConsumerOpt{Balancers(RoundRobinBalancer())}},
				{"kip848", b.fast848, []ConsumerOpt{WithGroupProtocol(GroupProtocolConsumer)}},
			} {
				t.Run(proto.name, func(t *testing.T) {
					t.Parallel()
					testGroupThree(t, b, append(proto.opts, SessionTimeout(b.session)), proto.crash)
				})
			}
		})
	}
}

func testGroupThree(t *testing.T, gb groupBackend, opts []ConsumerOpt, crash bool) {
	b := gb.backend
	topic := newTopic(t, b, 6)
	group := newGroupName()
	p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
	l := &ledger{count: map[TopicPartition]map[int64]int{}}
	want := produceN(t, p, topic, 6, 0, 120)
	ms := []*member{
		startMember(t, b, "a", group, topic, l, opts...),
		startMember(t, b, "b", group, topic, l, opts...),
		startMember(t, b, "c", group, topic, l, opts...),
	}
	waitFor(t, "120 records", 30*time.Second, func() bool { return l.distinct() == 120 })
	waitFor(t, "2 partitions each", 30*time.Second, func() bool {
		for _, m := range ms {
			if len(m.c.Assignment()) != 2 {
				return false
			}
		}
		return true
	})
	want = append(want, produceN(t, p, topic, 6, 120, 60)...)
	waitFor(t, "180 records", 30*time.Second, func() bool { return l.distinct() == 180 })

	var crashed []*member
	if crash {
		// A crash: no commit, no LeaveGroup; the session times out.
		ms[2].crash()
		crashed = append(crashed, ms[2])
	} else {
		ms[2].stop(t)
	}
	want = append(want, produceN(t, p, topic, 6, 180, 60)...)
	waitFor(t, "240 records after member c left", 40*time.Second, func() bool { return l.distinct() == 240 })
	waitFor(t, "3 partitions each", 30*time.Second, func() bool {
		return len(ms[0].c.Assignment()) == 3 && len(ms[1].c.Assignment()) == 3
	})
	// A clean leave: the last member takes everything.
	ms[1].stop(t)
	want = append(want, produceN(t, p, topic, 6, 240, 60)...)
	waitFor(t, "300 records after member b left", 30*time.Second, func() bool { return l.distinct() == 300 })
	waitFor(t, "6 partitions on a", 30*time.Second, func() bool { return len(ms[0].c.Assignment()) == 6 })
	time.Sleep(200 * time.Millisecond) // duplicates would show up now
	ms[0].stop(t)
	checkLedger(t, l, want, crashed...)

	// The commits hold: a new member of the group reads only new records.
	l2 := &ledger{count: map[TopicPartition]map[int64]int{}}
	last := produceN(t, p, topic, 6, 300, 12)
	m := startMember(t, b, "d", group, topic, l2, opts...)
	waitFor(t, "12 new records", 30*time.Second, func() bool { return l2.distinct() == 12 })
	time.Sleep(300 * time.Millisecond)
	m.stop(t)
	checkLedger(t, l2, last)
}
