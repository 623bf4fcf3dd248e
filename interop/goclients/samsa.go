package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	samsa "github.com/samsa-io/samsa/client"
)

// samsaClient is the row of samsa's own Go client: its producer (idempotent
// by default), its consumer (assign mode and a classic group) and, for
// topic administration, raw admin requests through its client core.
type samsaClient struct {
	bootstrap []string
	cl        *samsa.Client
}

func newSamsa(bootstrap string) (client, error) {
	bs := strings.Split(bootstrap, ",")
	cl, err := samsa.New(samsa.SeedBrokers(bs...), samsa.ClientID("interop-samsa"))
	if err != nil {
		return nil, err
	}
	return &samsaClient{bootstrap: bs, cl: cl}, nil
}

func (s *samsaClient) close() { s.cl.Close() }

// anyBroker returns a broker id to send an admin request to.
func (s *samsaClient) anyBroker(ctx context.Context) (int32, error) {
	brokers, err := s.cl.Brokers(ctx)
	if err != nil {
		return 0, err
	}
	for id := range brokers {
		return id, nil
	}
	return 0, errors.New("no brokers in metadata")
}

func (s *samsaClient) create(ctx context.Context, topic string, partitions int32) error {
	id, err := s.anyBroker(ctx)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := s.cl.Request(ctx, id, req)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode); err != nil {
		return err
	}
	return waitFor(ctx, "topic listed after create", func() (bool, error) {
		tps, err := s.cl.TopicPartitions(ctx, topic)
		return err == nil && len(tps) == int(partitions), nil
	})
}

func (s *samsaClient) describe(ctx context.Context, topic string, partitions int32) error {
	meta, err := s.cl.RefreshMetadata(ctx, topic)
	if err != nil {
		return err
	}
	tm := meta.Topics[topic]
	switch {
	case tm == nil:
		return fmt.Errorf("topic missing from metadata")
	case tm.Err != nil:
		return tm.Err
	case tm.ID == [16]byte{}:
		return fmt.Errorf("zero topic id")
	case len(tm.Partitions) != int(partitions):
		return fmt.Errorf("%d partitions, want %d", len(tm.Partitions), partitions)
	}
	for p, pm := range tm.Partitions {
		if pm.Err != nil {
			return fmt.Errorf("partition %d: %w", p, pm.Err)
		}
		if pm.Leader < 0 {
			return fmt.Errorf("partition %d has no leader", p)
		}
	}
	return nil
}

func (s *samsaClient) produce(ctx context.Context, topic string, recs []record) error {
	p, err := samsa.NewProducerFromClient(s.cl, samsa.WithPartitioner(samsa.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	srs := make([]*samsa.Record, len(recs))
	for i, r := range recs {
		sr := &samsa.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			sr.Headers = append(sr.Headers, samsa.RecordHeader{Key: h.Key, Value: h.Value})
		}
		srs[i] = sr
	}
	if err := p.ProduceSync(ctx, srs...); err != nil {
		return err
	}
	for i, sr := range srs {
		if sr.Offset != recs[i].Offset || sr.Partition != recs[i].Partition {
			return fmt.Errorf("record %d acked at %d/%d, want %d/%d", i, sr.Partition, sr.Offset, recs[i].Partition, recs[i].Offset)
		}
	}
	return nil
}

func (s *samsaClient) read(ctx context.Context, topic string, partitions int32, n int) ([]record, error) {
	parts := map[int32]samsa.Offset{}
	for p := int32(0); p < partitions; p++ {
		parts[p] = samsa.AtStart()
	}
	c, err := samsa.NewConsumer(samsa.SeedBrokers(s.bootstrap...),
		samsa.ConsumePartitions(map[string]map[int32]samsa.Offset{topic: parts}))
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	return samsaPoll(ctx, c, n)
}

func samsaPoll(ctx context.Context, c *samsa.Consumer, n int) ([]record, error) {
	var out []record
	var last error
	for len(out) < n {
		fs, err := c.Poll(ctx)
		if ctx.Err() != nil {
			if last == nil {
				last = err
			}
			return out, fmt.Errorf("read %d of %d records: %w (last error: %v)", len(out), n, errTimeout, last)
		}
		if err != nil {
			last = err
			continue
		}
		if err := fs.Err(); err != nil {
			last = err
		}
		for _, sr := range fs.Records() {
			r := record{Partition: sr.Partition, Offset: sr.Offset, Key: sr.Key, Value: sr.Value, Timestamp: sr.Timestamp}
			for _, h := range sr.Headers {
				r.Headers = append(r.Headers, header{Key: h.Key, Value: h.Value})
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *samsaClient) groupRead(ctx context.Context, topic, group string, n int) ([]record, map[int32]int64, error) {
	c, err := samsa.NewConsumer(samsa.SeedBrokers(s.bootstrap...), samsa.ConsumerGroup(group),
		samsa.ConsumeTopics(topic), samsa.AutoCommit(0))
	if err != nil {
		return nil, nil, err
	}
	got, err := samsaPoll(ctx, c, n)
	if err == nil {
		err = c.CommitPolled(ctx)
	}
	c.Close(ctx) // leaves the group
	if err != nil {
		return got, nil, err
	}
	tps, err := s.cl.TopicPartitions(ctx, topic)
	if err != nil {
		return got, nil, err
	}
	offs, err := s.cl.FetchGroupOffsets(ctx, group, tps)
	if err != nil {
		return got, nil, fmt.Errorf("fetch offsets: %w", err)
	}
	committed := map[int32]int64{}
	for tp, o := range offs {
		if tp.Topic == topic {
			committed[tp.Partition] = o
		}
	}
	res, err := s.cl.DeleteGroups(ctx, group)
	if err == nil {
		err = res[group]
	}
	return got, committed, err
}

func (s *samsaClient) delete(ctx context.Context, topic string) error {
	id, err := s.anyBroker(ctx)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.TopicNames = []string{topic}
	req.TimeoutMillis = 10000
	resp, err := s.cl.Request(ctx, id, req)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode); err != nil {
		return err
	}
	return waitFor(ctx, "topic gone after delete", func() (bool, error) {
		// Ask the broker directly (no auto-creation, no client cache).
		mreq := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		mreq.Topics = append(mreq.Topics, mt)
		resp, err := s.cl.Request(ctx, id, mreq)
		if err != nil {
			return false, nil
		}
		mr := resp.(*kmsg.MetadataResponse)
		return len(mr.Topics) == 1 && mr.Topics[0].ErrorCode == kerr.UnknownTopicOrPartition.Code, nil
	})
}
