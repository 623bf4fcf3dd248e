package broker

import (
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/seglog"
)

// topicConfig is what a partition keeps of its topic's configuration: the
// typed config package config builds (the broker's topic defaults overlaid
// with the topic's dynamic configs from the metadata image), and what the
// broker derives from it, computed once per config change so the produce
// path reads it without building anything.
type topicConfig struct {
	config.TopicConfig
	// compact: cleanup.policy includes "compact" (keys required at produce
	// time; the cleaner runs with cleanOpts, MaxOffset set per run).
	compact   bool
	segOpts   seglog.Options
	cleanOpts seglog.CompactOptions
}

// topicConfig builds a topic's effective configuration from im. Values
// were validated when they were set (overrides by the controller, defaults
// when the broker config was loaded); one that is not valid anyway takes
// Kafka's built-in default, as config.ParseTopicConfig documents.
func (b *Broker) topicConfig(im *metadata.Image, topic string) topicConfig {
	typed, err := b.dynamic().topics.Effective(im.Configs(metadata.ResourceTopic, topic))
	if err != nil {
		b.log.Warn("invalid topic config values replaced by their defaults", "topic", topic, "err", err)
	}
	tc := topicConfig{TopicConfig: typed, compact: typed.Compact()}
	tc.segOpts = seglog.Options{
		SegmentBytes:       typed.SegmentBytes,
		SegmentMs:          typed.SegmentMs,
		IndexIntervalBytes: typed.IndexIntervalBytes,
		RetentionMs:        typed.RetentionMs,
		RetentionBytes:     typed.RetentionBytes,
		MaxMessageBytes:    typed.MaxMessageBytes,
		Now:                b.opts.Now,
	}
	if tc.compact && !typed.Delete() {
		// A compacted topic without delete has no time or size retention.
		tc.segOpts.RetentionMs, tc.segOpts.RetentionBytes = -1, -1
	}
	tc.cleanOpts = seglog.CompactOptions{
		DeleteRetentionMs:  typed.DeleteRetentionMs,
		MinCompactionLagMs: typed.MinCompactionLagMs,
		MinCleanableRatio:  typed.MinCleanableDirtyRatio,
	}
	return tc
}
