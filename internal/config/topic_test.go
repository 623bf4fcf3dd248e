package config

import (
	"errors"
	"sort"
	"strings"
	"testing"
)

func TestTopicConfigRegistry(t *testing.T) {
	names := make([]string, len(TopicConfigs))
	for i, d := range TopicConfigs {
		names[i] = d.Name
		if err := d.Validate(d.Default); err != nil {
			t.Errorf("%s: default %q invalid: %v", d.Name, d.Default, err)
		}
		if d.BrokerKey != "" {
			if _, ok := brokerKeyIndex[d.BrokerKey]; !ok {
				t.Errorf("%s: broker key %s unknown", d.Name, d.BrokerKey)
			}
			if syn := TopicConfigSynonyms[d.Name]; len(syn) == 0 || syn[0] != d.BrokerKey {
				t.Errorf("%s: synonyms %v do not start with %s", d.Name, syn, d.BrokerKey)
			}
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Error("TopicConfigs not sorted")
	}
	for _, want := range []string{"cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
		"flush.messages", "flush.ms", "index.interval.bytes", "max.compaction.lag.ms", "max.message.bytes",
		"message.timestamp.type", "message.timestamp.before.max.ms", "message.timestamp.after.max.ms",
		"min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate", "retention.bytes",
		"retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
		"unclean.leader.election.enable", "message.downconversion.enable"} {
		if _, ok := LookupTopicConfig(want); !ok {
			t.Errorf("missing topic config %s", want)
		}
	}
}

func TestValidateTopicConfig(t *testing.T) {
	good := [][2]string{
		{"cleanup.policy", "compact"}, {"cleanup.policy", "delete,compact"}, {"cleanup.policy", "compact, delete"},
		{"compression.type", "zstd"}, {"compression.type", "uncompressed"}, {"retention.ms", "-1"},
		{"retention.bytes", "-1"}, {"segment.bytes", "1048576"}, {"min.cleanable.dirty.ratio", "0.1"},
		{"message.timestamp.type", "LogAppendTime"}, {"preallocate", "TRUE"}, {"max.message.bytes", " 100 "},
		{"compression.gzip.level", "-1"}, {"leader.replication.throttled.replicas", "0:1,1:2"},
		{"follower.replication.throttled.replicas", "*"}, {"message.downconversion.enable", "false"},
	}
	for _, g := range good {
		if err := ValidateTopicConfig(g[0], g[1]); err != nil {
			t.Errorf("%s=%s: %v", g[0], g[1], err)
		}
	}
	bad := []struct{ name, value, msg string }{
		{"cleanup.policy", "remove", "compact, delete"},
		{"cleanup.policy", "", "delete"},
		{"compression.type", "brotli", "String must be one of"},
		{"retention.ms", "-2", "at least -1"},
		{"retention.ms", "1h", "not a valid long"},
		{"segment.bytes", "1024", "at least 1048576"},
		{"segment.bytes", "9999999999", "not a valid int"},
		{"min.insync.replicas", "0", "at least 1"},
		{"min.cleanable.dirty.ratio", "1.5", "[0.0, 1.0]"},
		{"message.timestamp.type", "logappendtime", "String must be one of"},
		{"preallocate", "yes", "not a valid boolean"},
		{"compression.gzip.level", "0", "[1, 9] or -1"},
		{"compression.lz4.level", "18", "[1, 17]"},
		{"flush.messages", "0", "at least 1"},
		{"segment.ms", "0", "at least 1"},
		{"remote.storage.enable", "true", "tiered storage"},
		{"leader.replication.throttled.replicas", "x", "partitionId:brokerId"},
	}
	for _, b := range bad {
		err := ValidateTopicConfig(b.name, b.value)
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), b.msg) || !strings.Contains(err.Error(), b.name) {
			t.Errorf("%s=%q: err = %v, want INVALID_CONFIG mentioning %q", b.name, b.value, err, b.msg)
		}
	}
	err := ValidateTopicConfig("retention.weeks", "1")
	var ice *InvalidConfigError
	if !errors.As(err, &ice) || !ice.Unknown || err.Error() != "Unknown topic config name: retention.weeks" {
		t.Errorf("unknown: %v", err)
	}
	if err := ValidateTopicConfigs(map[string]string{"retention.ms": "x", "segment.ms": "0", "cleanup.policy": "compact"}); err == nil ||
		!strings.Contains(err.Error(), "retention.ms") || !strings.Contains(err.Error(), "segment.ms") {
		t.Errorf("ValidateTopicConfigs: %v", err)
	}
}

