package group

// The records of KIP-848 consumer groups in __consumer_offsets, in the
// schemas of Kafka 4.x's group coordinator (the key's leading int16 is the
// record type; values are flexible, version 0):
//
//	3  ConsumerGroupMetadataKey{group} → {Epoch, tag 0: MetadataHash}
//	4  ConsumerGroupPartitionMetadataKey{group}: no longer written by
//	   Kafka 4.1+; read and ignored, tombstoned on delete
//	5  ConsumerGroupMemberMetadataKey{group, member} → {InstanceId, RackId,
//	   ClientId, ClientHost, SubscribedTopicNames, SubscribedTopicRegex,
//	   RebalanceTimeoutMs, ServerAssignor}
//	6  ConsumerGroupTargetAssignmentMetadataKey{group} → {AssignmentEpoch}
//	7  ConsumerGroupTargetAssignmentMemberKey{group, member} →
//	   {TopicPartitions}
//	8  ConsumerGroupCurrentMemberAssignmentKey{group, member} →
//	   {MemberEpoch, PreviousMemberEpoch, State, AssignedPartitions,
//	   PartitionsPendingRevocation}, each partition list with its tag 0,
//	   AssignmentEpochs (KIP-1251: the epoch each partition was assigned
//	   at; absent in older records, which then mean the member epoch)
//	16 ConsumerGroupRegularExpressionKey: Kafka's resolved regex cache,
//	   which samsa recomputes from the metadata; skipped
//
// Unknown tagged fields (the later Kafka additions are all tagged) are
// skipped when reading. MetadataHash holds samsa's hash of the subscribed
// topics' ids and partition counts, so a reload notices a topic that
// changed meanwhile; Kafka computes its own hash differently, so a Kafka
// broker reading samsa's records (or samsa reading Kafka's) rebalances
// the group once, which is what a changed hash means anyway.

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
)

// Record types of KIP-848 consumer groups (the key's version field).
const (
	CGMetadataKind          int16 = 3
	CGPartitionMetadataKind int16 = 4
	CGMemberMetadataKind    int16 = 5
	CGTargetMetadataKind    int16 = 6
	CGTargetMemberKind      int16 = 7
	CGCurrentAssignmentKind int16 = 8
)

// Kafka's MemberState values in ConsumerGroupCurrentMemberAssignmentValue.
const (
	memberStable               int8 = 0
	memberUnrevokedPartitions  int8 = 1
	memberUnreleasedPartitions int8 = 2
)

// CGRecord is one decoded consumer group record; Tombstone is a null value.
type CGRecord struct {
	Kind      int16
	Member    string // kinds 5, 7, 8
	Tombstone bool

	Epoch           int32 // kind 3
	MetadataHash    int64 // kind 3
	AssignmentEpoch int32 // kind 6
	Meta            CGMemberMeta
	Target          Assignment // kind 7
	Current         CGCurrent  // kind 8
}

// CGMemberMeta is a ConsumerGroupMemberMetadataValue.
type CGMemberMeta struct {
	InstanceID, RackID *string
	ClientID           string
	ClientHost         string
	Subscribed         []string
	Regex              *string
	RebalanceTimeout   time.Duration
	Assignor           *string
}

// CGCurrent is a ConsumerGroupCurrentMemberAssignmentValue.
type CGCurrent struct {
	Epoch, PrevEpoch int32
	State            int8
	Assigned         Assignment
	Pending          Assignment
	Epochs           Epochs // of Assigned's and Pending's partitions
}

// CGRecordKV is a record to append: Value nil is a tombstone.
type CGRecordKV struct {
	Key, Value []byte
}

// CGKey encodes the key of a consumer group record (member "" for the
// group-level kinds 3, 4 and 6).
func CGKey(kind int16, group, member string) []byte {
	b := kbin.AppendInt16(nil, kind)
	b = kbin.AppendString(b, group)
	if kind == CGMemberMetadataKind || kind == CGTargetMemberKind || kind == CGCurrentAssignmentKind {
		b = kbin.AppendString(b, member)
	}
	return b
}

