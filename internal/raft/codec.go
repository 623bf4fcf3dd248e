package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	pb "go.etcd.io/raft/v3/raftpb"
)

// On-disk encodings. Every integer is big-endian.
//
// A WAL segment is a sequence of records:
//
//	length u32 (of kind + payload) | crc32c u32 (of kind + payload) | kind u8 | payload
//
// kinds:
//
//	recMarker    index u64 | term u64: the log below index is the snapshot
//	             (index, term); every entry replayed so far is dropped (the
//	             segment that carries a marker rewrites the entries it keeps)
//	recHardState term u64 | vote u64 | commit u64
//	recEntry     index u64 | term u64 | type u8 | data
//
// A snapshot file (snapshot-<index>-<term>.snap) is:
//
//	magic [8]byte | crc32c u32 (of everything after it) | index u64 | term u64 |
//	confstate | data length u64 | data
//
// confstate is four id lists (voters, learners, outgoing voters, next
// learners), each count u32 | ids u64…, then auto_leave u8.

const (
	recMarker    = 1
	recHardState = 2
	recEntry     = 3

	recHeader = 9 // length, crc, kind

	// maxIDs bounds a decoded id list: a quorum has a handful of voters.
	maxIDs = 1 << 16
)

var (
	crcTable  = crc32.MakeTable(crc32.Castagnoli)
	snapMagic = [8]byte{'s', 'a', 'm', 's', 'a', 'S', 'N', 1}

	// errCorrupt marks bytes that cannot have been written by this package.
	errCorrupt = errors.New("raft: corrupt")
)

// record is one decoded WAL record.
type record struct {
	kind byte
	// marker
	index, term uint64
	// hard state
	hs hardState
	// entry
	ent *pb.Entry
}

// hardState is raft's HardState as plain values.
type hardState struct{ term, vote, commit uint64 }

func (h hardState) pb() *pb.HardState {
	return &pb.HardState{Term: new(h.term), Vote: new(h.vote), Commit: new(h.commit)}
}

func hardStateOf(h *pb.HardState) hardState {
	return hardState{h.GetTerm(), h.GetVote(), h.GetCommit()}
}

func appendRecord(dst []byte, kind byte, payload func([]byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, kind)
	dst = payload(dst)
	body := dst[start+8:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, crcTable))
	return dst
}

func appendMarker(dst []byte, index, term uint64) []byte {
	return appendRecord(dst, recMarker, func(b []byte) []byte {
		b = binary.BigEndian.AppendUint64(b, index)
		return binary.BigEndian.AppendUint64(b, term)
	})
}

func appendHardState(dst []byte, h hardState) []byte {
	return appendRecord(dst, recHardState, func(b []byte) []byte {
		b = binary.BigEndian.AppendUint64(b, h.term)
		b = binary.BigEndian.AppendUint64(b, h.vote)
		return binary.BigEndian.AppendUint64(b, h.commit)
	})
}

func appendEntry(dst []byte, e *pb.Entry) []byte {
	return appendRecord(dst, recEntry, func(b []byte) []byte {
		b = binary.BigEndian.AppendUint64(b, e.GetIndex())
		b = binary.BigEndian.AppendUint64(b, e.GetTerm())
		b = append(b, byte(e.GetType()))
		return append(b, e.GetData()...)
	})
}

// decodeRecord decodes the record at the start of b. It returns the record
// and its encoded size, or errTorn when b ends inside the record or its
// checksum does not match (a torn write), or an errCorrupt error when the
// record is checksummed but malformed.
func decodeRecord(b []byte) (record, int, error) {
	if len(b) < recHeader {
		return record{}, 0, errTorn
	}
	n := binary.BigEndian.Uint32(b)
	if n < 1 || uint64(n) > uint64(len(b)-8) {
		return record{}, 0, errTorn
	}
	body := b[8 : 8+n]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(b[4:]) {
		return record{}, 0, errTorn
	}
	r := record{kind: body[0]}
	p := body[1:]
	switch r.kind {
	case recMarker:
		if len(p) != 16 {
			return record{}, 0, fmt.Errorf("%w: marker of %d bytes", errCorrupt, len(p))
		}
		r.index = binary.BigEndian.Uint64(p)
		r.term = binary.BigEndian.Uint64(p[8:])
	case recHardState:
		if len(p) != 24 {
			return record{}, 0, fmt.Errorf("%w: hard state of %d bytes", errCorrupt, len(p))
		}
		r.hs = hardState{binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:]), binary.BigEndian.Uint64(p[16:])}
	case recEntry:
		if len(p) < 17 {
			return record{}, 0, fmt.Errorf("%w: entry of %d bytes", errCorrupt, len(p))
		}
		typ := pb.EntryType(p[16])
		if _, ok := pb.EntryType_name[int32(typ)]; !ok {
			return record{}, 0, fmt.Errorf("%w: entry type %d", errCorrupt, p[16])
		}
		idx, term := binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:])
		if idx == 0 {
			return record{}, 0, fmt.Errorf("%w: entry index 0", errCorrupt)
		}
		r.ent = &pb.Entry{Index: new(idx), Term: new(term), Type: typ.Enum()}
		if len(p) > 17 {
			r.ent.Data = append([]byte(nil), p[17:]...)
		}
	default:
		return record{}, 0, fmt.Errorf("%w: record kind %d", errCorrupt, r.kind)
	}
	return r, 8 + int(n), nil
}

