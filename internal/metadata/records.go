// Package metadata holds the cluster's metadata as Kafka's KRaft mode does:
// an ordered log of metadata records, and the in-memory Image built by
// applying them in order. Every metadata change (a topic created, a broker
// fenced, a leader moved, a config altered, a producer-id block handed out)
// is a record; nothing changes the Image any other way.
//
// One log entry carries one batch of records (EncodeBatch): the records of
// one controller decision commit atomically and are applied together. On a
// single node the log is a local file (FileLog, one record per entry); in
// cluster mode the batches travel through the Raft quorum and every node
// applies them in the same order. Snapshot and DecodeSnapshot write and read
// a whole Image, so a log can be cut below a snapshot and a node that was
// away catches up from the snapshot plus the tail.
package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/samsa-io/samsa/internal/uuid"
)

// RecordType names a metadata record kind. The names follow Kafka's
// metadata record schemas (metadata/src/main/resources/common/metadata).
type RecordType string

const (
	TypeTopic                    RecordType = "Topic"
	TypePartition                RecordType = "Partition"
	TypePartitionChange          RecordType = "PartitionChange"
	TypeRemoveTopic              RecordType = "RemoveTopic"
	TypeConfig                   RecordType = "Config"
	TypeRegisterBroker           RecordType = "RegisterBroker"
	TypeUnregisterBroker         RecordType = "UnregisterBroker"
	TypeFenceBroker              RecordType = "FenceBroker"
	TypeUnfenceBroker            RecordType = "UnfenceBroker"
	TypeBrokerRegistrationChange RecordType = "BrokerRegistrationChange"
	TypeProducerIDs              RecordType = "ProducerIds"
	TypeFeatureLevel             RecordType = "FeatureLevel"
)

// Record is one metadata record. Exactly one of the pointer fields is set,
// matching Type. The JSON form is what the log stores.
type Record struct {
	Type                     RecordType                      `json:"type"`
	Topic                    *TopicRecord                    `json:"topic,omitempty"`
	Partition                *PartitionRecord                `json:"partition,omitempty"`
	PartitionChange          *PartitionChangeRecord          `json:"partitionChange,omitempty"`
	RemoveTopic              *RemoveTopicRecord              `json:"removeTopic,omitempty"`
	Config                   *ConfigRecord                   `json:"config,omitempty"`
	RegisterBroker           *RegisterBrokerRecord           `json:"registerBroker,omitempty"`
	UnregisterBroker         *UnregisterBrokerRecord         `json:"unregisterBroker,omitempty"`
	FenceBroker              *FenceBrokerRecord              `json:"fenceBroker,omitempty"`
	UnfenceBroker            *UnfenceBrokerRecord            `json:"unfenceBroker,omitempty"`
	BrokerRegistrationChange *BrokerRegistrationChangeRecord `json:"brokerRegistrationChange,omitempty"`
	ProducerIDs              *ProducerIDsRecord              `json:"producerIds,omitempty"`
	FeatureLevel             *FeatureLevelRecord             `json:"featureLevel,omitempty"`
}

// Uuid is a Kafka UUID (topic ids, directory ids, incarnation ids).
type Uuid = uuid.UUID

// TopicRecord creates a topic.
type TopicRecord struct {
	Name string `json:"name"`
	ID   Uuid   `json:"id"`
}

