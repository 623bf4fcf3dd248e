package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/samsatest"
)

// dockerDirs lays out an image's default file and an (empty) mounted dir.
func dockerDirs(t *testing.T) (defaultFile, mountedDir string) {
	t.Helper()
	d := t.TempDir()
	defaultFile = filepath.Join(d, "default.properties")
	if err := os.WriteFile(defaultFile, []byte("process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\nlog.dirs="+filepath.Join(d, "data")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mountedDir = filepath.Join(d, "mnt")
	if err := os.Mkdir(mountedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return defaultFile, mountedDir
}

func mount(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "server.properties"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadSetup(t *testing.T, s *dockerSetup) *config.Config {
	t.Helper()
	cfg, _, err := config.Load(config.LoadOptions{File: s.File, Environ: s.environ(), Hostname: func() (string, error) { return "node", nil }})
	if err != nil {
		t.Fatalf("loading %s: %v", s.File, err)
	}
	return cfg
}

func TestDockerDefaultConfiguration(t *testing.T) {
	def, mnt := dockerDirs(t)
	// JVM and log4j variables are not configuration: the default applies.
	s, err := prepareDocker([]string{"KAFKA_HEAP_OPTS=-Xmx1G", "KAFKA_OPTS=-Dx=y", "KAFKA_JVM_PERFORMANCE_OPTS=-server", "KAFKA_LOG4J_OPTS=-Dl=x", "PATH=/bin"}, nil, def, mnt)
	if err != nil {
		t.Fatal(err)
	}
	if s.File != def {
		t.Fatalf("file %q, want the default %q", s.File, def)
	}
	if s.Env["CLUSTER_ID"] != defaultClusterID {
		t.Fatalf("CLUSTER_ID %q, want the image's default %q", s.Env["CLUSTER_ID"], defaultClusterID)
	}
	cfg := loadSetup(t, s)
	if cfg.NodeID != 1 || cfg.ClusterID != defaultClusterID {
		t.Fatalf("node.id %d, cluster id %q", cfg.NodeID, cfg.ClusterID)
	}
	// An empty mounted file without variables is the default too.
	mount(t, mnt, "\n \n")
	if s, err = prepareDocker(nil, nil, def, mnt); err != nil || s.File != def {
		t.Fatalf("empty mounted file: file %q, err %v; want the default", s.File, err)
	}
	// Kafka's image tests the text, not the properties: a file of
	// comments is not empty, and is used as it is.
	mount(t, mnt, "# nothing\n")
	if s, err = prepareDocker(nil, nil, def, mnt); err != nil || s.File != filepath.Join(mnt, "server.properties") {
		t.Fatalf("mounted file of comments: file %q, err %v; want the mounted file", s.File, err)
	}
}

func TestDockerEnvOnlyReplacesTheDefault(t *testing.T) {
	def, mnt := dockerDirs(t)
	env := []string{
		"KAFKA_NODE_ID=3", "KAFKA_PROCESS_ROLES=broker,controller",
		"KAFKA_CONTROLLER_QUORUM_VOTERS=3@kafka-3:9093", "KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_LISTENERS=CONTROLLER://:9093,PLAINTEXT://:19092",
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka-3:19092",
		"KAFKA_LOG_DIRS=" + t.TempDir(), "CLUSTER_ID=q1Sh-9_ISia_zwGINzRvyQ",
	}
	s, err := prepareDocker(env, nil, def, mnt)
	if err != nil {
		t.Fatal(err)
	}
	if s.File != emptyConfig {
		t.Fatalf("file %q, want %q: the variables alone", s.File, emptyConfig)
	}
	cfg := loadSetup(t, s)
	if cfg.Embedded || cfg.NodeID != 3 || cfg.ClusterID != "q1Sh-9_ISia_zwGINzRvyQ" {
		t.Fatalf("embedded %v, node.id %d, cluster id %q", cfg.Embedded, cfg.NodeID, cfg.ClusterID)
	}
	// Kafka's default, not the image's default file nor samsa's embedded node.
	if cfg.OffsetsTopicReplicationFactor != 3 {
		t.Fatalf("offsets.topic.replication.factor %d, want Kafka's default 3", cfg.OffsetsTopicReplicationFactor)
	}
	// One variable that is not a full configuration fails as Kafka's
	// image does, instead of falling back to a default node.
	s, err = prepareDocker([]string{"KAFKA_NUM_PARTITIONS=3"}, nil, def, mnt)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := config.Load(config.LoadOptions{File: s.File, Environ: s.environ()}); err == nil {
		t.Fatal("KAFKA_NUM_PARTITIONS alone loaded; want Kafka's refusal (no process.roles)")
	}
}

func TestDockerMountedFileWithEnvOnTop(t *testing.T) {
	def, mnt := dockerDirs(t)
	data := t.TempDir()
	mount(t, mnt, "process.roles=broker,controller\nnode.id=7\ncontroller.quorum.voters=7@localhost:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\nnum.partitions=1\nlog.dirs="+data+"\n")
	s, err := prepareDocker([]string{"KAFKA_NUM_PARTITIONS=5", "KAFKA_HEAP_OPTS=-Xmx1G"}, []string{"KAFKA_DEFAULT_REPLICATION_FACTOR=1"}, def, mnt)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(mnt, "server.properties"); s.File != want {
		t.Fatalf("file %q, want the mounted %q", s.File, want)
	}
	if !strings.Contains(s.Source, "2 KAFKA_* variables") {
		t.Fatalf("source %q: want the two mapped variables counted (the JVM one is not)", s.Source)
	}
	cfg := loadSetup(t, s)
	if cfg.NodeID != 7 || cfg.NumPartitions != 5 {
		t.Fatalf("node.id %d (want the file's 7), num.partitions %d (want the variable's 5)", cfg.NodeID, cfg.NumPartitions)
	}
}

func TestDockerConfigureRules(t *testing.T) {
	def, mnt := dockerDirs(t)
	// Arguments are exported over the environment.
	s, err := prepareDocker([]string{"CLUSTER_ID=a"}, []string{"CLUSTER_ID=b"}, def, mnt)
	if err != nil || s.Env["CLUSTER_ID"] != "b" {
		t.Fatalf("CLUSTER_ID %q, err %v; want the argument's b", s.Env["CLUSTER_ID"], err)
	}
	if _, err := prepareDocker(nil, []string{"serve"}, def, mnt); err == nil {
		t.Fatal("argument without '=' accepted")
	}
	// A controller refuses advertised listeners; an empty one is dropped.
	if _, err := prepareDocker([]string{"KAFKA_PROCESS_ROLES=controller", "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://x:1"}, nil, def, mnt); err == nil || !strings.Contains(err.Error(), "not supported on a KRaft controller") {
		t.Fatalf("controller with advertised listeners: err %v", err)
	}
	s, err = prepareDocker([]string{"KAFKA_PROCESS_ROLES=controller", "KAFKA_ADVERTISED_LISTENERS="}, nil, def, mnt)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Env["KAFKA_ADVERTISED_LISTENERS"]; ok {
		t.Fatal("an empty KAFKA_ADVERTISED_LISTENERS on a controller was kept")
	}
	// An empty KAFKA_LISTENERS is derived from the advertised ones.
	s, err = prepareDocker([]string{
		"KAFKA_PROCESS_ROLES=broker,controller", "KAFKA_NODE_ID=1", "KAFKA_CONTROLLER_QUORUM_VOTERS=1@localhost:9093",
		"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER", "KAFKA_LISTENERS=",
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://broker:19092,CONTROLLER://broker:9093", "KAFKA_LOG_DIRS=" + t.TempDir(),
	}, nil, def, mnt)
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadSetup(t, s)
	got := map[string]string{}
	for _, l := range cfg.Listeners {
		got[l.Name] = net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
	}
	if got["PLAINTEXT"] != "0.0.0.0:19092" || got["CONTROLLER"] != "0.0.0.0:9093" {
		t.Fatalf("listeners %v, want the advertised ones bound to 0.0.0.0", got)
	}
}

func TestHealthcheckProbes(t *testing.T) {
	n := samsatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := probeBroker(ctx, n.Addr()); err != nil {
		t.Fatalf("broker probe: %v", err)
	}
	ctl := n.Broker().Addrs()["CONTROLLER"]
	if err := probeQuorum(ctx, ctl); err != nil {
		t.Fatalf("quorum probe on the active controller: %v", err)
	}
	host, port, _ := net.SplitHostPort(ctl)
	p := atoi(t, port)
	// The first voter is unreachable: the next one answers.
	dead := deadAddr(t)
	dh, dp, _ := net.SplitHostPort(dead)
	q := atoi(t, dp)
	if err := probeVoters(ctx, []config.Voter{{ID: 2, Host: dh, Port: q}, {ID: 1, Host: host, Port: p}}); err != nil {
		t.Fatalf("voters probe: %v", err)
	}
	if err := probeVoters(ctx, []config.Voter{{ID: 2, Host: dh, Port: q}}); err == nil {
		t.Fatal("voters probe succeeded with no voter listening")
	}
	if err := probeBroker(ctx, dead); err == nil {
		t.Fatal("broker probe succeeded with nothing listening")
	}

	// probeNode picks the broker listener of a node with the broker role,
	// and the controller listener (plus the voters) of a controller.
	_, bport, _ := net.SplitHostPort(n.Addr())
	cfg := &config.Config{
		ProcessRoles:            []string{"broker", "controller"},
		ControllerListenerNames: []string{"CONTROLLER"},
		Listeners:               []config.Listener{{Name: "CONTROLLER", Host: dh, Port: q}, {Name: "PLAINTEXT", Port: atoi(t, bport)}},
	}
	if what, err := probeNode(ctx, cfg); err != nil || !strings.Contains(what, "broker listener PLAINTEXT at 127.0.0.1:") {
		t.Fatalf("combined node: %s: %v", what, err)
	}
	cfg.ProcessRoles = []string{"controller"}
	cfg.Listeners = []config.Listener{{Name: "CONTROLLER", Host: host, Port: p}}
	cfg.ControllerQuorumVoters = []config.Voter{{ID: 1, Host: host, Port: p}}
	if what, err := probeNode(ctx, cfg); err != nil || !strings.Contains(what, "controller listener CONTROLLER") {
		t.Fatalf("controller: %s: %v", what, err)
	}
	cfg.Listeners = []config.Listener{{Name: "CONTROLLER", Host: dh, Port: q}}
	if _, err := probeNode(ctx, cfg); err == nil {
		t.Fatal("controller probe succeeded with its own listener down")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