func TestTopicDefaultsFromBroker(t *testing.T) {
	f := writeFile(t, minimalFile+`
log.retention.minutes=10
log.segment.bytes=2097152
log.roll.hours=1
message.max.bytes=2000000
log.message.timestamp.type=LogAppendTime
log.cleanup.policy=compact
compression.type=lz4
min.insync.replicas=2
`)
	c := mustLoad(t, LoadOptions{File: f})
	d := TopicDefaults(c)
	want := map[string]string{
		"retention.ms": "600000", "segment.bytes": "2097152", "segment.ms": "3600000",
		"max.message.bytes": "2000000", "message.timestamp.type": "LogAppendTime", "cleanup.policy": "compact",
		"compression.type": "lz4", "min.insync.replicas": "2", "flush.messages": "1",
		"retention.bytes": "-1", "delete.retention.ms": "86400000", "flush.ms": longMax,
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("default %s = %q, want %q", k, d[k], v)
		}
	}
	if len(d) != len(TopicConfigs) {
		t.Errorf("TopicDefaults has %d keys, registry %d", len(d), len(TopicConfigs))
	}
	tc, err := c.TopicConfig(map[string]string{"retention.ms": "-1", "segment.bytes": "1048576"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.RetentionMs != -1 || tc.SegmentBytes != 1048576 || tc.SegmentMs != 3600000 || !tc.MessageTimestampLogAppendTime ||
		tc.MaxMessageBytes != 2000000 || tc.CompressionType != "lz4" || tc.MinInsyncReplicas != 2 ||
		len(tc.CleanupPolicy) != 1 || tc.CleanupPolicy[0] != "compact" || tc.RetentionBytes != -1 {
		t.Errorf("typed view %+v", tc)
	}
	if _, err := c.TopicConfig(map[string]string{"segment.bytes": "12"}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad override: %v", err)
	}
	// nil broker config: AK built-ins.
	tc, err = ParseTopicConfig(TopicDefaults(nil))
	if err != nil || tc.RetentionMs != 604800000 || tc.SegmentBytes != 1<<30 || tc.MaxMessageBytes != 1048588 || tc.CompressionType != "producer" {
		t.Errorf("built-ins %+v %v", tc, err)
	}
}

// TestTopicConfigCleanerFields: the log cleaner's per-topic settings and
// the cleanup policy are typed here (the broker parses none of them), with
// their defaults from the log.cleaner.* broker keys.
func TestTopicConfigCleanerFields(t *testing.T) {
	c := mustLoad(t, LoadOptions{File: writeFile(t, minimalFile+`
log.cleaner.min.cleanable.ratio=0.25
log.cleaner.min.compaction.lag.ms=1000
log.cleaner.max.compaction.lag.ms=90000
log.cleaner.delete.retention.ms=5000
`)})
	tc, err := c.TopicConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinCleanableDirtyRatio != 0.25 || tc.MinCompactionLagMs != 1000 || tc.MaxCompactionLagMs != 90000 ||
		tc.DeleteRetentionMs != 5000 || tc.Compact() || !tc.Delete() {
		t.Errorf("broker defaults: %+v compact=%v delete=%v", tc, tc.Compact(), tc.Delete())
	}
	tc, err = c.TopicConfig(map[string]string{"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01",
		"min.compaction.lag.ms": "0", "max.compaction.lag.ms": "100"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinCleanableDirtyRatio != 0.01 || tc.MinCompactionLagMs != 0 || tc.MaxCompactionLagMs != 100 ||
		!tc.Compact() || tc.Delete() {
		t.Errorf("overrides: %+v compact=%v delete=%v", tc, tc.Compact(), tc.Delete())
	}
	tc, _ = c.TopicConfig(map[string]string{"cleanup.policy": " delete , compact "})
	if !tc.Compact() || !tc.Delete() {
		t.Errorf("both policies: %v", tc.CleanupPolicy)
	}
	// An invalid value takes AK's built-in default and is reported.
	tc, err = c.TopicConfig(map[string]string{"min.cleanable.dirty.ratio": "2"})
	if !errors.Is(err, ErrInvalidConfig) || tc.MinCleanableDirtyRatio != 0.5 {
		t.Errorf("invalid ratio: %v %v", tc.MinCleanableDirtyRatio, err)
	}
}

// TestLogCleanerKeys: log.cleaner.enable and log.cleaner.backoff.ms are
// typed broker settings with AK's defaults and ranges.
func TestLogCleanerKeys(t *testing.T) {
	c := mustLoad(t, LoadOptions{File: writeFile(t, minimalFile)})
	if !c.LogCleanerEnable || c.LogCleanerBackoffMs != 15000 {
		t.Errorf("defaults: enable=%v backoff=%d", c.LogCleanerEnable, c.LogCleanerBackoffMs)
	}
	c = mustLoad(t, LoadOptions{File: writeFile(t, minimalFile+"log.cleaner.enable=FALSE\nlog.cleaner.backoff.ms=0\n")})
	if c.LogCleanerEnable || c.LogCleanerBackoffMs != 0 {
		t.Errorf("set: enable=%v backoff=%d", c.LogCleanerEnable, c.LogCleanerBackoffMs)
	}
	for _, bad := range []string{"log.cleaner.backoff.ms=-1", "log.cleaner.backoff.ms=soon", "log.cleaner.enable=maybe"} {
		_, _, err := load(t, LoadOptions{File: writeFile(t, minimalFile+bad+"\n")})
		key, _, _ := strings.Cut(bad, "=")
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v, want one naming %s", bad, err, key)
		}
	}
}
