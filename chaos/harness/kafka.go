package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/internal/uuid"
)

// The systems a run's nodes can be.
const (
	Samsa = "samsa" // `samsa serve`
	// Kafka is Apache Kafka (the reference, e.g. 4.4.0 from
	// scripts/kafka-reference's jars): `java ... kafka.Kafka
	// server.properties` with the same properties as samsa's nodes.
	Kafka = "kafka"
)

// Apache Kafka's JVM: at most kafkaHeap of heap per node (three of them
// share a small machine with the clients), G1 with short pauses as
// Kafka's own start script sets it.
const kafkaHeap = "-Xmx512m"

// kafkaReadyTimeout is how long an Apache Kafka cluster may take to list
// every broker: three JVMs start at once on as few as two cores.
const kafkaReadyTimeout = 4 * time.Minute

// kafkaFormatTimeout bounds one StorageTool run (a JVM start, no network).
const kafkaFormatTimeout = 3 * time.Minute

// formatKafka writes every node's configuration and log4j2 file, sets its
// command line (java from PATH when java is ""; classpath is Apache
// Kafka's jars, e.g. `scripts/kafka-reference classpath`) and formats its
// storage with kafka.tools.StorageTool, all nodes at once.
func (c *Cluster) formatKafka(java, classpath, voters string, set settings) error {
	if classpath == "" {
		return errors.New("chaos harness: target kafka needs the classpath of Apache Kafka's jars (scripts/kafka-reference classpath)")
	}
	if java == "" {
		java = "java"
	}
	java, err := exec.LookPath(java)
	if err != nil {
		return fmt.Errorf("chaos harness: target kafka: %w", err)
	}
	clusterID := uuid.Random().String()
	for _, n := range c.Nodes {
		if err := n.configureKafka(java, classpath, voters, set); err != nil {
			return err
		}
	}
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.formatKafkaStorage(java, classpath, clusterID)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// configureKafka writes the node's server.properties and log4j2
// configuration and sets its command line.
func (n *Node) configureKafka(java, classpath, voters string, set settings) error {
	if err := os.WriteFile(n.confPath(), []byte(n.kafkaProperties(voters, set)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(n.log4jPath(), []byte(kafkaLog4j), 0o644); err != nil {
		return err
	}
	n.argv = n.kafkaArgv(java, classpath)
	return nil
}

// kafkaProperties is the node's server.properties for Apache Kafka: the
// very properties a samsa node gets (RF 3, min.insync.replicas=2, unclean
// election off, the harness's session and lag timeouts), then what only
// Kafka reads: its internal topics' replication like the run's topic.
func (n *Node) kafkaProperties(voters string, set settings) string {
	return n.properties(voters, set) +
		"# Apache Kafka's own internal topics\n" +
		"transaction.state.log.min.isr=2\n" +
		"share.coordinator.state.topic.replication.factor=3\n" +
		"share.coordinator.state.topic.min.isr=2\n"
}

func (n *Node) log4jPath() string { return filepath.Join(n.Dir, "log4j2.properties") }

// kafkaJVM is the JVM options of a node's process.
func (n *Node) kafkaJVM() []string {
	return []string{kafkaHeap, "-Xms128m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
		"-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + n.log4jPath(),
		"-Dkafka.logs.dir=" + filepath.Join(n.Dir, "logs")}
}

// kafkaArgv is the node's command line: the broker or controller itself.
func (n *Node) kafkaArgv(java, classpath string) []string {
	argv := append([]string{java}, n.kafkaJVM()...)
	return append(argv, "-cp", classpath, "kafka.Kafka", n.confPath())
}

// kafkaFormatArgv is the command line that formats the node's storage.
func (n *Node) kafkaFormatArgv(java, classpath, clusterID string) []string {
	return []string{java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + n.log4jPath(), "-cp", classpath,
		"kafka.tools.StorageTool", "format", "-t", clusterID, "-c", n.confPath()}
}

// formatKafkaStorage runs StorageTool for the node, its output in the
// node's log.
func (n *Node) formatKafkaStorage(java, classpath, clusterID string) error {
	lf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	argv := n.kafkaFormatArgv(java, classpath, clusterID)
	fmt.Fprintf(lf, "==== chaos harness: %s ====\n", strings.Join(argv[len(argv)-6:], " "))
	ctx, cancel := context.WithTimeout(context.Background(), kafkaFormatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = nodeEnv()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("node %d: kafka.tools.StorageTool format: %v (see %s)", n.ID, err, n.LogPath())
	}
	return nil
}

// kafkaLog4j sends a node's log to its standard output (the node's log
// file), quieter than Kafka's default for the chattiest loggers.
const kafkaLog4j = `# written by the samsa chaos harness
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
`

// readKafkaReplica is readReplica of a copy of an Apache Kafka partition
// directory's segment (.log) files, so that seglog neither reads Kafka's
// index files nor changes anything in Kafka's data.
func readKafkaReplica(dir string, hw int64) ([]history.Record, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "chaos-audit")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	cp := filepath.Join(tmp, filepath.Base(dir)) // readReplica reads the partition from the name
	if err := os.Mkdir(cp, 0o755); err != nil {
		return nil, err
	}
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(cp, filepath.Base(f)), b, 0o644); err != nil {
			return nil, err
		}
	}
	return readReplica(cp, hw)
}
