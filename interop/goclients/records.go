package main

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// record is a client-neutral record; nil Key or Value means null.
type record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []header
	Timestamp time.Time
}

type header struct {
	Key   string
	Value []byte
}

const numRecords = 30

var baseTimestamp = time.UnixMilli(1_700_000_000_000)

// expected is the record set every producing scenario writes (the same as the
// Java row's): spread over the partitions in a fixed pattern, with a null key,
// a null value, an empty header value and a repeated header key.
func expected(partitions int32) []record {
	out := make([]record, 0, numRecords)
	next := make([]int64, partitions)
	for i := 0; i < numRecords; i++ {
		r := record{
			Partition: int32(i) % partitions,
			Headers: []header{
				{Key: "h-index", Value: []byte(strconv.Itoa(i))},
				{Key: "h-empty", Value: []byte{}},
			},
			Timestamp: baseTimestamp.Add(time.Duration(i) * time.Millisecond),
		}
		r.Offset = next[r.Partition]
		next[r.Partition]++
		if i != 0 {
			r.Key = []byte("key-" + strconv.Itoa(i))
		}
		if i != 1 {
			r.Value = []byte("value-" + strconv.Itoa(i) + "-" + strings.Repeat("x", i))
		}
		if i%5 == 0 {
			r.Headers = append(r.Headers, header{Key: "h-index", Value: []byte("again")})
		}
		out = append(out, r)
	}
	return out
}

// partitionOf maps a record key to the partition expected() put it on, for
// clients whose writer chooses partitions with a balancer.
func partitionOf(key []byte, partitions int) int {
	if key == nil {
		return 0
	}
	i, err := strconv.Atoi(strings.TrimPrefix(string(key), "key-"))
	if err != nil {
		return 0
	}
	return i % partitions
}

// compare checks that got holds exactly want: per partition, in order, at
// offsets 0.., with equal keys, values, headers and timestamps. Null and
// empty byte slices compare equal, since not every Go client keeps them apart.
func compare(want, got []record) error {
	if len(got) != len(want) {
		return fmt.Errorf("read %d records, want %d", len(got), len(want))
	}
	by := func(rs []record) map[int32][]record {
		m := map[int32][]record{}
		for _, r := range rs {
			m[r.Partition] = append(m[r.Partition], r)
		}
		for _, l := range m {
			sort.SliceStable(l, func(i, j int) bool { return l[i].Offset < l[j].Offset })
		}
		return m
	}
	wantBy, gotBy := by(want), by(got)
	for p, ws := range wantBy {
		gs := gotBy[p]
		if len(gs) != len(ws) {
			return fmt.Errorf("partition %d: %d records, want %d", p, len(gs), len(ws))
		}
		for i, w := range ws {
			g := gs[i]
			at := fmt.Sprintf("partition %d offset %d", p, g.Offset)
			switch {
			case g.Offset != w.Offset:
				return fmt.Errorf("%s: want offset %d", at, w.Offset)
			case !bytes.Equal(g.Key, w.Key):
				return fmt.Errorf("%s: key %q, want %q", at, g.Key, w.Key)
			case !bytes.Equal(g.Value, w.Value):
				return fmt.Errorf("%s: value %q, want %q", at, g.Value, w.Value)
			case !g.Timestamp.Equal(w.Timestamp):
				return fmt.Errorf("%s: timestamp %d, want %d", at, g.Timestamp.UnixMilli(), w.Timestamp.UnixMilli())
			case showHeaders(g.Headers) != showHeaders(w.Headers):
				return fmt.Errorf("%s: headers %s, want %s", at, showHeaders(g.Headers), showHeaders(w.Headers))
			}
		}
	}
	return nil
}

func showHeaders(hs []header) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = fmt.Sprintf("%s=%q", h.Key, h.Value)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
