package group

// Records of the __consumer_offsets topic, in Kafka's own schemas so tools
// that decode Kafka's offsets topic can read ours:
//
//	key v0/v1 OffsetCommitKey{group, topic, partition} → OffsetCommitValue v3
//	  {offset, leaderEpoch, metadata, commitTimestamp}
//	key v2    GroupMetadataKey{group} → GroupMetadataValue v3 {protocolType,
//	  generation, protocol, leader, currentStateTimestamp, members}
//	key v3-v8 the records of KIP-848 consumer groups (consumer_records.go)
//
// A null value is a tombstone: the offset or the group was deleted. The
// topic is compacted conceptually: reload keeps the latest value per key.

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	offsetKeyVersion   = 1
	groupKeyVersion    = 2
	offsetValueVersion = 3
	groupValueVersion  = 3
)

// ErrUnknownRecord is a key version samsa does not know (e.g. a share or
// streams group record, or Kafka's resolved-regex cache): reload skips it.
var ErrUnknownRecord = errors.New("group: unknown __consumer_offsets record")

// OffsetKey encodes the key of a committed offset.
func OffsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

// OffsetValue encodes a committed offset.
func OffsetValue(o Offset) []byte {
	v := kmsg.OffsetCommitValue{Version: offsetValueVersion, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch,
		Metadata: o.Metadata, CommitTimestamp: o.CommitTime}
	return v.AppendTo(nil)
}

// GroupKey encodes the key of a group's metadata.
func GroupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// GroupValue encodes a group snapshot.
func GroupValue(s Snapshot) []byte {
	v := kmsg.GroupMetadataValue{Version: groupValueVersion, ProtocolType: s.ProtocolType,
		Generation: s.Generation, CurrentStateTimestamp: s.Timestamp}
	if s.Protocol != "" {
		v.Protocol = &s.Protocol
	}
	if s.Leader != "" {
		v.Leader = &s.Leader
	}
	for _, m := range s.Members {
		vm := kmsg.GroupMetadataValueMember{MemberID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID,
			ClientHost: m.ClientHost, RebalanceTimeoutMillis: int32(m.RebalanceTimeout.Milliseconds()),
			SessionTimeoutMillis: int32(m.SessionTimeout.Milliseconds()), Subscription: m.Subscription, Assignment: m.Assignment}
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// Record is one decoded __consumer_offsets record: an offset (IsOffset), a
// KIP-848 consumer group record (CG), or else a classic group's metadata.
// A nil Offset/Snapshot (CG.Tombstone) is a tombstone.
type Record struct {
	Group     string
	IsOffset  bool
	Topic     string
	Partition int32
	Offset    *Offset
	Snapshot  *Snapshot
	CG        *CGRecord // a KIP-848 consumer group record (consumer_records.go)
}

// Decode parses a record's key and value (value nil = tombstone).
func Decode(key, value []byte) (Record, error) {
	if len(key) < 2 {
		return Record{}, fmt.Errorf("group: short key")
	}
	version := int16(key[0])<<8 | int16(key[1])
	switch version {
	case 0, 1:
		return decodeOffset(key, value)
	case 2:
		return decodeGroup(key, value)
	case CGMetadataKind, CGPartitionMetadataKind, CGMemberMetadataKind, CGTargetMetadataKind,
		CGTargetMemberKind, CGCurrentAssignmentKind:
		return decodeCG(version, key, value)
	}
	return Record{}, fmt.Errorf("%w: key version %d", ErrUnknownRecord, version)
}

func decodeOffset(key, value []byte) (Record, error) {
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(key); err != nil {
		return Record{}, fmt.Errorf("group: offset key: %w", err)
	}
	r := Record{Group: k.Group, IsOffset: true, Topic: k.Topic, Partition: k.Partition}
	if value == nil {
		return r, nil
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return Record{}, fmt.Errorf("group: offset value: %w", err)
	}
	epoch := v.LeaderEpoch
	if v.Version < 3 {
		epoch = -1
	}
	r.Offset = &Offset{Offset: v.Offset, LeaderEpoch: epoch, Metadata: v.Metadata, CommitTime: v.CommitTimestamp}
	return r, nil
}

func decodeGroup(key, value []byte) (Record, error) {
	var k kmsg.GroupMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return Record{}, fmt.Errorf("group: group key: %w", err)
	}
	r := Record{Group: k.Group}
	if value == nil {
		return r, nil
	}
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return Record{}, fmt.Errorf("group: group value: %w", err)
	}
	s := &Snapshot{ProtocolType: v.ProtocolType, Generation: v.Generation, Timestamp: v.CurrentStateTimestamp}
	if v.Protocol != nil {
		s.Protocol = *v.Protocol
	}
	if v.Leader != nil {
		s.Leader = *v.Leader
	}
	for _, m := range v.Members {
		s.Members = append(s.Members, SnapshotMember{ID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID,
			ClientHost: m.ClientHost, SessionTimeout: time.Duration(m.SessionTimeoutMillis) * time.Millisecond,
			RebalanceTimeout: time.Duration(m.RebalanceTimeoutMillis) * time.Millisecond,
			Subscription:     m.Subscription, Assignment: m.Assignment})
	}
	r.Snapshot = s
	return r, nil
}
