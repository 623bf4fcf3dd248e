package client

import (
	"testing"
	"time"

	"github.com/samsa-io/samsa/samsatest"
)

// TestGroupBrokerRestart: a group of two consumes across a restart of the
// samsa broker (same port and data); nothing is lost, and the offsets
// committed before and after the restart are where a new member resumes.
func TestGroupBrokerRestart(t *testing.T) {
	t.Parallel()
	n := samsatest.Start(t)
	b := backend{name: "samsa", addrs: []string{n.Addr()}}
	topic := newTopic(t, b, 4)
	group := newGroupName()
	l := &ledger{count: map[TopicPartition]map[int64]int{}}
	p := newTestProducer(t, b, WithPartitioner(ManualPartitioner()))
	want := produceN(t, p, topic, 4, 0, 80)
	ms := []*member{startMember(t, b, "a", group, topic, l), startMember(t, b, "b", group, topic, l)}
	waitFor(t, "80 records", 30*time.Second, func() bool { return l.distinct() == 80 })
	waitFor(t, "2 partitions each", 30*time.Second, func() bool {
		return len(ms[0].c.Assignment()) == 2 && len(ms[1].c.Assignment()) == 2
	})
	time.Sleep(300 * time.Millisecond) // let auto-commit run

	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	want = append(want, produceN(t, p, topic, 4, 80, 40)...)
	waitFor(t, "120 records after the restart", 40*time.Second, func() bool { return l.distinct() == 120 })
	time.Sleep(300 * time.Millisecond)
	ms[0].stop(t)
	ms[1].stop(t)
	// The members keep their positions across the restart: no record is
	// delivered twice.
	checkLedger(t, l, want)

	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	l2 := &ledger{count: map[TopicPartition]map[int64]int{}}
	last := produceN(t, p, topic, 4, 120, 8)
	m := startMember(t, b, "c", group, topic, l2)
	waitFor(t, "8 new records", 30*time.Second, func() bool { return l2.distinct() == 8 })
	time.Sleep(300 * time.Millisecond)
	m.stop(t)
	checkLedger(t, l2, last)
}