var errTorn = errors.New("raft: torn record")

// snapFile is a decoded snapshot file.
type snapFile struct {
	index, term uint64
	cs          *pb.ConfState
	data        []byte
}

func (s *snapFile) pb() *pb.Snapshot {
	return &pb.Snapshot{
		Data: s.data,
		Metadata: &pb.SnapshotMetadata{
			Index:     new(s.index),
			Term:      new(s.term),
			ConfState: cloneConfState(s.cs),
		},
	}
}

func encodeSnapFile(s *snapFile) []byte {
	b := make([]byte, 0, 64+len(s.data))
	b = append(b, snapMagic[:]...)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, s.index)
	b = binary.BigEndian.AppendUint64(b, s.term)
	cs := s.cs
	for _, ids := range [][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
		for _, id := range ids {
			b = binary.BigEndian.AppendUint64(b, id)
		}
	}
	if cs.GetAutoLeave() {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(s.data)))
	b = append(b, s.data...)
	binary.BigEndian.PutUint32(b[8:], crc32.Checksum(b[12:], crcTable))
	return b
}

func decodeSnapFile(b []byte) (*snapFile, error) {
	if len(b) < 12 || [8]byte(b[:8]) != snapMagic {
		return nil, fmt.Errorf("%w: not a snapshot file", errCorrupt)
	}
	if crc32.Checksum(b[12:], crcTable) != binary.BigEndian.Uint32(b[8:]) {
		return nil, fmt.Errorf("%w: snapshot checksum mismatch", errCorrupt)
	}
	r := reader{b: b[12:]}
	s := &snapFile{index: r.u64(), term: r.u64()}
	var lists [4][]uint64
	for i := range lists {
		n := r.u32()
		if n > maxIDs || uint64(n)*8 > uint64(len(r.b)) {
			return nil, fmt.Errorf("%w: snapshot id list of %d", errCorrupt, n)
		}
		for range n {
			lists[i] = append(lists[i], r.u64())
		}
	}
	auto := r.u8()
	n := r.u64()
	if r.err || auto > 1 || n != uint64(len(r.b)) {
		return nil, fmt.Errorf("%w: malformed snapshot file", errCorrupt)
	}
	if s.index == 0 {
		return nil, fmt.Errorf("%w: snapshot at index 0", errCorrupt)
	}
	s.cs = &pb.ConfState{Voters: lists[0], Learners: lists[1], VotersOutgoing: lists[2], LearnersNext: lists[3], AutoLeave: new(auto == 1)}
	s.data = r.b
	return s, nil
}

func cloneConfState(cs *pb.ConfState) *pb.ConfState {
	return &pb.ConfState{
		Voters:         append([]uint64(nil), cs.GetVoters()...),
		Learners:       append([]uint64(nil), cs.GetLearners()...),
		VotersOutgoing: append([]uint64(nil), cs.GetVotersOutgoing()...),
		LearnersNext:   append([]uint64(nil), cs.GetLearnersNext()...),
		AutoLeave:      new(cs.GetAutoLeave()),
	}
}

// reader reads big-endian values, remembering the first short read.
type reader struct {
	b   []byte
	err bool
}

func (r *reader) take(n int) []byte {
	if r.err || n < 0 || len(r.b) < n {
		r.err = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// bytes reads an int32 length and that many bytes (a copy is not made).
func (r *reader) bytes() []byte {
	n := int32(r.u32())
	if n < 0 {
		r.err = true
		return nil
	}
	return r.take(int(n))
}
