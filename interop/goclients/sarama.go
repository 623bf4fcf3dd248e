package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// saramaClient is the IBM/sarama row: an idempotent SyncProducer, a partition
// consumer, a ConsumerGroup and the ClusterAdmin. sarama wants the broker
// version named: 4.1, the older reference column; sarama v1.61 picks no
// newer request version for any later release (4.2-4.3 are the newest it
// names; it has no 4.4).
type saramaClient struct {
	addrs []string
	cfg   *sarama.Config
	admin sarama.ClusterAdmin
	errs  *lastError
}

func newSarama(bootstrap string) (client, error) {
	errs := &lastError{}
	sarama.Logger = errs // sarama has only a package-level logger
	cfg := sarama.NewConfig()
	cfg.ClientID = "interop-sarama"
	cfg.Version = sarama.V4_1_0_0
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 3
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	addrs := strings.Split(bootstrap, ",")
	admin, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		return nil, errs.wrap(err)
	}
	return &saramaClient{addrs: addrs, cfg: cfg, admin: admin, errs: errs}, nil
}

func (s *saramaClient) close() { _ = s.admin.Close() }

func (s *saramaClient) create(ctx context.Context, topic string, partitions int32) error {
	err := s.admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	if err != nil {
		return s.errs.wrap(err)
	}
	return waitFor(ctx, "topic listed after create", func() (bool, error) {
		ts, err := s.admin.ListTopics()
		_, ok := ts[topic]
		return err == nil && ok, err
	})
}

func (s *saramaClient) describe(_ context.Context, topic string, partitions int32) error {
	md, err := s.admin.DescribeTopics([]string{topic})
	if err != nil {
		return s.errs.wrap(err)
	}
	if len(md) != 1 || md[0].Name != topic {
		return fmt.Errorf("describe returned %d topics", len(md))
	}
	t := md[0]
	switch {
	case t.Err != sarama.ErrNoError:
		return t.Err
	case len(t.Partitions) != int(partitions):
		return fmt.Errorf("%d partitions, want %d", len(t.Partitions), partitions)
	case t.Uuid == sarama.Uuid{}:
		return fmt.Errorf("zero topic id")
	}
	for _, p := range t.Partitions {
		if p.Err != sarama.ErrNoError {
			return fmt.Errorf("partition %d: %w", p.ID, p.Err)
		}
		if p.Leader < 0 {
			return fmt.Errorf("partition %d has no leader", p.ID)
		}
	}
	return nil
}

func (s *saramaClient) produce(_ context.Context, topic string, recs []record) error {
	p, err := sarama.NewSyncProducer(s.addrs, s.cfg)
	if err != nil {
		return s.errs.wrap(err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: r.Partition, Timestamp: r.Timestamp}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		msgs[i] = m
	}
	if err := p.SendMessages(msgs); err != nil {
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			return s.errs.wrap(perrs[0].Err)
		}
		return s.errs.wrap(err)
	}
	for i, m := range msgs {
		if m.Partition != recs[i].Partition || m.Offset != recs[i].Offset {
			return fmt.Errorf("record %d acked at %d/%d, want %d/%d", i, m.Partition, m.Offset, recs[i].Partition, recs[i].Offset)
		}
	}
	return nil
}

func fromSarama(m *sarama.ConsumerMessage) record {
	r := record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, header{Key: string(h.Key), Value: h.Value})
	}
	return r
}

func (s *saramaClient) read(ctx context.Context, topic string, partitions int32, n int) ([]record, error) {
	c, err := sarama.NewConsumer(s.addrs, s.cfg)
	if err != nil {
		return nil, s.errs.wrap(err)
	}
	defer c.Close()
	msgs := make(chan *sarama.ConsumerMessage, n)
	errs := make(chan error, partitions)
	for p := int32(0); p < partitions; p++ {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, s.errs.wrap(err)
		}
		defer pc.AsyncClose()
		go func() {
			for m := range pc.Messages() {
				msgs <- m
			}
		}()
		go func() {
			for e := range pc.Errors() {
				select {
				case errs <- e:
				default:
				}
			}
		}()
	}
	var out []record
	for len(out) < n {
		select {
		case m := <-msgs:
			out = append(out, fromSarama(m))
		case e := <-errs:
			s.errs.set(e.Error())
		case <-ctx.Done():
			return out, s.errs.wrap(fmt.Errorf("read %d of %d records: %w", len(out), n, errTimeout))
		}
	}
	return out, nil
}

// groupHandler collects records from every claim until n have arrived.
type groupHandler struct {
	n    int
	recs chan *sarama.ConsumerMessage
}

func (groupHandler) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup commits what ConsumeClaim marked. Committing in ConsumeClaim after
// every message works too, but costs sarama ~500ms per message.
func (groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	sess.Commit()
	return nil
}
func (h groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			sess.MarkMessage(m, "")
			h.recs <- m
		case <-sess.Context().Done():
			return nil
		}
	}
}

func (s *saramaClient) groupRead(ctx context.Context, topic, group string, n int) ([]record, map[int32]int64, error) {
	g, err := sarama.NewConsumerGroup(s.addrs, group, s.cfg)
	if err != nil {
		return nil, nil, s.errs.wrap(err)
	}
	h := groupHandler{n: n, recs: make(chan *sarama.ConsumerMessage, n)}
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		var err error
		for gctx.Err() == nil && err == nil {
			err = g.Consume(gctx, []string{topic}, h)
		}
		done <- err
	}()
	var out []record
	var failure error
	for len(out) < n && failure == nil {
		select {
		case m := <-h.recs:
			out = append(out, fromSarama(m))
		case e := <-g.Errors():
			s.errs.set(e.Error())
		case err := <-done:
			failure = s.errs.wrap(fmt.Errorf("consume: %w", err))
			done <- nil
		case <-ctx.Done():
			failure = s.errs.wrap(fmt.Errorf("read %d of %d records: %w", len(out), n, errTimeout))
		}
	}
	stop()
	<-done
	_ = g.Close()
	if failure != nil {
		return out, nil, failure
	}
	resp, err := s.admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	if err != nil {
		return out, nil, fmt.Errorf("list group offsets: %w", err)
	}
	committed := map[int32]int64{}
	for p, b := range resp.Blocks[topic] {
		if b.Err != sarama.ErrNoError {
			return out, nil, fmt.Errorf("offset fetch partition %d: %w", p, b.Err)
		}
		committed[p] = b.Offset
	}
	return out, committed, s.admin.DeleteConsumerGroup(group)
}

func (s *saramaClient) delete(ctx context.Context, topic string) error {
	if err := s.admin.DeleteTopic(topic); err != nil {
		return s.errs.wrap(err)
	}
	return waitFor(ctx, "topic gone after delete", func() (bool, error) {
		ts, err := s.admin.ListTopics()
		_, ok := ts[topic]
		return err == nil && !ok, err
	})
}
