package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// samsa-private API keys, spoken only on the controller listener and never
// advertised by ApiVersions. Requests use Kafka's request header v1
// (int32 size, int16 key, int16 version, int32 correlation id, nullable
// client id) and responses header v0 (int32 size, int32 correlation id).
const (
	// KeyRaftMessage carries a batch of raft messages between voters.
	// Body: count int32, then per message: length int32, raftpb.Message
	// bytes. Response: error code int16.
	KeyRaftMessage int16 = 10000
	// KeyMetadataFetch: an observer fetches committed entries (see
	// fetchRequest and fetchResponse).
	KeyMetadataFetch int16 = 10001
	// KeyFetchSnapshot: an observer fetches a chunk of the snapshot a
	// MetadataFetch named (see snapRequest and snapResponse).
	KeyFetchSnapshot int16 = 10002
)

// IsPrivateKey reports whether an API key is one of this package's.
func IsPrivateKey(key int16) bool { return key >= KeyRaftMessage && key <= KeyFetchSnapshot }

// Kafka error codes the private APIs answer with.
const (
	errNone                  int16 = 0
	errBrokerNotAvailable    int16 = 8  // the node is closed
	errInconsistentVoterSet  int16 = 94 // a message for another node id
	errSnapshotNotFound      int16 = 98
	errPositionOutOfRange    int16 = 99
	maxMessagesPerBatch            = 1 << 16
	maxFetchEntriesPerAnswer       = 1 << 16
)

var errMalformed = errors.New("raft: malformed request")

// appendRequest appends a size-prefixed request frame.
func appendRequest(dst []byte, key, version int16, corr int32, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(2+2+4+2+len(body)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(key))
	dst = binary.BigEndian.AppendUint16(dst, uint16(version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	dst = append(dst, 0xff, 0xff) // null client id
	return append(dst, body...)
}

// appendResponse appends a size-prefixed response frame.
func appendResponse(dst []byte, corr int32, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(4+len(body)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	return append(dst, body...)
}

// readResponse reads one response frame into buf (grown if needed), the
// size bounded by max before anything is allocated.
func readResponse(r io.Reader, buf []byte, max int32) (int32, []byte, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 4 || n > max {
		return 0, nil, buf, fmt.Errorf("raft: response frame of %d bytes", n)
	}
	corr := int32(binary.BigEndian.Uint32(hdr[4:]))
	if cap(buf) < int(n-4) {
		buf = make([]byte, n-4)
	}
	buf = buf[:n-4]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, buf, err
	}
	return corr, buf, buf, nil
}

// appendMessages encodes a batch of marshalled raft messages.
func appendMessages(dst []byte, msgs [][]byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msgs)))
	for _, m := range msgs {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(m)))
		dst = append(dst, m...)
	}
	return dst
}

// decodeMessages decodes a KeyRaftMessage body and checks that each
// message is one a peer may send.
func decodeMessages(body []byte) ([]*pb.Message, error) {
	r := reader{b: body}
	n := r.u32()
	if r.err || n > maxMessagesPerBatch || uint64(n)*4 > uint64(len(r.b)) {
		return nil, fmt.Errorf("%w: message count", errMalformed)
	}
	msgs := make([]*pb.Message, 0, n)
	for range n {
		b := r.bytes()
		if r.err {
			return nil, fmt.Errorf("%w: message length", errMalformed)
		}
		m := new(pb.Message)
		if err := proto.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("%w: %w", errMalformed, err)
		}
		if err := checkMessage(m); err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errMalformed, len(r.b))
	}
	return msgs, nil
}

// checkMessage refuses message types no peer sends over the network
// (local ones, forwarded proposals: forwarding is off) and snapshots
// without their metadata.
func checkMessage(m *pb.Message) error {
	switch m.GetType() {
	case pb.MsgApp, pb.MsgAppResp, pb.MsgVote, pb.MsgVoteResp, pb.MsgPreVote, pb.MsgPreVoteResp,
		pb.MsgHeartbeat, pb.MsgHeartbeatResp, pb.MsgTimeoutNow, pb.MsgReadIndex, pb.MsgReadIndexResp:
	case pb.MsgSnap:
		md := m.GetSnapshot().GetMetadata()
		if md == nil || md.GetConfState() == nil || md.GetIndex() == 0 {
			return fmt.Errorf("%w: snapshot message without metadata", errMalformed)
		}
	default:
		return fmt.Errorf("%w: message type %v", errMalformed, m.GetType())
	}
	if m.GetSnapshot() != nil && m.GetType() != pb.MsgSnap {
		m.Snapshot = nil // older peers may send an empty one
	}
	return nil
}

// fetchRequest is a MetadataFetch (v0) body:
//
//	observer id int32 | from index int64 | max bytes int32 | max wait ms int32
type fetchRequest struct {
	observerID int32
	from       uint64
	maxBytes   int32
	maxWaitMs  int32
}

func (q *fetchRequest) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(q.observerID))
	dst = binary.BigEndian.AppendUint64(dst, q.from)
	dst = binary.BigEndian.AppendUint32(dst, uint32(q.maxBytes))
	return binary.BigEndian.AppendUint32(dst, uint32(q.maxWaitMs))
}

