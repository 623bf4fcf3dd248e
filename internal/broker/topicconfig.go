package broker

import (
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/seglog"
)

// loadTopicDefaults caches the registry's defaults: they come from static
// broker config, so they cannot change while the broker runs, and building
// them is far too slow for the produce path.
func (b *Broker) loadTopicDefaults() {
	b.topicDefaults = b.opts.TopicConfigs.Defaults()
	b.defaultVals = make(map[string]string, len(b.topicDefaults))
	for _, e := range b.topicDefaults {
		if e.Value != nil {
			b.defaultVals[e.Name] = *e.Value
		}
	}
}

// topicConfig is a topic's effective configuration: the registry's
// defaults (derived from broker keys) overlaid with the topic's dynamic
// configs from the metadata image.
type topicConfig struct {
	values          map[string]string
	segOpts         seglog.Options
	flushMessages   int64
	flushMs         int64
	logAppendTime   bool
	maxMessageBytes int32
	minISR          int
	// tsBeforeMax and tsAfterMax bound how far a CreateTime timestamp
	// may lie before or after the broker's clock (KIP-937).
	tsBeforeMax, tsAfterMax int64
	// compact: cleanup.policy includes "compact" (keys required at produce
	// time; the cleaner runs with cleanOpts, MaxOffset set per run).
	compact   bool
	cleanOpts seglog.CompactOptions
}

func (b *Broker) topicConfig(im *metadata.Image, topic string) topicConfig {
	vals := make(map[string]string, len(b.defaultVals))
	for k, v := range b.defaultVals {
		vals[k] = v
	}
	for k, v := range im.Configs(metadata.ResourceTopic, topic) {
		vals[k] = v
	}
	tc := topicConfig{values: vals}
	num := func(key string, def int64) int64 {
		if v, ok := vals[key]; ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
		return def
	}
	tc.maxMessageBytes = int32(num("max.message.bytes", int64(b.opts.MessageMaxBytes)))
	tc.flushMessages = num("flush.messages", b.opts.FlushIntervalMessages)
	tc.flushMs = num("flush.ms", b.opts.FlushIntervalMs)
	tc.logAppendTime = vals["message.timestamp.type"] == "LogAppendTime"
	tc.minISR = int(num("min.insync.replicas", 1))
	tc.tsBeforeMax = num("message.timestamp.before.max.ms", 1<<63-1)
	tc.tsAfterMax = num("message.timestamp.after.max.ms", 3600000)
	tc.segOpts = seglog.Options{
		SegmentBytes:       num("segment.bytes", 1<<30),
		SegmentMs:          num("segment.ms", 7*24*3600*1000),
		IndexIntervalBytes: int(num("index.interval.bytes", 4096)),
		RetentionMs:        num("retention.ms", 7*24*3600*1000),
		RetentionBytes:     num("retention.bytes", -1),
		MaxMessageBytes:    int(tc.maxMessageBytes),
		Now:                b.opts.Now,
	}
	tc.applyCleanupPolicy(vals, num)
	return tc
}

// applyCleanupPolicy reads cleanup.policy: "compact" turns the cleaner on;
// without "delete", retention.ms and retention.bytes do not apply (Kafka).
func (tc *topicConfig) applyCleanupPolicy(vals map[string]string, num func(string, int64) int64) {
	policies := map[string]bool{}
	for _, p := range strings.Split(vals["cleanup.policy"], ",") {
		policies[strings.TrimSpace(p)] = true
	}
	tc.compact = policies["compact"]
	if tc.compact && !policies["delete"] {
		tc.segOpts.RetentionMs, tc.segOpts.RetentionBytes = -1, -1
	}
	ratio, err := strconv.ParseFloat(vals["min.cleanable.dirty.ratio"], 64)
	if err != nil {
		ratio = 0.5
	}
	tc.cleanOpts = seglog.CompactOptions{
		DeleteRetentionMs:  num("delete.retention.ms", 86400000),
		MinCompactionLagMs: num("min.compaction.lag.ms", 0),
		MinCleanableRatio:  ratio,
	}
}
