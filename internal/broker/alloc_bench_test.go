package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

// BenchmarkProduceRequest sends acks=1 produce requests carrying one
// ~16 KiB batch over a raw connection and reports allocations per request
// across the whole process (the broker included).
//
//	go test -run '^$' -bench ProduceRequest -benchmem ./internal/broker/
func BenchmarkProduceRequest(b *testing.B) {
	n := samsatest.Start(b, samsatest.Config("log.flush.interval.messages", "9223372036854775807"))
	if _, err := kadm.NewClient(newClient(b, n.Addr())).CreateTopic(ctxT(b), 1, 1, nil, "alloc"); err != nil {
		b.Fatal(err)
	}
	c := rawConn(b, n.Addr())
	payload := idemBatch(-1, -1, -1, 160) // 160 records of ~100 bytes
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(9)
	pr.Acks = 1
	pr.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "alloc"
	rp := kmsg.NewProduceRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	pr.Topics = append(pr.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pr.Topics[0].Partitions[0].Records = append(pr.Topics[0].Partitions[0].Records[:0], payload...)
		c.roundTrip(b, pr, resp)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatalf("code %d", code)
		}
	}
}
