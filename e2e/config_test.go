package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runSamsa runs the binary to completion (for commands that must fail).
func runSamsa(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(samsaBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("samsa %v did not exit: %s", args, out)
	}
	return string(out), err
}

// TestInvalidConfigFailsAtStart: Kafka's KRaft rules are checked before
// anything binds, and the message names the key.
func TestInvalidConfigFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	out, err := runSamsa(t, nil, "serve",
		"--override", "process.roles=broker,controller",
		"--override", "node.id=1",
		"--override", "controller.quorum.voters=2@127.0.0.1:19093",
		"--override", "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
		"--override", "controller.listener.names=CONTROLLER",
		"--override", "log.dirs="+dir)
	if err == nil || !strings.Contains(out, "controller.quorum.voters") {
		t.Fatalf("node.id missing from voters: err %v, output:\n%s", err, out)
	}
	out, err = runSamsa(t, nil, "serve", "--override", "process.roles=broker,controller", "--override", "node.id=1",
		"--override", "controller.quorum.voters=1@127.0.0.1:19093",
		"--override", "listeners=PLAINTEXT://127.0.0.1:0",
		"--override", "controller.listener.names=CONTROLLER", "--override", "log.dirs="+dir)
	if err == nil || !strings.Contains(out, "controller.listener.names") {
		t.Fatalf("controller listener not in listeners: err %v, output:\n%s", err, out)
	}
}

// TestStorageIdentityChecked: a data dir formatted for one node or cluster
// refuses to start as another.
func TestStorageIdentityChecked(t *testing.T) {
	dir := t.TempDir()
	p := startSamsa(t, dir)
	p.stop()
	args := append([]string(nil), p.args...)
	for i, a := range args {
		if a == "node.id=1" {
			args[i] = "node.id=2"
		}
		if strings.HasPrefix(a, "controller.quorum.voters=1@") {
			args[i] = strings.Replace(a, "voters=1@", "voters=2@", 1)
		}
	}
	out, err := runSamsa(t, nil, args...)
	if err == nil || !strings.Contains(out, "node.id") {
		t.Fatalf("started with another node.id: err %v, output:\n%s", err, out)
	}
	out, err = runSamsa(t, []string{"CLUSTER_ID=MkU3OEVBNTcwNTJENDM2Qg"}, p.args...)
	if err == nil || !strings.Contains(out, "cluster") {
		t.Fatalf("started with another CLUSTER_ID: err %v, output:\n%s", err, out)
	}
}

