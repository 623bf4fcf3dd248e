package client

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
)

// fuzzSet is a produce set of three batches, as the broker goroutine would
// send them: a[0], a[1], b[0].
func fuzzSet(version int16) *produceSet {
	set := &produceSet{}
	set.req.Version = version
	for _, tp := range []struct {
		topic string
		p     int32
	}{{"a", 0}, {"a", 1}, {"b", 0}} {
		set.batches = append(set.batches, &recBatch{pp: &partitionProducer{topic: tp.topic, partition: tp.p}})
	}
	return set
}

// FuzzProduceResponse: the producer decodes Produce responses by hand
// (produceSet.decode). Any bytes must decode or fail, never crash or read
// out of bounds; a response kmsg encodes must decode to its values.
func FuzzProduceResponse(f *testing.F) {
	for v := int16(3); v <= 12; v++ {
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(v)
		for _, name := range []string{"a", "b"} {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = name
			for p := int32(0); p < 2; p++ {
				pr := kmsg.NewProduceResponseTopicPartition()
				pr.Partition, pr.BaseOffset = p, 100*int64(p)+int64(len(name))
				t.Partitions = append(t.Partitions, pr)
			}
			resp.Topics = append(resp.Topics, t)
		}
		f.Add(uint8(v), resp.AppendTo(nil), int64(7))
	}
	f.Fuzz(func(t *testing.T, v uint8, body []byte, base int64) {
		version := 3 + int16(v%10)
		set := fuzzSet(version)
		_ = set.decode(body)
		_, _ = skipTags(body)

		// A well-formed response decodes to its values.
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(version)
		for _, b := range fuzzSet(version).batches {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = b.pp.topic
			pr := kmsg.NewProduceResponseTopicPartition()
			pr.Partition, pr.BaseOffset = b.pp.partition, base+int64(b.pp.partition)
			if len(body) > 0 && body[0]%3 == 0 {
				pr.ErrorCode = ErrNotLeaderOrFollower.Code
			}
			t.Partitions = append(t.Partitions, pr)
			resp.Topics = append(resp.Topics, t)
		}
		set = fuzzSet(version)
		if err := set.decode(resp.AppendTo(nil)); err != nil {
			t.Fatalf("v%d: a kmsg-encoded response failed to decode: %v", version, err)
		}
		for _, b := range set.batches {
			if !b.res.found || b.res.baseOffset != base+int64(b.pp.partition) {
				t.Fatalf("v%d: %s[%d] decoded as %+v", version, b.pp.topic, b.pp.partition, b.res)
			}
			if wantErr := len(body) > 0 && body[0]%3 == 0; (b.res.err != nil) != wantErr {
				t.Fatalf("v%d: %s[%d] error %v, want one: %v", version, b.pp.topic, b.pp.partition, b.res.err, wantErr)
			}
		}
	})
}

// FuzzDecodeBatches: the consumer turns fetched record batches into
// records. Any bytes must decode or fail, never crash, and no record
// below the fetch offset may come out.
func FuzzDecodeBatches(f *testing.F) {
	f.Add([]byte{}, int64(0))
	f.Add(bytes.Repeat([]byte{0}, 61), int64(0))
	for _, c := range []batch.Codec{batch.CodecNone, batch.CodecLZ4} {
		var data []byte
		for base := int64(0); base < 20; base += 10 {
			spec := batch.BatchSpec{BaseOffset: base, Codec: c, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
			for i := range 10 {
				spec.Records = append(spec.Records, batch.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte("value"),
					Headers: []batch.RecordHeader{{Key: "h", Value: []byte("v")}}})
			}
			var err error
			if data, err = batch.Build(data, spec); err != nil {
				f.Fatal(err)
			}
		}
		// The seed itself: records 5..19, in order.
		p := kmsg.NewFetchResponseTopicPartition()
		p.RecordBatches = data
		recs, next, err := decodeBatches(TopicPartition{"t", 0}, &p, 5, 1<<20)
		if err != nil || len(recs) != 15 || next != 20 || recs[0].Offset != 5 || recs[14].Offset != 19 || string(recs[3].Value) != "value" {
			f.Fatalf("%v seed: %d records, next %d, err %v", c, len(recs), next, err)
		}
		f.Add(data, int64(5))
	}
	f.Fuzz(func(t *testing.T, data []byte, from int64) {
		p := kmsg.NewFetchResponseTopicPartition()
		p.RecordBatches = data
		recs, next, _ := decodeBatches(TopicPartition{"t", 0}, &p, from, 1<<20)
		if next < from {
			t.Fatalf("next %d below the fetch offset %d", next, from)
		}
		for _, r := range recs {
			if r.Offset < from {
				t.Fatalf("record at %d below the fetch offset %d", r.Offset, from)
			}
		}
	})
}