func cgMetadataValue(epoch int32, hash int64) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, epoch)
	if hash == 0 {
		return kbin.AppendUvarint(b, 0)
	}
	b = kbin.AppendUvarint(b, 1) // one tagged field
	b = kbin.AppendUvarint(b, 0) // tag 0: MetadataHash
	b = kbin.AppendUvarint(b, 8)
	return kbin.AppendInt64(b, hash)
}

func cgTargetMetadataValue(epoch int32) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, epoch)
	return kbin.AppendUvarint(b, 0)
}

func cgMemberMetadataValue(m CGMemberMeta) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendCompactNullableString(b, m.InstanceID)
	b = kbin.AppendCompactNullableString(b, m.RackID)
	b = kbin.AppendCompactString(b, m.ClientID)
	b = kbin.AppendCompactString(b, m.ClientHost)
	b = kbin.AppendCompactArrayLen(b, len(m.Subscribed))
	for _, s := range m.Subscribed {
		b = kbin.AppendCompactString(b, s)
	}
	b = kbin.AppendCompactNullableString(b, m.Regex)
	timeout := int32(-1)
	if m.RebalanceTimeout > 0 {
		timeout = int32(m.RebalanceTimeout.Milliseconds())
	}
	b = kbin.AppendInt32(b, timeout)
	b = kbin.AppendCompactNullableString(b, m.Assignor)
	return kbin.AppendUvarint(b, 0)
}

func cgTargetMemberValue(a Assignment) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = appendTopicPartitions(b, a, nil)
	return kbin.AppendUvarint(b, 0)
}

func cgCurrentValue(c CGCurrent) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, c.Epoch)
	b = kbin.AppendInt32(b, c.PrevEpoch)
	b = kbin.AppendInt8(b, c.State)
	b = appendTopicPartitions(b, c.Assigned, c.epochOf)
	b = appendTopicPartitions(b, c.Pending, c.epochOf)
	return kbin.AppendUvarint(b, 0)
}

// epochOf is partition p's assignment epoch, the member epoch if unknown.
func (c *CGCurrent) epochOf(topic [16]byte, p int32) int32 {
	if e, ok := c.Epochs.get(topic, p); ok {
		return e
	}
	return c.Epoch
}

// appendTopicPartitions writes an Assignment as []TopicPartitions, topics
// in id order so equal assignments encode equally; with epochOf, each
// topic's AssignmentEpochs follow as its tag 0.
func appendTopicPartitions(b []byte, a Assignment, epochOf func([16]byte, int32) int32) []byte {
	ids := make([][16]byte, 0, len(a))
	for id, ps := range a {
		if len(ps) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	b = kbin.AppendCompactArrayLen(b, len(ids))
	for _, id := range ids {
		b = kbin.AppendUuid(b, id)
		ps := slices.Sorted(slices.Values(a[id]))
		b = kbin.AppendCompactArrayLen(b, len(ps))
		for _, p := range ps {
			b = kbin.AppendInt32(b, p)
		}
		if epochOf == nil {
			b = kbin.AppendUvarint(b, 0)
			continue
		}
		epochs := kbin.AppendCompactArrayLen(nil, len(ps))
		for _, p := range ps {
			epochs = kbin.AppendInt32(epochs, epochOf(id, p))
		}
		b = kbin.AppendUvarint(b, 1) // one tagged field
		b = kbin.AppendUvarint(b, 0) // tag 0: AssignmentEpochs
		b = kbin.AppendUvarint(b, uint32(len(epochs)))
		b = append(b, epochs...)
	}
	return b
}

var errCGValue = errors.New("group: bad consumer group record")

// readTags skips a tagged-field section, returning tag 0's bytes if any.
func readTags(r *kbin.Reader) []byte {
	var tag0 []byte
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		tag, size := r.Uvarint(), r.Uvarint()
		span := r.Span(int(size))
		if tag == 0 {
			tag0 = span
		}
	}
	return tag0
}

