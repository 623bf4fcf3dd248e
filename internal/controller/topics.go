package controller

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

// maxTopicNameLength is Kafka's limit (Topic.MAX_NAME_LENGTH).
const maxTopicNameLength = 249

// ValidateTopicName applies Kafka's topic name rules (Topic.validate).
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return errorf(kerr.InvalidTopicException, "topic name is empty")
	case name == "." || name == "..":
		return errorf(kerr.InvalidTopicException, "topic name cannot be %q", name)
	case len(name) > maxTopicNameLength:
		return errorf(kerr.InvalidTopicException, "topic name is longer than %d characters", maxTopicNameLength)
	}
	for _, r := range name {
		ok := r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return errorf(kerr.InvalidTopicException, "topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name              string
	NumPartitions     int32 // -1: default
	ReplicationFactor int16 // -1: default
	// Assignment, when set, gives each partition's replicas explicitly.
	Assignment [][]int32
	Configs    map[string]*string
}

// CreateTopicResult is what CreateTopics reports back.
type CreateTopicResult struct {
	ID                Uuid
	NumPartitions     int32
	ReplicationFactor int16
}

// Uuid is metadata.Uuid, re-exported for handler code.
type Uuid = metadata.Uuid

// CreateTopic validates spec and, unless validateOnly, creates the topic.
func (c *Controller) CreateTopic(spec TopicSpec, validateOnly bool) (CreateTopicResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	im := c.image.Load()
	recs, res, err := c.createTopicRecords(im, spec)
	if err != nil || validateOnly {
		return res, err
	}
	return res, c.commitLocked(recs)
}

func (c *Controller) createTopicRecords(im *metadata.Image, spec TopicSpec) ([]metadata.Record, CreateTopicResult, error) {
	var res CreateTopicResult
	if err := ValidateTopicName(spec.Name); err != nil {
		return nil, res, err
	}
	if im.Topic(spec.Name) != nil {
		return nil, res, errorf(kerr.TopicAlreadyExists, "topic %q already exists", spec.Name)
	}
	if other := collidingTopic(im, spec.Name); other != "" {
		return nil, res, errorf(kerr.InvalidTopicException, "topic %q collides with existing topic %q ('.' and '_' are interchangeable in metric names)", spec.Name, other)
	}
	assignment, err := c.assignment(im, spec)
	if err != nil {
		return nil, res, err
	}
	for name, v := range spec.Configs {
		if v == nil {
			return nil, res, errorf(kerr.InvalidConfig, "null value for config %q", name)
		}
		if c.cfg.ValidateTopicConfig != nil {
			if err := c.cfg.ValidateTopicConfig(name, *v); err != nil {
				return nil, res, errorf(kerr.InvalidConfig, "%v", err)
			}
		}
	}
	id := NewUuid()
	recs := []metadata.Record{{Type: metadata.TypeTopic, Topic: &metadata.TopicRecord{Name: spec.Name, ID: id}}}
	for name, v := range spec.Configs {
		recs = append(recs, metadata.Record{Type: metadata.TypeConfig, Config: &metadata.ConfigRecord{
			ResourceType: metadata.ResourceTopic, ResourceName: spec.Name, Name: name, Value: v,
		}})
	}
	for i, replicas := range assignment {
		recs = append(recs, partitionRecord(id, int32(i), replicas))
	}
	res = CreateTopicResult{ID: id, NumPartitions: int32(len(assignment)), ReplicationFactor: int16(len(assignment[0]))}
	return recs, res, nil
}

func partitionRecord(id Uuid, p int32, replicas []int32) metadata.Record {
	return metadata.Record{Type: metadata.TypePartition, Partition: &metadata.PartitionRecord{
		TopicID: id, Partition: p, Replicas: replicas, ISR: append([]int32(nil), replicas...),
		Leader: replicas[0], LeaderEpoch: 0, PartitionEpoch: 0,
	}}
}

// collidingTopic returns an existing topic whose name equals name with
// '.' and '_' swapped (Kafka rejects those: their metric names collide).
func collidingTopic(im *metadata.Image, name string) string {
	if !strings.ContainsAny(name, "._") {
		return ""
	}
	norm := strings.ReplaceAll(name, ".", "_")
	for _, t := range im.Topics() {
		if t.Name != name && strings.ReplaceAll(t.Name, ".", "_") == norm {
			return t.Name
		}
	}
	return ""
}

// liveBrokers returns the ids of unfenced brokers.
func liveBrokers(im *metadata.Image) []int32 {
	var ids []int32
	for _, b := range im.Brokers() {
		if !b.Fenced {
			ids = append(ids, b.ID)
		}
	}
	return ids
}

// assignment returns each partition's replicas, validating counts.
func (c *Controller) assignment(im *metadata.Image, spec TopicSpec) ([][]int32, error) {
	brokers := liveBrokers(im)
	if len(spec.Assignment) > 0 {
		if spec.NumPartitions != -1 || spec.ReplicationFactor != -1 {
			return nil, errorf(kerr.InvalidRequest, "both numPartitions or replicationFactor and replicasAssignment were set; only one is allowed")
		}
		return validateAssignment(im, spec.Assignment, 0)
	}
	n, rf := spec.NumPartitions, spec.ReplicationFactor
	if n == -1 {
		n = c.cfg.DefaultPartitions
	}
	if rf == -1 {
		rf = c.cfg.DefaultReplicationFactor
	}
	if n <= 0 {
		return nil, errorf(kerr.InvalidPartitions, "number of partitions must be larger than 0")
	}
	if rf <= 0 {
		return nil, errorf(kerr.InvalidReplicationFactor, "replication factor must be larger than 0")
	}
	if int(rf) > len(brokers) {
		return nil, errorf(kerr.InvalidReplicationFactor, "replication factor: %d larger than available brokers: %d", rf, len(brokers))
	}
	return roundRobin(brokers, 0, n, rf), nil
}

// roundRobin places partitions [start, start+n) with rf replicas each,
// the leader rotating over brokers.
func roundRobin(brokers []int32, start, n int32, rf int16) [][]int32 {
	out := make([][]int32, n)
	for i := int32(0); i < n; i++ {
		p := start + i
		reps := make([]int32, rf)
		for r := int16(0); r < rf; r++ {
			reps[r] = brokers[(int(p)+int(r))%len(brokers)]
		}
		out[i] = reps
	}
	return out
}

func validateAssignment(im *metadata.Image, a [][]int32, rf int) ([][]int32, error) {
	for i, reps := range a {
		if len(reps) == 0 {
			return nil, errorf(kerr.InvalidReplicaAssignment, "partition %d has no replicas", i)
		}
		if rf == 0 {
			rf = len(reps)
		}
		if len(reps) != rf {
			return nil, errorf(kerr.InvalidReplicaAssignment, "inconsistent replication factor between partitions")
		}
		seen := map[int32]bool{}
		for _, b := range reps {
			if seen[b] {
				return nil, errorf(kerr.InvalidReplicaAssignment, "duplicate broker %d in partition %d", b, i)
			}
			seen[b] = true
			if bk := im.Broker(b); bk == nil || bk.Fenced {
				return nil, errorf(kerr.InvalidReplicaAssignment, "broker %d in partition %d is not registered", b, i)
			}
		}
	}
	return a, nil
}

// DeleteTopic deletes a topic by name (or by id when name is empty).
func (c *Controller) DeleteTopic(name string, id Uuid) (string, Uuid, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cfg.DeleteTopicEnable {
		return name, id, errorf(kerr.TopicDeletionDisabled, "topic deletion is disabled (delete.topic.enable=false)")
	}
	im := c.image.Load()
	var t *metadata.Topic
	if name != "" {
		t = im.Topic(name)
	} else {
		t = im.TopicByID(id)
	}
	if t == nil {
		if name == "" {
			return name, id, errorf(kerr.UnknownTopicID, "unknown topic id")
		}
		return name, id, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	rec := metadata.Record{Type: metadata.TypeRemoveTopic, RemoveTopic: &metadata.RemoveTopicRecord{TopicID: t.ID}}
	return t.Name, t.ID, c.commitLocked([]metadata.Record{rec})
}

// CreatePartitions raises a topic's partition count to total.
func (c *Controller) CreatePartitions(name string, total int32, assignment [][]int32, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	im := c.image.Load()
	t := im.Topic(name)
	if t == nil {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	have := int32(len(t.Partitions))
	if total < have {
		return errorf(kerr.InvalidPartitions, "topic currently has %d partitions, which is higher than the requested %d", have, total)
	}
	if total == have {
		return errorf(kerr.InvalidPartitions, "topic already has %d partitions", have)
	}
	rf := len(t.Partitions[0].Replicas)
	var add [][]int32
	if assignment != nil {
		if int32(len(assignment)) != total-have {
			return errorf(kerr.InvalidReplicaAssignment, "increasing the number of partitions by %d but %d assignments provided", total-have, len(assignment))
		}
		var err error
		if add, err = validateAssignment(im, assignment, rf); err != nil {
			return err
		}
	} else {
		brokers := liveBrokers(im)
		if rf > len(brokers) {
			return errorf(kerr.InvalidReplicationFactor, "replication factor %d larger than available brokers %d", rf, len(brokers))
		}
		add = roundRobin(brokers, have, total-have, int16(rf))
	}
	if validateOnly {
		return nil
	}
	recs := make([]metadata.Record, 0, len(add))
	for i, reps := range add {
		recs = append(recs, partitionRecord(t.ID, have+int32(i), reps))
	}
	return c.commitLocked(recs)
}

// ConfigOp is one change of IncrementalAlterConfigs.
type ConfigOp struct {
	Name  string
	Op    int8 // 0 set, 1 delete, 2 append, 3 subtract
	Value *string
}

// AlterTopicConfigs changes a topic's dynamic configs. With replace set
// (AlterConfigs), the ops give the whole new set and every other dynamic
// config is removed.
func (c *Controller) AlterTopicConfigs(topic string, ops []ConfigOp, replace, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	im := c.image.Load()
	if im.Topic(topic) == nil {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", topic)
	}
	current := im.Configs(metadata.ResourceTopic, topic)
	next := map[string]*string{}
	if !replace {
		for k, v := range current {
			v := v
			next[k] = &v
		}
	}
	for _, op := range ops {
		if err := applyConfigOp(next, op); err != nil {
			return err
		}
	}
	for name, v := range next {
		if v != nil && c.cfg.ValidateTopicConfig != nil {
			if err := c.cfg.ValidateTopicConfig(name, *v); err != nil {
				return errorf(kerr.InvalidConfig, "%v", err)
			}
		}
	}
	if validateOnly {
		return nil
	}
	var recs []metadata.Record
	for k := range current {
		if next[k] == nil {
			recs = append(recs, configRecord(topic, k, nil))
		}
	}
	for k, v := range next {
		if v != nil && (current == nil || current[k] != *v || !hasKey(current, k)) {
			recs = append(recs, configRecord(topic, k, v))
		}
	}
	return c.commitLocked(recs)
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func configRecord(topic, name string, v *string) metadata.Record {
	return metadata.Record{Type: metadata.TypeConfig, Config: &metadata.ConfigRecord{
		ResourceType: metadata.ResourceTopic, ResourceName: topic, Name: name, Value: v,
	}}
}

func applyConfigOp(next map[string]*string, op ConfigOp) error {
	switch op.Op {
	case 0:
		if op.Value == nil {
			return errorf(kerr.InvalidConfig, "null value for config %q", op.Name)
		}
		next[op.Name] = op.Value
	case 1:
		next[op.Name] = nil
	case 2, 3:
		var items []string
		if cur := next[op.Name]; cur != nil && *cur != "" {
			items = strings.Split(*cur, ",")
		}
		if op.Value == nil {
			return errorf(kerr.InvalidConfig, "null value for config %q", op.Name)
		}
		for _, v := range strings.Split(*op.Value, ",") {
			items = addOrRemove(items, strings.TrimSpace(v), op.Op == 2)
		}
		joined := strings.Join(items, ",")
		next[op.Name] = &joined
	default:
		return errorf(kerr.InvalidRequest, "unknown config operation %d", op.Op)
	}
	return nil
}

func addOrRemove(items []string, v string, add bool) []string {
	for i, it := range items {
		if it == v {
			if add {
				return items
			}
			return append(items[:i], items[i+1:]...)
		}
	}
	if add {
		return append(items, v)
	}
	return items
}
