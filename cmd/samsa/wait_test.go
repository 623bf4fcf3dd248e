package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/samsatest"
)

// deadAddr is an address nothing listens on (a port just released).
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// syncBuf is a bytes.Buffer safe to read while a command writes to it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A command that cannot start says what it waits for after about a second
// and fails with the cause after -timeout, instead of waiting silently.
func TestCommandsSayWhatTheyWaitFor(t *testing.T) {
	n := samsatest.Start(t)
	noCoord := samsatest.Start(t, samsatest.Config("offsets.topic.replication.factor", "3"))
	dead := deadAddr(t)
	consume := func(ctx context.Context, args []string, stdout, stderr *syncBuf) int {
		return consumeMain(ctx, args, stdout, stderr)
	}
	produce := func(ctx context.Context, args []string, stdout, stderr *syncBuf) int {
		return produceMain(ctx, args, strings.NewReader("a\nb\n"), stderr)
	}
	cases := []struct {
		name string
		cmd  func(context.Context, []string, *syncBuf, *syncBuf) int
		args []string
		want []string
	}{
		{"consume, dead broker", consume, []string{"-brokers", dead, "-topic", "t"},
			[]string{"samsa consume: waiting for the bootstrap broker " + dead + ": dial tcp " + dead + ": connect: connection refused",
				"samsa consume: gave up after 2s (-timeout) waiting for the bootstrap broker " + dead}},
		{"consume, unknown topic", consume, []string{"-bootstrap-server", n.Addr(), "-topic", "no-such-topic"},
			[]string{"samsa consume: waiting for topic \"no-such-topic\" to exist: UNKNOWN_TOPIC_OR_PARTITION",
				"samsa consume: gave up after 2s (-timeout) waiting for topic \"no-such-topic\""}},
		{"produce, dead broker", produce, []string{"-brokers", dead, "-topic", "t"},
			[]string{"samsa produce: waiting for the bootstrap broker " + dead + ": dial tcp " + dead + ": connect: connection refused",
				"samsa produce: gave up after 2s (-timeout) waiting for the bootstrap broker"}},
		{"produce, unknown topic, no auto-create", produce, []string{"-brokers", n.Addr(), "-topic", "no-such-topic", "-auto-create=false"},
			[]string{"samsa produce: gave up after 2s (-timeout) waiting for topic \"no-such-topic\" to exist: UNKNOWN_TOPIC_OR_PARTITION"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr syncBuf
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if rc := tc.cmd(ctx, append(tc.args, "-timeout", "2s"), &stdout, &stderr); rc != 1 {
				t.Errorf("exit %d, want 1", rc)
			}
			if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
				t.Errorf("gave up after %v, want about 2s", d)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}

	// The coordinator itself: a group on a node that cannot create
	// __consumer_offsets (replication factor 3 on one broker).
	var stdout, stderr syncBuf
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := client.NewProducer(client.SeedBrokers(noCoord.Addr()), client.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &client.Record{Topic: "t", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	p.Close(ctx)
	if rc := consumeMain(ctx, []string{"-brokers", noCoord.Addr(), "-topic", "t", "-group", "g", "-timeout", "2s"}, &stdout, &stderr); rc != 1 ||
		!strings.Contains(stderr.String(), `waiting for the coordinator of group "g": COORDINATOR_NOT_AVAILABLE`) {
		t.Errorf("exit %d, stderr:\n%s", rc, stderr.String())
	}

	// A wait that ends says so, and the command goes on: the topic appears
	// while consume waits for it.
	stdout, stderr = syncBuf{}, syncBuf{}
	done := make(chan int)
	go func() {
		done <- consumeMain(ctx, []string{"-brokers", n.Addr(), "-topic", "late", "-n", "1", "-timeout", "15s"}, &stdout, &stderr)
	}()
	for !strings.Contains(stderr.String(), `waiting for topic "late"`) {
		if ctx.Err() != nil {
			t.Fatalf("no waiting notice: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rc := produceMain(ctx, []string{"-brokers", n.Addr(), "-topic", "late"}, strings.NewReader("hello\n"), &syncBuf{}); rc != 0 {
		t.Fatalf("produce exit %d", rc)
	}
	if rc := <-done; rc != 0 || stdout.String() != "hello\n" || !strings.Contains(stderr.String(), "samsa consume: ready after") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", rc, stdout.String(), stderr.String())
	}
}

// -brokers, its Kafka name -bootstrap-server and $SAMSA_BROKERS.
func TestBrokersFlag(t *testing.T) {
	parse := func(args ...string) string {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		p := brokersFlag(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return *p
	}
	t.Setenv("SAMSA_BROKERS", "")
	if got := parse(); got != "127.0.0.1:9092" {
		t.Errorf("default %q", got)
	}
	if got := parse("--bootstrap-server", "a:1,b:2"); got != "a:1,b:2" {
		t.Errorf("--bootstrap-server %q", got)
	}
	if got := parse("-brokers=c:3"); got != "c:3" {
		t.Errorf("-brokers %q", got)
	}
	t.Setenv("SAMSA_BROKERS", "kafka-1:9092,kafka-2:9092")
	if got := parse(); got != "kafka-1:9092,kafka-2:9092" {
		t.Errorf("$SAMSA_BROKERS %q", got)
	}
	if got := parse("-bootstrap-server", "d:4"); got != "d:4" {
		t.Errorf("flag over env %q", got)
	}
	if got := seedList(" a:1, ,b:2 "); len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Errorf("seedList %q", got)
	}
}

// reset-offsets -execute refuses a group that still has members, saying
// so; once the member has left (its command ended as on Ctrl-C or SIGTERM)
// the reset commits.
func TestResetOffsetsActiveMembers(t *testing.T) {
	n := samsatest.Start(t, samsatest.Config("num.partitions", "2"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if rc := produceMain(ctx, []string{"-brokers", n.Addr(), "-topic", "rt"}, strings.NewReader("a\nb\nc\n"), &syncBuf{}); rc != 0 {
		t.Fatalf("produce exit %d", rc)
	}
	for _, protocol := range []string{"classic", "consumer"} {
		t.Run(protocol, func(t *testing.T) {
			group := "reset-" + protocol
			var out, errb syncBuf
			mctx, stop := context.WithCancel(ctx) // what SIGTERM does to the command's context
			done := make(chan int)
			go func() {
				done <- consumeMain(mctx, []string{"-brokers", n.Addr(), "-topic", "rt", "-group", group, "-group-protocol", protocol}, &out, &errb)
			}()
			for strings.Count(out.String(), "\n") < 3 {
				if ctx.Err() != nil {
					t.Fatalf("member consumed %q: %s", out.String(), errb.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			var rout, rerr syncBuf
			args := []string{"reset-offsets", "-brokers", n.Addr(), "-group", group, "-topic", "rt", "-to", "earliest"}
			if rc := groupMain(ctx, args, &rout, &rerr); rc != 0 || !strings.Contains(rout.String(), "-execute would fail now") {
				t.Errorf("dry run with a member: exit %d\n%s%s", rc, rout.String(), rerr.String())
			}
			rout, rerr = syncBuf{}, syncBuf{}
			if rc := groupMain(ctx, append(args, "-execute"), &rout, &rerr); rc != 1 ||
				!strings.Contains(rerr.String(), "with 1 active member(s)") || !strings.Contains(rerr.String(), "stop its consumers first") {
				t.Errorf("execute with a member: exit %d\n%s%s", rc, rout.String(), rerr.String())
			}
			stop()
			if rc := <-done; rc != 0 {
				t.Fatalf("member exit %d: %s", rc, errb.String())
			}
			rout, rerr = syncBuf{}, syncBuf{}
			if rc := groupMain(ctx, append(args, "-execute"), &rout, &rerr); rc != 0 || !strings.Contains(rout.String(), "committed") {
				t.Errorf("execute after the member left: exit %d\n%s%s", rc, rout.String(), rerr.String())
			}
		})
	}
}
