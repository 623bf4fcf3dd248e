package group

import (
	"sort"
	"time"
)

// Offset is one committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32 // -1: unknown
	Metadata    string
	CommitTime  int64 // ms
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offsets holds every group's committed offsets. The coordinator runtime
// applies a commit only once its record is durable, so this is always what
// a reload would rebuild.
type Offsets struct {
	groups map[string]map[TopicPartition]Offset
}

// NewOffsets returns an empty store.
func NewOffsets() *Offsets { return &Offsets{groups: map[string]map[TopicPartition]Offset{}} }

// Put records a commit.
func (o *Offsets) Put(group string, tp TopicPartition, off Offset) {
	m := o.groups[group]
	if m == nil {
		m = map[TopicPartition]Offset{}
		o.groups[group] = m
	}
	m[tp] = off
}

// Delete drops one committed offset (a tombstone).
func (o *Offsets) Delete(group string, tp TopicPartition) {
	if m := o.groups[group]; m != nil {
		delete(m, tp)
		if len(m) == 0 {
			delete(o.groups, group)
		}
	}
}

// DeleteGroup drops every offset of group (its coordinator moved away).
func (o *Offsets) DeleteGroup(group string) { delete(o.groups, group) }

// Get returns a committed offset.
func (o *Offsets) Get(group string, tp TopicPartition) (Offset, bool) {
	off, ok := o.groups[group][tp]
	return off, ok
}

// Has reports whether group has any committed offset.
func (o *Offsets) Has(group string) bool { return len(o.groups[group]) > 0 }

// Groups returns the groups that have offsets.
func (o *Offsets) Groups() []string {
	out := make([]string, 0, len(o.groups))
	for g := range o.groups {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// Partitions returns group's committed partitions, sorted.
func (o *Offsets) Partitions(group string) []TopicPartition {
	m := o.groups[group]
	out := make([]TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Expired returns the offsets of group that offsets.retention.minutes
// has expired, Kafka's rule (KIP-211): a group with members keeps its
// offsets; once it is empty (or never had members) an offset expires
// retention after max(its commit, the moment the group became empty).
// emptySince is zero for a group that has no group state at all.
func (o *Offsets) Expired(group string, hasMembers bool, emptySince time.Time, now time.Time, retention time.Duration) []TopicPartition {
	if hasMembers || retention <= 0 {
		return nil
	}
	var out []TopicPartition
	for _, tp := range o.Partitions(group) {
		base := o.groups[group][tp].CommitTime
		if !emptySince.IsZero() && emptySince.UnixMilli() > base {
			base = emptySince.UnixMilli()
		}
		if now.UnixMilli()-base >= retention.Milliseconds() {
			out = append(out, tp)
		}
	}
	return out
}

// PartitionFor is the __consumer_offsets partition (and so the
// coordinator) of a group: Kafka's Utils.abs(groupId.hashCode) %
// numPartitions, with Java's String.hashCode over UTF-16 code units.
func PartitionFor(groupID string, numPartitions int32) int32 {
	var h int32
	for _, r := range groupID {
		if r >= 0x10000 {
			// A supplementary character is two UTF-16 code units.
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return (h & 0x7fffffff) % numPartitions
}
