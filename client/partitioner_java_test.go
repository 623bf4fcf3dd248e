package client

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestPartitionsMatchJavaProducer: Apache Kafka's own producer
// (ConsoleProducer, default partitioner) and samsa's producer (default
// partitioner) write the same keys to two topics of 7 partitions on the
// reference cluster; every key lands on the same partition in both, and
// that partition is Murmur2Partition's. TestMurmur2Java checks the hash
// against Kafka's unit-test vectors; this checks the whole path, Java's
// producer included.
func TestPartitionsMatchJavaProducer(t *testing.T) {
	b, ok := referenceKafka()
	if !ok {
		t.Log("KAFKA_REFERENCE_BOOTSTRAP unset: Java's partition choice is checked by scripts/test's reference pass")
		return
	}
	const partitions, keys = 7, 500
	javaTopic, samsaTopic := newTopic(t, b, partitions), newTopic(t, b, partitions)

	var in strings.Builder
	var recs []*Record
	for i := range keys {
		// Keys of every length from 1 to 40 bytes, so each murmur2 tail
		// case is covered, plus non-ASCII bytes.
		k := fmt.Sprintf("%d-%s", i, strings.Repeat("kéy", i%13))
		fmt.Fprintf(&in, "%s\tv%d\n", k, i)
		recs = append(recs, &Record{Topic: samsaTopic, Key: []byte(k), Value: fmt.Appendf(nil, "v%d", i)})
	}
	cmd := exec.Command("../scripts/kafka-reference", "tool", "org.apache.kafka.tools.ConsoleProducer",
		"--bootstrap-server", strings.Join(b.addrs, ","), "--topic", javaTopic,
		"--reader-property", "parse.key=true", "--reader-property", "key.separator=\t",
		"--producer-property", "acks=all")
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || strings.Contains(stderr.String(), "ERROR") {
		t.Fatalf("ConsoleProducer: %v\n%s", err, stderr.String())
	}

	p := newTestProducer(t, b)
	if err := p.ProduceSync(testCtx(t), recs...); err != nil {
		t.Fatal(err)
	}

	javaPart := partitionsByKey(t, b, javaTopic, keys)
	samsaPart := partitionsByKey(t, b, samsaTopic, keys)
	for _, r := range recs {
		k := string(r.Key)
		jp, ok := javaPart[k]
		if !ok {
			t.Fatalf("key %q: not in Java's topic", k)
		}
		if sp := samsaPart[k]; sp != jp {
			t.Fatalf("key %q: Java's producer chose partition %d, samsa's %d", k, jp, sp)
		}
		if mp := Murmur2Partition(r.Key, partitions); int32(mp) != jp {
			t.Fatalf("key %q: Java's producer chose partition %d, Murmur2Partition says %d", k, jp, mp)
		}
	}
	spread := map[int32]bool{}
	for _, p := range javaPart {
		spread[p] = true
	}
	if len(spread) != partitions {
		t.Fatalf("%d keys reached %d of %d partitions", keys, len(spread), partitions)
	}
}

// partitionsByKey reads n records of topic and returns each key's partition.
func partitionsByKey(t *testing.T, b backend, topic string, n int) map[string]int32 {
	t.Helper()
	out := map[string]int32{}
	for _, r := range consume(t, b, topic, n) {
		if p, ok := out[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("%s: key %q on partitions %d and %d", topic, r.Key, p, r.Partition)
		}
		out[string(r.Key)] = r.Partition
	}
	if len(out) != n {
		t.Fatalf("%s: %d distinct keys, want %d", topic, len(out), n)
	}
	return out
}
