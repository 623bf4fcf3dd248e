package e2e

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFranzGo runs franz-go (kgo + kadm) against one samsa process.
func TestFranzGo(t *testing.T) {
	p := startSamsa(t, "")
	adm := kadm.NewClient(newClient(t, p.addr()))

	t.Run("create describe delete", func(t *testing.T) {
		ctx := ctxT(t, 20*time.Second)
		res, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "fg-admin")
		if err != nil || res["fg-admin"].Err != nil {
			t.Fatalf("create: %v %v", err, res["fg-admin"].Err)
		}
		again, _ := adm.CreateTopics(ctx, 1, 1, nil, "fg-admin")
		if !errors.Is(again["fg-admin"].Err, kerr.TopicAlreadyExists) {
			t.Fatalf("second create: want TOPIC_ALREADY_EXISTS, got %v", again["fg-admin"].Err)
		}
		md, err := adm.Metadata(ctx, "fg-admin")
		if err != nil {
			t.Fatal(err)
		}
		td := md.Topics["fg-admin"]
		if td.Err != nil || len(td.Partitions) != 3 || td.ID == (kadm.TopicID{}) {
			t.Fatalf("metadata: %+v", td)
		}
		rc, err := adm.DescribeTopicConfigs(ctx, "fg-admin")
		if err != nil {
			t.Fatal(err)
		}
		cfgs := map[string]kadm.Config{}
		for _, c := range rc[0].Configs {
			cfgs[c.Key] = c
		}
		if v := cfgs["retention.ms"]; v.Value == nil || *v.Value != "3600000" || v.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Fatalf("retention.ms: %+v", v)
		}
		if v := cfgs["segment.bytes"]; v.Value == nil || v.Source != kmsg.ConfigSourceDefaultConfig {
			t.Fatalf("segment.bytes should be reported with its default: %+v", v)
		}
		if len(cfgs) < 20 {
			t.Fatalf("describe configs returned only %d configs", len(cfgs))
		}
		ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")}}, "fg-admin")
		if err != nil || ar[0].Err != nil {
			t.Fatalf("alter: %v %+v", err, ar)
		}
		bad, _ := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("soon")}}, "fg-admin")
		if !errors.Is(bad[0].Err, kerr.InvalidConfig) {
			t.Fatalf("bad config value: want INVALID_CONFIG, got %v", bad[0].Err)
		}
		cp, err := adm.CreatePartitions(ctx, 2, "fg-admin")
		if err != nil || cp["fg-admin"].Err != nil {
			t.Fatalf("create partitions: %v %+v", err, cp)
		}
		md, _ = adm.Metadata(ctx, "fg-admin")
		if n := len(md.Topics["fg-admin"].Partitions); n != 5 {
			t.Fatalf("partitions after CreatePartitions: %d", n)
		}
		dr, err := adm.DeleteTopics(ctx, "fg-admin")
		if err != nil || dr["fg-admin"].Err != nil {
			t.Fatalf("delete: %v %+v", err, dr)
		}
		// Ask the broker directly: the client caches metadata.
		mreq := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("fg-admin")
		mreq.Topics = append(mreq.Topics, mt)
		mresp, err := mreq.RequestWith(ctx, rawBroker(t, p.addr()))
		if err != nil || mresp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("after delete: %v %+v", err, mresp)
		}
		dr, _ = adm.DeleteTopics(ctx, "fg-admin")
		if !errors.Is(dr["fg-admin"].Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("delete missing topic: want UNKNOWN_TOPIC_OR_PARTITION, got %v", dr["fg-admin"].Err)
		}
		inv, _ := adm.CreateTopics(ctx, 1, 1, nil, "bad/name")
		if !errors.Is(inv["bad/name"].Err, kerr.InvalidTopicException) {
			t.Fatalf("invalid name: got %v", inv["bad/name"].Err)
		}
		rf, _ := adm.CreateTopics(ctx, 1, 3, nil, "fg-rf3")
		if !errors.Is(rf["fg-rf3"].Err, kerr.InvalidReplicationFactor) {
			t.Fatalf("rf 3 on one node: got %v", rf["fg-rf3"].Err)
		}
	})

	for _, acks := range []struct {
		name string
		opt  kgo.Acks
		idem bool
	}{{"acks0", kgo.NoAck(), false}, {"acks1", kgo.LeaderAck(), false}, {"acksall", kgo.AllISRAcks(), false}, {"idempotent", kgo.AllISRAcks(), true}} {
		for _, codec := range []struct {
			name string
			c    kgo.CompressionCodec
		}{{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
			t.Run(acks.name+"/"+codec.name, func(t *testing.T) {
				topic := "fg-" + acks.name + "-" + codec.name
				opts := []kgo.Opt{kgo.RequiredAcks(acks.opt), kgo.ProducerBatchCompression(codec.c), kgo.DefaultProduceTopic(topic),
					kgo.AllowAutoTopicCreation()}
				if !acks.idem {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				produceConsume(t, p.addr(), topic, 300, opts...)
			})
		}
	}

	t.Run("timestamps and latest", func(t *testing.T) {
		ctx := ctxT(t, 20*time.Second)
		topic := "fg-ts"
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		cl := newClient(t, p.addr(), kgo.DefaultProduceTopic(topic))
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		for i := 0; i < 10; i++ {
			r := &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * time.Minute)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		lo, err := adm.ListOffsetsAfterMilli(ctx, base.Add(5*time.Minute).UnixMilli(), topic)
		if err != nil {
			t.Fatal(err)
		}
		if o := lo[topic][0].Offset; o != 5 {
			t.Fatalf("offset for timestamp: want 5, got %d", o)
		}
		end, _ := adm.ListEndOffsets(ctx, topic)
		start, _ := adm.ListStartOffsets(ctx, topic)
		if end[topic][0].Offset != 10 || start[topic][0].Offset != 0 {
			t.Fatalf("start %d end %d", start[topic][0].Offset, end[topic][0].Offset)
		}
		mx, err := adm.ListMaxTimestampOffsets(ctx, topic)
		if err != nil || mx[topic][0].Offset != 9 {
			t.Fatalf("max timestamp offset: %v %+v", err, mx[topic][0])
		}
		// Consume from a timestamp.
		c := newClient(t, p.addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			topic: {0: kgo.NewOffset().AfterMilli(base.Add(7 * time.Minute).UnixMilli())}}))
		got := poll(t, c, 3)
		if string(got[0].Value) != "7" || string(got[2].Value) != "9" {
			t.Fatalf("consume from timestamp: %q..%q", got[0].Value, got[2].Value)
		}
		// Consume from latest sees only new records.
		l := newClient(t, p.addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
		l.PollRecords(ctxT(t, 500*time.Millisecond), 1) // join at the end
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("new")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		got = poll(t, l, 1)
		if string(got[0].Value) != "new" {
			t.Fatalf("latest: got %q", got[0].Value)
		}
		// DeleteRecords moves the log start offset.
		dr, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {At: 4}}})
		if err != nil || dr[topic][0].Err != nil || dr[topic][0].LowWatermark != 4 {
			t.Fatalf("delete records: %v %+v", err, dr)
		}
		start, _ = adm.ListStartOffsets(ctx, topic)
		if start[topic][0].Offset != 4 {
			t.Fatalf("start after delete records: %d", start[topic][0].Offset)
		}
	})

	t.Run("multi partition fetch", func(t *testing.T) {
		ctx := ctxT(t, 30*time.Second)
		topic := "fg-multi"
		if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		cl := newClient(t, p.addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		for i := 0; i < 600; i++ {
			cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, p.addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxPartitionBytes(512), kgo.FetchMaxBytes(4096))
		got := poll(t, c, 600)
		parts := map[int32]int{}
		for _, r := range got {
			parts[r.Partition]++
		}
		if len(parts) != 6 {
			t.Fatalf("records from %d partitions, want 6: %v", len(parts), parts)
		}
	})

	t.Run("errors", func(t *testing.T) {
		ctx := ctxT(t, 20*time.Second)
		cl := newClient(t, p.addr())
		// Unknown topic without auto-create.
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("fg-does-not-exist")
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = false
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("unknown topic: code %d", resp.Topics[0].ErrorCode)
		}
		// Produce to an unknown partition.
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, "fg-err"); err != nil {
			t.Fatal(err)
		}
		pr := newClient(t, p.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(1),
			kgo.RecordDeliveryTimeout(2*time.Second))
		err = pr.ProduceSync(ctx, &kgo.Record{Topic: "fg-err", Partition: 5, Value: []byte("x")}).FirstErr()
		if err == nil {
			t.Fatal("produce to a missing partition succeeded")
		}
		// Fetch out of range.
		f := kmsg.NewPtrFetchRequest()
		f.MaxWaitMillis = 10
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "fg-err"
		emd, _ := adm.Metadata(ctx, "fg-err")
		ft.TopicID = emd.Topics["fg-err"].ID
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset = 1000
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		f.Topics = append(f.Topics, ft)
		fr, err := f.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if c := fr.Topics[0].Partitions[0].ErrorCode; c != kerr.OffsetOutOfRange.Code {
			t.Fatalf("fetch past the end: code %d", c)
		}
	})
}