func decodeFetchRequest(b []byte) (fetchRequest, error) {
	r := reader{b: b}
	q := fetchRequest{observerID: int32(r.u32()), from: r.u64(), maxBytes: int32(r.u32()), maxWaitMs: int32(r.u32())}
	if r.err || len(r.b) != 0 || q.observerID < 0 || q.maxBytes < 0 || q.maxWaitMs < 0 || int64(q.from) < 0 {
		return q, fmt.Errorf("%w: MetadataFetch", errMalformed)
	}
	return q, nil
}

// fetchResponse is a MetadataFetch (v0) response body:
//
//	error code int16 | leader id int32 | epoch int64 | commit int64 |
//	next index int64 | snapshot index int64 | snapshot term int64 |
//	snapshot size int64 | count int32 | per entry: index int64, data bytes (int32 length)
//
// When snapshot index is nonzero the observer is below the log's first
// index: it fetches that snapshot (KeyFetchSnapshot) and continues from
// snapshot index + 1; count is then 0. Otherwise the entries are the
// committed state-machine entries from the request's index up to (not
// including) next index.
type fetchResponse struct {
	errorCode                     int16
	leaderID                      int32
	epoch, commit, next           uint64
	snapIndex, snapTerm, snapSize uint64
	entries                       []fetchedEntry
}

type fetchedEntry struct {
	index uint64
	data  []byte
}

func (p *fetchResponse) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(p.errorCode))
	dst = binary.BigEndian.AppendUint32(dst, uint32(p.leaderID))
	for _, v := range []uint64{p.epoch, p.commit, p.next, p.snapIndex, p.snapTerm, p.snapSize} {
		dst = binary.BigEndian.AppendUint64(dst, v)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p.entries)))
	for _, e := range p.entries {
		dst = binary.BigEndian.AppendUint64(dst, e.index)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.data)))
		dst = append(dst, e.data...)
	}
	return dst
}

// decodeFetchResponse decodes and checks a response to a fetch from
// index from: entries strictly increasing in [from, next).
func decodeFetchResponse(b []byte, from uint64) (fetchResponse, error) {
	r := reader{b: b}
	p := fetchResponse{errorCode: int16(r.u16()), leaderID: int32(r.u32())}
	p.epoch, p.commit, p.next = r.u64(), r.u64(), r.u64()
	p.snapIndex, p.snapTerm, p.snapSize = r.u64(), r.u64(), r.u64()
	n := r.u32()
	if r.err || n > maxFetchEntriesPerAnswer || uint64(n)*12 > uint64(len(r.b)) {
		return p, fmt.Errorf("%w: MetadataFetch response", errMalformed)
	}
	prev := uint64(0)
	for range n {
		e := fetchedEntry{index: r.u64(), data: r.bytes()}
		if r.err || e.index < from || e.index <= prev || e.index >= p.next {
			return p, fmt.Errorf("%w: MetadataFetch response entry", errMalformed)
		}
		prev = e.index
		p.entries = append(p.entries, e)
	}
	if len(r.b) != 0 || p.leaderID < -1 || (p.errorCode == errNone && p.snapIndex == 0 && p.next < from) ||
		(p.snapIndex != 0 && n != 0) || p.snapSize > 1<<40 {
		return p, fmt.Errorf("%w: MetadataFetch response", errMalformed)
	}
	return p, nil
}

// snapRequest is a FetchSnapshot (v0) body:
//
//	index int64 | term int64 | position int64 | max bytes int32
type snapRequest struct {
	index, term, position uint64
	maxBytes              int32
}

func (q *snapRequest) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, q.index)
	dst = binary.BigEndian.AppendUint64(dst, q.term)
	dst = binary.BigEndian.AppendUint64(dst, q.position)
	return binary.BigEndian.AppendUint32(dst, uint32(q.maxBytes))
}

func decodeSnapRequest(b []byte) (snapRequest, error) {
	r := reader{b: b}
	q := snapRequest{index: r.u64(), term: r.u64(), position: r.u64(), maxBytes: int32(r.u32())}
	if r.err || len(r.b) != 0 || q.maxBytes <= 0 || int64(q.position) < 0 {
		return q, fmt.Errorf("%w: FetchSnapshot", errMalformed)
	}
	return q, nil
}

// snapResponse is a FetchSnapshot (v0) response body:
//
//	error code int16 | size int64 | chunk bytes (int32 length)
type snapResponse struct {
	errorCode int16
	size      uint64
	chunk     []byte
}

func (p *snapResponse) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(p.errorCode))
	dst = binary.BigEndian.AppendUint64(dst, p.size)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p.chunk)))
	return append(dst, p.chunk...)
}

func decodeSnapResponse(b []byte) (snapResponse, error) {
	r := reader{b: b}
	p := snapResponse{errorCode: int16(r.u16()), size: r.u64(), chunk: r.bytes()}
	if r.err || len(r.b) != 0 || uint64(len(p.chunk)) > p.size {
		return p, fmt.Errorf("%w: FetchSnapshot response", errMalformed)
	}
	return p, nil
}