// readTopicPartitions reads []TopicPartitions; with epochs non-nil, the
// AssignmentEpochs of each topic go there (a list of another length than
// the partitions' is ignored, as Kafka does, leaving the member epoch).
func readTopicPartitions(r *kbin.Reader, epochs Epochs) Assignment {
	a := Assignment{}
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		id := r.Uuid()
		np := r.CompactArrayLen()
		var ps []int32
		for j := int32(0); j < np && r.Ok(); j++ {
			ps = append(ps, r.Int32())
		}
		if tag0 := readTags(r); epochs != nil && tag0 != nil {
			tr := kbin.Reader{Src: tag0}
			ne := tr.CompactArrayLen() // -1: null
			es := make([]int32, 0, max(0, min(int(ne), len(tag0)/4)))
			for j := int32(0); j < ne && tr.Ok(); j++ {
				es = append(es, tr.Int32())
			}
			if tr.Complete() == nil && len(es) == len(ps) {
				for j, p := range ps {
					epochs.set(id, p, es[j])
				}
			}
		}
		if len(ps) > 0 {
			a[id] = insertAll(a[id], ps)
		}
	}
	return a
}

func insertAll(dst, ps []int32) []int32 {
	for _, p := range ps {
		if i, found := slices.BinarySearch(dst, p); !found {
			dst = slices.Insert(dst, i, p)
		}
	}
	return dst
}

// decodeCG parses a consumer group record (kind already read from key).
func decodeCG(kind int16, key, value []byte) (Record, error) {
	kr := kbin.Reader{Src: key[2:]}
	rec := &CGRecord{Kind: kind, Tombstone: value == nil}
	groupID := kr.String()
	if kind == CGMemberMetadataKind || kind == CGTargetMemberKind || kind == CGCurrentAssignmentKind {
		rec.Member = kr.String()
	}
	if err := kr.Complete(); err != nil {
		return Record{}, fmt.Errorf("%w: key kind %d: %v", errCGValue, kind, err)
	}
	r := Record{Group: groupID, CG: rec}
	if value == nil {
		return r, nil
	}
	vr := kbin.Reader{Src: value}
	if v := vr.Int16(); vr.Ok() && v != 0 {
		// A future value version: not ours to guess at.
		return Record{}, fmt.Errorf("%w: kind %d value version %d", ErrUnknownRecord, kind, v)
	}
	switch kind {
	case CGMetadataKind:
		rec.Epoch = vr.Int32()
		if tag0 := readTags(&vr); len(tag0) == 8 {
			tr := kbin.Reader{Src: tag0}
			rec.MetadataHash = tr.Int64()
		}
	case CGPartitionMetadataKind:
		vr.Src = nil // ignored
	case CGMemberMetadataKind:
		m := &rec.Meta
		m.InstanceID = vr.CompactNullableString()
		m.RackID = vr.CompactNullableString()
		m.ClientID = vr.CompactString()
		m.ClientHost = vr.CompactString()
		n := vr.CompactArrayLen()
		for i := int32(0); i < n && vr.Ok(); i++ {
			m.Subscribed = append(m.Subscribed, vr.CompactString())
		}
		m.Regex = vr.CompactNullableString()
		if ms := vr.Int32(); ms > 0 {
			m.RebalanceTimeout = time.Duration(ms) * time.Millisecond
		}
		m.Assignor = vr.CompactNullableString()
		readTags(&vr) // tag 0, ClassicMemberMetadata, is for classic-protocol members
	case CGTargetMetadataKind:
		rec.AssignmentEpoch = vr.Int32()
		readTags(&vr)
	case CGTargetMemberKind:
		rec.Target = readTopicPartitions(&vr, nil)
		readTags(&vr)
	case CGCurrentAssignmentKind:
		c := &rec.Current
		c.Epoch, c.PrevEpoch, c.State = vr.Int32(), vr.Int32(), vr.Int8()
		c.Epochs = Epochs{}
		c.Assigned = readTopicPartitions(&vr, c.Epochs)
		c.Pending = readTopicPartitions(&vr, c.Epochs)
		readTags(&vr)
	}
	if err := vr.Complete(); err != nil {
		return Record{}, fmt.Errorf("%w: kind %d value: %v", errCGValue, kind, err)
	}
	return r, nil
}

