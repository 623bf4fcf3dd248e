package metadata

import (
	"sort"
)

// Image is the cluster metadata at one log offset. An Image is never
// modified after it is published: Apply returns a new Image that shares
// the unchanged parts with the old one, so readers hold an Image without
// locks while the controller moves on.
type Image struct {
	// Offset is the number of records applied (the next record's index).
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
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// Broker is one registered broker.
type Broker struct {
	ID            int32
	IncarnationID Uuid
	Epoch         int64
	Endpoints     []Endpoint
	Rack          *string
	Fenced        bool
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

// Apply returns the image after recs. It does not modify im. Records that
// refer to something absent (a partition of an unknown topic) are
// ignored, as Kafka's image builders skip them; the controller never
// writes them.
func (im *Image) Apply(recs ...Record) *Image {
	next := im.shallowCopy()
	for i := range recs {
		next.apply(&recs[i])
		next.Offset++
	}
	return next
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

func (im *Image) apply(r *Record) {
	switch r.Type {
	case TypeTopic:
		t := &Topic{Name: r.Topic.Name, ID: r.Topic.ID}
		im.topicsByName[t.Name] = t
		im.topicsByID[t.ID] = t
	case TypePartition:
		im.applyPartition(r.Partition)
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
		im.brokers[rb.BrokerID] = &Broker{ID: rb.BrokerID, IncarnationID: rb.IncarnationID,
			Epoch: rb.BrokerEpoch, Endpoints: rb.Endpoints, Rack: rb.Rack, Fenced: rb.Fenced}
	case TypeProducerIDs:
		if r.ProducerIDs.NextProducerID > im.NextProducerID {
			im.NextProducerID = r.ProducerIDs.NextProducerID
		}
	case TypeFeatureLevel:
		im.features[r.FeatureLevel.Name] = r.FeatureLevel.FeatureLevel
	}
}

func (im *Image) applyPartition(p *PartitionRecord) {
	old := im.topicsByID[p.TopicID]
	if old == nil || p.Partition < 0 || int(p.Partition) > len(old.Partitions) {
		return
	}
	t := *old
	t.Partitions = append([]Partition(nil), old.Partitions...)
	np := Partition{Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch}
	if int(p.Partition) == len(t.Partitions) {
		t.Partitions = append(t.Partitions, np)
	} else {
		t.Partitions[p.Partition] = np
	}
	im.topicsByID[t.ID] = &t
	im.topicsByName[t.Name] = &t
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
