package broker_test

// DescribeTopicPartitions (key 75, KIP-966). The single-node cases are what
// a Kafka 4.4.0 node (scripts/kafka-reference start) answered to the same
// requests over the same three topics; the cluster test runs Kafka 4.4.0's
// own kafka-topics --describe against samsa and reads the ELR it prints.

import (
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/samsatest"
)

// describeTP sends one DescribeTopicPartitions request through cl.
func describeTP(t *testing.T, cl *kgo.Client, topics []string, limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor) *kmsg.DescribeTopicPartitionsResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	for _, name := range topics {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = name
		req.Topics = append(req.Topics, rt)
	}
	req.ResponsePartitionLimit, req.Cursor = limit, cursor
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatalf("DescribeTopicPartitions %v: %v", topics, err)
	}
	return resp
}

// summary renders an answer as "topic:error[partitions]" items and the
// next cursor, internal topics left out (the single node creates none).
func summary(resp *kmsg.DescribeTopicPartitionsResponse) string {
	var parts []string
	for _, dt := range resp.Topics {
		name := "<nil>"
		if dt.Topic != nil {
			name = *dt.Topic
		}
		var ps []string
		for _, p := range dt.Partitions {
			ps = append(ps, fmt.Sprint(p.Partition))
		}
		parts = append(parts, fmt.Sprintf("%s:%d[%s]", name, dt.ErrorCode, strings.Join(ps, ",")))
	}
	s := strings.Join(parts, " ")
	if c := resp.NextCursor; c != nil {
		s += fmt.Sprintf(" next=%s/%d", c.Topic, c.Partition)
	}
	return s
}

