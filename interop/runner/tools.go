package main

// The kafka-tools row: Kafka's administration tools (the classes behind
// kafka-metadata-quorum.sh, kafka-topics.sh, kafka-configs.sh,
// kafka-broker-api-versions.sh and kafka-cluster.sh), each checked by
// parsing its output and comparing it with what the broker itself answers
// to Metadata, DescribeQuorum, DescribeConfigs and ApiVersions, sent here
// with franz-go's kmsg.

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var toolScenarios = []string{
	"quorum-status", "quorum-replication", "quorum-controller",
	"topic-create", "topic-describe", "topic-list",
	"config-topic", "config-broker", "config-broker-alter",
	"api-versions", "cluster-id",
}

const (
	quorumTool  = "org.apache.kafka.tools.MetadataQuorumCommand"
	topicTool   = "org.apache.kafka.tools.TopicCommand"
	configTool  = "org.apache.kafka.tools.ConfigCommand"
	apiVersTool = "org.apache.kafka.tools.BrokerApiVersionsCommand"
	clusterTool = "org.apache.kafka.tools.ClusterTool"
)

// toolTopicPartitions is the partition count of the row's topic; its
// replication factor is the column's broker count (3 on the cluster).
const toolTopicPartitions = 3

func runTools(version string) func(e *env, br *broker) []result {
	return func(e *env, br *broker) []result { return runToolsOf(e, version, br) }
}

// kafkaState is what the broker says about itself, asked directly.
type kafkaState struct {
	cl *kgo.Client
}

func (k *kafkaState) metadata(topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return req.RequestWith(ctx, k.cl)
}

// quorum is DescribeQuorum's answer for the metadata partition.
type quorum struct {
	leader, epoch       int32
	hw                  int64
	voters, observers   []int32
	leaderLEO           int64
	voterSet, observSet map[int32]bool
}

func (k *kafkaState) quorum() (*quorum, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, k.cl)
	if err != nil {
		return nil, fmt.Errorf("DescribeQuorum: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("DescribeQuorum: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("DescribeQuorum: %d topics in the answer", len(resp.Topics))
	}
	rp := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
		return nil, fmt.Errorf("DescribeQuorum partition: %w", err)
	}
	q := &quorum{leader: rp.LeaderID, epoch: rp.LeaderEpoch, hw: rp.HighWatermark,
		voterSet: map[int32]bool{}, observSet: map[int32]bool{}}
	for _, v := range rp.CurrentVoters {
		q.voters = append(q.voters, v.ReplicaID)
		q.voterSet[v.ReplicaID] = true
		if v.ReplicaID == rp.LeaderID {
			q.leaderLEO = v.LogEndOffset
		}
	}
	for _, o := range rp.Observers {
		q.observers = append(q.observers, o.ReplicaID)
		q.observSet[o.ReplicaID] = true
	}
	slices.Sort(q.voters)
	slices.Sort(q.observers)
	return q, nil
}

