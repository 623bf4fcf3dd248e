package controller

import (
	"slices"
	"strings"
	"unicode/utf8"

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
	recs, res, err := DecideCreateTopic(&c.cfg, c.current(), spec)
	if err != nil || validateOnly {
		return res, err
	}
	return res, c.commitLocked(recs)
}

// DecideCreateTopic decides one CreateTopics entry (Kafka's
// ReplicationControlManager.createTopic): the Topic record, its Config
// records, then one Partition record per partition, placed by the striped
// placer (placement.go) unless the request assigns replicas itself. Every
// partition starts with the active replicas as its ISR and the first of
// them as leader, at leader epoch 0.
func DecideCreateTopic(cfg *Config, im *metadata.Image, spec TopicSpec) ([]metadata.Record, CreateTopicResult, error) {
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
	id := cfg.NewID()
	assignment, err := topicAssignment(cfg, im, spec, id)
	if err != nil {
		return nil, res, err
	}
	for name, v := range spec.Configs {
		if v == nil {
			return nil, res, errorf(kerr.InvalidConfig, "null value for config %q", name)
		}
		if cfg.ValidateTopicConfig != nil {
			if err := cfg.ValidateTopicConfig(name, *v); err != nil {
				return nil, res, errorf(kerr.InvalidConfig, "%v", err)
			}
		}
	}
	recs := []metadata.Record{{Type: metadata.TypeTopic, Topic: &metadata.TopicRecord{Name: spec.Name, ID: id}}}
	for _, name := range sortedKeys(spec.Configs) {
		recs = append(recs, configRecord(spec.Name, validUTF8(name), validUTF8p(spec.Configs[name])))
	}
	for i, replicas := range assignment {
		rec, err := newPartitionRecord(im, id, int32(i), replicas, spec.Assignment != nil)
		if err != nil {
			return nil, res, err
		}
		recs = append(recs, rec)
	}
	res = CreateTopicResult{ID: id, NumPartitions: int32(len(assignment)), ReplicationFactor: int16(len(assignment[0]))}
	return recs, res, nil
}

// newPartitionRecord creates a partition: ISR = the active replicas, the
// first of them leads. With no active replica Kafka refuses: a manual
// assignment with INVALID_REPLICA_ASSIGNMENT, a placed one with
// INVALID_REPLICATION_FACTOR.
func newPartitionRecord(im *metadata.Image, id Uuid, p int32, replicas []int32, manual bool) (metadata.Record, error) {
	var isr []int32
	for _, r := range replicas {
		if im.Broker(r).Active() {
			isr = append(isr, r)
		}
	}
	if len(isr) == 0 {
		if manual {
			return metadata.Record{}, errorf(kerr.InvalidReplicaAssignment, "All brokers specified in the manual partition assignment for partition %d are fenced or in controlled shutdown.", p)
		}
		return metadata.Record{}, errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): All brokers are currently fenced or in controlled shutdown.", len(replicas))
	}
	return metadata.Record{Type: metadata.TypePartition, Partition: &metadata.PartitionRecord{
		TopicID: id, Partition: p, Replicas: replicas, ISR: isr, Leader: isr[0],
	}}, nil
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

