package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalidConfig is wrapped by every topic-config validation error; the
// broker maps it to INVALID_CONFIG (40).
var ErrInvalidConfig = errors.New("invalid config")

// InvalidConfigError says which topic config is wrong and why; its message
// is what the broker puts in the response's ErrorMessage.
type InvalidConfigError struct {
	Name, Value, Reason string
	Unknown             bool // the name is not a topic config at all
}

func (e *InvalidConfigError) Error() string {
	if e.Unknown {
		return "Unknown topic config name: " + e.Name
	}
	return fmt.Sprintf("Invalid value %s for configuration %s: %s", e.Value, e.Name, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *InvalidConfigError) Unwrap() error { return ErrInvalidConfig }

// TopicConfigDef describes one topic-level config as AK 4.1 defines it
// (LogConfig): its type, its built-in default, the broker key that
// supplies the default when set, and its valid values.
type TopicConfigDef struct {
	Name string
	Type Type
	// Default is AK's default when the broker key is not set either.
	Default string
	// BrokerKey is the "Server Default Property"; "" when there is none.
	BrokerKey string
	// Deprecated configs are accepted and reported but have no effect
	// (message.downconversion.enable: AK 4.x never down-converts).
	Deprecated bool
	validate   func(v string) error
}

// Validate checks value against the definition's type and range.
func (d *TopicConfigDef) Validate(value string) error {
	v := strings.TrimSpace(value)
	if err := parseTyped(d.Type, v); err != nil {
		return &InvalidConfigError{Name: d.Name, Value: value, Reason: "not a valid " + strings.ToLower(string(d.Type))}
	}
	if d.validate != nil {
		if err := d.validate(v); err != nil {
			return &InvalidConfigError{Name: d.Name, Value: value, Reason: err.Error()}
		}
	}
	return nil
}

func atLeast(min int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n < min {
			return fmt.Errorf("Value must be at least %d", min)
		}
		return nil
	}
}

func between(min, max int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n < min || n > max {
			return fmt.Errorf("Value must be in [%d, %d]", min, max)
		}
		return nil
	}
}

func oneOfCase(sensitive bool, allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a || (!sensitive && strings.EqualFold(v, a)) {
				return nil
			}
		}
		return fmt.Errorf("String must be one of: %s", strings.Join(allowed, ", "))
	}
}

func cleanupPolicy(v string) error {
	parts := splitList(v)
	if len(parts) == 0 {
		return errors.New("must contain delete and/or compact")
	}
	for _, p := range parts {
		if p != "delete" && p != "compact" {
			return fmt.Errorf("Invalid value %s for configuration cleanup.policy: String must be one of: compact, delete", p)
		}
	}
	return nil
}

func ratio(v string) error {
	f, _ := strconv.ParseFloat(v, 64)
	if f < 0 || f > 1 || math.IsNaN(f) {
		return errors.New("Value must be in [0.0, 1.0]")
	}
	return nil
}

func gzipLevel(v string) error {
	n, _ := strconv.ParseInt(v, 10, 64)
	if n == -1 || (n >= 1 && n <= 9) {
		return nil
	}
	return errors.New("Value must be in [1, 9] or -1")
}

// throttledReplicas accepts "", "*" or "partition:broker,..." as AK does.
func throttledReplicas(v string) error {
	if v == "" || v == "*" {
		return nil
	}
	for _, p := range splitList(v) {
		a, b, ok := strings.Cut(p, ":")
		if _, err := strconv.Atoi(strings.TrimSpace(a)); !ok || err != nil {
			return errors.New("must be * or a list of partitionId:brokerId")
		}
		if _, err := strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return errors.New("must be * or a list of partitionId:brokerId")
		}
	}
	return nil
}

