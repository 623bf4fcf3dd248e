package controller

import (
	"testing"

	"github.com/samsa-io/samsa/internal/metadata"
)

// topicRules: the topic's dynamic configs over the broker defaults, or the
// broker's resolver when it has one; min.insync.replicas capped at the
// (target) replication factor; ELR on unless the feature is at level 0.
func TestTopicRules(t *testing.T) {
	id := metadata.Uuid{1, 1}
	str := func(s string) *string { return &s }
	im := metadata.Empty().Apply(
		metadata.Record{Type: metadata.TypeTopic, Topic: &metadata.TopicRecord{Name: "t", ID: id}},
		metadata.Record{Type: metadata.TypePartition, Partition: &metadata.PartitionRecord{TopicID: id, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}},
	)
	tp := im.Topic("t")
	p := &tp.Partitions[0]
	if r := topicRules(&Config{}, im, tp, p); r != (rules{minISR: 1, unclean: false, elr: true}) {
		t.Errorf("defaults: %+v", r)
	}
	if r := topicRules(&Config{MinInsyncReplicas: 2, UncleanLeaderElection: true}, im, tp, p); r != (rules{minISR: 2, unclean: true, elr: true}) {
		t.Errorf("broker defaults: %+v", r)
	}
	im2 := im.Apply(
		metadata.Record{Type: metadata.TypeConfig, Config: &metadata.ConfigRecord{ResourceType: metadata.ResourceTopic, ResourceName: "t", Name: "min.insync.replicas", Value: str("5")}},
		metadata.Record{Type: metadata.TypeConfig, Config: &metadata.ConfigRecord{ResourceType: metadata.ResourceTopic, ResourceName: "t", Name: "unclean.leader.election.enable", Value: str("false")}},
		metadata.Record{Type: metadata.TypeFeatureLevel, FeatureLevel: &metadata.FeatureLevelRecord{Name: FeatureELR, FeatureLevel: 0}},
	)
	tp2 := im2.Topic("t")
	if r := topicRules(&Config{UncleanLeaderElection: true}, im2, tp2, &tp2.Partitions[0]); r != (rules{minISR: 3, unclean: false, elr: false}) {
		t.Errorf("topic configs, capped, ELR off: %+v", r)
	}
	var seen map[string]string
	cfg := &Config{TopicReplication: func(o map[string]string) (int, bool) { seen = o; return 2, true }}
	if r := topicRules(cfg, im2, tp2, &tp2.Partitions[0]); r != (rules{minISR: 2, unclean: true, elr: false}) || seen["min.insync.replicas"] != "5" {
		t.Errorf("resolver: %+v, saw %v", r, seen)
	}
}
