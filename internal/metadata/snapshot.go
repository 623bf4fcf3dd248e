package metadata

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
)

// Snapshot layout: magic "SMIG", version u16, body length u32, CRC-32C of
// the body u32, then the body: one JSON object whose lists are in a
// canonical order (topics by name, brokers by id, configs by resource,
// entries by name), so one Image has exactly one encoding.
const (
	snapshotMagic   = "SMIG"
	snapshotVersion = 1
	snapshotHeader  = 4 + 2 + 4 + 4
)

// MaxSnapshotSize bounds a snapshot body when decoding.
const MaxSnapshotSize = 1 << 30

var snapshotCRC = crc32.MakeTable(crc32.Castagnoli)

type snapshotBody struct {
	Offset         int64                `json:"offset"`
	NextProducerID int64                `json:"nextProducerId"`
	Features       []FeatureLevelRecord `json:"features"`
	Brokers        []snapshotBroker     `json:"brokers"`
	Topics         []snapshotTopic      `json:"topics"`
	Configs        []snapshotConfig     `json:"configs"`
}

type snapshotBroker struct {
	ID                       int32          `json:"id"`
	IncarnationID            Uuid           `json:"incarnationId"`
	Epoch                    int64          `json:"epoch"`
	Endpoints                []Endpoint     `json:"endpoints"`
	Features                 []FeatureRange `json:"features"`
	Rack                     *string        `json:"rack"`
	Fenced                   bool           `json:"fenced"`
	InControlledShutdown     bool           `json:"inControlledShutdown"`
	RegistrationOffset       int64          `json:"registrationOffset"`
	ControlledShutdownOffset int64          `json:"controlledShutdownOffset"`
}

type snapshotTopic struct {
	Name       string              `json:"name"`
	ID         Uuid                `json:"id"`
	Partitions []snapshotPartition `json:"partitions"`
}

type snapshotPartition struct {
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
	// Added with replication; absent (empty) in older snapshots.
	AddingReplicas   []int32 `json:"addingReplicas,omitempty"`
	RemovingReplicas []int32 `json:"removingReplicas,omitempty"`
	ELR              []int32 `json:"elr,omitempty"`
	LastKnownELR     []int32 `json:"lastKnownElr,omitempty"`
}

type snapshotConfig struct {
	ResourceType int8            `json:"resourceType"`
	ResourceName string          `json:"resourceName"`
	Entries      []snapshotEntry `json:"entries"`
}