// TopicConfigs is the registry of topic-level configs, sorted by name, the
// set `kafka-configs --describe --all` shows for a topic on AK 4.1.
// message.format.version and message.timestamp.difference.max.ms are gone
// in AK 4.0 and so are not here.
var TopicConfigs = []TopicConfigDef{
	{Name: "cleanup.policy", Type: TypeList, Default: "delete", BrokerKey: "log.cleanup.policy", validate: cleanupPolicy},
	{Name: "compression.gzip.level", Type: TypeInt, Default: "-1", BrokerKey: "compression.gzip.level", validate: gzipLevel},
	{Name: "compression.lz4.level", Type: TypeInt, Default: "9", BrokerKey: "compression.lz4.level", validate: between(1, 17)},
	{Name: "compression.type", Type: TypeString, Default: "producer", BrokerKey: "compression.type", validate: oneOfCase(false, compressionTypes...)},
	{Name: "compression.zstd.level", Type: TypeInt, Default: "3", BrokerKey: "compression.zstd.level", validate: between(-131072, 22)},
	{Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", BrokerKey: "log.cleaner.delete.retention.ms", validate: atLeast(0)},
	{Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", BrokerKey: "log.segment.delete.delay.ms", validate: atLeast(0)},
	{Name: "flush.messages", Type: TypeLong, Default: fsyncDefault, BrokerKey: "log.flush.interval.messages", validate: atLeast(1)},
	{Name: "flush.ms", Type: TypeLong, Default: longMax, BrokerKey: "log.flush.interval.ms", validate: atLeast(0)},
	{Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "", BrokerKey: "", validate: throttledReplicas},
	{Name: "index.interval.bytes", Type: TypeInt, Default: "4096", BrokerKey: "log.index.interval.bytes", validate: atLeast(0)},
	{Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "", BrokerKey: "", validate: throttledReplicas},
	{Name: "local.retention.bytes", Type: TypeLong, Default: "-2", BrokerKey: "log.local.retention.bytes", validate: atLeast(-2)},
	{Name: "local.retention.ms", Type: TypeLong, Default: "-2", BrokerKey: "log.local.retention.ms", validate: atLeast(-2)},
	{Name: "max.compaction.lag.ms", Type: TypeLong, Default: longMax, BrokerKey: "log.cleaner.max.compaction.lag.ms", validate: atLeast(1)},
	{Name: "max.message.bytes", Type: TypeInt, Default: "1048588", BrokerKey: "message.max.bytes", validate: atLeast(0)},
	{Name: "message.downconversion.enable", Type: TypeBoolean, Default: "true", BrokerKey: "log.message.downconversion.enable", Deprecated: true},
	{Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: "3600000", BrokerKey: "log.message.timestamp.after.max.ms", validate: atLeast(0)},
	{Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: longMax, BrokerKey: "log.message.timestamp.before.max.ms", validate: atLeast(0)},
	{Name: "message.timestamp.type", Type: TypeString, Default: "CreateTime", BrokerKey: "log.message.timestamp.type", validate: oneOfCase(true, "CreateTime", "LogAppendTime")},
	{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", BrokerKey: "log.cleaner.min.cleanable.ratio", validate: ratio},
	{Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", BrokerKey: "log.cleaner.min.compaction.lag.ms", validate: atLeast(0)},
	{Name: "min.insync.replicas", Type: TypeInt, Default: "1", BrokerKey: "min.insync.replicas", validate: atLeast(1)},
	{Name: "preallocate", Type: TypeBoolean, Default: "false", BrokerKey: "log.preallocate"},
	{Name: "remote.log.copy.disable", Type: TypeBoolean, Default: "false"},
	{Name: "remote.log.delete.on.disable", Type: TypeBoolean, Default: "false"},
	{Name: "remote.storage.enable", Type: TypeBoolean, Default: "false", validate: remoteStorage},
	{Name: "retention.bytes", Type: TypeLong, Default: "-1", BrokerKey: "log.retention.bytes"},
	{Name: "retention.ms", Type: TypeLong, Default: "604800000", BrokerKey: "log.retention.ms", validate: atLeast(-1)},
	{Name: "segment.bytes", Type: TypeInt, Default: "1073741824", BrokerKey: "log.segment.bytes", validate: atLeast(1 << 20)},
	{Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", BrokerKey: "log.index.size.max.bytes", validate: atLeast(4)},
	{Name: "segment.jitter.ms", Type: TypeLong, Default: "0", BrokerKey: "log.roll.jitter.ms", validate: atLeast(0)},
	{Name: "segment.ms", Type: TypeLong, Default: "604800000", BrokerKey: "log.roll.ms", validate: atLeast(1)},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", BrokerKey: "unclean.leader.election.enable"},
}

// remoteStorage rejects enabling tiered storage: samsa has no remote tier,
// and silently accepting it would promise a retention it does not keep.
func remoteStorage(v string) error {
	if b, _ := parseBool(v); b {
		return errors.New("samsa does not support tiered storage")
	}
	return nil
}

var topicConfigIndex = func() map[string]*TopicConfigDef {
	m := make(map[string]*TopicConfigDef, len(TopicConfigs))
	for i := range TopicConfigs {
		m[TopicConfigs[i].Name] = &TopicConfigs[i]
	}
	return m
}()

// LookupTopicConfig returns the definition of a topic config.
func LookupTopicConfig(name string) (*TopicConfigDef, bool) {
	d, ok := topicConfigIndex[name]
	return d, ok
}

// ValidateTopicConfig checks one topic config as CreateTopics and
// (Incremental)AlterConfigs must: unknown names and bad values are both
// INVALID_CONFIG errors (errors.Is(err, ErrInvalidConfig)).
func ValidateTopicConfig(name, value string) error {
	d, ok := topicConfigIndex[name]
	if !ok {
		return &InvalidConfigError{Name: name, Unknown: true}
	}
	return d.Validate(value)
}

// ValidateTopicConfigs checks every entry of a CreateTopics or AlterConfigs
// set and joins the errors in name order, so the reply is deterministic.
func ValidateTopicConfigs(m map[string]string) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []error
	for _, k := range names {
		if err := ValidateTopicConfig(k, m[k]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// TopicConfigSynonyms lists, per topic config, the broker keys that supply
// its default in precedence order (DescribeConfigs IncludeSynonyms): for
// retention.ms, log.retention.ms beats .minutes beats .hours.
var TopicConfigSynonyms = map[string][]string{
	"cleanup.policy":                  {"log.cleanup.policy"},
	"compression.gzip.level":          {"compression.gzip.level"},
	"compression.lz4.level":           {"compression.lz4.level"},
	"compression.type":                {"compression.type"},
	"compression.zstd.level":          {"compression.zstd.level"},
	"delete.retention.ms":             {"log.cleaner.delete.retention.ms"},
	"file.delete.delay.ms":            {"log.segment.delete.delay.ms"},
	"flush.messages":                  {"log.flush.interval.messages"},
	"flush.ms":                        {"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
	"index.interval.bytes":            {"log.index.interval.bytes"},
	"local.retention.bytes":           {"log.local.retention.bytes"},
	"local.retention.ms":              {"log.local.retention.ms"},
	"max.compaction.lag.ms":           {"log.cleaner.max.compaction.lag.ms"},
	"max.message.bytes":               {"message.max.bytes"},
	"message.downconversion.enable":   {"log.message.downconversion.enable"},
	"message.timestamp.after.max.ms":  {"log.message.timestamp.after.max.ms"},
	"message.timestamp.before.max.ms": {"log.message.timestamp.before.max.ms"},
	"message.timestamp.type":          {"log.message.timestamp.type"},
	"min.cleanable.dirty.ratio":       {"log.cleaner.min.cleanable.ratio"},
	"min.compaction.lag.ms":           {"log.cleaner.min.compaction.lag.ms"},
	"min.insync.replicas":             {"min.insync.replicas"},
	"preallocate":                     {"log.preallocate"},
	"retention.bytes":                 {"log.retention.bytes"},
	"retention.ms":                    {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
	"segment.bytes":                   {"log.segment.bytes"},
	"segment.index.bytes":             {"log.index.size.max.bytes"},
	"segment.jitter.ms":               {"log.roll.jitter.ms", "log.roll.jitter.hours"},
	"segment.ms":                      {"log.roll.ms", "log.roll.hours"},
	"unclean.leader.election.enable":  {"unclean.leader.election.enable"},
}

// TopicDefaults returns, for every topic config, the value a topic without
// an override gets on this broker: the broker key's effective value (with
// its ms/minutes/hours chain resolved), else AK's built-in default. The
// result is a fresh map the caller may modify.
func TopicDefaults(c *Config) map[string]string {
	m := make(map[string]string, len(TopicConfigs))
	for _, d := range TopicConfigs {
		m[d.Name] = d.Default
		if d.BrokerKey != "" && c != nil {
			if v, ok := c.Get(d.BrokerKey); ok {
				m[d.Name] = v
			}
		}
	}
	if c != nil {
		// Derived broker values: these keys are null unless set, and their
		// effective value comes from a chain the typed fields resolved.
		m["retention.ms"] = strconv.FormatInt(c.LogRetentionMs, 10)
		m["segment.ms"] = strconv.FormatInt(c.LogRollMs, 10)
		m["segment.jitter.ms"] = strconv.FormatInt(c.LogRollJitterMs, 10)
		m["flush.ms"] = strconv.FormatInt(c.LogFlushIntervalMs, 10)
	}
	return m
}

// TopicConfig is the typed view of one topic's effective configuration,
// what the log, the produce path and the log cleaner read. It is the only
// parser of topic-config values: the broker builds it from TopicDefaults
// and a topic's overrides (Config.TopicConfig) and has no defaults of its
// own.
type TopicConfig struct {
	CleanupPolicy      []string // "delete" and/or "compact"
	CompressionType    string   // producer, uncompressed, gzip, snappy, lz4, zstd
	RetentionMs        int64    // -1 = infinite
	RetentionBytes     int64    // -1 = infinite
	SegmentBytes       int64
	SegmentMs          int64
	SegmentJitterMs    int64
	SegmentIndexBytes  int
	IndexIntervalBytes int
	MaxMessageBytes    int
	// MessageTimestampLogAppendTime is message.timestamp.type=LogAppendTime:
	// the broker overwrites batch timestamps with its clock.
	MessageTimestampLogAppendTime bool
	MessageTimestampBeforeMaxMs   int64
	MessageTimestampAfterMaxMs    int64
	FlushMessages                 int64 // 1 (samsa default) = fsync before acking acks=all
	FlushMs                       int64
	MinInsyncReplicas             int
	UncleanLeaderElection         bool
	DeleteRetentionMs             int64
	FileDeleteDelayMs             int64
	Preallocate                   bool
	// The log cleaner's per-topic settings (min.cleanable.dirty.ratio,
	// min.compaction.lag.ms, max.compaction.lag.ms).
	MinCleanableDirtyRatio float64
	MinCompactionLagMs     int64
	MaxCompactionLagMs     int64
}

// FsyncOnAck reports whether acks=all produces to this topic wait for
// fsync; see Config.LogFlushIntervalMessages.
func (t TopicConfig) FsyncOnAck() bool { return t.FlushMessages <= 1 }

// Compact reports whether cleanup.policy includes compact: the log cleaner
// keeps the latest record per key, and records without a key are refused.
func (t TopicConfig) Compact() bool { return hasPolicy(t.CleanupPolicy, "compact") }

// Delete reports whether cleanup.policy includes delete: retention.ms and
// retention.bytes apply only then (Kafka's LogConfig).
func (t TopicConfig) Delete() bool { return hasPolicy(t.CleanupPolicy, "delete") }

func hasPolicy(policies []string, p string) bool {
	for _, x := range policies {
		if x == p {
			return true
		}
	}
	return false
}

// ParseTopicConfig builds the typed view from a complete map (normally
// TopicDefaults merged with the topic's overrides). Missing keys take AK's
// built-in defaults; invalid values are INVALID_CONFIG errors.
func ParseTopicConfig(m map[string]string) (TopicConfig, error) {
	var errs []error
	get := func(name string) string {
		d := topicConfigIndex[name]
		v, ok := m[name]
		if !ok {
			return d.Default
		}
		if err := d.Validate(v); err != nil {
			errs = append(errs, err)
			return d.Default
		}
		return strings.TrimSpace(v)
	}
	i64 := func(name string) int64 { n, _ := strconv.ParseInt(get(name), 10, 64); return n }
	f64 := func(name string) float64 { f, _ := strconv.ParseFloat(get(name), 64); return f }
	boolean := func(name string) bool { b, _ := parseBool(get(name)); return b }
	t := TopicConfig{
		CleanupPolicy:                 splitList(get("cleanup.policy")),
		CompressionType:               strings.ToLower(get("compression.type")),
		RetentionMs:                   i64("retention.ms"),
		RetentionBytes:                i64("retention.bytes"),
		SegmentBytes:                  i64("segment.bytes"),
		SegmentMs:                     i64("segment.ms"),
		SegmentJitterMs:               i64("segment.jitter.ms"),
		SegmentIndexBytes:             int(i64("segment.index.bytes")),
		IndexIntervalBytes:            int(i64("index.interval.bytes")),
		MaxMessageBytes:               int(i64("max.message.bytes")),
		MessageTimestampLogAppendTime: get("message.timestamp.type") == "LogAppendTime",
		MessageTimestampBeforeMaxMs:   i64("message.timestamp.before.max.ms"),
		MessageTimestampAfterMaxMs:    i64("message.timestamp.after.max.ms"),
		FlushMessages:                 i64("flush.messages"),
		FlushMs:                       i64("flush.ms"),
		MinInsyncReplicas:             int(i64("min.insync.replicas")),
		UncleanLeaderElection:         boolean("unclean.leader.election.enable"),
		DeleteRetentionMs:             i64("delete.retention.ms"),
		FileDeleteDelayMs:             i64("file.delete.delay.ms"),
		Preallocate:                   boolean("preallocate"),
		MinCleanableDirtyRatio:        f64("min.cleanable.dirty.ratio"),
		MinCompactionLagMs:            i64("min.compaction.lag.ms"),
		MaxCompactionLagMs:            i64("max.compaction.lag.ms"),
	}
	if t.RetentionMs < 0 {
		t.RetentionMs = -1
	}
	return t, errors.Join(errs...)
}

// TopicConfig returns the typed configuration of a topic on this broker:
// the broker's topic defaults overlaid with the topic's overrides.
func (c *Config) TopicConfig(overrides map[string]string) (TopicConfig, error) {
	m := TopicDefaults(c)
	for k, v := range overrides {
		m[k] = v
	}
	return ParseTopicConfig(m)
}
