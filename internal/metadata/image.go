package metadata

import (
	"fmt"
	"slices"
	"sort"
)

// Image is the cluster metadata as of one log entry. An Image is never
// modified after it is published: Apply returns a new Image that shares
// the unchanged parts with the old one, so readers hold an Image without
// locks while the controller moves on.
type Image struct {
	// Offset is the index of the last applied log entry (0 before any):
	// the Raft index in cluster mode. With the single-node FileLog every
	// record is an entry of its own, so there Offset counts records. A
	// broker that reports metadata offset N (BrokerHeartbeat's
	// CurrentMetadataOffset) has applied every entry up to N.
	Offset int64

	topicsByName map[string]*Topic
	topicsByID   map[Uuid]*Topic
	brokers      map[int32]*Broker
	configs      map[configKey]map[string]string
	features     map[string]int16

	// NextProducerID is the first producer id not yet handed out.
	NextProducerID int64
}

type configKey struct {
	typ  int8
	name string
}

// Topic is one topic and its partitions.
type Topic struct {
	Name       string
	ID         Uuid
	Partitions []Partition // index = partition id
}

// Partition is one partition's replica state.
type Partition struct {
	// Replicas is the assignment; Replicas[0] is the preferred leader.
	Replicas []int32
	ISR      []int32
	// Leader is a broker id, or NoLeader (-1) when the partition is offline.
	Leader int32
	// LeaderEpoch grows with every leader change, PartitionEpoch with
	// every change of the partition.
	LeaderEpoch    int32
	PartitionEpoch int32
	// AddingReplicas and RemovingReplicas are an ongoing reassignment's
	// moves (nil when none): Replicas holds both the old and the target
	// replicas until it completes.
	AddingReplicas   []int32
	RemovingReplicas []int32
	// ELR is KIP-966's eligible leader replicas: replicas that left the
	// ISR while it was below min.insync.replicas, so they hold every
	// committed record and may lead when no ISR member can. LastKnownELR
	// holds ELR members removed by an unclean shutdown. Both nil when empty.
	ELR          []int32
	LastKnownELR []int32
}

// Reassigning reports whether a reassignment is in progress.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas is the replica set a reassignment moves to (Replicas
// without the removing ones); Replicas when none is in progress.
func (p *Partition) TargetReplicas() []int32 {
	if len(p.RemovingReplicas) == 0 {
		return p.Replicas
	}
	var out []int32
	for _, r := range p.Replicas {
		if !slices.Contains(p.RemovingReplicas, r) {
			out = append(out, r)
		}
	}
	return out
}

// OriginalReplicas is the replica set before the reassignment (Replicas
// without the adding ones).
func (p *Partition) OriginalReplicas() []int32 {
	if len(p.AddingReplicas) == 0 {
		return p.Replicas
	}
	var out []int32
	for _, r := range p.Replicas {
		if !slices.Contains(p.AddingReplicas, r) {
			out = append(out, r)
		}
	}
	return out
}

// Broker is one registered broker.
type Broker struct {
	ID            int32
	IncarnationID Uuid
	// Epoch is the broker epoch of this incarnation (new incarnation, new epoch).
	Epoch     int64
	Endpoints []Endpoint
	Features  []FeatureRange
	Rack      *string
	Fenced    bool
	// InControlledShutdown is set when the broker asked to shut down and
	// the controller is moving its leaderships away; it stays set until
	// the broker registers again.
	InControlledShutdown bool
	// RegistrationOffset is the entry that last registered this broker
	// (Kafka's registerBrokerRecordOffset): the broker is caught up, and
	// may be unfenced, once it reports a metadata offset at least this.
	RegistrationOffset int64
	// ControlledShutdownOffset is the entry that put the broker in
	// controlled shutdown (-1 if it is not): it may shut down once every
	// active broker has applied it.
	ControlledShutdownOffset int64
}