// CGState is what one group's consumer group records say, latest value
// per key, as a coordinator load collects them.
type CGState struct {
	HasMetadata     bool // a ConsumerGroupMetadata value is live
	Epoch           int32
	MetadataHash    int64
	AssignmentEpoch int32
	Members         map[string]*CGMemberMeta
	Targets         map[string]Assignment
	Current         map[string]*CGCurrent
}

// Apply replays one record of the group.
func (s *CGState) Apply(r *CGRecord) {
	if s.Members == nil {
		s.Members, s.Targets, s.Current = map[string]*CGMemberMeta{}, map[string]Assignment{}, map[string]*CGCurrent{}
	}
	switch r.Kind {
	case CGMetadataKind:
		s.HasMetadata, s.Epoch, s.MetadataHash = !r.Tombstone, r.Epoch, r.MetadataHash
	case CGTargetMetadataKind:
		s.AssignmentEpoch = r.AssignmentEpoch
	case CGMemberMetadataKind:
		if r.Tombstone {
			delete(s.Members, r.Member)
		} else {
			m := r.Meta
			s.Members[r.Member] = &m
		}
	case CGTargetMemberKind:
		if r.Tombstone {
			delete(s.Targets, r.Member)
		} else {
			s.Targets[r.Member] = r.Target
		}
	case CGCurrentAssignmentKind:
		if r.Tombstone {
			delete(s.Current, r.Member)
		} else {
			c := r.Current
			s.Current[r.Member] = &c
		}
	}
}

// Live reports whether the records describe a group (one not deleted).
func (s *CGState) Live() bool { return s.HasMetadata || len(s.Members) > 0 }

// RestoreConsumerGroup rebuilds a consumer group from its records, as
// Kafka's coordinator does when it loads a partition: members keep their
// epochs, assignments and partitions pending revocation; their session
// (and any revocation deadline) starts now.
func RestoreConsumerGroup(id string, cfg *ConsumerConfig, s *CGState, now time.Time) *ConsumerGroup {
	g := NewConsumerGroup(id, cfg, now)
	g.epoch, g.assignmentEpoch, g.topicsHash = s.Epoch, s.AssignmentEpoch, uint64(s.MetadataHash)
	var assignors []string
	for mid, meta := range s.Members {
		m := &CGMember{ID: mid, InstanceID: meta.InstanceID, RackID: meta.RackID, ClientID: meta.ClientID,
			ClientHost: meta.ClientHost, Subscribed: slices.Sorted(slices.Values(meta.Subscribed)),
			RebalanceTimeout: meta.RebalanceTimeout, Assignor: meta.Assignor,
			Assigned: Assignment{}, Pending: Assignment{}, epochs: Epochs{}, expires: now.Add(cfg.SessionTimeout)}
		if len(meta.Subscribed) == 0 {
			m.Subscribed = nil
		}
		if meta.Regex != nil {
			m.setRegex(*meta.Regex)
		}
		if c := s.Current[mid]; c != nil {
			m.Epoch, m.prevEpoch = c.Epoch, c.PrevEpoch
			m.Assigned, m.Pending = copyAssignment(c.Assigned), copyAssignment(c.Pending)
			for _, a := range []Assignment{m.Assigned, m.Pending} {
				for id, ps := range a {
					for _, p := range ps {
						m.epochs.set(id, p, c.epochOf(id, p))
					}
				}
			}
			if len(m.Pending) > 0 {
				m.revokeBy = now.Add(max(m.RebalanceTimeout, time.Second))
			}
		}
		if t, ok := s.Targets[mid]; ok {
			g.target[mid] = copyAssignment(t)
		}
		if meta.Assignor != nil && *meta.Assignor != "" {
			assignors = append(assignors, *meta.Assignor)
		}
		g.members[mid] = m
	}
	// The assignor the most members asked for (ties: the default), as
	// Kafka picks a group's preferred server assignor.
	counts := map[string]int{}
	for _, a := range assignors {
		counts[a]++
	}
	best := 0
	for _, a := range slices.Sorted(maps.Keys(counts)) {
		if counts[a] > best || (counts[a] == best && a == "uniform") {
			g.assignor, best = a, counts[a]
		}
	}
	// What is in the log now: the next change is written as a diff.
	for _, kv := range g.allRecords() {
		g.written[string(kv.Key)] = kv.Value
	}
	return g
}