type snapshotEntry struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Snapshot returns the whole image in its stored form: deterministic (the
// same image gives the same bytes), versioned and checksummed.
// DecodeSnapshot reads it back.
func (im *Image) Snapshot() []byte {
	body := im.snapshotBody()
	out := make([]byte, snapshotHeader, snapshotHeader+len(body))
	copy(out, snapshotMagic)
	binary.BigEndian.PutUint16(out[4:], snapshotVersion)
	binary.BigEndian.PutUint32(out[6:], uint32(len(body)))
	binary.BigEndian.PutUint32(out[10:], crc32.Checksum(body, snapshotCRC))
	return append(out, body...)
}

func (im *Image) snapshotBody() []byte {
	s := snapshotBody{Offset: im.Offset, NextProducerID: im.NextProducerID,
		Features: []FeatureLevelRecord{}, Brokers: []snapshotBroker{}, Topics: []snapshotTopic{}, Configs: []snapshotConfig{}}
	for name, level := range im.features {
		s.Features = append(s.Features, FeatureLevelRecord{Name: name, FeatureLevel: level})
	}
	slices.SortFunc(s.Features, func(a, b FeatureLevelRecord) int { return strings.Compare(a.Name, b.Name) })
	for _, b := range im.Brokers() {
		s.Brokers = append(s.Brokers, snapshotBroker{ID: b.ID, IncarnationID: b.IncarnationID, Epoch: b.Epoch,
			Endpoints: b.Endpoints, Features: b.Features, Rack: b.Rack, Fenced: b.Fenced,
			InControlledShutdown: b.InControlledShutdown, RegistrationOffset: b.RegistrationOffset,
			ControlledShutdownOffset: b.ControlledShutdownOffset})
	}
	for _, t := range im.Topics() {
		st := snapshotTopic{Name: t.Name, ID: t.ID, Partitions: make([]snapshotPartition, len(t.Partitions))}
		for i, p := range t.Partitions {
			st.Partitions[i] = snapshotPartition{Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader,
				LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas, ELR: p.ELR, LastKnownELR: p.LastKnownELR}
		}
		s.Topics = append(s.Topics, st)
	}
	for k, m := range im.configs {
		c := snapshotConfig{ResourceType: k.typ, ResourceName: k.name}
		for name, v := range m {
			c.Entries = append(c.Entries, snapshotEntry{Name: name, Value: v})
		}
		slices.SortFunc(c.Entries, func(a, b snapshotEntry) int { return strings.Compare(a.Name, b.Name) })
		s.Configs = append(s.Configs, c)
	}
	slices.SortFunc(s.Configs, compareConfigs)
	body, err := json.Marshal(&s)
	if err != nil {
		// Every field is a plain value: Marshal cannot fail.
		panic(fmt.Sprintf("metadata: snapshot: %v", err))
	}
	return body
}

func compareConfigs(a, b snapshotConfig) int {
	if c := cmp.Compare(a.ResourceType, b.ResourceType); c != 0 {
		return c
	}
	return strings.Compare(a.ResourceName, b.ResourceName)
}

// DecodeSnapshot reads a snapshot written by Image.Snapshot. It accepts
// exactly the bytes Snapshot writes and rejects anything else with an
// error: another magic or version, a length or checksum mismatch, unknown
// fields, trailing bytes, lists out of their canonical order, duplicate
// topics, brokers, configs or features, empty config sets, and any body
// that is not the canonical encoding of the image it describes.
func DecodeSnapshot(b []byte) (*Image, error) {
	if len(b) < snapshotHeader {
		return nil, errors.New("metadata: snapshot shorter than its header")
	}
	if string(b[:4]) != snapshotMagic {
		return nil, errors.New("metadata: not a metadata snapshot (bad magic)")
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != snapshotVersion {
		return nil, fmt.Errorf("metadata: snapshot version %d, want %d", v, snapshotVersion)
	}
	n := binary.BigEndian.Uint32(b[6:])
	body := b[snapshotHeader:]
	if n > MaxSnapshotSize || int64(n) != int64(len(body)) {
		return nil, fmt.Errorf("metadata: snapshot body is %d bytes, header says %d", len(body), n)
	}
	if crc32.Checksum(body, snapshotCRC) != binary.BigEndian.Uint32(b[10:]) {
		return nil, errors.New("metadata: snapshot checksum mismatch")
	}
	return decodeSnapshotBody(body)
}

func decodeSnapshotBody(body []byte) (*Image, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var s snapshotBody
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("metadata: decode snapshot: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("metadata: trailing bytes after snapshot")
	}
	bad := func(format string, args ...any) (*Image, error) {
		return nil, fmt.Errorf("metadata: snapshot: "+format, args...)
	}
	if s.Offset < 0 || s.NextProducerID < 0 {
		return bad("offset %d, next producer id %d", s.Offset, s.NextProducerID)
	}
	if s.Features == nil || s.Brokers == nil || s.Topics == nil || s.Configs == nil {
		return bad("missing section")
	}
	im := Empty()
	im.Offset, im.NextProducerID = s.Offset, s.NextProducerID
	for i, f := range s.Features {
		if i > 0 && s.Features[i-1].Name >= f.Name {
			return bad("features out of order at %q", f.Name)
		}
		im.features[f.Name] = f.FeatureLevel
	}
	for i, sb := range s.Brokers {
		if i > 0 && s.Brokers[i-1].ID >= sb.ID {
			return bad("brokers out of order at %d", sb.ID)
		}
		if sb.RegistrationOffset > s.Offset || sb.ControlledShutdownOffset > s.Offset ||
			sb.ControlledShutdownOffset < -1 || (sb.ControlledShutdownOffset >= 0) != sb.InControlledShutdown {
			return bad("broker %d offsets %d/%d at image offset %d", sb.ID, sb.RegistrationOffset, sb.ControlledShutdownOffset, s.Offset)
		}
		im.brokers[sb.ID] = &Broker{ID: sb.ID, IncarnationID: sb.IncarnationID, Epoch: sb.Epoch,
			Endpoints: sb.Endpoints, Features: sb.Features, Rack: sb.Rack, Fenced: sb.Fenced,
			InControlledShutdown: sb.InControlledShutdown, RegistrationOffset: sb.RegistrationOffset,
			ControlledShutdownOffset: sb.ControlledShutdownOffset}
	}
	for i, st := range s.Topics {
		if i > 0 && s.Topics[i-1].Name >= st.Name {
			return bad("topics out of order at %q", st.Name)
		}
		if st.Partitions == nil {
			return bad("topic %q without a partition list", st.Name)
		}
		if im.topicsByID[st.ID] != nil {
			return bad("topic id of %q used twice", st.Name)
		}
		t := &Topic{Name: st.Name, ID: st.ID, Partitions: make([]Partition, len(st.Partitions))}
		for j, p := range st.Partitions {
			t.Partitions[j] = Partition{Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader,
				LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				AddingReplicas: nonEmpty(p.AddingReplicas), RemovingReplicas: nonEmpty(p.RemovingReplicas),
				ELR: nonEmpty(p.ELR), LastKnownELR: nonEmpty(p.LastKnownELR)}
		}
		im.topicsByName[t.Name] = t
		im.topicsByID[t.ID] = t
	}
	for i, c := range s.Configs {
		if i > 0 && compareConfigs(s.Configs[i-1], c) >= 0 {
			return bad("configs out of order at %d/%q", c.ResourceType, c.ResourceName)
		}
		if len(c.Entries) == 0 {
			return bad("empty config set for %d/%q", c.ResourceType, c.ResourceName)
		}
		m := make(map[string]string, len(c.Entries))
		for j, e := range c.Entries {
			if j > 0 && c.Entries[j-1].Name >= e.Name {
				return bad("config entries of %d/%q out of order at %q", c.ResourceType, c.ResourceName, e.Name)
			}
			m[e.Name] = e.Value
		}
		im.configs[configKey{c.ResourceType, c.ResourceName}] = m
	}
	// Last, the strictest check: the body is exactly what Snapshot writes
	// for the image it describes (no other spacing, field order, escaping
	// or number forms).
	if !bytes.Equal(im.snapshotBody(), body) {
		return bad("not in canonical form")
	}
	return im, nil
}