// produceConsume produces n keyed records with headers and reads them back exactly.
func produceConsume(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	cl := newClient(t, addr, opts...)
	for i := 0; i < n; i++ {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("value-%d-%s", i, topic)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}}}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := poll(t, c, n)
	sort.Slice(got, func(i, j int) bool { return got[i].Offset < got[j].Offset })
	for i, r := range got {
		want := fmt.Sprintf("value-%d-%s", i, topic)
		if string(r.Value) != want || string(r.Key) != fmt.Sprintf("k%d", i) || len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprint(i) {
			t.Fatalf("record %d: key %q value %q headers %v", i, r.Key, r.Value, r.Headers)
		}
		if r.Offset != int64(i) {
			t.Fatalf("record %d at offset %d", i, r.Offset)
		}
	}
}

// poll reads exactly n records or fails.
func poll(t *testing.T, c *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	var out []*kgo.Record
	for len(out) < n {
		fs := c.PollRecords(ctx, n-len(out))
		if err := ctx.Err(); err != nil {
			t.Fatalf("polled %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("polled %d records, want %d", len(out), n)
	}
	return out
}

// rawBroker returns a handle that sends requests to the broker as they
// are, without the client's metadata cache.
func rawBroker(t *testing.T, addr string) *kgo.Broker {
	cl := newClient(t, addr)
	return cl.Broker(1)
}