// memberState is Kafka's MemberState of m.
func (g *ConsumerGroup) memberState(m *CGMember) int8 {
	switch {
	case len(m.Pending) > 0:
		return memberUnrevokedPartitions
	case m.Epoch != g.assignmentEpoch || !sameAssignment(m.Assigned, g.target[m.ID]):
		return memberUnreleasedPartitions
	}
	return memberStable
}

// memberRecords appends the three records of member m.
func (g *ConsumerGroup) memberRecords(out []CGRecordKV, m *CGMember) []CGRecordKV {
	meta := CGMemberMeta{InstanceID: m.InstanceID, RackID: m.RackID, ClientID: m.ClientID, ClientHost: m.ClientHost,
		Subscribed: m.Subscribed, RebalanceTimeout: m.RebalanceTimeout, Assignor: m.Assignor}
	if m.Regex != "" {
		re := m.Regex
		meta.Regex = &re
	}
	out = append(out, CGRecordKV{CGKey(CGMemberMetadataKind, g.ID, m.ID), cgMemberMetadataValue(meta)})
	if t, ok := g.target[m.ID]; ok {
		out = append(out, CGRecordKV{CGKey(CGTargetMemberKind, g.ID, m.ID), cgTargetMemberValue(t)})
	}
	cur := CGCurrent{Epoch: m.Epoch, PrevEpoch: m.prevEpoch, State: g.memberState(m), Assigned: m.Assigned, Pending: m.Pending,
		Epochs: m.epochs}
	return append(out, CGRecordKV{CGKey(CGCurrentAssignmentKind, g.ID, m.ID), cgCurrentValue(cur)})
}

func (g *ConsumerGroup) groupRecords(out []CGRecordKV) []CGRecordKV {
	out = append(out, CGRecordKV{CGKey(CGMetadataKind, g.ID, ""), cgMetadataValue(g.epoch, int64(g.topicsHash))})
	return append(out, CGRecordKV{CGKey(CGTargetMetadataKind, g.ID, ""), cgTargetMetadataValue(g.assignmentEpoch)})
}

// allRecords is every record of the group's current state.
func (g *ConsumerGroup) allRecords() []CGRecordKV {
	out := g.groupRecords(nil)
	for _, m := range g.Members() {
		out = g.memberRecords(out, m)
	}
	return out
}

// tombstoneRank orders tombstones as Kafka writes a member's removal and
// a group's deletion: current assignments, target assignments, the
// target epoch, subscriptions, partition metadata, the group epoch.
func tombstoneRank(key []byte) int {
	switch int16(key[0])<<8 | int16(key[1]) {
	case CGCurrentAssignmentKind:
		return 0
	case CGTargetMemberKind:
		return 1
	case CGTargetMetadataKind:
		return 2
	case CGMemberMetadataKind:
		return 3
	case CGPartitionMetadataKind:
		return 4
	}
	return 5
}

// valueRank orders values as Kafka writes a heartbeat's changes:
// subscription, group epoch, target assignment, target epoch, current
// assignment.
func valueRank(key []byte) int {
	switch int16(key[0])<<8 | int16(key[1]) {
	case CGMemberMetadataKind:
		return 0
	case CGMetadataKind:
		return 1
	case CGTargetMemberKind:
		return 2
	case CGTargetMetadataKind:
		return 3
	}
	return 4
}

