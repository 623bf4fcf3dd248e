package raft

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FuzzReplay: any segment bytes decode to an error or to a contiguous log,
// never a panic.
func FuzzReplay(f *testing.F) {
	seg := appendMarker(nil, 5, 2)
	seg = appendEntry(seg, ent(5, 2, "a"))
	seg = appendEntry(seg, ent(6, 2, "b"))
	seg = appendHardState(seg, hardState{3, 1, 6})
	seg = appendEntry(seg, ent(6, 3, "c"))
	f.Add(seg, false)
	f.Add(seg[:len(seg)-4], false)
	f.Add(appendMarker(nil, 1, 1), false)
	f.Add([]byte{}, false)
	// Framed: a marker (5, 2), entries 5 and 6 of term 2, a hard state.
	framed := []byte{recMarker, 16, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 2}
	for _, i := range []byte{5, 6} {
		framed = append(framed, recEntry, 18, 0, 0, 0, 0, 0, 0, 0, i, 0, 0, 0, 0, 0, 0, 0, 2, 0, 'x')
	}
	framed = append(framed, recHardState, 24)
	framed = append(framed, make([]byte, 24)...)
	f.Add(framed, true)
	f.Fuzz(func(t *testing.T, b []byte, frame bool) {
		if frame {
			// b is a list of (kind u8, length u8, payload): give each
			// a valid checksum, so that the fuzzer explores past it.
			var seg []byte
			for len(b) >= 2 {
				kind, n := b[0], min(int(b[1]), len(b)-2)
				p := b[2 : 2+n]
				seg = appendRecord(seg, kind, func(d []byte) []byte { return append(d, p...) })
				b = b[2+n:]
			}
			b = seg
		}
		st, err := replay(b)
		if err != nil {
			return
		}
		if st.snapIndex == 0 || st.good > int64(len(b)) {
			t.Fatalf("replayed %+v from %d bytes", st, len(b))
		}
		for i, e := range st.ents {
			if i > 0 && e.GetIndex() != st.ents[i-1].GetIndex()+1 {
				t.Fatalf("entries not contiguous at %d", i)
			}
		}
		if len(st.ents) > 0 && st.ents[0].GetIndex() > st.snapIndex+1 {
			t.Fatalf("first entry %d after snapshot %d", st.ents[0].GetIndex(), st.snapIndex)
		}
	})
}

// FuzzSnapFile: a snapshot file decodes to an error, or to a snapshot that
// encodes back to the same bytes.
func FuzzSnapFile(f *testing.F) {
	f.Add(encodeSnapFile(&snapFile{index: 3, term: 2, cs: testCS, data: []byte("x")}), false)
	f.Add(encodeSnapFile(&snapFile{index: 1, term: 1, cs: &pb.ConfState{}}), true)
	f.Fuzz(func(t *testing.T, b []byte, fixCRC bool) {
		if fixCRC && len(b) >= 12 {
			// Past the checksum, so that the fuzzer explores the fields.
			binary.BigEndian.PutUint32(b[8:], crc32.Checksum(b[12:], crcTable))
		}
		s, err := decodeSnapFile(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeSnapFile(s), b) {
			t.Fatal("snapshot file does not round-trip")
		}
	})
}

// FuzzRaftMessages: a KeyRaftMessage body decodes to an error or to
// messages of the types a peer sends.
func FuzzRaftMessages(f *testing.F) {
	app, _ := proto.Marshal(&pb.Message{Type: pb.MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)), Entries: []*pb.Entry{ent(3, 2, "x")}})
	snap, _ := proto.Marshal(&pb.Message{Type: pb.MsgSnap.Enum(), To: new(uint64(2)), From: new(uint64(1)),
		Snapshot: (&snapFile{index: 4, term: 2, cs: testCS, data: []byte("s")}).pb()})
	f.Add(appendMessages(nil, [][]byte{app, snap}))
	f.Add(appendMessages(nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := decodeMessages(b)
		if err != nil {
			return
		}
		for _, m := range msgs {
			if checkMessage(m) != nil {
				t.Fatalf("decoded an unchecked message %v", m)
			}
		}
	})
}

// FuzzFetch: MetadataFetch and FetchSnapshot bodies, requests and
// responses, decode to an error or round-trip.
func FuzzFetch(f *testing.F) {
	q := fetchRequest{observerID: 7, from: 3, maxBytes: 100, maxWaitMs: 500}
	f.Add(byte(0), q.append(nil))
	r := fetchResponse{leaderID: 1, epoch: 2, commit: 9, next: 6, entries: []fetchedEntry{{3, []byte("a")}, {5, []byte("b")}}}
	f.Add(byte(1), r.append(nil))
	r = fetchResponse{leaderID: -1, snapIndex: 4, snapTerm: 2, snapSize: 10, next: 3}
	f.Add(byte(1), r.append(nil))
	sq := snapRequest{index: 4, term: 2, position: 5, maxBytes: 5}
	f.Add(byte(2), sq.append(nil))
	sr := snapResponse{size: 10, chunk: []byte("chunk")}
	f.Add(byte(3), sr.append(nil))
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		var again []byte
		switch kind % 4 {
		case 0:
			q, err := decodeFetchRequest(b)
			if err != nil {
				return
			}
			again = q.append(nil)
		case 1:
			p, err := decodeFetchResponse(b, 3)
			if err != nil {
				return
			}
			again = p.append(nil)
		case 2:
			q, err := decodeSnapRequest(b)
			if err != nil {
				return
			}
			again = q.append(nil)
		case 3:
			p, err := decodeSnapResponse(b)
			if err != nil {
				return
			}
			again = p.append(nil)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("kind %d does not round-trip", kind%4)
		}
	})
}
