package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// kafkaGo is the segmentio/kafka-go row: kafka.Client for admin requests, a
// Writer (no idempotence in kafka-go) and Readers, one per partition or one
// group member.
type kafkaGo struct {
	brokers []string
	cl      *kafka.Client
	errs    *lastError
}

func newKafkaGo(bootstrap string) (client, error) {
	brokers := strings.Split(bootstrap, ",")
	return &kafkaGo{
		brokers: brokers,
		cl: &kafka.Client{
			Addr:    kafka.TCP(brokers...),
			Timeout: 10 * time.Second,
			// The create/delete checks need fresh metadata, not the 6s-old cache.
			Transport: &kafka.Transport{MetadataTTL: 100 * time.Millisecond},
		},
		errs: &lastError{},
	}, nil
}

func (k *kafkaGo) close() {}

func (k *kafkaGo) topics(ctx context.Context) (map[string]kafka.Topic, error) {
	md, err := k.cl.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, err
	}
	out := map[string]kafka.Topic{}
	for _, t := range md.Topics {
		out[t.Name] = t
	}
	return out, nil
}

func (k *kafkaGo) create(ctx context.Context, topic string, partitions int32) error {
	resp, err := k.cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: 1}},
	})
	if err != nil {
		return err
	}
	if err := resp.Errors[topic]; err != nil {
		return err
	}
	return waitFor(ctx, "topic listed after create", func() (bool, error) {
		ts, err := k.topics(ctx)
		_, ok := ts[topic]
		return err == nil && ok, err
	})
}

func (k *kafkaGo) describe(ctx context.Context, topic string, partitions int32) error {
	md, err := k.cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	if len(md.Topics) != 1 || md.Topics[0].Name != topic {
		return fmt.Errorf("metadata returned %d topics", len(md.Topics))
	}
	t := md.Topics[0]
	if t.Error != nil {
		return t.Error
	}
	if len(t.Partitions) != int(partitions) {
		return fmt.Errorf("%d partitions, want %d", len(t.Partitions), partitions)
	}
	for _, p := range t.Partitions {
		if p.Error != nil {
			return fmt.Errorf("partition %d: %w", p.ID, p.Error)
		}
		if p.Leader.ID < 0 || p.Leader.Host == "" {
			return fmt.Errorf("partition %d has no leader", p.ID)
		}
	}
	return nil
}

// keyBalancer puts each record on the partition expected() chose for its key.
type keyBalancer struct{}

func (keyBalancer) Balance(m kafka.Message, partitions ...int) int {
	return partitionOf(m.Key, len(partitions))
}

func (k *kafkaGo) produce(ctx context.Context, topic string, recs []record) error {
	w := &kafka.Writer{
		Addr:         kafka.TCP(k.brokers...),
		Topic:        topic,
		Balancer:     keyBalancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    len(recs),
		BatchTimeout: 10 * time.Millisecond,
		MaxAttempts:  3,
		ErrorLogger:  k.errs,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		m := kafka.Message{Key: r.Key, Value: r.Value, Time: r.Timestamp}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs[i] = m
	}
	return k.errs.wrap(w.WriteMessages(ctx, msgs...))
}

func fromKafkaGo(m kafka.Message) record {
	r := record{Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Time}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, header{Key: h.Key, Value: h.Value})
	}
	return r
}

func (k *kafkaGo) read(ctx context.Context, topic string, partitions int32, n int) ([]record, error) {
	want := map[int]int{}
	for _, r := range expected(partitions) {
		want[int(r.Partition)]++
	}
	var out []record
	for p := 0; p < int(partitions); p++ {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: k.brokers, Topic: topic, Partition: p,
			MaxWait: 200 * time.Millisecond, ErrorLogger: k.errs,
		})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			r.Close()
			return out, err
		}
		for i := 0; i < want[p]; i++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return out, k.errs.wrap(fmt.Errorf("partition %d: read %d of %d: %w", p, i, want[p], err))
			}
			out = append(out, fromKafkaGo(m))
		}
		r.Close()
	}
	return out, nil
}

func (k *kafkaGo) groupRead(ctx context.Context, topic, group string, n int) ([]record, map[int32]int64, error) {
	errs, infos := &lastError{}, &lastError{}
	// kafka-go waits JoinGroupBackoff (5 s by default) after each failed
	// FindCoordinator or JoinGroup; a broker still creating or loading
	// __consumer_offsets on a loaded machine answers a few of those with a
	// retriable error, so the wait is shortened to keep within the scenario.
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: k.brokers, GroupID: group, Topic: topic,
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond,
		HeartbeatInterval: time.Second, JoinGroupBackoff: 500 * time.Millisecond,
		ErrorLogger: errs, Logger: infos,
	})
	fail := func(err error) error {
		err = errs.wrap(err)
		if msg := infos.get(); msg != "" {
			err = fmt.Errorf("%w (last client log: %s)", err, msg)
		}
		return err
	}
	var out []record
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			r.Close()
			return out, nil, fail(fmt.Errorf("read %d of %d records: %w", len(out), n, err))
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			r.Close()
			return out, nil, fail(fmt.Errorf("commit: %w", err))
		}
		out = append(out, fromKafkaGo(m))
	}
	if err := r.Close(); err != nil {
		return out, nil, fmt.Errorf("close reader: %w", err)
	}
	resp, err := k.cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2}}})
	if err != nil {
		return out, nil, fmt.Errorf("offset fetch: %w", err)
	}
	if resp.Error != nil {
		return out, nil, fmt.Errorf("offset fetch: %w", resp.Error)
	}
	committed := map[int32]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return out, nil, fmt.Errorf("offset fetch partition %d: %w", p.Partition, p.Error)
		}
		committed[int32(p.Partition)] = p.CommittedOffset
	}
	return out, committed, nil
}

func (k *kafkaGo) delete(ctx context.Context, topic string) error {
	resp, err := k.cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	if err := resp.Errors[topic]; err != nil {
		return err
	}
	return waitFor(ctx, "topic gone after delete", func() (bool, error) {
		ts, err := k.topics(ctx)
		_, ok := ts[topic]
		return err == nil && !ok, err
	})
}
