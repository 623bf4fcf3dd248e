package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func fixedHost() (string, error) { return "myhost", nil }

func load(t *testing.T, o LoadOptions) (*Config, []string, error) {
	t.Helper()
	if o.Hostname == nil {
		o.Hostname = fixedHost
	}
	return Load(o)
}

func mustLoad(t *testing.T, o LoadOptions) *Config {
	t.Helper()
	c, _, err := load(t, o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// mustBuild resolves o without validating it: for configurations that
// Kafka accepts and samsa refuses (unsupported.go), to check how they parse.
func mustBuild(t *testing.T, o LoadOptions) *Config {
	t.Helper()
	if o.Hostname == nil {
		o.Hostname = fixedHost
	}
	c, _, err := build(o)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return c
}

// onlyRefusals fails unless err consists of exactly the want messages'
// lines (prefixes), so a configuration refused by samsa's unsupported.go
// rules is shown to pass every rule of Kafka's.
func onlyRefusals(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want refusals %q", want)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d (%q):\n%v", len(lines), len(want), want, err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The apache/kafka image's env→property rule (KafkaDockerWrapper), quirks included.
func TestEnvKey(t *testing.T) {
	cases := []struct {
		env, key string
		ok       bool
	}{
		{"KAFKA_NODE_ID", "node.id", true},
		{"KAFKA_PROCESS_ROLES", "process.roles", true},
		{"KAFKA_CONTROLLER_QUORUM_VOTERS", "controller.quorum.voters", true},
		{"KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS", "controller.quorum.bootstrap.servers", true},
		{"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "listener.security.protocol.map", true},
		{"KAFKA_LISTENER_NAME_INTERNAL_SSL_KEYSTORE_LOCATION", "listener.name.internal.ssl.keystore.location", true},
		{"KAFKA_ABC__DEF", "abc_def", true},
		{"KAFKA_ABC___DEF", "abc-def", true},
		{"KAFKA_JMX_PORT", "jmx.port", true},
		{"KAFKA_FOO_KAFKA_BAR", "foo.bar", true}, // every KAFKA_ is removed
		{"KAFKA_HEAP_OPTS", "", false},
		{"KAFKA_VERSION", "", false},
		{"KAFKA_LOG4J_OPTS", "", false},
		{"KAFKA_OPTS", "", false},
		{"KAFKA_JMX_OPTS", "", false},
		{"KAFKA_JVM_PERFORMANCE_OPTS", "", false},
		{"KAFKA_GC_LOG_OPTS", "", false},
		{"KAFKA_LOG4J_ROOT_LOGLEVEL", "", false},
		{"KAFKA_LOG4J_LOGGERS", "", false},
		{"KAFKA_TOOLS_LOG4J_LOGLEVEL", "", false},
		{"KAFKA_JMX_HOSTNAME", "", false},
		{"CLUSTER_ID", "", false},
		{"kafka_node_id", "", false},
		{"PATH", "", false},
	}
	for _, tc := range cases {
		key, ok := EnvKey(tc.env)
		if key != tc.key || ok != tc.ok {
			t.Errorf("EnvKey(%q) = %q, %v; want %q, %v", tc.env, key, ok, tc.key, tc.ok)
		}
	}
}

func TestEnvSpecialVars(t *testing.T) {
	env := append(singleNodeEnv(), "KAFKA_LOG4J_ROOT_LOGLEVEL=DEBUG", "KAFKA_HEAP_OPTS=-Xmx1G", "KAFKA_JMX_PORT=9101")
	c, warnings, err := load(t, LoadOptions{Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "DEBUG" || c.ClusterID != "4L6g3nShT-eMCtK--X86sw" {
		t.Errorf("LogLevel=%q ClusterID=%q", c.LogLevel, c.ClusterID)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"jmx.port"`) {
		t.Errorf("warnings = %q; want one about jmx.port", warnings)
	}
}

// combinedEnv is one service of Kafka's three-node combined compose example
// (docker/examples, cluster/combined/plaintext).
func combinedEnv(id int, host string, hostPort int) []string {
	return []string{
		"KAFKA_PROCESS_ROLES=broker,controller",
		"KAFKA_CONTROLLER_QUORUM_VOTERS=1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093",
		"KAFKA_LISTENERS=PLAINTEXT://:19092,CONTROLLER://:9093,PLAINTEXT_HOST://:9092",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
		"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT",
		"CLUSTER_ID=4L6g3nShT-eMCtK--X86sw",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=3",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=3",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=2",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0",
		"KAFKA_LOG_DIRS=/var/lib/kafka/data",
		"KAFKA_NODE_ID=" + strconv.Itoa(id),
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://" + host + ":19092,PLAINTEXT_HOST://localhost:" + strconv.Itoa(hostPort),
		"PATH=/usr/bin",
		"HOSTNAME=" + host,
	}
}

// singleNodeEnv is a one-node variant of combinedEnv: the same compose
// service with the quorum reduced to itself, which samsa accepts.
func singleNodeEnv() []string {
	env := combinedEnv(1, "kafka-1", 29092)
	for i, kv := range env {
		if strings.HasPrefix(kv, "KAFKA_CONTROLLER_QUORUM_VOTERS=") {
			env[i] = "KAFKA_CONTROLLER_QUORUM_VOTERS=1@kafka-1:9093"
		}
	}
	return env
}

// Kafka's three-node combined compose file parses and validates as Kafka
// would: three voters, each node a broker and a controller.
func TestComposeCombined(t *testing.T) {
	for i, port := range []int{29092, 39092, 49092} {
		id := i + 1
		host := "kafka-" + strconv.Itoa(id)
		if _, _, err := load(t, LoadOptions{Environ: combinedEnv(id, host, port)}); err != nil {
			t.Fatalf("node %d refused: %v", id, err)
		}
		c := mustBuild(t, LoadOptions{Environ: combinedEnv(id, host, port)})
		if len(c.ControllerQuorumVoters) != 3 {
			t.Fatalf("node %d: voters %v", id, c.ControllerQuorumVoters)
		}
		if c.NodeID != int32(id) || !c.IsBroker() || !c.IsController() {
			t.Fatalf("node %d: NodeID=%d roles=%v", id, c.NodeID, c.ProcessRoles)
		}
		want := []Listener{
			{Name: "PLAINTEXT", Host: host, Port: 19092, SecurityProtocol: "PLAINTEXT"},
			{Name: "PLAINTEXT_HOST", Host: "localhost", Port: port, SecurityProtocol: "PLAINTEXT"},
		}
		if !reflect.DeepEqual(c.AdvertisedListeners, want) {
			t.Errorf("node %d advertised = %+v", id, c.AdvertisedListeners)
		}
		if got := c.ControllerAdvertisedListeners; len(got) != 1 || got[0].Host != "myhost" || got[0].Port != 9093 {
			t.Errorf("controller advertised = %+v", got)
		}
		if len(c.ControllerQuorumVoters) != 3 || c.ControllerQuorumVoters[2] != (Voter{ID: 3, Host: "kafka-3", Port: 9093}) {
			t.Errorf("voters = %+v", c.ControllerQuorumVoters)
		}
		if c.OffsetsTopicReplicationFactor != 3 || c.TransactionStateLogMinISR != 2 || c.GroupInitialRebalanceDelayMs != 0 {
			t.Errorf("internal topic settings wrong: %+v", c)
		}
		if !reflect.DeepEqual(c.LogDirs, []string{"/var/lib/kafka/data"}) || c.MetadataLogDir != "/var/lib/kafka/data" {
			t.Errorf("dirs %v %q", c.LogDirs, c.MetadataLogDir)
		}
		if c.InterBrokerListenerName != "PLAINTEXT" || c.Embedded {
			t.Errorf("ib=%q embedded=%v", c.InterBrokerListenerName, c.Embedded)
		}
		// env-only config: AK defaults for the rest, samsa's fsync default.
		if c.NumPartitions != 1 || c.LogRetentionMs != 168*3600_000 || !c.FsyncOnAck() {
			t.Errorf("defaults: partitions=%d retention=%d fsync=%v", c.NumPartitions, c.LogRetentionMs, c.FsyncOnAck())
		}
	}
}

func isolatedEnv(controller bool, id int) []string {
	if controller {
		return []string{
			"KAFKA_PROCESS_ROLES=controller",
			"KAFKA_CONTROLLER_QUORUM_VOTERS=1@controller-1:9093,2@controller-2:9093,3@controller-3:9093",
			"KAFKA_LISTENERS=CONTROLLER://:9093",
			"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
			"CLUSTER_ID=4L6g3nShT-eMCtK--X86sw",
			"KAFKA_LOG_DIRS=/var/lib/kafka/data",
			"KAFKA_NODE_ID=" + strconv.Itoa(id),
		}
	}
	return []string{
		"KAFKA_PROCESS_ROLES=broker",
		"KAFKA_CONTROLLER_QUORUM_VOTERS=1@controller-1:9093,2@controller-2:9093,3@controller-3:9093",
		"KAFKA_LISTENERS=PLAINTEXT://:19092,PLAINTEXT_HOST://:9092",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
		"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT",
		"CLUSTER_ID=4L6g3nShT-eMCtK--X86sw",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=3",
		"KAFKA_LOG_DIRS=/var/lib/kafka/data",
		"KAFKA_NODE_ID=" + strconv.Itoa(id),
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka-1:19092,PLAINTEXT_HOST://localhost:29092",
	}
}

// Kafka's isolated compose file (three controllers, three brokers) parses
// and validates as Kafka would.
func TestComposeIsolated(t *testing.T) {
	for id := 1; id <= 6; id++ {
		if _, _, err := load(t, LoadOptions{Environ: isolatedEnv(id <= 3, id)}); err != nil {
			t.Fatalf("node %d refused: %v", id, err)
		}
	}
	for id := 1; id <= 3; id++ {
		c := mustBuild(t, LoadOptions{Environ: isolatedEnv(true, id)})
		if c.IsBroker() || !c.IsController() {
			t.Fatalf("roles %v", c.ProcessRoles)
		}
		// The controllers omit the map: AK adds CONTROLLER:PLAINTEXT.
		if c.ListenerSecurityProtocolMap["CONTROLLER"] != "PLAINTEXT" || c.Listeners[0].SecurityProtocol != "PLAINTEXT" {
			t.Errorf("protocol map %v", c.ListenerSecurityProtocolMap)
		}
	}
	for id := 4; id <= 6; id++ {
		c := mustBuild(t, LoadOptions{Environ: isolatedEnv(false, id)})
		if !c.IsBroker() || c.IsController() || len(c.AdvertisedListeners) != 2 {
			t.Fatalf("broker %d: %+v", id, c)
		}
	}
}

func TestEmbeddedDefault(t *testing.T) {
	c := mustLoad(t, LoadOptions{Environ: []string{"PATH=/bin", "CLUSTER_ID=4L6g3nShT-eMCtK--X86sw"}})
	if !c.Embedded || c.NodeID != 1 || !c.IsBroker() || !c.IsController() {
		t.Fatalf("embedded: %+v", c)
	}
	wantL := []Listener{
		{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, SecurityProtocol: "PLAINTEXT"},
		{Name: "CONTROLLER", Host: "127.0.0.1", Port: 9093, SecurityProtocol: "PLAINTEXT"},
	}
	if !reflect.DeepEqual(c.Listeners, wantL) {
		t.Errorf("listeners %+v", c.Listeners)
	}
	if !reflect.DeepEqual(c.AdvertisedListeners, wantL[:1]) {
		t.Errorf("advertised %+v", c.AdvertisedListeners)
	}
	if !reflect.DeepEqual(c.LogDirs, []string{"./samsa-data"}) || c.OffsetsTopicReplicationFactor != 1 ||
		c.TransactionStateLogReplicationFactor != 1 || c.TransactionStateLogMinISR != 1 {
		t.Errorf("embedded storage/RF: %v %d %d", c.LogDirs, c.OffsetsTopicReplicationFactor, c.TransactionStateLogReplicationFactor)
	}
	if c.LogFlushIntervalMessages != 1 || !c.FsyncOnAck() {
		t.Errorf("fsync default %d", c.LogFlushIntervalMessages)
	}
	if c.MessageMaxBytes != 1048588 || c.SocketRequestMaxBytes != 104857600 || c.ClusterID == "" {
		t.Errorf("message.max.bytes %d socket.request.max.bytes %d", c.MessageMaxBytes, c.SocketRequestMaxBytes)
	}
	if Default().NodeID != 1 {
		t.Error("Default()")
	}
}

// Without a file and without process.roles, every source applies on top
// of the embedded default (the README's `KAFKA_NUM_PARTITIONS=3 samsa serve`
// and `samsa serve --override log.dirs=...`); setting process.roles makes
// the sources a complete Kafka configuration with Kafka's defaults.
func TestSourcesOnTopOfEmbedded(t *testing.T) {
	c := mustLoad(t, LoadOptions{Environ: []string{"KAFKA_NUM_PARTITIONS=3"}})
	if !c.Embedded || c.NumPartitions != 3 || c.NodeID != 1 || c.OffsetsTopicReplicationFactor != 1 ||
		!reflect.DeepEqual(c.LogDirs, []string{EmbeddedDataDir}) {
		t.Errorf("env on embedded: embedded=%v partitions=%d node=%d offsets RF=%d dirs=%v", c.Embedded, c.NumPartitions, c.NodeID, c.OffsetsTopicReplicationFactor, c.LogDirs)
	}
	c = mustLoad(t, LoadOptions{Overrides: []string{"log.dirs=/var/lib/samsa"}})
	if !c.Embedded || !reflect.DeepEqual(c.LogDirs, []string{"/var/lib/samsa"}) || c.Listeners[0].Addr() != "127.0.0.1:9092" {
		t.Errorf("override on embedded: %v %v", c.LogDirs, c.Listeners)
	}
	e, _ := c.Value("log.dirs")
	if e.Source != SourceStatic || e.Value != "/var/lib/samsa" {
		t.Errorf("log.dirs entry %+v", e)
	}
	e, _ = c.Value("num.partitions")
	if e.Source != SourceDefault || e.Value != "1" {
		t.Errorf("num.partitions entry %+v", e)
	}

	// Moving the listeners (or node.id) keeps a consistent one-voter quorum
	// and the advertised listener derived as Kafka derives it.
	c = mustLoad(t, LoadOptions{Overrides: []string{"listeners=PLAINTEXT://0.0.0.0:19092,CONTROLLER://127.0.0.1:19093", "node.id=4"}})
	if len(c.ControllerQuorumVoters) != 1 || c.ControllerQuorumVoters[0] != (Voter{ID: 4, Host: "127.0.0.1", Port: 19093}) {
		t.Errorf("derived voters %+v", c.ControllerQuorumVoters)
	}
	if len(c.AdvertisedListeners) != 1 || c.AdvertisedListeners[0].Addr() != "myhost:19092" {
		t.Errorf("advertised %+v", c.AdvertisedListeners)
	}
	if e, _ := c.Value("controller.quorum.voters"); e.Value != "4@127.0.0.1:19093" || e.Source != SourceDefault {
		t.Errorf("voters entry %+v", e)
	}
	// A controller listener on all interfaces is reached as localhost.
	c = mustLoad(t, LoadOptions{Overrides: []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093"}})
	if c.ControllerQuorumVoters[0] != (Voter{ID: 1, Host: "localhost", Port: 9093}) {
		t.Errorf("derived voters %+v", c.ControllerQuorumVoters)
	}
	// Listeners without the controller one: the message is about that
	// listener (not about voters) and names the embedded default.
	_, _, err := load(t, LoadOptions{Overrides: []string{"listeners=PLAINTEXT://127.0.0.1:9092"}})
	if err == nil || !strings.Contains(err.Error(), "controller.listener.names: CONTROLLER must appear in listeners") ||
		strings.Contains(err.Error(), "controller.quorum.voters:") || !strings.Contains(err.Error(), "embedded default") {
		t.Errorf("listeners without CONTROLLER: %v", err)
	}
	// Explicit voters are the user's, checked by Kafka's rules.
	_, _, err = load(t, LoadOptions{Overrides: []string{"controller.quorum.voters=2@127.0.0.1:9093"}})
	if err == nil || !strings.Contains(err.Error(), "node.id 1 must be one of the voters") || !strings.Contains(err.Error(), "embedded default") {
		t.Errorf("explicit voters: %v", err)
	}

	// process.roles: Kafka's defaults, so a lone override of it fails as
	// it would on AK.
	_, _, err = load(t, LoadOptions{Overrides: []string{"process.roles=broker,controller"}})
	if err == nil || !strings.Contains(err.Error(), "node.id: must be set") || strings.Contains(err.Error(), "embedded default") {
		t.Fatalf("err = %v", err)
	}
	// A file: Kafka's defaults too.
	_, _, err = load(t, LoadOptions{File: writeFile(t, "num.partitions=3\n")})
	if err == nil || !strings.Contains(err.Error(), "process.roles: must be set") {
		t.Fatalf("file without roles: %v", err)
	}
}

const minimalFile = `
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
controller.listener.names=CONTROLLER
log.dirs=/data/a, /data/b
`

func TestPrecedence(t *testing.T) {
	f := writeFile(t, minimalFile+"num.partitions=2\ndefault.replication.factor=2\nmin.insync.replicas=2\n")
	c := mustLoad(t, LoadOptions{
		File:      f,
		Environ:   []string{"KAFKA_DEFAULT_REPLICATION_FACTOR=3", "KAFKA_MIN_INSYNC_REPLICAS=3"},
		Overrides: []string{"min.insync.replicas=4"},
	})
	if c.NumPartitions != 2 || c.DefaultReplicationFactor != 3 || c.MinInsyncReplicas != 4 {
		t.Errorf("file<env<override broken: %d %d %d", c.NumPartitions, c.DefaultReplicationFactor, c.MinInsyncReplicas)
	}
	if c.OffsetsTopicReplicationFactor != 3 {
		t.Errorf("file config must use AK default RF 3, got %d", c.OffsetsTopicReplicationFactor)
	}
	if !reflect.DeepEqual(c.LogDirs, []string{"/data/a", "/data/b"}) || c.MetadataLogDir != "/data/a" {
		t.Errorf("log dirs %v %q", c.LogDirs, c.MetadataLogDir)
	}
	// Advertised defaults to listeners minus controller, host resolved.
	if len(c.AdvertisedListeners) != 1 || c.AdvertisedListeners[0].Addr() != "myhost:9092" {
		t.Errorf("advertised %+v", c.AdvertisedListeners)
	}
	e, _ := c.Value("min.insync.replicas")
	if e.Value != "4" || e.Source != SourceStatic || e.Default || e.ReadOnly {
		t.Errorf("entry %+v", e)
	}
	e, _ = c.Value("num.network.threads")
	if e.Value != "3" || e.Source != SourceDefault || !e.Default || e.ReadOnly != false {
		t.Errorf("entry %+v", e)
	}
	e, _ = c.Value("log.retention.ms")
	if !e.Null || !e.Default {
		t.Errorf("entry %+v", e)
	}
}

func TestBadOverride(t *testing.T) {
	if _, _, err := load(t, LoadOptions{Overrides: []string{"novalue"}}); err == nil {
		t.Fatal("want error")
	}
	f := writeFile(t, minimalFile+"num.io.threads=eight\n")
	_, _, err := load(t, LoadOptions{File: f})
	if err == nil || !strings.Contains(err.Error(), "num.io.threads") {
		t.Fatalf("err = %v", err)
	}
}

func TestRetentionPrecedence(t *testing.T) {
	cases := []struct {
		extra string
		want  int64
	}{
		{"", 168 * 3600_000},
		{"log.retention.hours=1", 3600_000},
		{"log.retention.hours=1\nlog.retention.minutes=2", 120_000},
		{"log.retention.hours=1\nlog.retention.minutes=2\nlog.retention.ms=5", 5},
		{"log.retention.ms=-1\nlog.retention.hours=1", -1},
		{"log.retention.ms=-5", -1},
		{"log.retention.hours=-1", -1},
	}
	for _, tc := range cases {
		c := mustLoad(t, LoadOptions{File: writeFile(t, minimalFile+tc.extra+"\n")})
		if c.LogRetentionMs != tc.want {
			t.Errorf("%q: LogRetentionMs = %d, want %d", tc.extra, c.LogRetentionMs, tc.want)
		}
		td := TopicDefaults(c)
		if td["retention.ms"] != strconv.FormatInt(tc.want, 10) {
			t.Errorf("%q: topic default retention.ms = %s", tc.extra, td["retention.ms"])
		}
	}
	if _, _, err := load(t, LoadOptions{File: writeFile(t, minimalFile+"log.retention.ms=0\n")}); err == nil {
		t.Error("log.retention.ms=0 must be rejected")
	}
	c := mustLoad(t, LoadOptions{File: writeFile(t, minimalFile+"log.roll.hours=2\n")})
	if c.LogRollMs != 7200_000 {
		t.Errorf("roll %d", c.LogRollMs)
	}
	c = mustLoad(t, LoadOptions{File: writeFile(t, minimalFile+"log.roll.hours=2\nlog.roll.ms=10\n")})
	if c.LogRollMs != 10 {
		t.Errorf("roll %d", c.LogRollMs)
	}
}

func TestFsyncExplicit(t *testing.T) {
	c := mustLoad(t, LoadOptions{File: writeFile(t, minimalFile+"log.flush.interval.messages=9223372036854775807\n")})
	if c.FsyncOnAck() {
		t.Error("explicit Long.MAX must disable fsync-on-ack")
	}
	tc, err := c.TopicConfig(nil)
	if err != nil || tc.FsyncOnAck() {
		t.Errorf("topic fsync %v %v", tc.FlushMessages, err)
	}
	c = mustLoad(t, LoadOptions{File: writeFile(t, minimalFile)})
	tc, _ = c.TopicConfig(nil)
	if !tc.FsyncOnAck() {
		t.Error("default topic must fsync on ack")
	}
	tc, _ = c.TopicConfig(map[string]string{"flush.messages": "1000"})
	if tc.FsyncOnAck() {
		t.Error("topic override flush.messages=1000 must not fsync on ack")
	}
}

func TestListenersParsing(t *testing.T) {
	l, err := ParseListener("plaintext://[::1]:9092")
	if err != nil || l.Name != "PLAINTEXT" || l.Host != "::1" || l.Port != 9092 || l.Addr() != "[::1]:9092" {
		t.Errorf("%+v %v", l, err)
	}
	l, err = ParseListener("X://:0")
	if err != nil || l.Host != "" || l.Port != 0 {
		t.Errorf("%+v %v", l, err)
	}
	for _, bad := range []string{"PLAINTEXT:9092", "://h:1", "A://h", "A://h:70000", "A://::1:9092", "A://[::1:9092"} {
		if _, err := ParseListener(bad); err == nil {
			t.Errorf("ParseListener(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"1@h", "x@h:1", "1@:9093", "1@a:1,1@b:2"} {
		if _, err := ParseVoters(bad); err == nil {
			t.Errorf("ParseVoters(%q) accepted", bad)
		}
	}
	if _, err := ParseProtocolMap("A:TLS"); err == nil {
		t.Error("bad protocol accepted")
	}
}

func TestAdvertisedFromAllInterfaces(t *testing.T) {
	f := writeFile(t, strings.Replace(minimalFile, "PLAINTEXT://:9092", "PLAINTEXT://0.0.0.0:9092", 1))
	c := mustLoad(t, LoadOptions{File: f})
	if c.AdvertisedListeners[0].Host != "myhost" || c.Listeners[0].Host != "0.0.0.0" {
		t.Errorf("%+v", c.AdvertisedListeners)
	}
}

// The image's configure step: only ADVERTISED set → bind 0.0.0.0.
func TestEnvListenersFromAdvertised(t *testing.T) {
	env := []string{
		"KAFKA_PROCESS_ROLES=broker", "KAFKA_NODE_ID=4",
		"KAFKA_CONTROLLER_QUORUM_VOTERS=1@c:9093", "KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka-1:19092",
	}
	c := mustBuild(t, LoadOptions{Environ: env})
	if c.Listeners[0].String() != "PLAINTEXT://0.0.0.0:19092" {
		t.Errorf("listeners %v", c.Listeners)
	}
}

// Each KRaft rule of Kafka's KafkaConfig validation, with the key the message must name.
func TestValidateRules(t *testing.T) {
	base := map[string]string{
		"process.roles":             "broker,controller",
		"node.id":                   "1",
		"controller.quorum.voters":  "1@localhost:9093",
		"listeners":                 "PLAINTEXT://:9092,CONTROLLER://:9093",
		"controller.listener.names": "CONTROLLER",
		"log.dirs":                  "/d",
	}
	cases := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"no roles", map[string]string{"process.roles": ""}, "process.roles: must be set"},
		{"bad role", map[string]string{"process.roles": "broker,zookeeper"}, `process.roles: unknown role "zookeeper"`},
		{"dup role", map[string]string{"process.roles": "broker,broker"}, `process.roles: duplicate role`},
		{"no node id", map[string]string{"node.id": "-1"}, "node.id: must be set"},
		{"no quorum", map[string]string{"controller.quorum.voters": ""}, "controller.quorum.voters: either controller.quorum.voters or controller.quorum.bootstrap.servers must be set"},
		{"controller not voter", map[string]string{"node.id": "2"}, "controller.quorum.voters: node.id 2 must be one of the voters when process.roles contains controller"},
		{"broker is voter", map[string]string{"process.roles": "broker", "listeners": "PLAINTEXT://:9092"}, "controller.quorum.voters: node.id 1 must not be one of the voters"},
		{"no controller names", map[string]string{"controller.listener.names": ""}, "controller.listener.names: must contain at least one"},
		{"controller name missing", map[string]string{"listeners": "PLAINTEXT://:9092"}, "controller.listener.names: CONTROLLER must appear in listeners when process.roles contains controller"},
		{"broker binds controller", map[string]string{"process.roles": "broker", "node.id": "4"}, "controller.listener.names: CONTROLLER must not appear in listeners when process.roles is just broker"},
		{"controller-only extra listener", map[string]string{"process.roles": "controller"}, "listeners: PLAINTEXT is not in controller.listener.names"},
		{"not in explicit map", map[string]string{"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT"}, "controller.listener.names: CONTROLLER is not in listener.security.protocol.map"},
		{"listener not in map", map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093,FOO://:9094"}, "listener.security.protocol.map: no security protocol defined for listener FOO"},
		{"dup name", map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093,PLAINTEXT://:9094"}, "listeners: each listener must have a different name; PLAINTEXT appears twice"},
		{"dup port", map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9092"}, "listeners: each listener must have a different port"},
		{"advertised 0.0.0.0", map[string]string{"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, "advertised.listeners: PLAINTEXT uses the non-routable meta-address 0.0.0.0"},
		{"advertised not listener", map[string]string{"advertised.listeners": "PLAINTEXT://h:9092,SSL://h:9094"}, "advertised.listeners: SSL is not in listeners"},
		{"ib not advertised", map[string]string{"inter.broker.listener.name": "INTERNAL", "listener.security.protocol.map": "INTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"}, "inter.broker.listener.name: INTERNAL must be a listener name defined in advertised.listeners"},
		{"ib is controller", map[string]string{"inter.broker.listener.name": "CONTROLLER"}, "inter.broker.listener.name: CONTROLLER is a controller listener"},
		{"ib and protocol", map[string]string{"inter.broker.listener.name": "PLAINTEXT", "security.inter.broker.protocol": "PLAINTEXT"}, "inter.broker.listener.name: only one of"},
		{"no broker advertised", map[string]string{"advertised.listeners": "CONTROLLER://h:9093"}, "advertised.listeners: must contain at least one listener that is not a controller listener"},
		{"bad cluster id", map[string]string{}, "CLUSTER_ID: cluster id"},
		{"no log dirs", map[string]string{"log.dirs": " , "}, "log.dirs: must name at least one directory"},
		{"bad voters", map[string]string{"controller.quorum.voters": "1@localhost"}, "controller.quorum.voters: invalid value"},
		{"heartbeat", map[string]string{"broker.heartbeat.interval.ms": "9000"}, "broker.heartbeat.interval.ms: 9000 must be less than broker.session.timeout.ms"},
		{"timestamp type", map[string]string{"log.message.timestamp.type": "Foo"}, "log.message.timestamp.type: invalid value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var over []string
			for k, v := range base {
				if nv, ok := tc.set[k]; ok {
					v = nv
				}
				over = append(over, k+"="+v)
			}
			for k, v := range tc.set {
				if _, ok := base[k]; !ok {
					over = append(over, k+"="+v)
				}
			}
			env := []string{}
			if tc.name == "bad cluster id" {
				env = append(env, "CLUSTER_ID=not-a-cluster-id")
			}
			_, _, err := load(t, LoadOptions{Overrides: over, Environ: env})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant substring %q", err, tc.want)
			}
		})
	}
	// The base itself is valid.
	var over []string
	for k, v := range base {
		over = append(over, k+"="+v)
	}
	if _, _, err := load(t, LoadOptions{Overrides: over}); err != nil {
		t.Fatalf("base invalid: %v", err)
	}
}

func TestValidateClusterID(t *testing.T) {
	good := []string{"4L6g3nShT-eMCtK--X86sw", "5L6g3nShT-eMCtK--X86sw", "MkU3OEVBNTcwNTJENDM2Qg"}
	for _, id := range good {
		if err := ValidateClusterID(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	bad := []string{"", "short", "4L6g3nShT-eMCtK--X86sw=", "4L6g3nShT+eMCtK--X86sw", "-L6g3nShT-eMCtK--X86sw", "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAQ"}
	for _, id := range bad {
		if err := ValidateClusterID(id); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

func TestValuesSensitive(t *testing.T) {
	c := mustBuild(t, LoadOptions{File: writeFile(t, minimalFile+"ssl.keystore.password=secret\n")})
	e, ok := c.Value("ssl.keystore.password")
	if !ok || !e.Sensitive || !e.Null || e.Value != "" || e.Source != SourceStatic {
		t.Errorf("%+v", e)
	}
	vals := c.Values()
	for i := 1; i < len(vals); i++ {
		if vals[i-1].Name >= vals[i].Name {
			t.Fatalf("Values not sorted at %s", vals[i].Name)
		}
	}
}

// What samsa cannot do yet is refused at start, each message naming the key
// or listener and why (unsupported.go); harmless keys that Kafka's defaults
// and compose files carry still start.
func TestRefuseUnsupported(t *testing.T) {
	cases := []struct {
		name  string
		extra string
		want  []string // every error line, by prefix
	}{
		{"bootstrap servers", "controller.quorum.voters=\ncontroller.quorum.bootstrap.servers=a:9093,b:9093",
			[]string{"controller.quorum.bootstrap.servers: 2 servers (a:9093,b:9093): samsa runs static controller quorums only for now"}},
		{"SSL listener", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093,SSL://:9094\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL",
			[]string{"listeners: SSL://:9094 uses security protocol SSL (listener.security.protocol.map): samsa has no TLS, SASL or ACLs yet, so this port would be served in plaintext"}},
		{"SASL_PLAINTEXT listener", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093,SASL_PLAINTEXT://:9094\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
			[]string{"listeners: SASL_PLAINTEXT://:9094 uses security protocol SASL_PLAINTEXT"}},
		{"mapped to SASL_SSL", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:9094\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:SASL_SSL",
			[]string{"listeners: EXTERNAL://:9094 uses security protocol SASL_SSL"}},
		{"keystore", "ssl.keystore.location=/etc/kafka/ks.jks\nssl.keystore.password=x\nssl.key.password=y",
			[]string{"ssl.key.password: set in ", "ssl.keystore.location: set in ", "ssl.keystore.password: set in "}},
		{"truststore", "ssl.truststore.location=/etc/kafka/ts.jks", []string{"ssl.truststore.location: set in "}},
		{"client auth", "ssl.client.auth=required", []string{"ssl.client.auth: set in "}},
		{"mechanisms", "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512", []string{"sasl.enabled.mechanisms: set in "}},
		{"jaas", "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required;", []string{"sasl.jaas.config: set in "}},
		{"listener keystore", "listener.name.internal.ssl.keystore.location=/ks.jks",
			[]string{"listener.name.internal.ssl.keystore.location: set in "}},
		{"listener mechanism jaas", "listener.name.sasl_plaintext.plain.sasl.jaas.config=x", []string{"listener.name.sasl_plaintext.plain.sasl.jaas.config: set in "}},
		{"authorizer", "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", []string{"authorizer.class.name: set in "}},
		{"replica selector", "replica.selector.class=com.example.NearestSelector",
			[]string{`replica.selector.class: "com.example.NearestSelector": samsa knows only org.apache.kafka.common.replica.RackAwareReplicaSelector`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, minimalFile+tc.extra+"\n")
			want := tc.want
			_, _, err := load(t, LoadOptions{File: f})
			onlyRefusals(t, err, want...)
			if strings.HasPrefix(want[0], "ssl.") || strings.HasPrefix(want[0], "sasl.") || strings.HasPrefix(want[0], "listener.name.") || strings.HasPrefix(want[0], "authorizer.") {
				if !strings.Contains(err.Error(), f+":") || !strings.Contains(err.Error(), "would have no effect") {
					t.Errorf("message must say where the key was set and why: %v", err)
				}
			}
		})
	}
	// From the environment, the message names the variable.
	env := append(singleNodeEnv(), "KAFKA_SSL_KEYSTORE_LOCATION=/etc/kafka/secrets/ks.jks")
	_, _, err := load(t, LoadOptions{Environ: env})
	if err == nil || !strings.Contains(err.Error(), "ssl.keystore.location: set in environment variable KAFKA_SSL_KEYSTORE_LOCATION, configures the TLS keystore") {
		t.Errorf("env keystore: %v", err)
	}
	// Harmless keys start: tuning values and Kafka's defaults written out.
	harmless := strings.Join([]string{
		"ssl.endpoint.identification.algorithm=", "ssl.client.auth=none", "ssl.keystore.type=JKS",
		"ssl.protocol=TLSv1.3", "ssl.enabled.protocols=TLSv1.2,TLSv1.3", "sasl.login.refresh.window.factor=0.8",
		"ssl.keystore.location=", "security.inter.broker.protocol=PLAINTEXT",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL",
		"replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector",
	}, "\n")
	if _, _, err := load(t, LoadOptions{File: writeFile(t, minimalFile+harmless+"\n")}); err != nil {
		t.Errorf("harmless keys refused: %v", err)
	}
	// The embedded default maps SSL and SASL names too; only listeners count.
	if _, _, err := load(t, LoadOptions{}); err != nil {
		t.Errorf("embedded default: %v", err)
	}
	_, _, err = load(t, LoadOptions{Overrides: []string{"listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SSL://127.0.0.1:9094"}})
	if err == nil || !strings.Contains(err.Error(), "listeners: SSL://127.0.0.1:9094 uses security protocol SSL") {
		t.Errorf("embedded + SSL listener: %v", err)
	}
}
