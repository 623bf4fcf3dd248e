package seglog

import (
	"encoding/binary"
	"errors"
	"sort"
)

const (
	indexEntrySize = 8  // relOffset u32 | position u32
	timeEntrySize  = 12 // timestamp i64 | relOffset u32
)

// errBadIndex means an index file failed its sanity check; the caller rebuilds it.
var errBadIndex = errors.New("seglog: index file fails sanity check")

// indexEntry maps the base offset of a batch, relative to its segment's base
// offset, to the batch's byte position in the segment file.
type indexEntry struct{ rel, pos uint32 }

// timeEntry records that, when it was written, the largest timestamp in the
// segment was ts, held by the batch whose base offset is rel.
type timeEntry struct {
	ts  int64
	rel uint32
}

func encodeIndex(es []indexEntry) []byte {
	b := make([]byte, len(es)*indexEntrySize)
	for i, e := range es {
		binary.BigEndian.PutUint32(b[i*indexEntrySize:], e.rel)
		binary.BigEndian.PutUint32(b[i*indexEntrySize+4:], e.pos)
	}
	return b
}

func encodeTimeIndex(es []timeEntry) []byte {
	b := make([]byte, len(es)*timeEntrySize)
	for i, e := range es {
		binary.BigEndian.PutUint64(b[i*timeEntrySize:], uint64(e.ts))
		binary.BigEndian.PutUint32(b[i*timeEntrySize+8:], e.rel)
	}
	return b
}

// decodeIndex parses an offset index and checks it against its segment:
// offsets and positions strictly increasing, positions inside the file,
// offsets below the segment's end (maxRel = next - base).
func decodeIndex(b []byte, size int64, maxRel int64) ([]indexEntry, error) {
	if len(b)%indexEntrySize != 0 {
		return nil, errBadIndex
	}
	es := make([]indexEntry, len(b)/indexEntrySize)
	for i := range es {
		e := indexEntry{
			rel: binary.BigEndian.Uint32(b[i*indexEntrySize:]),
			pos: binary.BigEndian.Uint32(b[i*indexEntrySize+4:]),
		}
		if e.pos == 0 || int64(e.pos) >= size || int64(e.rel) >= maxRel ||
			(i > 0 && (e.rel <= es[i-1].rel || e.pos <= es[i-1].pos)) {
			return nil, errBadIndex
		}
		es[i] = e
	}
	return es, nil
}

// decodeTimeIndex parses a time index: timestamps and offsets non-decreasing,
// offsets below the segment's end.
func decodeTimeIndex(b []byte, maxRel int64) ([]timeEntry, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, errBadIndex
	}
	es := make([]timeEntry, len(b)/timeEntrySize)
	for i := range es {
		e := timeEntry{
			ts:  int64(binary.BigEndian.Uint64(b[i*timeEntrySize:])),
			rel: binary.BigEndian.Uint32(b[i*timeEntrySize+8:]),
		}
		if int64(e.rel) >= maxRel || (i > 0 && (e.ts < es[i-1].ts || e.rel < es[i-1].rel)) {
			return nil, errBadIndex
		}
		es[i] = e
	}
	return es, nil
}

// lookupIndex returns the last indexed batch whose base offset is <= rel: a
// batch at or before the one containing rel. (0, 0), the segment's first
// batch, when no entry qualifies.
func lookupIndex(es []indexEntry, rel uint32) indexEntry {
	i := sort.Search(len(es), func(i int) bool { return es[i].rel > rel })
	if i == 0 {
		return indexEntry{}
	}
	return es[i-1]
}

// lookupTime returns the relative offset from which a scan for the first batch
// with maxTimestamp >= ts may start: the offset of the last entry whose
// timestamp is < ts (every batch before it is too old), or 0.
func lookupTime(es []timeEntry, ts int64) uint32 {
	i := sort.Search(len(es), func(i int) bool { return es[i].ts >= ts })
	if i == 0 {
		return 0
	}
	return es[i-1].rel
}
