package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// TestKafkaGo runs segmentio/kafka-go against a samsa process. kafka-go
// uses old fixed versions (Metadata v1/v6, Produce v2/v3/v7, Fetch
// v2/v5/v10) and no flexible encodings, so this covers that path.
func TestKafkaGo(t *testing.T) {
	p := startSamsa(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: "kg-admin", NumPartitions: 3, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions("kg-admin")
	if err != nil || len(parts) != 3 {
		t.Fatalf("read partitions: %v %d", err, len(parts))
	}
	if err := conn.DeleteTopics("kg-admin"); err != nil {
		t.Fatal(err)
	}
	// Metadata v1 auto-creates (as Kafka does below v4 when
	// auto.create.topics.enable is on): the topic comes back new, with
	// num.partitions=1 instead of the deleted topic's 3.
	parts, err = conn.ReadPartitions("kg-admin")
	if err != nil || len(parts) != 1 {
		t.Fatalf("after delete: %v, %d partitions", err, len(parts))
	}

	codecs := map[string]kafka.Compression{"none": 0, "gzip": compress.Gzip, "snappy": compress.Snappy, "lz4": compress.Lz4, "zstd": compress.Zstd}
	for name, codec := range codecs {
		for _, acks := range []kafka.RequiredAcks{kafka.RequireNone, kafka.RequireOne, kafka.RequireAll} {
			t.Run(fmt.Sprintf("%s/acks%d", name, acks), func(t *testing.T) {
				kafkaGoRoundTrip(t, p.addr(), fmt.Sprintf("kg-%s-%d", name, int(acks)+1), codec, acks)
			})
		}
	}
}

func kafkaGoRoundTrip(t *testing.T, addr, topic string, codec kafka.Compression, acks kafka.RequiredAcks) {
	const n = 100
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// A transport per writer: kafka-go's shared default transport caches
	// the topic list for 6 s, so it would not know the new topic yet.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Compression: codec, RequiredAcks: acks,
		BatchTimeout: 5 * time.Millisecond, BatchSize: 50, Transport: tr}
	defer w.Close()
	var msgs []kafka.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte(fmt.Sprintf("v%d", i)),
			Headers: []kafka.Header{{Key: "h", Value: []byte("x")}}})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MinBytes: 1, MaxBytes: 1 << 20,
		MaxWait: 200 * time.Millisecond, Dialer: &kafka.Dialer{Timeout: 5 * time.Second, DualStack: false,
			Resolver: &net.Resolver{}}})
	defer r.Close()
	for i := 0; i < n; i++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if string(m.Value) != fmt.Sprintf("v%d", i) || m.Offset != int64(i) || len(m.Headers) != 1 {
			t.Fatalf("message %d: offset %d value %q", i, m.Offset, m.Value)
		}
	}
}
