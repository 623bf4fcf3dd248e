package broker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Fetch response's hot path. kmsg encodes a response into one buffer,
// which for Fetch means copying every record byte once more after the
// segment read. appendFetchFrame encodes everything but the record bytes
// and says where each partition's records go (cuts/recs), so the writer
// can send the frame with one writev straight from the read buffers. It
// produces exactly kmsg's bytes (TestFetchFrameMatchesKmsg, every version
// 4–18) and covers what samsa's Fetch handler sets; responses with
// anything else (tagged partition fields, unknown tags) take kmsg's path
// (fetchFastOK).

// fetchFastOK reports whether appendFetchFrame can encode r.
func fetchFastOK(r *kmsg.FetchResponse) bool {
	if r.Version < 4 || r.Version > 18 || r.UnknownTags.Len() > 0 {
		return false
	}
	for i := range r.Topics {
		t := &r.Topics[i]
		if t.UnknownTags.Len() > 0 {
			return false
		}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.UnknownTags.Len() > 0 ||
				p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1 || p.DivergingEpoch.UnknownTags.Len() > 0 ||
				p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1 || p.CurrentLeader.UnknownTags.Len() > 0 ||
				p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1 || p.SnapshotID.UnknownTags.Len() > 0 {
				return false
			}
			for k := range p.AbortedTransactions {
				if p.AbortedTransactions[k].UnknownTags.Len() > 0 {
					return false
				}
			}
		}
	}
	for i := range r.Brokers {
		if r.Brokers[i].UnknownTags.Len() > 0 {
			return false
		}
	}
	return true
}

// appendFetchFrame appends the whole response frame (size, header, body)
// to buf, except the record bytes: for each non-empty RecordBatches it
// appends the position in buf where they belong to cuts and the bytes to
// recs. total is the frame's full length, records included.
func appendFetchFrame(buf []byte, correlationID int32, flexibleHeader bool, r *kmsg.FetchResponse,
	cuts []int, recs [][]byte) (_ []byte, _ []int, _ [][]byte, total int) {
	v := r.Version
	flex := v >= 12
	be := binary.BigEndian
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	buf = be.AppendUint32(buf, uint32(correlationID))
	if flexibleHeader {
		buf = append(buf, 0)
	}
	arrayLen := func(n int) {
		if flex {
			buf = binary.AppendUvarint(buf, uint64(n)+1)
		} else {
			buf = be.AppendUint32(buf, uint32(n))
		}
	}
	str := func(s string) {
		if flex {
			buf = binary.AppendUvarint(buf, uint64(len(s))+1)
		} else {
			buf = be.AppendUint16(buf, uint16(len(s)))
		}
		buf = append(buf, s...)
	}
	var recBytes int
	buf = be.AppendUint32(buf, uint32(r.ThrottleMillis))
	if v >= 7 {
		buf = be.AppendUint16(buf, uint16(r.ErrorCode))
		buf = be.AppendUint32(buf, uint32(r.SessionID))
	}
	arrayLen(len(r.Topics))
	for i := range r.Topics {
		t := &r.Topics[i]
		if v <= 12 {
			str(t.Topic)
		} else {
			buf = append(buf, t.TopicID[:]...)
		}
		arrayLen(len(t.Partitions))
		for j := range t.Partitions {
			p := &t.Partitions[j]
			buf = be.AppendUint32(buf, uint32(p.Partition))
			buf = be.AppendUint16(buf, uint16(p.ErrorCode))
			buf = be.AppendUint64(buf, uint64(p.HighWatermark))
			buf = be.AppendUint64(buf, uint64(p.LastStableOffset))
			if v >= 5 {
				buf = be.AppendUint64(buf, uint64(p.LogStartOffset))
			}
			switch {
			case p.AbortedTransactions == nil && flex:
				buf = append(buf, 0)
			case p.AbortedTransactions == nil:
				buf = be.AppendUint32(buf, 0xffffffff)
			default:
				arrayLen(len(p.AbortedTransactions))
				for _, a := range p.AbortedTransactions {
					buf = be.AppendUint64(buf, uint64(a.ProducerID))
					buf = be.AppendUint64(buf, uint64(a.FirstOffset))
					if flex {
						buf = append(buf, 0)
					}
				}
			}
			if v >= 11 {
				buf = be.AppendUint32(buf, uint32(p.PreferredReadReplica))
			}
			switch {
			case p.RecordBatches == nil && flex:
				buf = append(buf, 0)
			case p.RecordBatches == nil:
				buf = be.AppendUint32(buf, 0xffffffff)
			default:
				if flex {
					buf = binary.AppendUvarint(buf, uint64(len(p.RecordBatches))+1)
				} else {
					buf = be.AppendUint32(buf, uint32(len(p.RecordBatches)))
				}
				if len(p.RecordBatches) > 0 {
					cuts = append(cuts, len(buf))
					recs = append(recs, p.RecordBatches)
					recBytes += len(p.RecordBatches)
				}
			}
			if flex {
				buf = append(buf, 0) // no tagged fields (fetchFastOK)
			}
		}
		if flex {
			buf = append(buf, 0)
		}
	}
	if flex {
		if len(r.Brokers) == 0 {
			buf = append(buf, 0)
		} else {
			// One tagged field, tag 0: the node endpoints, sized.
			var body []byte
			body = binary.AppendUvarint(body, uint64(len(r.Brokers))+1)
			for _, b := range r.Brokers {
				body = be.AppendUint32(body, uint32(b.NodeID))
				body = binary.AppendUvarint(body, uint64(len(b.Host))+1)
				body = append(body, b.Host...)
				body = be.AppendUint32(body, uint32(b.Port))
				if b.Rack == nil {
					body = append(body, 0)
				} else {
					body = binary.AppendUvarint(body, uint64(len(*b.Rack))+1)
					body = append(body, *b.Rack...)
				}
				body = append(body, 0)
			}
			buf = append(buf, 1, 0)
			buf = binary.AppendUvarint(buf, uint64(len(body)))
			buf = append(buf, body...)
		}
	}
	total = len(buf) - start + recBytes
	be.PutUint32(buf[start:], uint32(total-4))
	return buf, cuts, recs, total
}
