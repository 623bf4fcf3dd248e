package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/chaos/checker"
	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/internal/batch"
)

// parseProps reads a server.properties into a map (a key given twice is
// an error: Kafka would take the last one silently).
func parseProps(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("line %q is not key=value", l)
		}
		if _, dup := out[k]; dup {
			t.Errorf("key %s given twice", k)
		}
		out[k] = v
	}
	return out
}

// TestKafkaNodeConfig: an Apache Kafka node gets the properties a samsa
// node gets (RF 3, min.insync.replicas=2, unclean election off, the
// harness's session and lag timeouts, addresses on the bridge), and its
// command line runs kafka.Kafka on them with a bounded heap.
func TestKafkaNodeConfig(t *testing.T) {
	const java, cp, voters = "/usr/bin/java", "/cache/kafka-4.4.0/libs/*", "1@10.77.14.11:9093,2@10.77.14.12:9093,3@10.77.14.13:9093"
	for _, n := range []*Node{
		{ID: 2, Broker: true, Controller: true, Dir: t.TempDir()},
		{ID: 5, Broker: true, Dir: t.TempDir()},
		{ID: 1, Controller: true, Dir: t.TempDir()},
	} {
		if err := n.configureKafka(java, cp, voters, settings{}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(n.confPath())
		if err != nil {
			t.Fatal(err)
		}
		props := parseProps(t, string(b))
		// Every samsa property, with the same value.
		for k, v := range parseProps(t, n.properties(voters, settings{})) {
			if props[k] != v {
				t.Errorf("node %d: %s=%q, samsa's node has %q", n.ID, k, props[k], v)
			}
		}
		ip := NodeIP(n.ID)
		want := map[string]string{
			"node.id":                          strconv.Itoa(int(n.ID)),
			"controller.quorum.voters":         voters,
			"log.dirs":                         filepath.Join(n.Dir, "data"),
			"default.replication.factor":       "3",
			"min.insync.replicas":              "2",
			"unclean.leader.election.enable":   "false",
			"offsets.topic.replication.factor": "3",
			"transaction.state.log.min.isr":    "2",
			"broker.session.timeout.ms":        "3000",
			"replica.lag.time.max.ms":          "4000",
		}
		switch {
		case n.Broker && n.Controller:
			want["process.roles"] = "broker,controller"
			want["listeners"] = "PLAINTEXT://" + ip + ":9092,CONTROLLER://" + ip + ":9093"
			want["advertised.listeners"] = "PLAINTEXT://" + ip + ":9092"
		case n.Broker:
			want["process.roles"] = "broker"
			want["listeners"] = "PLAINTEXT://" + ip + ":9092"
		default:
			want["process.roles"] = "controller"
			want["listeners"] = "CONTROLLER://" + ip + ":9093"
		}
		for k, v := range want {
			if props[k] != v {
				t.Errorf("node %d: %s=%q, want %q", n.ID, k, props[k], v)
			}
		}
		if _, ok := props["advertised.listeners"]; ok != n.Broker {
			t.Errorf("node %d (broker %v): advertised.listeners present: %v", n.ID, n.Broker, ok)
		}

		argv := n.argv
		if argv[0] != java || !slices.Equal(argv[len(argv)-4:], []string{"-cp", cp, "kafka.Kafka", n.confPath()}) {
			t.Errorf("node %d: command line %q", n.ID, argv)
		}
		if !slices.Contains(argv, "-Xmx512m") || !slices.Contains(argv, "-Dlog4j2.configurationFile="+n.log4jPath()) {
			t.Errorf("node %d: command line %q: want -Xmx512m and its log4j2 file", n.ID, argv)
		}
		for _, a := range argv {
			if strings.HasPrefix(a, "-Xmx") && a != "-Xmx512m" {
				t.Errorf("node %d: second heap limit %s", n.ID, a)
			}
		}
		l4j, err := os.ReadFile(n.log4jPath())
		if err != nil || !strings.Contains(string(l4j), "SYSTEM_OUT") {
			t.Errorf("node %d: log4j2 file %q (%v): want its log on standard output", n.ID, l4j, err)
		}
		f := n.kafkaFormatArgv(java, cp, "AAAAAAAAAAAAAAAAAAAAAQ")
		if f[0] != java || !slices.Equal(f[len(f)-8:], []string{"-cp", cp, "kafka.tools.StorageTool", "format", "-t", "AAAAAAAAAAAAAAAAAAAAAQ", "-c", n.confPath()}) {
			t.Errorf("node %d: format command line %q", n.ID, f)
		}
	}
}

// TestKafkaClusterRefusals: a Kafka cluster without a classpath, or a
// target the harness does not know, is refused before anything starts;
// so is the corrupt fault against Kafka.
func TestKafkaClusterRefusals(t *testing.T) {
	if _, err := newCluster(Config{Layout: Combined, Target: Kafka, Dir: t.TempDir()}, settings{}); err == nil || !strings.Contains(err.Error(), "classpath") {
		t.Errorf("no classpath: %v", err)
	}
	if _, err := newCluster(Config{Layout: Combined, Target: "redpanda", Dir: t.TempDir()}, settings{}); err == nil || !strings.Contains(err.Error(), "redpanda") {
		t.Errorf("unknown target: %v", err)
	}
	if err := Probe(); err == nil {
		sum := Run(context.Background(), Config{Layout: Combined, Target: Kafka, Kafka: "x", Kinds: []string{Corrupt}, Dir: t.TempDir()})
		if sum.Err == nil || !strings.Contains(sum.Err.Error(), Corrupt) {
			t.Errorf("corrupt against kafka: %v", sum.Err)
		}
	}
}

// TestReadKafkaReplica: a partition directory as Apache Kafka leaves it
// (record batches in 00000000000000000000.log, a preallocated index of
// zeros, Kafka's checkpoint files) is audited from a copy of its segment
// files, up to the high watermark, and left as it was.
func TestReadKafkaReplica(t *testing.T) {
	dir := filepath.Join(t.TempDir(), Topic+"-1")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var seg []byte
	for _, b := range []struct {
		base   int64
		values []string
	}{{0, []string{"10", "11", "12"}}, {3, []string{"13", "14"}}} {
		spec := batch.BatchSpec{BaseOffset: b.base, PartitionLeaderEpoch: 0, BaseTimestamp: 1_700_000_000_000,
			ProducerID: 7, ProducerEpoch: 0, BaseSequence: int32(b.base)}
		for i, v := range b.values {
			spec.Records = append(spec.Records, batch.Record{OffsetDelta: int32(i), Key: []byte(v), Value: []byte(v)})
		}
		var err error
		if seg, err = batch.Build(seg, spec); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{
		"00000000000000000000.log":      seg,
		"leader-epoch-checkpoint":       []byte("0\n1\n0 0\n"),
		"partition.metadata":            []byte("version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n"),
		"00000000000000000005.snapshot": {},
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Kafka preallocates the active segment's indexes (10 MiB of zeros).
	for _, name := range []string{"00000000000000000000.index", "00000000000000000000.timeindex"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(filepath.Join(dir, name), 10<<20); err != nil {
			t.Fatal(err)
		}
	}
	before := listing(t, dir)

	// Up to a high watermark between batches, and to the log's end.
	all := []history.Record{{Partition: 1, Offset: 0, Value: 10}, {Partition: 1, Offset: 1, Value: 11},
		{Partition: 1, Offset: 2, Value: 12}, {Partition: 1, Offset: 3, Value: 13}, {Partition: 1, Offset: 4, Value: 14}}
	for _, hw := range []int64{3, 5} {
		recs, err := readKafkaReplica(dir, hw)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(recs, all[:hw]) {
			t.Errorf("high watermark %d: records %v, want %v", hw, recs, all[:hw])
		}
	}
	if after := listing(t, dir); after != before {
		t.Errorf("the audit changed Kafka's directory:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := readKafkaReplica(dir, 6); err == nil {
		t.Error("a high watermark past the log's end: no error")
	}
}

// listing is a directory's file names and sizes.
func listing(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Name()+"="+strconv.FormatInt(fi.Size(), 10))
	}
	return strings.Join(out, " ")
}

// kafkaClasspath fetches Apache Kafka's jars (cached after the first time)
// with the repository's script.
func kafkaClasspath(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("../../scripts/kafka-reference", "classpath")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/kafka-reference classpath (needs Java 17+ and Maven): %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// TestRunKafka: the harness against three Apache Kafka nodes with the
// same settings, schedule, workload and checker: the nodes are JVMs in
// their namespaces, faults of two kinds (one a kill) are injected and
// healed, the checker finds nothing on Kafka's safe settings, every
// replica is audited, and nothing is left afterwards.
func TestRunKafka(t *testing.T) {
	if err := Probe(); err != nil {
		t.Fatal(err) // the harness needs root, ip and iptables: CI runs as root
	}
	cp := kafkaClasspath(t)
	const d = 20 * time.Second
	ids := []int32{1, 2, 3}
	seed := uint64(1)
	for !networkAndKill(Schedule(seed, Combined, ids, 3, d, nil)) {
		seed++
	}
	dir := t.TempDir()
	var cluster *Cluster
	cfg := Config{Seed: seed, Layout: Combined, Target: Kafka, Kafka: cp, Duration: d, Quiet: 5 * time.Second, Dir: dir,
		Logf: t.Logf,
		Ready: func(c *Cluster) {
			cluster = c
			for _, n := range c.Nodes {
				pid := n.Pid()
				out, err := exec.Command("ip", "netns", "identify", strconv.Itoa(pid)).Output()
				if got := strings.TrimSpace(string(out)); err != nil || got != nsName(n.ID) {
					t.Errorf("node %d (pid %d) runs in namespace %q (%v), want %s", n.ID, pid, got, err, nsName(n.ID))
				}
				cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				if !strings.Contains(string(cmdline), "kafka.Kafka") {
					t.Errorf("node %d (pid %d) runs %q, not kafka.Kafka", n.ID, pid, cmdline)
				}
			}
		}}
	sum := Run(context.Background(), cfg)
	t.Log(sum.Line())
	if sum.Err != nil {
		t.Fatalf("run: %v\n%s", sum.Err, tailLogs(dir))
	}
	if cluster == nil {
		t.Fatal("the ready hook never ran")
	}
	ops, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	res := checker.Check(ops, checker.Options{MaxExamples: 5})
	t.Log(res.Verdict())
	if !res.Valid() {
		t.Errorf("the checker finds anomalies on Apache Kafka: %s", res.Verdict())
	}
	if len(sum.Faults) < 2 || sum.Sends[history.OK] < 100 {
		t.Errorf("faults healed %v, %d acknowledged sends: want two kinds and at least 100", sum.Faults, sum.Sends[history.OK])
	}
	audits := 0
	for _, op := range ops {
		if op.F == history.Audit && op.Type == history.OK && int64(len(op.Records)) == op.Offset && op.Offset > 0 {
			audits++
		}
	}
	if audits != 9 {
		t.Errorf("%d complete replica audits, want 9 (3 nodes × 3 partitions)", audits)
	}
	var all []int
	for _, n := range cluster.Nodes {
		all = append(all, n.Pids()...)
	}
	if len(all) <= 3 {
		t.Errorf("node processes %v: no node was restarted", all)
	}
	checkCleanedUp(t, all)
}

// TestSummaryLineTarget: a Kafka run's summary line says so; a samsa
// run's line is as it was before there were targets.
func TestSummaryLineTarget(t *testing.T) {
	k := Summary{Seed: 4, Layout: Combined, Target: Kafka}.Line()
	if !strings.HasPrefix(k, "seed=4 layout=combined target=kafka elapsed=") {
		t.Errorf("kafka run: %q", k)
	}
	s := Summary{Seed: 4, Layout: Combined, Target: Samsa}.Line()
	if !strings.HasPrefix(s, "seed=4 layout=combined elapsed=") || strings.Contains(s, "target") {
		t.Errorf("samsa run: %q", s)
	}
}
