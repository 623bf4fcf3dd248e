package client

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

// TestRequestResponsesDoNotShareBuffers: a response returned by
// Client.Request keeps its []byte fields (here Fetch record batches)
// intact after later responses arrive on the same connection; kmsg
// decodes them as slices of the connection's read buffer.
func TestRequestResponsesDoNotShareBuffers(t *testing.T) {
	n := samsatest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := NewProducer(SeedBrokers(n.Addr()), AllowAutoTopicCreation(), Linger(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		v := bytes.Repeat([]byte{byte('a' + i)}, 100)
		if err := p.ProduceSync(ctx, &Record{Topic: "alias", Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close(ctx)
	cl, err := New(SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	meta, err := cl.RefreshMetadata(ctx, "alias")
	if err != nil {
		t.Fatal(err)
	}
	var id int32
	for id = range meta.Brokers {
		break
	}
	fetch := func(offset int64) []byte {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "alias", meta.Topics["alias"].ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := cl.Request(ctx, id, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches
	}
	first := fetch(0)
	want := append([]byte(nil), first...)
	if len(want) == 0 {
		t.Fatal("no records fetched")
	}
	for i := 0; i < 3; i++ {
		fetch(1)
	}
	if !bytes.Equal(first, want) {
		t.Fatal("an earlier response's record batches changed when later responses were read")
	}
}