func TestDescribeTopicPartitionsPaging(t *testing.T) {
	n := samsatest.Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for name, parts := range map[string]int32{"pa": 3, "pb": 2, "pc": 1} {
		if _, err := adm.CreateTopic(ctxT(t), parts, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	if got := advertisedKeys(t, rawConn(t, n.Addr()))[75]; got != [2]int16{0, 0} {
		t.Fatalf("ApiVersions: DescribeTopicPartitions %v, want v0-0", got)
	}
	cur := func(topic string, p int32) *kmsg.DescribeTopicPartitionsRequestCursor {
		return &kmsg.DescribeTopicPartitionsRequestCursor{Topic: topic, Partition: p}
	}
	unknown, invalidReq, invalidTopic := kerr.UnknownTopicOrPartition.Code, kerr.InvalidRequest.Code, kerr.InvalidTopicException.Code
	for _, tc := range []struct {
		topics []string
		limit  int32
		cursor *kmsg.DescribeTopicPartitionsRequestCursor
		want   string
	}{
		{nil, 2, nil, "pa:0[0,1] next=pa/2"},
		{nil, 3, nil, "pa:0[0,1,2] next=pb/0"},
		{nil, 100, cur("pa", 1), "pa:0[1,2] pb:0[0,1] pc:0[0]"},
		{nil, 100, cur("pb0", 0), "pc:0[0]"}, // every topic from a name on, whether or not it exists
		{nil, 5, cur("pa", -1), ""},
		{[]string{"pb", "zz", "pa", "pb"}, 10, nil, fmt.Sprintf("pa:0[0,1,2] pb:0[0,1] zz:%d[]", unknown)},
		{[]string{"pb", "zz", "pa"}, 3, nil, "pa:0[0,1,2] next=pb/0"},
		{[]string{"pa", "zz", "pc"}, 3, nil, "pa:0[0,1,2] next=pc/0"},
		{[]string{"pb", "pa", "zz"}, 3, cur("pz", 0), fmt.Sprintf("pb:%d[] pa:%d[] zz:%d[]", invalidReq, invalidReq, invalidReq)},
		{[]string{"pb", "pa"}, 3, cur("pb", -1), fmt.Sprintf("pb:%d[] pa:%d[]", invalidReq, invalidReq)},
		{[]string{"bad name!", "pa"}, 0, cur("pa", 7), "pa:0[]"}, // names before the cursor are left out; limit 0 is 1
		{[]string{"pc", "pa"}, 1, cur("pa", 2), "pa:0[2] next=pc/0"},
		{[]string{"pa", "pb"}, -4, cur("pa", 2), "pa:0[2] next=pb/0"},
		{[]string{"bad name!"}, 5, nil, fmt.Sprintf("bad name!:%d[]", invalidTopic)},
	} {
		resp := describeTP(t, cl, tc.topics, tc.limit, tc.cursor)
		if got := summary(resp); got != tc.want {
			t.Errorf("topics %q limit %d cursor %+v:\n got %s\nwant %s", tc.topics, tc.limit, tc.cursor, got, tc.want)
		}
	}

	// The fields of one answer, as Kafka's: authorized operations for
	// every topic operation (no authorizer), a missing topic without ID,
	// empty ELR lists.
	im := n.Broker().Image()
	resp := describeTP(t, cl, []string{"pb", "zz"}, 10, nil)
	pb, zz := resp.Topics[0], resp.Topics[1]
	if pb.TopicID != im.Topic("pb").ID || pb.IsInternal || pb.AuthorizedOperations != 3576 {
		t.Errorf("pb: id %x internal %v ops %d; want id %x, not internal, ops 3576", pb.TopicID, pb.IsInternal, pb.AuthorizedOperations, im.Topic("pb").ID)
	}
	if zz.TopicID != ([16]byte{}) || zz.AuthorizedOperations != 3576 {
		t.Errorf("zz: id %x ops %d", zz.TopicID, zz.AuthorizedOperations)
	}
	if p, want := pb.Partitions[0], im.Topic("pb").Partitions[0]; p.ErrorCode != 0 || p.LeaderID != want.Leader || p.LeaderEpoch != want.LeaderEpoch ||
		!slices.Equal(p.Replicas, want.Replicas) || !slices.Equal(p.ISR, want.ISR) || len(p.EligibleLeaderReplicas) != 0 || len(p.LastKnownELR) != 0 || len(p.OfflineReplicas) != 0 {
		t.Errorf("pb-0: %+v, image %+v", p, want)
	}

	// Paging one partition at a time through every topic visits each
	// partition once, in order.
	var seen []string
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for range 20 {
		resp := describeTP(t, cl, nil, 1, cursor)
		for _, dt := range resp.Topics {
			for _, p := range dt.Partitions {
				seen = append(seen, fmt.Sprintf("%s-%d", *dt.Topic, p.Partition))
			}
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = cur(resp.NextCursor.Topic, resp.NextCursor.Partition)
	}
	if want := []string{"pa-0", "pa-1", "pa-2", "pb-0", "pb-1", "pc-0"}; !slices.Equal(seen, want) {
		t.Errorf("paged through %v, want %v", seen, want)
	}
}

// topicCommandLine matches one partition line of kafka-topics --describe
// (Kafka 4.x prints Elr and LastKnownElr, "N/A" when the admin client had
// to fall back to Metadata).
var topicCommandLine = regexp.MustCompile(`(?m)^\s*Topic: (\S+)\tPartition: (\d+)\tLeader: (\S+)\tReplicas: (\S*)\tIsr: (\S*)\tElr: (\S*)\tLastKnownElr: (\S*)\s*$`)

// describeWithTopicCommand runs Kafka 4.4.0's TopicCommand --describe and
// returns its partition lines by partition: leader, replicas, ISR, ELR,
// last known ELR, as printed.
func describeWithTopicCommand(t *testing.T, bootstrap []string, topic string) map[string][5]string {
	t.Helper()
	cmd := exec.Command("../../scripts/kafka-reference", "--version", "4.4.0", "tool", "org.apache.kafka.tools.TopicCommand",
		"--bootstrap-server", strings.Join(bootstrap, ","), "--describe", "--topic", topic)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-topics --describe: %v\n%s", err, out)
	}
	lines := map[string][5]string{}
	for _, m := range topicCommandLine.FindAllStringSubmatch(string(out), -1) {
		if m[1] == topic {
			lines[m[2]] = [5]string{m[3], m[4], m[5], m[6], m[7]}
		}
	}
	if len(lines) == 0 {
		t.Fatalf("kafka-topics --describe printed no partition line:\n%s", out)
	}
	return lines
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// TestTopicCommandDescribeELR: Kafka 4.4's kafka-topics --describe over a
// three-node samsa cluster prints what the image holds, ELR included: a
// broker that was fenced out of a partition whose ISR is then below
// min.insync.replicas is in its ELR.
func TestTopicCommandDescribeELR(t *testing.T) {
	c := samsatest.StartCluster(t, 3, samsatest.ClusterConfig("broker.session.timeout.ms", "3000"))
	active, err := c.WaitActiveController(-1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const topic = "elr"
	if _, err := kadm.NewClient(cl).CreateTopic(ctxT(t), 3, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("3")}, topic); err != nil {
		t.Fatal(err)
	}
	act := c.Node(active)
	if !controller.ELREnabled(act.BrokerHandle().Image()) {
		t.Fatal("eligible leader replicas are off on a new cluster")
	}
	check := func(bootstrap []string, im *metadata.Image) {
		t.Helper()
		lines := describeWithTopicCommand(t, bootstrap, topic)
		tp := im.Topic(topic)
		if len(lines) != len(tp.Partitions) {
			t.Fatalf("%d partition lines, the topic has %d", len(lines), len(tp.Partitions))
		}
		for i, p := range tp.Partitions {
			leader := fmt.Sprint(p.Leader)
			if p.Leader < 0 {
				leader = "none"
			}
			want := [5]string{leader, joinIDs(p.Replicas), joinIDs(p.ISR), joinIDs(p.ELR), joinIDs(p.LastKnownELR)}
			if got := lines[fmt.Sprint(i)]; got != want {
				t.Errorf("partition %d: kafka-topics prints Leader/Replicas/Isr/Elr/LastKnownElr %q, the image has %q", i, got, want)
			}
		}
	}
	im := waitImage(t, act, "topic elr", func(im *metadata.Image) bool { return im.Topic(topic) != nil })
	check(c.Bootstrap(), im)

	// Kill a broker that is not the active controller: once fenced it
	// leaves every ISR, which is then below min.insync.replicas 3, so it
	// joins every partition's ELR.
	victim := active%3 + 1
	c.Node(victim).Kill()
	var live []string
	for _, nd := range c.Nodes() {
		if nd.ID != victim {
			live = append(live, nd.Addr())
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		im = act.BrokerHandle().Image()
		all := true
		for _, p := range im.Topic(topic).Partitions {
			all = all && slices.Equal(p.ELR, []int32{victim}) && !slices.Contains(p.ISR, victim)
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d never in every ELR: %+v", victim, im.Topic(topic).Partitions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every live node must have applied it before the tool asks one.
	for _, nd := range c.Nodes() {
		if nd.ID != victim {
			waitImage(t, nd, "ELR applied", func(got *metadata.Image) bool { return got.Offset >= im.Offset })
		}
	}
	check(live, im)
}