// Endpoint returns the broker's endpoint for a listener name.
func (b *Broker) Endpoint(listener string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Active reports whether the broker may lead partitions: unfenced and
// not in controlled shutdown (Kafka's ClusterControlManager.isActive).
func (b *Broker) Active() bool { return b != nil && !b.Fenced && !b.InControlledShutdown }

// Empty returns the image before any record.
func Empty() *Image {
	return &Image{
		topicsByName: map[string]*Topic{},
		topicsByID:   map[Uuid]*Topic{},
		brokers:      map[int32]*Broker{},
		configs:      map[configKey]map[string]string{},
		features:     map[string]int16{},
	}
}

// Topic returns a topic by name.
func (im *Image) Topic(name string) *Topic { return im.topicsByName[name] }

// TopicByID returns a topic by id.
func (im *Image) TopicByID(id Uuid) *Topic { return im.topicsByID[id] }

// Topics returns every topic, sorted by name.
func (im *Image) Topics() []*Topic {
	out := make([]*Topic, 0, len(im.topicsByName))
	for _, t := range im.topicsByName {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Broker returns a broker by id.
func (im *Image) Broker(id int32) *Broker { return im.brokers[id] }

// Brokers returns every registered broker, sorted by id.
func (im *Image) Brokers() []*Broker {
	out := make([]*Broker, 0, len(im.brokers))
	for _, b := range im.brokers {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Configs returns the dynamic configs of a resource (nil if none). The map
// must not be modified.
func (im *Image) Configs(resourceType int8, name string) map[string]string {
	return im.configs[configKey{resourceType, name}]
}

// Feature returns a finalized feature level.
func (im *Image) Feature(name string) (int16, bool) {
	v, ok := im.features[name]
	return v, ok
}

// Features returns every finalized feature level. The map must not be modified.
func (im *Image) Features() map[string]int16 { return im.features }

// Apply returns the image after recs, each record an entry of its own (the
// single-node FileLog's form): Offset grows by len(recs). It does not
// modify im. Records that refer to something absent (a partition of an
// unknown topic, a broker with another epoch) are ignored, as Kafka's
// image builders skip them; the controller never writes them.
func (im *Image) Apply(recs ...Record) *Image {
	next := im.shallowCopy()
	for i := range recs {
		next.Offset++
		next.apply(&recs[i], next.Offset)
	}
	return next
}

// ApplyBatch returns the image after one log entry: the batch recs at
// index, which must be past im.Offset. Every record of the batch takes
// effect as of index.
func (im *Image) ApplyBatch(index int64, recs []Record) (*Image, error) {
	if index <= im.Offset {
		return nil, fmt.Errorf("metadata: entry %d applied to the image at %d", index, im.Offset)
	}
	next := im.shallowCopy()
	next.Offset = index
	for i := range recs {
		next.apply(&recs[i], index)
	}
	return next, nil
}

func (im *Image) shallowCopy() *Image {
	n := *im
	n.topicsByName = cloneMap(im.topicsByName)
	n.topicsByID = cloneMap(im.topicsByID)
	n.brokers = cloneMap(im.brokers)
	n.configs = cloneMap(im.configs)
	n.features = cloneMap(im.features)
	return &n
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (im *Image) apply(r *Record, index int64) {
	switch r.Type {
	case TypeTopic:
		// Names and ids stay one to one (the controller never reuses either).
		if old := im.topicsByName[r.Topic.Name]; old != nil {
			delete(im.topicsByID, old.ID)
		}
		if old := im.topicsByID[r.Topic.ID]; old != nil {
			delete(im.topicsByName, old.Name)
		}
		t := &Topic{Name: r.Topic.Name, ID: r.Topic.ID}
		im.topicsByName[t.Name] = t
		im.topicsByID[t.ID] = t
	case TypePartition:
		im.applyPartition(r.Partition)
	case TypePartitionChange:
		im.applyPartitionChange(r.PartitionChange)
	case TypeRemoveTopic:
		if t := im.topicsByID[r.RemoveTopic.TopicID]; t != nil {
			delete(im.topicsByID, t.ID)
			delete(im.topicsByName, t.Name)
			delete(im.configs, configKey{ResourceTopic, t.Name})
		}
	case TypeConfig:
		im.applyConfig(r.Config)
	case TypeRegisterBroker:
		rb := r.RegisterBroker
		prev := im.brokers[rb.BrokerID]
		im.brokers[rb.BrokerID] = &Broker{ID: rb.BrokerID, IncarnationID: rb.IncarnationID,
			Epoch: rb.BrokerEpoch, Endpoints: rb.Endpoints, Features: rb.Features, Rack: rb.Rack,
			Fenced: rb.Fenced, InControlledShutdown: rb.InControlledShutdown,
			RegistrationOffset: index, ControlledShutdownOffset: -1}
		if rb.InControlledShutdown {
			// An amended registration keeps the offset it entered controlled shutdown at.
			b := im.brokers[rb.BrokerID]
			b.ControlledShutdownOffset = index
			if prev != nil && prev.Epoch == rb.BrokerEpoch && prev.InControlledShutdown {
				b.ControlledShutdownOffset = prev.ControlledShutdownOffset
			}
		}
	case TypeUnregisterBroker:
		if b := im.brokers[r.UnregisterBroker.BrokerID]; b != nil && b.Epoch == r.UnregisterBroker.BrokerEpoch {
			delete(im.brokers, b.ID)
		}
	case TypeFenceBroker:
		im.changeBroker(r.FenceBroker.ID, r.FenceBroker.Epoch, ChangeFence, ChangeNone, index)
	case TypeUnfenceBroker:
		im.changeBroker(r.UnfenceBroker.ID, r.UnfenceBroker.Epoch, ChangeUnfence, ChangeNone, index)
	case TypeBrokerRegistrationChange:
		c := r.BrokerRegistrationChange
		im.changeBroker(c.BrokerID, c.BrokerEpoch, c.Fenced, c.InControlledShutdown, index)
	case TypeProducerIDs:
		if r.ProducerIDs.NextProducerID > im.NextProducerID {
			im.NextProducerID = r.ProducerIDs.NextProducerID
		}
	case TypeFeatureLevel:
		im.features[r.FeatureLevel.Name] = r.FeatureLevel.FeatureLevel
	}
}

// changeBroker applies a fencing or controlled-shutdown change to the
// broker with that epoch (Kafka's BrokerRegistration.cloneWith).
func (im *Image) changeBroker(id int32, epoch int64, fenced, inControlledShutdown int8, index int64) {
	old := im.brokers[id]
	if old == nil || old.Epoch != epoch {
		return
	}
	b := *old
	switch fenced {
	case ChangeFence:
		b.Fenced = true
	case ChangeUnfence:
		b.Fenced = false
	}
	if inControlledShutdown == ChangeInControlledShutdown && !b.InControlledShutdown {
		b.InControlledShutdown = true
		b.ControlledShutdownOffset = index
	}
	im.brokers[id] = &b
}

func (im *Image) applyPartition(p *PartitionRecord) {
	old := im.topicsByID[p.TopicID]
	if old == nil || p.Partition < 0 || int(p.Partition) > len(old.Partitions) {
		return
	}
	np := Partition{Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		AddingReplicas: nonEmpty(p.AddingReplicas), RemovingReplicas: nonEmpty(p.RemovingReplicas),
		ELR: nonEmpty(p.ELR), LastKnownELR: nonEmpty(p.LastKnownELR)}
	im.setPartition(old, p.Partition, np)
}

// applyPartitionChange merges a partial update (Kafka's
// PartitionRegistration.merge): the partition epoch always grows, the
// leader epoch when the leader is set.
func (im *Image) applyPartitionChange(c *PartitionChangeRecord) {
	old := im.topicsByID[c.TopicID]
	if old == nil || c.Partition < 0 || int(c.Partition) >= len(old.Partitions) {
		return
	}
	np := old.Partitions[c.Partition]
	if c.Replicas != nil {
		np.Replicas = slices.Clone(c.Replicas)
	}
	if c.ISR != nil {
		np.ISR = slices.Clone(c.ISR)
	}
	if c.AddingReplicas != nil {
		np.AddingReplicas = nonEmpty(slices.Clone(c.AddingReplicas))
	}
	if c.RemovingReplicas != nil {
		np.RemovingReplicas = nonEmpty(slices.Clone(c.RemovingReplicas))
	}
	if c.ELR != nil {
		np.ELR = nonEmpty(slices.Clone(c.ELR))
	}
	if c.LastKnownELR != nil {
		np.LastKnownELR = nonEmpty(slices.Clone(c.LastKnownELR))
	}
	if c.Leader != NoLeaderChange {
		np.Leader = c.Leader
		np.LeaderEpoch++
	}
	np.PartitionEpoch++
	im.setPartition(old, c.Partition, np)
}

// setPartition stores partition p of old (an index up to len) in a copy of the topic.
func (im *Image) setPartition(old *Topic, p int32, np Partition) {
	t := *old
	t.Partitions = append([]Partition(nil), old.Partitions...)
	if int(p) == len(t.Partitions) {
		t.Partitions = append(t.Partitions, np)
	} else {
		t.Partitions[p] = np
	}
	im.topicsByID[t.ID] = &t
	im.topicsByName[t.Name] = &t
}

// nonEmpty is v, or nil when v is empty: the image keeps one form of an
// empty list (the snapshot's canonical form depends on it).
func nonEmpty(v []int32) []int32 {
	if len(v) == 0 {
		return nil
	}
	return v
}

func (im *Image) applyConfig(c *ConfigRecord) {
	k := configKey{c.ResourceType, c.ResourceName}
	m := cloneMap(im.configs[k])
	if c.Value == nil {
		delete(m, c.Name)
	} else {
		m[c.Name] = *c.Value
	}
	if len(m) == 0 {
		delete(im.configs, k)
		return
	}
	im.configs[k] = m
}