func runToolsOf(e *env, version string, br *broker) []result {
	k := &kafkaState{}
	var err error
	k.cl, err = kgo.NewClient(kgo.SeedBrokers(strings.Split(br.bootstrap, ",")...), kgo.ClientID("samsa-interop-tools"))
	if err != nil {
		return failAll(toolScenarios, "franz-go client: "+err.Error())
	}
	defer k.cl.Close()
	tool := func(class string, args ...string) output {
		return e.run(time.Minute, "", "scripts/kafka-reference", append([]string{"--version", version, "tool", class}, args...)...)
	}
	bs := []string{"--bootstrap-server", br.bootstrap}
	topic := "interop-tools-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)

	md, err := k.metadata()
	if err != nil {
		return failAll(toolScenarios, "Metadata: "+err.Error())
	}
	brokers := map[int32]string{}
	for _, b := range md.Brokers {
		brokers[b.NodeID] = fmt.Sprintf("%s:%d", b.Host, b.Port)
	}
	brokerIDs := slices.Sorted(maps.Keys(brokers))
	if len(brokerIDs) != br.nodes {
		return failAll(toolScenarios, fmt.Sprintf("Metadata lists brokers %v; the column runs %d", brokerIDs, br.nodes))
	}
	clusterID := ""
	if md.ClusterID != nil {
		clusterID = *md.ClusterID
	}

	var out []result
	step := func(scenario string, fn func() error) {
		err := fn()
		r := result{Scenario: scenario, Pass: err == nil}
		if err != nil {
			// The admin client's exception wraps the Kafka error.
			r.Reason = clip(strings.ReplaceAll(err.Error(), "java.util.concurrent.ExecutionException: ", ""))
		}
		out = append(out, r)
	}

	// status runs describe --status on the given bootstrap flag and checks
	// it against DescribeQuorum answers taken before and after.
	status := func(flag, addrs string) error {
		before, err := k.quorum()
		if err != nil {
			return err
		}
		o := tool(quorumTool, flag, addrs, "describe", "--status")
		after, err := k.quorum()
		if err != nil {
			return err
		}
		if o.err != nil {
			return fmt.Errorf("describe --status: %s", o.why())
		}
		f := colonFields(o.stdout)
		if f["ClusterId"] != clusterID {
			return fmt.Errorf("ClusterId %q, Metadata says %q", f["ClusterId"], clusterID)
		}
		if f["LeaderId"] != strconv.Itoa(int(after.leader)) || f["LeaderEpoch"] != strconv.Itoa(int(after.epoch)) {
			return fmt.Errorf("LeaderId %s LeaderEpoch %s, DescribeQuorum says %d and %d", f["LeaderId"], f["LeaderEpoch"], after.leader, after.epoch)
		}
		hw, err := strconv.ParseInt(f["HighWatermark"], 10, 64)
		if err != nil || hw < before.hw || hw > after.hw {
			return fmt.Errorf("HighWatermark %q, DescribeQuorum says %d before and %d after", f["HighWatermark"], before.hw, after.hw)
		}
		if lag, err := strconv.ParseInt(f["MaxFollowerLag"], 10, 64); err != nil || lag < 0 {
			return fmt.Errorf("MaxFollowerLag %q", f["MaxFollowerLag"])
		}
		if v := idsOf(f["CurrentVoters"]); !slices.Equal(v, after.voters) {
			return fmt.Errorf("CurrentVoters %s (ids %v), DescribeQuorum says %v", f["CurrentVoters"], v, after.voters)
		}
		if v := idsOf(f["CurrentObservers"]); !slices.Equal(v, after.observers) {
			return fmt.Errorf("CurrentObservers %s (ids %v), DescribeQuorum says %v", f["CurrentObservers"], v, after.observers)
		}
		return nil
	}
	replication := func(flag, addrs string) error {
		o := tool(quorumTool, flag, addrs, "describe", "--replication")
		after, err := k.quorum()
		if err != nil {
			return err
		}
		if o.err != nil {
			return fmt.Errorf("describe --replication: %s", o.why())
		}
		rows, err := replicationRows(o.stdout)
		if err != nil {
			return err
		}
		var voters, observers []int32
		now := time.Now().UnixMilli()
		for _, r := range rows {
			want := "Follower"
			switch {
			case r.id == after.leader:
				want = "Leader"
			case after.observSet[r.id]:
				want = "Observer"
			}
			if r.status != want {
				return fmt.Errorf("node %d is %s, DescribeQuorum (leader %d) makes it %s", r.id, r.status, after.leader, want)
			}
			if r.status == "Observer" {
				observers = append(observers, r.id)
			} else {
				voters = append(voters, r.id)
			}
			if r.leo < 0 || r.lag < 0 || r.leo > after.leaderLEO {
				return fmt.Errorf("node %d: LogEndOffset %d Lag %d, the leader's log end is %d after", r.id, r.leo, r.lag, after.leaderLEO)
			}
			// A voter that fetched from the leader did so in the last minute.
			if after.voterSet[r.id] && (r.lastFetch < now-60_000 || r.lastFetch > now+1000) {
				return fmt.Errorf("node %d: LastFetchTimestamp %d is not within the last minute (now %d)", r.id, r.lastFetch, now)
			}
		}
		slices.Sort(voters)
		slices.Sort(observers)
		if !slices.Equal(voters, after.voters) || !slices.Equal(observers, after.observers) {
			return fmt.Errorf("voters %v observers %v listed, DescribeQuorum says %v and %v", voters, observers, after.voters, after.observers)
		}
		return nil
	}

	step("quorum-status", func() error { return status("--bootstrap-server", br.bootstrap) })
	step("quorum-replication", func() error { return replication("--bootstrap-server", br.bootstrap) })
	step("quorum-controller", func() error {
		if br.controllers == "" {
			return fmt.Errorf("the column has no controller listener address")
		}
		if err := status("--bootstrap-controller", br.controllers); err != nil {
			return err
		}
		return replication("--bootstrap-controller", br.controllers)
	})

	rf := len(brokers)
	var createErr error
	step("topic-create", func() error {
		o := tool(topicTool, append(bs, "--create", "--topic", topic, "--partitions", strconv.Itoa(toolTopicPartitions),
			"--replication-factor", strconv.Itoa(rf))...)
		if o.err != nil || !strings.Contains(o.stdout, "Created topic "+topic+".") {
			createErr = fmt.Errorf("%s", o.why())
			return createErr
		}
		return nil
	})
	defer func() {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{topic}
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 10000
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, _ = req.RequestWith(ctx, k.cl)
	}()
	needTopic := func(fn func() error) func() error {
		return func() error {
			if createErr != nil {
				return fmt.Errorf("create failed: %v", createErr)
			}
			return fn()
		}
	}
	step("topic-describe", needTopic(func() error {
		o := tool(topicTool, append(bs, "--describe", "--topic", topic)...)
		if o.err != nil {
			return fmt.Errorf("%s", o.why())
		}
		desc, err := parseTopicDescribe(o.stdout, topic)
		if err != nil {
			return err
		}
		// The node answering may apply the new topic a moment after the
		// one the tool asked.
		var tmd *kmsg.MetadataResponse
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			tmd, err = k.metadata(topic)
			if err == nil && len(tmd.Topics) == 1 && tmd.Topics[0].ErrorCode == 0 && len(tmd.Topics[0].Partitions) == toolTopicPartitions {
				break
			}
			if time.Now().After(deadline) {
				if err == nil {
					err = fmt.Errorf("%d topics in the answer", len(tmd.Topics))
					if len(tmd.Topics) == 1 {
						err = fmt.Errorf("error %v, %d partitions", kerr.ErrorForCode(tmd.Topics[0].ErrorCode), len(tmd.Topics[0].Partitions))
					}
				}
				return fmt.Errorf("Metadata for the topic: %v", err)
			}
		}
		mt := tmd.Topics[0]
		if id := base64.RawURLEncoding.EncodeToString(mt.TopicID[:]); desc.topicID != id {
			return fmt.Errorf("TopicId %s, Metadata says %s", desc.topicID, id)
		}
		if desc.partitions != toolTopicPartitions || desc.rf != rf || len(desc.parts) != toolTopicPartitions || len(mt.Partitions) != toolTopicPartitions {
			return fmt.Errorf("PartitionCount %d ReplicationFactor %d with %d partition lines; want %d and %d",
				desc.partitions, desc.rf, len(desc.parts), toolTopicPartitions, rf)
		}
		covered := map[int32]bool{}
		for _, mp := range mt.Partitions {
			tp, ok := desc.parts[mp.Partition]
			if !ok {
				return fmt.Errorf("partition %d not described", mp.Partition)
			}
			if tp.leader != mp.Leader || !slices.Equal(tp.replicas, mp.Replicas) || !slices.Equal(tp.isr, mp.ISR) {
				return fmt.Errorf("partition %d: Leader %d Replicas %v Isr %v, Metadata says %d %v %v",
					mp.Partition, tp.leader, tp.replicas, tp.isr, mp.Leader, mp.Replicas, mp.ISR)
			}
			if _, ok := brokers[tp.leader]; !ok || !slices.Contains(tp.isr, tp.leader) {
				return fmt.Errorf("partition %d: leader %d is not a live broker in the ISR %v", mp.Partition, tp.leader, tp.isr)
			}
			if rs := slices.Compact(slices.Sorted(slices.Values(tp.replicas))); len(rs) != rf {
				return fmt.Errorf("partition %d: replicas %v, want %d distinct", mp.Partition, tp.replicas, rf)
			}
			for _, r := range tp.replicas {
				covered[r] = true
			}
		}
		if got := slices.Sorted(maps.Keys(covered)); !slices.Equal(got, brokerIDs) {
			return fmt.Errorf("replicas on brokers %v, the cluster has %v", got, brokerIDs)
		}
		return nil
	}))
	step("topic-list", needTopic(func() error {
		before, err := k.metadata()
		if err != nil {
			return fmt.Errorf("Metadata: %v", err)
		}
		o := tool(topicTool, append(bs, "--list")...)
		if o.err != nil {
			return fmt.Errorf("%s", o.why())
		}
		listed := strings.Fields(o.stdout)
		if !slices.Contains(listed, topic) {
			return fmt.Errorf("%s not listed: %s", topic, clip(o.stdout))
		}
		known := map[string]bool{}
		for _, t := range before.Topics {
			if t.Topic != nil {
				known[*t.Topic] = true
			}
		}
		for _, l := range listed {
			if !known[l] {
				return fmt.Errorf("listed %q, which Metadata did not name", l)
			}
		}
		return nil
	}))
	step("config-topic", needTopic(func() error {
		entity := []string{"--entity-type", "topics", "--entity-name", topic}
		o := tool(configTool, append(append(slices.Clone(bs), "--alter", "--add-config", "retention.ms=123456,cleanup.policy=compact"), entity...)...)
		if o.err != nil || !strings.Contains(o.stdout, "Completed updating config for topic "+topic+".") {
			return fmt.Errorf("--alter: %s", o.why())
		}
		o = tool(configTool, append(append(slices.Clone(bs), "--describe"), entity...)...)
		if o.err != nil {
			return fmt.Errorf("--describe: %s", o.why())
		}
		listed := configLines(o.stdout)
		want := map[string]string{"retention.ms": "123456", "cleanup.policy": "compact"}
		if !maps.Equal(listed, want) {
			return fmt.Errorf("dynamic configs %v, want %v", listed, want)
		}
		got, err := k.describeConfigs(kmsg.ConfigResourceTypeTopic, topic)
		if err != nil {
			return err
		}
		dynamic := map[string]string{}
		for _, c := range got {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				dynamic[c.Name] = valueOf(c.Value)
			}
		}
		if !maps.Equal(dynamic, want) {
			return fmt.Errorf("DescribeConfigs names %v as the topic's dynamic configs, want %v", dynamic, want)
		}
		return nil
	}))
	// The broker configs are those of the last broker: on the cluster not
	// the first bootstrap node, so the tool must reach the broker named.
	target := strconv.Itoa(int(brokerIDs[len(brokerIDs)-1]))
	brokerEntity := []string{"--entity-type", "brokers", "--entity-name", target}
	step("config-broker", func() error {
		o := tool(configTool, append(append(slices.Clone(bs), "--describe", "--all"), brokerEntity...)...)
		if o.err != nil {
			return fmt.Errorf("--describe --all: %s", o.why())
		}
		listed := configLines(o.stdout)
		if !strings.Contains(o.stdout, "All configs for broker "+target+" are:") || len(listed) == 0 {
			return fmt.Errorf("--describe --all: %s", clip(o.stdout))
		}
		if adv := listed["advertised.listeners"]; !strings.Contains(adv, "://"+brokers[brokerIDs[len(brokerIDs)-1]]) {
			return fmt.Errorf("advertised.listeners=%q does not name %s, the broker's Metadata endpoint", adv, brokers[brokerIDs[len(brokerIDs)-1]])
		}
		if id, ok := listed["node.id"]; ok && id != target {
			return fmt.Errorf("node.id=%s for broker %s", id, target)
		}
		got, err := k.describeConfigs(kmsg.ConfigResourceTypeBroker, target)
		if err != nil {
			return err
		}
		want := map[string]string{}
		for _, c := range got {
			if !c.IsSensitive {
				want[c.Name] = valueOf(c.Value)
			}
		}
		for name, v := range want {
			if listed[name] != v {
				return fmt.Errorf("%s=%q listed, DescribeConfigs says %q", name, listed[name], v)
			}
		}
		return nil
	})
	step("config-broker-alter", func() error {
		o := tool(configTool, append(append(slices.Clone(bs), "--alter", "--add-config", "log.cleaner.threads=2"), brokerEntity...)...)
		if o.err != nil || !strings.Contains(o.stdout, "Completed updating config for broker "+target+".") {
			return fmt.Errorf("--alter: %s", o.why())
		}
		defer tool(configTool, append(append(slices.Clone(bs), "--alter", "--delete-config", "log.cleaner.threads"), brokerEntity...)...)
		o = tool(configTool, append(append(slices.Clone(bs), "--describe"), brokerEntity...)...)
		if o.err != nil {
			return fmt.Errorf("--describe: %s", o.why())
		}
		if listed := configLines(o.stdout); listed["log.cleaner.threads"] != "2" {
			return fmt.Errorf("dynamic configs of broker %s: %v, want log.cleaner.threads=2", target, listed)
		}
		got, err := k.describeConfigs(kmsg.ConfigResourceTypeBroker, target)
		if err != nil {
			return err
		}
		for _, c := range got {
			if c.Name == "log.cleaner.threads" && (valueOf(c.Value) != "2" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig) {
				return fmt.Errorf("DescribeConfigs: log.cleaner.threads=%s from %v", valueOf(c.Value), c.Source)
			}
		}
		return nil
	})
	step("api-versions", func() error {
		o := tool(apiVersTool, bs...)
		if o.err != nil {
			return fmt.Errorf("%s", o.why())
		}
		listed, err := parseBrokerAPIVersions(o.stdout)
		if err != nil {
			return err
		}
		if got := slices.Sorted(maps.Keys(listed)); !slices.Equal(got, brokerIDs) {
			return fmt.Errorf("brokers %v listed, Metadata says %v", got, brokerIDs)
		}
		for id, lb := range listed {
			if lb.addr != brokers[id] || lb.fenced {
				return fmt.Errorf("broker %d listed at %s (fenced %v), Metadata says %s", id, lb.addr, lb.fenced, brokers[id])
			}
			own, err := apiVersionsOf(lb.addr)
			if err != nil {
				return fmt.Errorf("ApiVersions of %s: %v", lb.addr, err)
			}
			if !maps.Equal(lb.ranges, own) {
				return fmt.Errorf("broker %d: %s", id, rangeDiff(lb.ranges, own))
			}
		}
		return nil
	})
	step("cluster-id", func() error {
		for _, args := range [][]string{bs, {"--bootstrap-controller", br.controllers}} {
			o := tool(clusterTool, append([]string{"cluster-id"}, args...)...)
			if o.err != nil {
				return fmt.Errorf("cluster-id %s: %s", args[0], o.why())
			}
			if got := strings.TrimSpace(o.stdout); got != "Cluster ID: "+clusterID {
				return fmt.Errorf("cluster-id %s printed %q, Metadata says %s", args[0], got, clusterID)
			}
		}
		return nil
	})
	return out
}

