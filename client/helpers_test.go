package client

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// backend is a broker (or cluster) the end-to-end tests run against.
type backend struct {
	name  string
	addrs []string
	fake  *kfake.Cluster // nil unless kfake: fault injection is kfake-only
}

// samsaBackend is set by samsa_backend_test.go when internal/samsatest is
// available; it starts a samsa broker for t.
var samsaBackend func(t testing.TB) backend

// backends returns every backend the e2e suite runs against: kfake always,
// samsa (samsatest) when built in, and the reference Apache Kafka when
// KAFKA_REFERENCE_BOOTSTRAP=host:port[,host:port] is set.
func backends(t *testing.T) []backend {
	bs := []backend{newFake(t, 3)}
	if samsaBackend != nil {
		bs = append(bs, samsaBackend(t))
	}
	if k, ok := referenceKafka(); ok {
		bs = append(bs, k)
	}
	return bs
}

// referenceKafka is the reference Apache Kafka cluster named by
// KAFKA_REFERENCE_BOOTSTRAP=host:port[,host:port] (scripts/test starts one
// of three nodes and sets it for its second pass over the client tests).
func referenceKafka() (backend, bool) {
	v := os.Getenv("KAFKA_REFERENCE_BOOTSTRAP")
	if v == "" {
		return backend{}, false
	}
	return backend{name: "kafka", addrs: strings.Split(v, ",")}, true
}

// nodeCluster is a cluster of three combined nodes, each a process of its
// own, that a test may kill and restart nodes of with script (kill-node and
// start-node, with --dir dir and the node id).
type nodeCluster struct {
	backend
	dir    string // "" when the environment names none: no node control
	script string // relative to this package
}

// nodeClusters are the three-node clusters named by the environment: the
// reference Apache Kafka (KAFKA_REFERENCE_BOOTSTRAP, KAFKA_REFERENCE_DIR;
// scripts/kafka-reference) and samsa (SAMSA_CLUSTER_BOOTSTRAP,
// SAMSA_CLUSTER_DIR; scripts/samsa-cluster). scripts/test starts each in
// a step of its own.
func nodeClusters() []nodeCluster {
	var cs []nodeCluster
	if b, ok := referenceKafka(); ok {
		cs = append(cs, nodeCluster{b, os.Getenv("KAFKA_REFERENCE_DIR"), "../scripts/kafka-reference"})
	}
	if v := os.Getenv("SAMSA_CLUSTER_BOOTSTRAP"); v != "" {
		b := backend{name: "samsa-cluster", addrs: strings.Split(v, ",")}
		cs = append(cs, nodeCluster{b, os.Getenv("SAMSA_CLUSTER_DIR"), "../scripts/samsa-cluster"})
	}
	return cs
}

// node runs the cluster's script: cmd (kill-node or start-node) on node.
func (c nodeCluster) node(t *testing.T, cmd string, node int32) {
	t.Helper()
	out, err := exec.Command(c.script, cmd, "--dir", c.dir, strconv.Itoa(int(node))).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s %d: %v\n%s", c.script, cmd, node, err, out)
	}
}

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

func newFake(t testing.TB, brokers int, opts ...kfake.Opt) backend {
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(brokers)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return backend{name: "kfake", addrs: c.ListenAddrs(), fake: c}
}

var topicSeq atomic.Int64

// newTopic creates a fresh topic with n partitions on b.
func newTopic(t testing.TB, b backend, partitions int32) string {
	return newTopicConfig(t, b, partitions, nil)
}

// newTopicName returns a topic name no other test uses.
func newTopicName() string {
	return fmt.Sprintf("samsa-test-%d-%d", time.Now().UnixNano()%1e9, topicSeq.Add(1))
}

// newTopicConfig creates a fresh topic with n partitions and configs on b.
func newTopicConfig(t testing.TB, b backend, partitions int32, configs map[string]*string) string {
	name := newTopicName()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return name
}

// consume reads n records from topic (all partitions, from the start).
func consume(t testing.TB, b backend, topic string, n int) []*kgo.Record {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		out = append(out, fs.Records()...)
	}
	// Anything beyond n would be a duplicate: look briefly for it.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	out = append(out, cl.PollFetches(ctx2).Records()...)
	return out
}

func newTestProducer(t testing.TB, b backend, opts ...Option) *Producer {
	base := []Option{SeedBrokers(b.addrs...), RetryBackoff(20*time.Millisecond, 200*time.Millisecond), MetadataMinAge(20 * time.Millisecond)}
	if os.Getenv("SAMSA_TEST_LOGF") != "" {
		base = append(base, Logf(func(format string, args ...any) { t.Logf(time.Now().Format("15:04:05.000 ")+format, args...) }))
	}
	p, err := NewProducer(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