// Changes returns the records that bring the log to the group's current
// state since the last call: the changed records of the members a change
// touched, of the group, and tombstones of removed members. They are
// counted as written; WriteFailed undoes that for a batch that failed.
func (g *ConsumerGroup) Changes() []CGRecordKV {
	var want []CGRecordKV
	want = g.groupRecords(want)
	if g.touchedAll {
		for _, m := range g.Members() {
			want = g.memberRecords(want, m)
		}
	} else {
		for _, id := range slices.Sorted(maps.Keys(g.touched)) {
			if m := g.members[id]; m != nil {
				want = g.memberRecords(want, m)
			}
		}
	}
	wanted := map[string]bool{}
	var vals []CGRecordKV
	for _, kv := range want {
		wanted[string(kv.Key)] = true
		if old, ok := g.written[string(kv.Key)]; !ok || !bytes.Equal(old, kv.Value) {
			vals = append(vals, kv)
			g.written[string(kv.Key)] = kv.Value
		}
	}
	// Tombstones: written keys of touched members (all, if touchedAll)
	// that the state no longer has.
	var tombs []CGRecordKV
	for k := range g.written {
		if wanted[k] || !g.keyTouched(k) {
			continue
		}
		tombs = append(tombs, CGRecordKV{Key: []byte(k)})
		delete(g.written, k)
	}
	sort.SliceStable(tombs, func(i, j int) bool {
		ri, rj := tombstoneRank(tombs[i].Key), tombstoneRank(tombs[j].Key)
		return ri < rj || (ri == rj && bytes.Compare(tombs[i].Key, tombs[j].Key) < 0)
	})
	sort.SliceStable(vals, func(i, j int) bool { return valueRank(vals[i].Key) < valueRank(vals[j].Key) })
	clear(g.touched)
	g.touchedAll = false
	return append(tombs, vals...)
}

// keyTouched: is written key k one Changes must reconsider?
func (g *ConsumerGroup) keyTouched(k string) bool {
	if g.touchedAll {
		return true
	}
	kind := int16(k[0])<<8 | int16(k[1])
	if kind != CGMemberMetadataKind && kind != CGTargetMemberKind && kind != CGCurrentAssignmentKind {
		return true
	}
	r := kbin.Reader{Src: []byte(k[2:])}
	_ = r.String() // the group
	return g.touched[r.String()]
}

// WriteFailed is told that a batch from Changes may not be in the log:
// its records are rewritten (or re-tombstoned) by the next Changes.
func (g *ConsumerGroup) WriteFailed(recs []CGRecordKV) {
	for _, kv := range recs {
		cur, ok := g.written[string(kv.Key)]
		switch {
		case kv.Value == nil && !ok:
			g.written[string(kv.Key)] = unknownValue
		case kv.Value != nil && ok && bytes.Equal(cur, kv.Value):
			g.written[string(kv.Key)] = unknownValue
		}
	}
	g.touchedAll = true
}

// unknownValue marks a key whose log value is uncertain; it never equals
// an encoded value (those start with a version).
var unknownValue = []byte{}

// Tombstones returns the records that delete the group from the log, in
// Kafka's order, and forgets them as written.
func (g *ConsumerGroup) Tombstones() []CGRecordKV {
	var out []CGRecordKV
	seen := map[string]bool{}
	add := func(k []byte) {
		if !seen[string(k)] {
			seen[string(k)] = true
			out = append(out, CGRecordKV{Key: k})
		}
	}
	for k := range g.written {
		add([]byte(k))
	}
	for _, m := range g.members {
		add(CGKey(CGCurrentAssignmentKind, g.ID, m.ID))
		add(CGKey(CGTargetMemberKind, g.ID, m.ID))
		add(CGKey(CGMemberMetadataKind, g.ID, m.ID))
	}
	add(CGKey(CGTargetMetadataKind, g.ID, ""))
	add(CGKey(CGPartitionMetadataKind, g.ID, ""))
	add(CGKey(CGMetadataKind, g.ID, ""))
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := tombstoneRank(out[i].Key), tombstoneRank(out[j].Key)
		return ri < rj || (ri == rj && bytes.Compare(out[i].Key, out[j].Key) < 0)
	})
	clear(g.written)
	return out
}

// hashTopics is samsa's MetadataHash: FNV-64a of the subscribed topics'
// ids and partition counts (0 is kept for "none known").
func hashTopics(key string) uint64 {
	if key == "" {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64() | 1
}
