package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// franz is the franz-go row: kgo (idempotent by default) and kadm.
type franz struct {
	bootstrap string
	cl        *kgo.Client
	adm       *kadm.Client
	errs      *lastError
}

func newFranz(bootstrap string) (client, error) {
	errs := &lastError{}
	cl, err := kgo.NewClient(franzOpts(bootstrap, errs, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, err
	}
	return &franz{bootstrap: bootstrap, cl: cl, adm: kadm.NewClient(cl), errs: errs}, nil
}

func franzOpts(bootstrap string, errs *lastError, more ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{
		kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.ClientID("interop-franz-go"),
		kgo.WithLogger(franzLogger{errs}),
		// kgo answers a Metadata request from its cache when younger than
		// this; the create/delete checks need fresh answers.
		kgo.MetadataMinAge(100 * time.Millisecond),
	}, more...)
}

// franzLogger records warnings and errors (group join failures and the like).
type franzLogger struct{ errs *lastError }

func (franzLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }
func (l franzLogger) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	l.errs.set(fmt.Sprint(append([]any{msg, " "}, keyvals...)...))
}

func (f *franz) close() { f.cl.Close() }

func (f *franz) create(ctx context.Context, topic string, partitions int32) error {
	resp, err := f.adm.CreateTopics(ctx, partitions, 1, nil, topic)
	if err != nil {
		return f.errs.wrap(err)
	}
	if err := resp[topic].Err; err != nil {
		return err
	}
	return waitFor(ctx, "topic listed after create", func() (bool, error) {
		td, err := f.adm.ListTopics(ctx)
		return err == nil && td.Has(topic), err
	})
}

func (f *franz) describe(ctx context.Context, topic string, partitions int32) error {
	td, err := f.adm.ListTopics(ctx, topic)
	if err != nil {
		return f.errs.wrap(err)
	}
	d, ok := td[topic]
	switch {
	case !ok:
		return fmt.Errorf("topic missing from metadata")
	case d.Err != nil:
		return d.Err
	case d.ID == kadm.TopicID{}:
		return fmt.Errorf("zero topic id")
	case len(d.Partitions) != int(partitions):
		return fmt.Errorf("%d partitions, want %d", len(d.Partitions), partitions)
	}
	for p, pd := range d.Partitions {
		if pd.Err != nil {
			return fmt.Errorf("partition %d: %w", p, pd.Err)
		}
		if pd.Leader < 0 {
			return fmt.Errorf("partition %d has no leader", p)
		}
	}
	return nil
}

func (f *franz) produce(ctx context.Context, topic string, recs []record) error {
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		krs[i] = kr
	}
	results := f.cl.ProduceSync(ctx, krs...)
	if err := results.FirstErr(); err != nil {
		return f.errs.wrap(err)
	}
	index := make(map[*kgo.Record]int, len(krs))
	for i, kr := range krs {
		index[kr] = i
	}
	// ProduceSync's results come in completion order, not input order.
	for _, res := range results {
		i := index[res.Record]
		if res.Record.Offset != recs[i].Offset || res.Record.Partition != recs[i].Partition {
			return fmt.Errorf("record %d acked at %d/%d, want %d/%d", i,
				res.Record.Partition, res.Record.Offset, recs[i].Partition, recs[i].Offset)
		}
	}
	return nil
}

func (f *franz) read(ctx context.Context, topic string, partitions int32, n int) ([]record, error) {
	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	errs := &lastError{}
	cl, err := kgo.NewClient(franzOpts(f.bootstrap, errs,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return franzPoll(ctx, cl, errs, n)
}

func franzPoll(ctx context.Context, cl *kgo.Client, errs *lastError, n int) ([]record, error) {
	var out []record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, errs.wrap(fmt.Errorf("read %d of %d records: %w", len(out), n, errTimeout))
		}
		fs.EachError(func(t string, p int32, err error) {
			errs.set(fmt.Sprintf("fetch %s/%d: %v", t, p, err))
		})
		fs.EachRecord(func(kr *kgo.Record) {
			r := record{Partition: kr.Partition, Offset: kr.Offset, Key: kr.Key, Value: kr.Value, Timestamp: kr.Timestamp}
			for _, h := range kr.Headers {
				r.Headers = append(r.Headers, header{Key: h.Key, Value: h.Value})
			}
			out = append(out, r)
		})
	}
	return out, nil
}

func (f *franz) groupRead(ctx context.Context, topic, group string, n int) ([]record, map[int32]int64, error) {
	errs := &lastError{}
	cl, err := kgo.NewClient(franzOpts(f.bootstrap, errs,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)...)
	if err != nil {
		return nil, nil, err
	}
	got, err := franzPoll(ctx, cl, errs, n)
	if err == nil {
		err = errs.wrap(cl.CommitUncommittedOffsets(ctx))
	}
	cl.Close() // leaves the group
	if err != nil {
		return got, nil, err
	}
	resp, err := f.adm.FetchOffsets(ctx, group)
	if err != nil {
		return got, nil, fmt.Errorf("fetch offsets: %w", err)
	}
	committed := map[int32]int64{}
	var ferr error
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic != topic {
			return
		}
		if o.Err != nil {
			ferr = o.Err
		}
		committed[o.Partition] = o.At
	})
	if ferr == nil {
		_, ferr = f.adm.DeleteGroup(ctx, group)
	}
	return got, committed, ferr
}

func (f *franz) delete(ctx context.Context, topic string) error {
	resp, err := f.adm.DeleteTopics(ctx, topic)
	if err != nil {
		return f.errs.wrap(err)
	}
	if err := resp[topic].Err; err != nil {
		return err
	}
	return waitFor(ctx, "topic gone after delete", func() (bool, error) {
		td, err := f.adm.ListTopics(ctx)
		return err == nil && !td.Has(topic), err
	})
}