// PartitionRecord creates a partition or replaces its whole state.
type PartitionRecord struct {
	TopicID        Uuid    `json:"topicId"`
	Partition      int32   `json:"partition"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
	// AddingReplicas and RemovingReplicas are an ongoing reassignment's
	// moves (Replicas is then the union of the old and target sets).
	AddingReplicas   []int32 `json:"addingReplicas,omitempty"`
	RemovingReplicas []int32 `json:"removingReplicas,omitempty"`
	// ELR and LastKnownELR are KIP-966's eligible leader replicas and
	// last known ones.
	ELR          []int32 `json:"elr,omitempty"`
	LastKnownELR []int32 `json:"lastKnownElr,omitempty"`
}

// Leader values of a PartitionChangeRecord.
const (
	NoLeader       int32 = -1 // the partition has no leader (offline)
	NoLeaderChange int32 = -2 // the leader did not change
)

// PartitionChangeRecord is Kafka's partial update of one partition: a nil
// list did not change, Leader is NoLeaderChange when the leader stays.
// Applying it bumps the partition epoch, and the leader epoch when Leader
// is set (Kafka's PartitionRegistration.merge). Leader is always written:
// a record without it is not a no-change record.
type PartitionChangeRecord struct {
	TopicID   Uuid    `json:"topicId"`
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	ISR       []int32 `json:"isr,omitzero"`
	Replicas  []int32 `json:"replicas,omitzero"`
	// AddingReplicas, RemovingReplicas, ELR and LastKnownELR: nil did not
	// change, an empty list clears.
	AddingReplicas   []int32 `json:"addingReplicas,omitzero"`
	RemovingReplicas []int32 `json:"removingReplicas,omitzero"`
	ELR              []int32 `json:"elr,omitzero"`
	LastKnownELR     []int32 `json:"lastKnownElr,omitzero"`
}

// RemoveTopicRecord deletes a topic and all its partitions.
type RemoveTopicRecord struct {
	TopicID Uuid `json:"topicId"`
}

// Resource types, as Kafka's ConfigResource.Type numbers them.
const (
	ResourceTopic  int8 = 2
	ResourceBroker int8 = 4
)

// ConfigRecord sets (Value non-nil) or removes (Value nil) one dynamic
// config of a resource.
type ConfigRecord struct {
	ResourceType int8    `json:"resourceType"`
	ResourceName string  `json:"resourceName"`
	Name         string  `json:"name"`
	Value        *string `json:"value"`
}

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Name             string `json:"name"`
	Host             string `json:"host"`
	Port             int32  `json:"port"`
	SecurityProtocol int16  `json:"securityProtocol"`
}

// FeatureRange is a feature's supported levels on one broker.
type FeatureRange struct {
	Name string `json:"name"`
	Min  int16  `json:"min"`
	Max  int16  `json:"max"`
}

// RegisterBrokerRecord registers a broker: a new incarnation (new epoch,
// fenced until it catches up) or an amended registration of the same one.
type RegisterBrokerRecord struct {
	BrokerID             int32          `json:"brokerId"`
	IncarnationID        Uuid           `json:"incarnationId"`
	BrokerEpoch          int64          `json:"brokerEpoch"`
	Endpoints            []Endpoint     `json:"endpoints"`
	Features             []FeatureRange `json:"features,omitempty"`
	Rack                 *string        `json:"rack,omitempty"`
	Fenced               bool           `json:"fenced"`
	InControlledShutdown bool           `json:"inControlledShutdown,omitempty"`
}

// UnregisterBrokerRecord removes a broker's registration (the broker with
// that epoch; another epoch is left alone).
type UnregisterBrokerRecord struct {
	BrokerID    int32 `json:"brokerId"`
	BrokerEpoch int64 `json:"brokerEpoch"`
}

// FenceBrokerRecord fences the broker with that epoch.
type FenceBrokerRecord struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// UnfenceBrokerRecord unfences the broker with that epoch.
type UnfenceBrokerRecord struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// Values of BrokerRegistrationChangeRecord.Fenced and .InControlledShutdown.
const (
	ChangeUnfence              int8 = -1
	ChangeNone                 int8 = 0
	ChangeFence                int8 = 1
	ChangeInControlledShutdown int8 = 1
)

// BrokerRegistrationChangeRecord changes the state of the broker with
// that epoch: Fenced is ChangeFence, ChangeUnfence or ChangeNone;
// InControlledShutdown is ChangeInControlledShutdown or ChangeNone (a broker
// leaves controlled shutdown only by registering again).
type BrokerRegistrationChangeRecord struct {
	BrokerID             int32 `json:"brokerId"`
	BrokerEpoch          int64 `json:"brokerEpoch"`
	Fenced               int8  `json:"fenced,omitempty"`
	InControlledShutdown int8  `json:"inControlledShutdown,omitempty"`
}

// ProducerIDsRecord hands the block [NextProducerID-blockSize, NextProducerID)
// to a broker; the next block starts at NextProducerID.
type ProducerIDsRecord struct {
	BrokerID       int32 `json:"brokerId"`
	BrokerEpoch    int64 `json:"brokerEpoch"`
	NextProducerID int64 `json:"nextProducerId"`
}

// FeatureLevelRecord finalizes a feature level (metadata.version, ...).
type FeatureLevelRecord struct {
	Name         string `json:"name"`
	FeatureLevel int16  `json:"featureLevel"`
}

// Encode returns the record's stored form.
func (r *Record) Encode() ([]byte, error) { return json.Marshal(r) }

// DecodeRecord parses a stored record and checks that its body matches its type.
func DecodeRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("metadata: decode record: %w", err)
	}
	return r, r.check()
}

// check verifies that exactly the body matching Type is set and that the
// fields with a closed set of values hold one of them.
func (r *Record) check() error {
	bodies := 0
	for _, set := range []bool{r.Topic != nil, r.Partition != nil, r.PartitionChange != nil, r.RemoveTopic != nil,
		r.Config != nil, r.RegisterBroker != nil, r.UnregisterBroker != nil, r.FenceBroker != nil,
		r.UnfenceBroker != nil, r.BrokerRegistrationChange != nil, r.ProducerIDs != nil, r.FeatureLevel != nil} {
		if set {
			bodies++
		}
	}
	ok := false
	switch r.Type {
	case TypeTopic:
		ok = r.Topic != nil
	case TypePartition:
		ok = r.Partition != nil
	case TypePartitionChange:
		ok = r.PartitionChange != nil
		if ok && r.PartitionChange.Leader < NoLeaderChange {
			return fmt.Errorf("metadata: PartitionChange leader %d", r.PartitionChange.Leader)
		}
	case TypeRemoveTopic:
		ok = r.RemoveTopic != nil
	case TypeConfig:
		ok = r.Config != nil
	case TypeRegisterBroker:
		ok = r.RegisterBroker != nil
	case TypeUnregisterBroker:
		ok = r.UnregisterBroker != nil
	case TypeFenceBroker:
		ok = r.FenceBroker != nil
	case TypeUnfenceBroker:
		ok = r.UnfenceBroker != nil
	case TypeBrokerRegistrationChange:
		ok = r.BrokerRegistrationChange != nil
		if ok {
			c := r.BrokerRegistrationChange
			if c.Fenced < ChangeUnfence || c.Fenced > ChangeFence || c.InControlledShutdown < 0 || c.InControlledShutdown > ChangeInControlledShutdown {
				return fmt.Errorf("metadata: BrokerRegistrationChange fenced %d inControlledShutdown %d", c.Fenced, c.InControlledShutdown)
			}
		}
	case TypeProducerIDs:
		ok = r.ProducerIDs != nil
	case TypeFeatureLevel:
		ok = r.FeatureLevel != nil
	}
	if !ok {
		return fmt.Errorf("metadata: record type %q without its body", r.Type)
	}
	if bodies != 1 {
		return fmt.Errorf("metadata: record type %q with %d bodies", r.Type, bodies)
	}
	return nil
}

// batchVersion is the first byte of an encoded batch.
const batchVersion = 1

// EncodeBatch returns the stored form of one log entry: the records of one
// decision, applied together. The form is a version byte and a JSON array
// of records; the bytes are deterministic for the same records.
func EncodeBatch(recs []Record) ([]byte, error) {
	if len(recs) == 0 {
		return nil, errors.New("metadata: empty batch")
	}
	for i := range recs {
		if err := recs[i].check(); err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(recs)
	if err != nil {
		return nil, err
	}
	return append([]byte{batchVersion}, body...), nil
}

// DecodeBatch parses one log entry written by EncodeBatch. It rejects an
// unknown version, an empty batch, trailing bytes and any record that
// DecodeRecord would reject.
func DecodeBatch(b []byte) ([]Record, error) {
	if len(b) == 0 {
		return nil, errors.New("metadata: empty batch entry")
	}
	if b[0] != batchVersion {
		return nil, fmt.Errorf("metadata: batch version %d", b[0])
	}
	dec := json.NewDecoder(bytes.NewReader(b[1:]))
	dec.DisallowUnknownFields()
	var recs []Record
	if err := dec.Decode(&recs); err != nil {
		return nil, fmt.Errorf("metadata: decode batch: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("metadata: trailing bytes after batch")
	}
	if len(recs) == 0 {
		return nil, errors.New("metadata: empty batch")
	}
	for i := range recs {
		if err := recs[i].check(); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return recs, nil
}
