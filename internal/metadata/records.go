// Package metadata holds the cluster's metadata as Kafka's KRaft mode does:
// an ordered log of metadata records, and the in-memory Image built by
// applying them in order. Every metadata change (a topic created, a config
// altered, a producer-id block handed out) is a record; nothing changes the
// Image any other way. On a single node the log is a local file
// (FileLog); in cluster mode the same records travel through the Raft
// quorum and are applied on every node in the same order.
package metadata

import (
	"encoding/json"
	"fmt"

	"github.com/samsa-io/samsa/internal/uuid"
)

// RecordType names a metadata record kind. The names follow Kafka's
// metadata record schemas (metadata/src/main/resources/common/metadata).
type RecordType string

const (
	TypeTopic          RecordType = "Topic"
	TypePartition      RecordType = "Partition"
	TypeRemoveTopic    RecordType = "RemoveTopic"
	TypeConfig         RecordType = "Config"
	TypeRegisterBroker RecordType = "RegisterBroker"
	TypeProducerIDs    RecordType = "ProducerIds"
	TypeFeatureLevel   RecordType = "FeatureLevel"
)

// Record is one metadata record. Exactly one of the pointer fields is set,
// matching Type. The JSON form is what the log stores.
type Record struct {
	Type           RecordType            `json:"type"`
	Topic          *TopicRecord          `json:"topic,omitempty"`
	Partition      *PartitionRecord      `json:"partition,omitempty"`
	RemoveTopic    *RemoveTopicRecord    `json:"removeTopic,omitempty"`
	Config         *ConfigRecord         `json:"config,omitempty"`
	RegisterBroker *RegisterBrokerRecord `json:"registerBroker,omitempty"`
	ProducerIDs    *ProducerIDsRecord    `json:"producerIds,omitempty"`
	FeatureLevel   *FeatureLevelRecord   `json:"featureLevel,omitempty"`
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

// RegisterBrokerRecord registers (or re-registers) a broker.
type RegisterBrokerRecord struct {
	BrokerID      int32      `json:"brokerId"`
	IncarnationID Uuid       `json:"incarnationId"`
	BrokerEpoch   int64      `json:"brokerEpoch"`
	Endpoints     []Endpoint `json:"endpoints"`
	Rack          *string    `json:"rack,omitempty"`
	Fenced        bool       `json:"fenced"`
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
	ok := false
	switch r.Type {
	case TypeTopic:
		ok = r.Topic != nil
	case TypePartition:
		ok = r.Partition != nil
	case TypeRemoveTopic:
		ok = r.RemoveTopic != nil
	case TypeConfig:
		ok = r.Config != nil
	case TypeRegisterBroker:
		ok = r.RegisterBroker != nil
	case TypeProducerIDs:
		ok = r.ProducerIDs != nil
	case TypeFeatureLevel:
		ok = r.FeatureLevel != nil
	}
	if !ok {
		return r, fmt.Errorf("metadata: record type %q without its body", r.Type)
	}
	return r, nil
}
