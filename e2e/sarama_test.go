package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSarama runs IBM/sarama against a samsa process: admin, every codec,
// acks levels, idempotent producer, consumer from oldest/newest.
func TestSarama(t *testing.T) {
	p := startSamsa(t, "")
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin([]string{p.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic("sa-admin", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	err = admin.CreateTopic("sa-admin", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false)
	var te *sarama.TopicError
	if !errors.As(err, &te) || te.Err != sarama.ErrTopicAlreadyExists {
		t.Fatalf("duplicate create: %v", err)
	}
	md, err := admin.DescribeTopics([]string{"sa-admin"})
	if err != nil || len(md) != 1 || len(md[0].Partitions) != 2 {
		t.Fatalf("describe: %v %+v", err, md)
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sa-admin"})
	if err != nil || len(entries) < 20 {
		t.Fatalf("describe config: %v, %d entries", err, len(entries))
	}
	if err := admin.DeleteTopic("sa-admin"); err != nil {
		t.Fatal(err)
	}

	codecs := map[string]sarama.CompressionCodec{"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP,
		"snappy": sarama.CompressionSnappy, "lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD}
	acks := map[string]sarama.RequiredAcks{"acks0": sarama.NoResponse, "acks1": sarama.WaitForLocal, "acksall": sarama.WaitForAll}
	for an, a := range acks {
		for cn, c := range codecs {
			t.Run(an+"/"+cn, func(t *testing.T) {
				saramaRoundTrip(t, p.addr(), "sa-"+an+"-"+cn, a, c, false)
			})
		}
	}
	t.Run("idempotent", func(t *testing.T) {
		saramaRoundTrip(t, p.addr(), "sa-idem", sarama.WaitForAll, sarama.CompressionSnappy, true)
	})
}

func saramaRoundTrip(t *testing.T, addr, topic string, acks sarama.RequiredAcks, codec sarama.CompressionCodec, idem bool) {
	const n = 200
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = acks
	cfg.Producer.Compression = codec
	cfg.Producer.Return.Successes = true
	cfg.Producer.Idempotent = idem
	if idem {
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Retry.Max = 10
	}
	cfg.Metadata.AllowAutoTopicCreation = true
	prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var msgs []*sarama.ProducerMessage
	for i := 0; i < n; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i)),
			Value:   sarama.StringEncoder(fmt.Sprintf("v%d", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte("x")}}})
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	cons, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != fmt.Sprintf("v%d", i) || m.Offset != int64(i) || len(m.Headers) != 1 {
				t.Fatalf("message %d: offset %d value %q headers %d", i, m.Offset, m.Value, len(m.Headers))
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("consumed %d of %d", i, n)
		}
	}
	// Newest: a consumer from the end sees only what comes after it.
	cons2, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons2.Close()
	pcNew, err := cons2.ConsumePartition(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	defer pcNew.Close()
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("after")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-pcNew.Messages():
		if string(m.Value) != "after" || m.Offset != n {
			t.Fatalf("newest: offset %d value %q", m.Offset, m.Value)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("newest consumer got nothing")
	}
}