// topicAssignment returns each partition's replicas, validating counts.
func topicAssignment(cfg *Config, im *metadata.Image, spec TopicSpec, id Uuid) ([][]int32, error) {
	if len(spec.Assignment) > 0 {
		if spec.NumPartitions != -1 || spec.ReplicationFactor != -1 {
			return nil, errorf(kerr.InvalidRequest, "both numPartitions or replicationFactor and replicasAssignment were set; only one is allowed")
		}
		return validateAssignment(im, spec.Assignment, 0)
	}
	n, rf := spec.NumPartitions, spec.ReplicationFactor
	if rf < -1 || rf == 0 {
		return nil, errorf(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	}
	if n < -1 || n == 0 {
		return nil, errorf(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	}
	if n == -1 {
		n = cfg.DefaultPartitions
	}
	if rf == -1 {
		rf = cfg.DefaultReplicationFactor
	}
	if n <= 0 {
		return nil, errorf(kerr.InvalidPartitions, "number of partitions must be larger than 0")
	}
	return place(im, placementSeed(id, 0), int(n), int(rf))
}

// validateAssignment checks a manual assignment (Kafka's
// validateManualPartitionAssignment): no empty list, every broker
// registered and listed once, the same replication factor everywhere (rf,
// or the first partition's when rf is 0).
func validateAssignment(im *metadata.Image, a [][]int32, rf int) ([][]int32, error) {
	for i, reps := range a {
		if len(reps) == 0 {
			return nil, errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list (partition %d).", i)
		}
		seen := map[int32]bool{}
		for _, b := range reps {
			if im.Broker(b) == nil {
				return nil, errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", b)
			}
			if seen[b] {
				return nil, errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once (partition %d).", b, i)
			}
			seen[b] = true
		}
		if rf == 0 {
			rf = len(reps)
		}
		if len(reps) != rf {
			return nil, errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).", len(reps), rf)
		}
	}
	return a, nil
}

// DeleteTopic deletes a topic by name (or by id when name is empty).
func (c *Controller) DeleteTopic(name string, id Uuid) (string, Uuid, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, gotName, gotID, err := DecideDeleteTopic(&c.cfg, c.current(), name, id)
	if err != nil {
		return gotName, gotID, err
	}
	return gotName, gotID, c.commitLocked(recs)
}

// DecideDeleteTopic decides a DeleteTopics entry: one RemoveTopic record.
// It returns the topic's name and id.
func DecideDeleteTopic(cfg *Config, im *metadata.Image, name string, id Uuid) ([]metadata.Record, string, Uuid, error) {
	if !cfg.DeleteTopicEnable {
		return nil, name, id, errorf(kerr.TopicDeletionDisabled, "topic deletion is disabled (delete.topic.enable=false)")
	}
	var t *metadata.Topic
	if name != "" {
		t = im.Topic(name)
	} else {
		t = im.TopicByID(id)
	}
	if t == nil {
		if name == "" {
			return nil, name, id, errorf(kerr.UnknownTopicID, "unknown topic id")
		}
		return nil, name, id, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	rec := metadata.Record{Type: metadata.TypeRemoveTopic, RemoveTopic: &metadata.RemoveTopicRecord{TopicID: t.ID}}
	return []metadata.Record{rec}, t.Name, t.ID, nil
}

// CreatePartitions raises a topic's partition count to total.
func (c *Controller) CreatePartitions(name string, total int32, assignment [][]int32, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, err := DecideCreatePartitions(c.current(), name, total, assignment)
	if err != nil || validateOnly {
		return err
	}
	return c.commitLocked(recs)
}

// DecideCreatePartitions decides a CreatePartitions entry: a Partition
// record per new partition, with the replication factor of partition 0,
// placed like a new topic's unless assigned.
func DecideCreatePartitions(im *metadata.Image, name string, total int32, assignment [][]int32) ([]metadata.Record, error) {
	t := im.Topic(name)
	if t == nil {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	have := int32(len(t.Partitions))
	if total < have {
		return nil, errorf(kerr.InvalidPartitions, "topic currently has %d partitions, which is higher than the requested %d", have, total)
	}
	if total == have {
		return nil, errorf(kerr.InvalidPartitions, "topic already has %d partitions", have)
	}
	if have == 0 {
		return nil, errorf(kerr.InvalidPartitions, "topic %q has no partitions to take a replication factor from", name)
	}
	rf := len(t.Partitions[0].Replicas)
	var add [][]int32
	if assignment != nil {
		if int64(len(assignment)) != int64(total)-int64(have) {
			return nil, errorf(kerr.InvalidReplicaAssignment, "increasing the number of partitions by %d but %d assignments provided", total-have, len(assignment))
		}
		var err error
		if add, err = validateAssignment(im, assignment, rf); err != nil {
			return nil, err
		}
	} else {
		var err error
		if add, err = place(im, placementSeed(t.ID, have), int(total-have), rf); err != nil {
			return nil, err
		}
	}
	recs := make([]metadata.Record, 0, len(add))
	for i, reps := range add {
		rec, err := newPartitionRecord(im, t.ID, have+int32(i), reps, assignment != nil)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
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
	recs, err := DecideAlterTopicConfigs(&c.cfg, c.current(), topic, ops, replace)
	if err != nil || validateOnly {
		return err
	}
	return c.commitLocked(recs)
}

// DecideAlterTopicConfigs decides an (Incremental)AlterConfigs entry for a
// topic: one Config record per config whose value changes (and, when
// min.insync.replicas changes, the partitions' ELRs are cleared).
func DecideAlterTopicConfigs(cfg *Config, im *metadata.Image, topic string, ops []ConfigOp, replace bool) ([]metadata.Record, error) {
	if im.Topic(topic) == nil {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", topic)
	}
	current := im.Configs(metadata.ResourceTopic, topic)
	next, err := applyConfigOps(current, ops, replace)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(next) {
		if v := next[name]; v != nil && cfg.ValidateTopicConfig != nil {
			if err := cfg.ValidateTopicConfig(name, *v); err != nil {
				return nil, errorf(kerr.InvalidConfig, "%v", err)
			}
		}
	}
	recs := configChanges(metadata.ResourceTopic, topic, current, next)
	for _, r := range recs {
		if r.Config.Name == "min.insync.replicas" {
			return append(recs, clearELRs(im, im.Topic(topic))...), nil
		}
	}
	return recs, nil
}

// clearELRs empties the ELR and last known ELR of a topic's partitions:
// KIP-966 cleans them when the topic's min.insync.replicas changes (they
// were computed against the old value).
func clearELRs(im *metadata.Image, t *metadata.Topic) []metadata.Record {
	if !ELREnabled(im) {
		return nil
	}
	var recs []metadata.Record
	for i, p := range t.Partitions {
		if len(p.ELR) == 0 && len(p.LastKnownELR) == 0 {
			continue
		}
		recs = append(recs, metadata.Record{Type: metadata.TypePartitionChange, PartitionChange: &metadata.PartitionChangeRecord{
			TopicID: t.ID, Partition: int32(i), Leader: metadata.NoLeaderChange, ELR: []int32{}, LastKnownELR: []int32{}}})
	}
	return recs
}

func configRecord(topic, name string, v *string) metadata.Record {
	return resourceConfigRecord(metadata.ResourceTopic, topic, name, v)
}

func resourceConfigRecord(typ int8, resource, name string, v *string) metadata.Record {
	return metadata.Record{Type: metadata.TypeConfig, Config: &metadata.ConfigRecord{
		ResourceType: typ, ResourceName: resource, Name: name, Value: v,
	}}
}

// applyConfigOps returns a resource's configs after ops (nil value:
// deleted), starting from current or, with replace (AlterConfigs), from
// nothing.
func applyConfigOps(current map[string]string, ops []ConfigOp, replace bool) (map[string]*string, error) {
	next := map[string]*string{}
	if !replace {
		for k, v := range current {
			next[k] = &v
		}
	}
	for _, op := range ops {
		op.Name, op.Value = validUTF8(op.Name), validUTF8p(op.Value)
		if err := applyConfigOp(next, op); err != nil {
			return nil, err
		}
	}
	return next, nil
}

// configChanges is the Config records that take a resource from current
// to next: deletions first, then new or changed values, each in key order.
func configChanges(typ int8, resource string, current map[string]string, next map[string]*string) []metadata.Record {
	var recs []metadata.Record
	for _, k := range sortedKeys(current) {
		if next[k] == nil {
			recs = append(recs, resourceConfigRecord(typ, resource, k, nil))
		}
	}
	for _, k := range sortedKeys(next) {
		v := next[k]
		if old, ok := current[k]; v != nil && (!ok || old != *v) {
			recs = append(recs, resourceConfigRecord(typ, resource, k, v))
		}
	}
	return recs
}

// validUTF8 replaces invalid UTF-8 as Kafka's string decoding (and the
// records' JSON form) does, so the applied record and the stored one agree.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func validUTF8p(s *string) *string {
	if s == nil || utf8.ValidString(*s) {
		return s
	}
	v := validUTF8(*s)
	return &v
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