func (k *kafkaState) describeConfigs(typ kmsg.ConfigResourceType, name string) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	req.Resources = append(req.Resources, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, k.cl)
	if err != nil {
		return nil, fmt.Errorf("DescribeConfigs: %w", err)
	}
	if len(resp.Resources) != 1 {
		return nil, fmt.Errorf("DescribeConfigs: %d resources", len(resp.Resources))
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		return nil, fmt.Errorf("DescribeConfigs %s: %w", name, err)
	}
	return resp.Resources[0].Configs, nil
}

func valueOf(v *string) string {
	if v == nil {
		return "null"
	}
	return *v
}

// colonFields parses "Key:   value" lines (describe --status).
func colonFields(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.ContainsAny(k, " \t") {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

var voterID = regexp.MustCompile(`"id":\s*(\d+)`)

// idsOf returns the sorted node ids of a CurrentVoters or CurrentObservers
// value: [{"id": 1, "endpoints": [...]}, ...], or [1, 2, 3].
func idsOf(s string) []int32 {
	ms := voterID.FindAllStringSubmatch(s, -1)
	if ms == nil {
		ms = regexp.MustCompile(`(\d+)`).FindAllStringSubmatch(s, -1)
	}
	var ids []int32
	for _, m := range ms {
		n, _ := strconv.Atoi(m[1])
		ids = append(ids, int32(n))
	}
	slices.Sort(ids)
	return ids
}

type replicationRow struct {
	id                  int32
	leo, lag, lastFetch int64
	lastCaughtUp        int64
	status, directoryID string
}

// replicationRows parses describe --replication: a header, then one
// tab-separated row per replica.
func replicationRows(s string) ([]replicationRow, error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) < 2 || !strings.HasPrefix(strings.TrimSpace(lines[0]), "NodeId") {
		return nil, fmt.Errorf("describe --replication printed %q", clip(s))
	}
	header := strings.Fields(lines[0])
	want := []string{"NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"}
	if !slices.Equal(header, want) {
		return nil, fmt.Errorf("describe --replication header %v, want %v", header, want)
	}
	var rows []replicationRow
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != len(want) {
			return nil, fmt.Errorf("describe --replication row %q", l)
		}
		var r replicationRow
		var nums [5]int64
		for i, j := range []int{0, 2, 3, 4, 5} {
			n, err := strconv.ParseInt(f[j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("describe --replication row %q: %s", l, header[j])
			}
			nums[i] = n
		}
		r.id, r.leo, r.lag, r.lastFetch, r.lastCaughtUp = int32(nums[0]), nums[1], nums[2], nums[3], nums[4]
		r.directoryID, r.status = f[1], f[6]
		rows = append(rows, r)
	}
	return rows, nil
}

type describedPartition struct {
	leader        int32
	replicas, isr []int32
}

type topicDescription struct {
	topicID        string
	partitions, rf int
	parts          map[int32]describedPartition
}

var (
	topicHeader = regexp.MustCompile(`Topic: (\S+)\s+TopicId: (\S+)\s+PartitionCount: (\d+)\s+ReplicationFactor: (\d+)`)
	topicPart   = regexp.MustCompile(`Topic: (\S+)\s+Partition: (\d+)\s+Leader: (-?\d+|none)\s+Replicas: ([\d,]*)\s+Isr: ([\d,]*)`)
)

// parseTopicDescribe parses kafka-topics --describe of one topic.
func parseTopicDescribe(s, topic string) (*topicDescription, error) {
	h := topicHeader.FindStringSubmatch(s)
	if h == nil || h[1] != topic {
		return nil, fmt.Errorf("no topic header for %s in %q", topic, clip(s))
	}
	d := &topicDescription{topicID: h[2], parts: map[int32]describedPartition{}}
	d.partitions, _ = strconv.Atoi(h[3])
	d.rf, _ = strconv.Atoi(h[4])
	for _, m := range topicPart.FindAllStringSubmatch(s, -1) {
		if m[1] != topic {
			continue
		}
		p, _ := strconv.Atoi(m[2])
		leader := int32(-1)
		if m[3] != "none" {
			n, _ := strconv.Atoi(m[3])
			leader = int32(n)
		}
		d.parts[int32(p)] = describedPartition{leader: leader, replicas: intList(m[4]), isr: intList(m[5])}
	}
	return d, nil
}

func intList(s string) []int32 {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, int32(n))
		}
	}
	return out
}

