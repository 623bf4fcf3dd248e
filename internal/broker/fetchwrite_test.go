package broker

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/wire"
)

// randomFetchResponse builds a response of version v with what samsa's
// Fetch handler sets, plus the shapes it may take (null or empty record
// sets and aborted lists, errors, topic ids, node endpoints).
func randomFetchResponse(rng *rand.Rand, v int16) *kmsg.FetchResponse {
	r := kmsg.NewPtrFetchResponse()
	r.SetVersion(v)
	r.ThrottleMillis = rng.Int32N(1000)
	r.ErrorCode = int16(rng.IntN(3))
	r.SessionID = rng.Int32()
	for range rng.IntN(4) {
		t := kmsg.NewFetchResponseTopic()
		name := make([]byte, rng.IntN(300))
		for i := range name {
			name[i] = byte('a' + rng.IntN(26))
		}
		t.Topic = string(name)
		for i := range t.TopicID {
			t.TopicID[i] = byte(rng.Uint32())
		}
		for range rng.IntN(5) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = rng.Int32N(100)
			p.ErrorCode = int16(rng.IntN(2) * 6)
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64N(1000)-1
			p.PreferredReadReplica = rng.Int32N(3) - 1
			switch rng.IntN(3) {
			case 1:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			case 2:
				for range 1 + rng.IntN(3) {
					p.AbortedTransactions = append(p.AbortedTransactions, kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: rng.Int64(), FirstOffset: rng.Int64()})
				}
			}
			switch rng.IntN(3) {
			case 1:
				p.RecordBatches = []byte{}
			case 2:
				p.RecordBatches = make([]byte, 1+rng.IntN(5000))
				for i := range p.RecordBatches {
					p.RecordBatches[i] = byte(rng.Uint32())
				}
			}
			t.Partitions = append(t.Partitions, p)
		}
		r.Topics = append(r.Topics, t)
	}
	if rng.IntN(2) == 0 {
		for range 1 + rng.IntN(3) {
			b := kmsg.NewFetchResponseBroker()
			b.NodeID, b.Host, b.Port = rng.Int32N(10), "broker.example", rng.Int32N(65536)
			if rng.IntN(2) == 0 {
				rack := "rack-1"
				b.Rack = &rack
			}
			r.Brokers = append(r.Brokers, b)
		}
	}
	return r
}

// The hand-written Fetch frame, with the record bytes put back at its
// cuts, is byte for byte what kmsg encodes, in every version samsa serves.
func TestFetchFrameMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for v := int16(4); v <= 18; v++ {
		for range 300 {
			r := randomFetchResponse(rng, v)
			flexHdr := wire.ResponseHeaderFlexible(1, v >= 12)
			want := wire.AppendResponse(nil, 42, flexHdr, r)
			if !fetchFastOK(r) {
				t.Fatalf("v%d: fast path refused a response samsa builds", v)
			}
			buf, cuts, recs, total := appendFetchFrame(nil, 42, flexHdr, r, nil, nil)
			var got []byte
			at := 0
			for i, c := range cuts {
				got = append(got, buf[at:c]...)
				got = append(got, recs[i]...)
				at = c
			}
			got = append(got, buf[at:]...)
			if total != len(got) || !bytes.Equal(got, want) {
				t.Fatalf("v%d: hand-written frame differs from kmsg's (%d vs %d bytes, total %d)", v, len(got), len(want), total)
			}
		}
	}
	// Anything the fast path does not write goes to kmsg.
	r := randomFetchResponse(rng, 12)
	p := kmsg.NewFetchResponseTopicPartition()
	p.CurrentLeader.LeaderID = 1
	r.Topics = append(r.Topics, kmsg.FetchResponseTopic{Topic: "x", Partitions: []kmsg.FetchResponseTopicPartition{p}})
	if fetchFastOK(r) {
		t.Fatal("a partition with CurrentLeader set took the fast path")
	}
}