// TestKafkaEnvironmentVariables: the apache/kafka image's KAFKA_* mapping.
func TestKafkaEnvironmentVariables(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	ctl := freePort(t)
	p := &proc{t: t, dir: dir, port: port}
	p.args = []string{"serve"}
	env := []string{
		"KAFKA_NODE_ID=7",
		"KAFKA_PROCESS_ROLES=broker,controller",
		"KAFKA_LISTENERS=PLAINTEXT://127.0.0.1:" + itoa(port) + ",CONTROLLER://127.0.0.1:" + itoa(ctl),
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:" + itoa(port),
		"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_CONTROLLER_QUORUM_VOTERS=7@127.0.0.1:" + itoa(ctl),
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"KAFKA_LOG_DIRS=" + dir,
		"KAFKA_NUM_PARTITIONS=3",
		"KAFKA_HEAP_OPTS=-Xmx1G",
		"CLUSTER_ID=4L6g3nShT-eMCtK--X86sw",
	}
	p.env = env
	p.start()
	t.Cleanup(p.stop)
	cl := newClient(t, p.addr(), kgo.DefaultProduceTopic("envtopic"), kgo.AllowAutoTopicCreation())
	ctx := ctxT(t, 20*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	md, err := kadm.NewClient(cl).Metadata(ctx, "envtopic")
	if err != nil {
		t.Fatal(err)
	}
	if md.Cluster != "4L6g3nShT-eMCtK--X86sw" || md.Controller != 7 || len(md.Topics["envtopic"].Partitions) != 3 {
		t.Fatalf("cluster %q controller %d partitions %d", md.Cluster, md.Controller, len(md.Topics["envtopic"].Partitions))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// composeNodeEnv is node id of Kafka's stock three-node combined KRaft
// compose file (the apache/kafka image's docker/examples), ports moved so
// the three nodes could share this machine.
func composeNodeEnv(id int, dir string) []string {
	base := 30000 + 10*id
	return []string{
		"KAFKA_NODE_ID=" + itoa(id),
		"KAFKA_PROCESS_ROLES=broker,controller",
		"KAFKA_CONTROLLER_QUORUM_VOTERS=1@127.0.0.1:30011,2@127.0.0.1:30021,3@127.0.0.1:30031",
		"KAFKA_LISTENERS=PLAINTEXT://127.0.0.1:" + itoa(base) + ",CONTROLLER://127.0.0.1:" + itoa(base+1),
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:" + itoa(base),
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=3",
		"KAFKA_LOG_DIRS=" + dir,
		"CLUSTER_ID=4L6g3nShT-eMCtK--X86sw",
	}
}

// TestDynamicQuorumRefused: a dynamic quorum (KIP-853, bootstrap servers
// without voters) exits at start with the reason and creates no data
// directory, instead of forming a quorum samsa cannot change.
func TestDynamicQuorumRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := append(composeNodeEnv(1, dir), "KAFKA_CONTROLLER_QUORUM_VOTERS=",
		"KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS=127.0.0.1:30011,127.0.0.1:30021,127.0.0.1:30031")
	out, err := runSamsa(t, env, "serve")
	if err == nil || !strings.Contains(out, "controller.quorum.bootstrap.servers: 3 servers") ||
		!strings.Contains(out, "static controller quorums only") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused start created %s (%v)", dir, err)
	}
}

// TestNonPlaintextRefused: a TLS or SASL listener and keys that expect
// security stop the start with messages naming the listener and the key,
// instead of serving plaintext on that port.
func TestNonPlaintextRefused(t *testing.T) {
	dir := t.TempDir()
	port, ssl, sasl := freePort(t), freePort(t), freePort(t)
	out, err := runSamsa(t, []string{"KAFKA_SSL_KEYSTORE_LOCATION=/etc/kafka/secrets/kafka.keystore.jks"}, "serve",
		"--override", "listeners=PLAINTEXT://127.0.0.1:"+itoa(port)+",CONTROLLER://127.0.0.1:0,SSL://127.0.0.1:"+itoa(ssl)+",SASL_PLAINTEXT://127.0.0.1:"+itoa(sasl),
		"--override", "sasl.enabled.mechanisms=PLAIN",
		"--override", "log.dirs="+filepath.Join(dir, "data"))
	for _, want := range []string{
		"listeners: SSL://127.0.0.1:" + itoa(ssl) + " uses security protocol SSL",
		"listeners: SASL_PLAINTEXT://127.0.0.1:" + itoa(sasl) + " uses security protocol SASL_PLAINTEXT",
		"served in plaintext",
		"ssl.keystore.location: set in environment variable KAFKA_SSL_KEYSTORE_LOCATION",
		"sasl.enabled.mechanisms: set in --override",
	} {
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("want %q; err %v, output:\n%s", want, err, out)
		}
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(ssl), 200*time.Millisecond); err == nil {
		c.Close()
		t.Error("the SSL port was bound")
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("a refused start created its log dir (%v)", err)
	}
}

// TestFailedStartLeavesNoDataDir: a start that cannot bind its port (here
// the embedded default's ./samsa-data, listeners moved by --override) exits
// with the reason and creates no data directory.
func TestFailedStartLeavesNoDataDir(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cwd := t.TempDir()
	cmd := exec.Command(samsaBin, "serve", "--override", "listeners=PLAINTEXT://"+busy.Addr().String()+",CONTROLLER://127.0.0.1:0")
	cmd.Dir, cmd.Env = cwd, cleanEnv()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "listener PLAINTEXT://"+busy.Addr().String()) || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(cwd, "samsa-data")); !os.IsNotExist(err) {
		t.Errorf("a failed start left ./samsa-data behind (%v)", err)
	}
	// The same start with the port free serves and formats ./samsa-data.
	busy.Close()
	p := &proc{t: t, dir: cwd}
	p.port = busy.Addr().(*net.TCPAddr).Port
	p.args = cmd.Args[1:]
	p.startIn(cwd)
	t.Cleanup(p.stop)
	if _, err := os.Stat(filepath.Join(cwd, "samsa-data", "meta.properties")); err != nil {
		t.Errorf("embedded start did not format ./samsa-data: %v", err)
	}
	if !strings.Contains(p.log.String(), `listeners=PLAINTEXT://`+busy.Addr().String()+`,CONTROLLER://127.0.0.1:`) {
		t.Errorf("start-up log does not list the bound listeners plainly:\n%s", p.log.String())
	}
}