// configLines parses kafka-configs --describe entries:
// "  name=value sensitive=false synonyms={...}".
func configLines(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "  ") {
			continue
		}
		kv, _, ok := strings.Cut(strings.TrimSpace(l), " sensitive=")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

type listedBroker struct {
	addr   string
	fenced bool
	ranges map[int16]apiRange
}

var (
	apiBroker = regexp.MustCompile(`^(\S+) \(id: (-?\d+) rack: \S+ isFenced: (true|false)\) -> \($`)
	apiLine   = regexp.MustCompile(`^\s+\S+\((\d+)\): (?:(\d+)(?: to (\d+))?|UNSUPPORTED)`)
)

// parseBrokerAPIVersions parses kafka-broker-api-versions: per broker a
// "host:port (id: N rack: R isFenced: F) -> (" line, then one line per API
// key, "Name(key): min to max [usable: v]" ("Name(key): v [usable: v]"
// for a single version, UNSUPPORTED, a key the tool
// knows and the broker does not advertise), up to ")".
func parseBrokerAPIVersions(s string) (map[int32]*listedBroker, error) {
	out := map[int32]*listedBroker{}
	var cur *listedBroker
	for _, l := range strings.Split(s, "\n") {
		if m := apiBroker.FindStringSubmatch(l); m != nil {
			id, _ := strconv.Atoi(m[2])
			cur = &listedBroker{addr: m[1], fenced: m[3] == "true", ranges: map[int16]apiRange{}}
			out[int32(id)] = cur
			continue
		}
		if m := apiLine.FindStringSubmatch(l); m != nil && cur != nil {
			if m[2] == "" {
				continue
			}
			key, _ := strconv.Atoi(m[1])
			lo, _ := strconv.Atoi(m[2])
			hi := lo
			if m[3] != "" {
				hi, _ = strconv.Atoi(m[3])
			}
			cur.ranges[int16(key)] = apiRange{int16(lo), int16(hi)}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no broker in kafka-broker-api-versions output %q", clip(s))
	}
	return out, nil
}

// rangeDiff names the first key whose range the tool shows differently.
func rangeDiff(listed, own map[int16]apiRange) string {
	keys := slices.Sorted(maps.Keys(own))
	for k := range listed {
		if _, ok := own[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		l, lok := listed[k]
		o, ook := own[k]
		switch {
		case !lok:
			return fmt.Sprintf("%s (%d) %v advertised, not listed", kmsg.NameForKey(k), k, o)
		case !ook:
			return fmt.Sprintf("%s (%d) listed as %v, not advertised", kmsg.NameForKey(k), k, l)
		case l != o:
			return fmt.Sprintf("%s (%d) listed as %v, advertised %v", kmsg.NameForKey(k), k, l, o)
		}
	}
	return "same ranges"
}
