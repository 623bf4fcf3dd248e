package config

import (
	"sort"
	"strconv"
	"strings"
)

// Type is a Kafka ConfigDef type name, reported by DescribeConfigs v3+
// (ConfigType) and used to parse values.
type Type string

// The Kafka ConfigDef types samsa needs.
const (
	TypeBoolean  Type = "BOOLEAN"
	TypeString   Type = "STRING"
	TypeInt      Type = "INT"
	TypeShort    Type = "SHORT"
	TypeLong     Type = "LONG"
	TypeDouble   Type = "DOUBLE"
	TypeList     Type = "LIST"
	TypeClass    Type = "CLASS"
	TypePassword Type = "PASSWORD"
)

// brokerKey describes one broker property samsa knows: Kafka's default (so
// a user config behaves as it would on AK), whether AK can change it
// dynamically (DescribeConfigs readOnly=false) and whether it is secret.
type brokerKey struct {
	name      string
	typ       Type
	def       string
	null      bool // Kafka's default is null (the key is derived from others)
	dynamic   bool
	sensitive bool
}

const longMax = "9223372036854775807"

// fsyncDefault is samsa's default for log.flush.interval.messages; see
// Config.LogFlushIntervalMessages for why it differs from Kafka's.
const fsyncDefault = "1"

// brokerKeys lists every broker key samsa knows, with AK 4.1 defaults.
// Keys in here that no Config field reads are accepted and ignored (thread
// counts, buffer sizes): they tune a JVM broker, not samsa.
var brokerKeys = []brokerKey{
	// KRaft identity and quorum.
	{name: "node.id", typ: TypeInt, def: "-1"},
	{name: "process.roles", typ: TypeList, def: ""},
	{name: "controller.quorum.voters", typ: TypeList, def: ""},
	{name: "controller.quorum.bootstrap.servers", typ: TypeList, def: ""},
	{name: "controller.listener.names", typ: TypeList, def: ""},
	{name: "controller.quorum.election.timeout.ms", typ: TypeInt, def: "1000"},
	{name: "controller.quorum.election.backoff.max.ms", typ: TypeInt, def: "1000"},
	{name: "controller.quorum.fetch.timeout.ms", typ: TypeInt, def: "2000"},
	{name: "controller.quorum.request.timeout.ms", typ: TypeInt, def: "2000"},
	{name: "controller.quorum.retry.backoff.ms", typ: TypeInt, def: "20"},
	{name: "controller.quorum.append.linger.ms", typ: TypeInt, def: "25"},
	{name: "broker.heartbeat.interval.ms", typ: TypeInt, def: "2000"},
	{name: "broker.session.timeout.ms", typ: TypeInt, def: "9000"},
	{name: "initial.broker.registration.timeout.ms", typ: TypeInt, def: "60000"},
	{name: "metadata.log.dir", typ: TypeString, null: true},
	{name: "metadata.log.segment.bytes", typ: TypeInt, def: "1073741824"},
	{name: "metadata.log.segment.ms", typ: TypeLong, def: "604800000"},
	{name: "metadata.max.retention.bytes", typ: TypeLong, def: "104857600"},
	{name: "metadata.max.retention.ms", typ: TypeLong, def: "604800000"},
	{name: "metadata.max.idle.interval.ms", typ: TypeInt, def: "500"},
	{name: "broker.rack", typ: TypeString, null: true},

	// Listeners.
	{name: "listeners", typ: TypeList, def: "PLAINTEXT://:9092", dynamic: true},
	{name: "advertised.listeners", typ: TypeList, null: true},
	{name: "listener.security.protocol.map", typ: TypeString, def: defaultProtocolMap, dynamic: true},
	{name: "inter.broker.listener.name", typ: TypeString, null: true},
	{name: "security.inter.broker.protocol", typ: TypeString, def: "PLAINTEXT"},
	{name: "socket.request.max.bytes", typ: TypeInt, def: "104857600"},
	{name: "socket.send.buffer.bytes", typ: TypeInt, def: "102400"},
	{name: "socket.receive.buffer.bytes", typ: TypeInt, def: "102400"},
	{name: "socket.listen.backlog.size", typ: TypeInt, def: "50"},
	{name: "connections.max.idle.ms", typ: TypeLong, def: "600000"},
	{name: "connections.max.reauth.ms", typ: TypeLong, def: "0"},
	{name: "max.connections", typ: TypeInt, def: "2147483647", dynamic: true},
	{name: "max.connections.per.ip", typ: TypeInt, def: "2147483647", dynamic: true},
	{name: "max.connections.per.ip.overrides", typ: TypeString, def: "", dynamic: true},
	{name: "max.connection.creation.rate", typ: TypeInt, def: "2147483647", dynamic: true},
	{name: "queued.max.requests", typ: TypeInt, def: "500"},
	{name: "queued.max.request.bytes", typ: TypeLong, def: "-1"},
	{name: "request.timeout.ms", typ: TypeInt, def: "30000"},
	{name: "num.network.threads", typ: TypeInt, def: "3", dynamic: true},
	{name: "num.io.threads", typ: TypeInt, def: "8", dynamic: true},
	{name: "background.threads", typ: TypeInt, def: "10", dynamic: true},
	{name: "num.replica.fetchers", typ: TypeInt, def: "1", dynamic: true},
	{name: "num.recovery.threads.per.data.dir", typ: TypeInt, def: "2", dynamic: true},
	{name: "sasl.enabled.mechanisms", typ: TypeList, def: "GSSAPI", dynamic: true},
	{name: "sasl.mechanism.inter.broker.protocol", typ: TypeString, def: "GSSAPI", dynamic: true},
	{name: "sasl.mechanism.controller.protocol", typ: TypeString, def: "GSSAPI"},
	{name: "sasl.jaas.config", typ: TypePassword, null: true, dynamic: true, sensitive: true},
	{name: "ssl.keystore.location", typ: TypeString, null: true, dynamic: true},
	{name: "ssl.keystore.password", typ: TypePassword, null: true, dynamic: true, sensitive: true},
	{name: "ssl.key.password", typ: TypePassword, null: true, dynamic: true, sensitive: true},
	{name: "ssl.keystore.type", typ: TypeString, def: "JKS", dynamic: true},
	{name: "ssl.truststore.location", typ: TypeString, null: true, dynamic: true},
	{name: "ssl.truststore.password", typ: TypePassword, null: true, dynamic: true, sensitive: true},
	{name: "ssl.truststore.type", typ: TypeString, def: "JKS", dynamic: true},
	{name: "ssl.client.auth", typ: TypeString, def: "none", dynamic: true},
	{name: "ssl.endpoint.identification.algorithm", typ: TypeString, def: "https", dynamic: true},
	{name: "authorizer.class.name", typ: TypeString, def: ""},
	{name: "super.users", typ: TypeString, null: true},
	{name: "allow.everyone.if.no.acl.found", typ: TypeBoolean, def: "false"},

	// Log storage.
	{name: "log.dirs", typ: TypeList, null: true},
	{name: "log.dir", typ: TypeString, def: "/tmp/kafka-logs"},
	{name: "log.segment.bytes", typ: TypeInt, def: "1073741824", dynamic: true},
	{name: "log.roll.ms", typ: TypeLong, null: true, dynamic: true},
	{name: "log.roll.hours", typ: TypeInt, def: "168", dynamic: true},
	{name: "log.roll.jitter.ms", typ: TypeLong, null: true, dynamic: true},
	{name: "log.roll.jitter.hours", typ: TypeInt, def: "0", dynamic: true},
	{name: "log.retention.ms", typ: TypeLong, null: true, dynamic: true},
	{name: "log.retention.minutes", typ: TypeInt, null: true, dynamic: true},
	{name: "log.retention.hours", typ: TypeInt, def: "168", dynamic: true},
	{name: "log.retention.bytes", typ: TypeLong, def: "-1", dynamic: true},
	{name: "log.retention.check.interval.ms", typ: TypeLong, def: "300000"},
	{name: "log.flush.interval.messages", typ: TypeLong, def: fsyncDefault, dynamic: true},
	{name: "log.flush.interval.ms", typ: TypeLong, null: true, dynamic: true},
	{name: "log.flush.scheduler.interval.ms", typ: TypeLong, def: longMax},
	{name: "log.flush.offset.checkpoint.interval.ms", typ: TypeInt, def: "60000"},
	{name: "log.flush.start.offset.checkpoint.interval.ms", typ: TypeInt, def: "60000"},
	{name: "log.index.interval.bytes", typ: TypeInt, def: "4096", dynamic: true},
	{name: "log.index.size.max.bytes", typ: TypeInt, def: "10485760", dynamic: true},
	{name: "log.message.timestamp.type", typ: TypeString, def: "CreateTime", dynamic: true},
	{name: "log.message.timestamp.before.max.ms", typ: TypeLong, def: longMax, dynamic: true},
	{name: "log.message.timestamp.after.max.ms", typ: TypeLong, def: "3600000", dynamic: true},
	{name: "log.message.downconversion.enable", typ: TypeBoolean, def: "true", dynamic: true},
	{name: "log.preallocate", typ: TypeBoolean, def: "false", dynamic: true},
	{name: "log.segment.delete.delay.ms", typ: TypeLong, def: "60000", dynamic: true},
	{name: "log.cleanup.policy", typ: TypeList, def: "delete", dynamic: true},
	{name: "log.cleaner.enable", typ: TypeBoolean, def: "true"},
	{name: "log.cleaner.threads", typ: TypeInt, def: "1", dynamic: true},
	{name: "log.cleaner.dedupe.buffer.size", typ: TypeLong, def: "134217728", dynamic: true},
	{name: "log.cleaner.delete.retention.ms", typ: TypeLong, def: "86400000", dynamic: true},
	{name: "log.cleaner.min.compaction.lag.ms", typ: TypeLong, def: "0", dynamic: true},
	{name: "log.cleaner.max.compaction.lag.ms", typ: TypeLong, def: longMax, dynamic: true},
	{name: "log.cleaner.min.cleanable.ratio", typ: TypeDouble, def: "0.5", dynamic: true},
	{name: "log.cleaner.backoff.ms", typ: TypeLong, def: "15000", dynamic: true},
	{name: "log.cleaner.io.buffer.size", typ: TypeInt, def: "524288", dynamic: true},
	{name: "log.cleaner.io.buffer.load.factor", typ: TypeDouble, def: "0.9", dynamic: true},
	{name: "log.cleaner.io.max.bytes.per.second", typ: TypeDouble, def: "1.7976931348623157E308", dynamic: true},
	{name: "log.local.retention.ms", typ: TypeLong, def: "-2", dynamic: true},
	{name: "log.local.retention.bytes", typ: TypeLong, def: "-2", dynamic: true},
	{name: "remote.log.storage.system.enable", typ: TypeBoolean, def: "false"},
	{name: "compression.type", typ: TypeString, def: "producer", dynamic: true},
	{name: "compression.gzip.level", typ: TypeInt, def: "-1", dynamic: true},
	{name: "compression.lz4.level", typ: TypeInt, def: "9", dynamic: true},
	{name: "compression.zstd.level", typ: TypeInt, def: "3", dynamic: true},
	{name: "message.max.bytes", typ: TypeInt, def: "1048588", dynamic: true},

	// Topics and replication.
	{name: "num.partitions", typ: TypeInt, def: "1"},
	{name: "default.replication.factor", typ: TypeInt, def: "1"},
	{name: "min.insync.replicas", typ: TypeInt, def: "1", dynamic: true},
	{name: "auto.create.topics.enable", typ: TypeBoolean, def: "true"},
	{name: "delete.topic.enable", typ: TypeBoolean, def: "true"},
	{name: "auto.leader.rebalance.enable", typ: TypeBoolean, def: "true"},
	{name: "leader.imbalance.check.interval.seconds", typ: TypeLong, def: "300"},
	{name: "leader.imbalance.per.broker.percentage", typ: TypeInt, def: "10"},
	{name: "unclean.leader.election.enable", typ: TypeBoolean, def: "false", dynamic: true},
	{name: "replica.lag.time.max.ms", typ: TypeLong, def: "30000"},
	{name: "replica.fetch.max.bytes", typ: TypeInt, def: "1048576"},
	{name: "replica.fetch.response.max.bytes", typ: TypeInt, def: "10485760"},
	{name: "replica.fetch.wait.max.ms", typ: TypeInt, def: "500"},
	{name: "replica.fetch.min.bytes", typ: TypeInt, def: "1"},
	{name: "replica.fetch.backoff.ms", typ: TypeInt, def: "1000"},
	{name: "replica.socket.timeout.ms", typ: TypeInt, def: "30000"},
	{name: "replica.socket.receive.buffer.bytes", typ: TypeInt, def: "65536"},
	{name: "replica.high.watermark.checkpoint.interval.ms", typ: TypeLong, def: "5000"},
	{name: "replica.selector.class", typ: TypeString, null: true},
	{name: "fetch.max.bytes", typ: TypeInt, def: "57671680"},
	{name: "fetch.purgatory.purge.interval.requests", typ: TypeInt, def: "1000"},
	{name: "producer.purgatory.purge.interval.requests", typ: TypeInt, def: "1000"},
	{name: "delete.records.purgatory.purge.interval.requests", typ: TypeInt, def: "1"},
	{name: "max.incremental.fetch.session.cache.slots", typ: TypeInt, def: "1000"},

	// Group coordinator.
	{name: "offsets.topic.replication.factor", typ: TypeShort, def: "3"},
	{name: "offsets.topic.num.partitions", typ: TypeInt, def: "50"},
	{name: "offsets.topic.segment.bytes", typ: TypeInt, def: "104857600"},
	{name: "offsets.topic.compression.codec", typ: TypeInt, def: "0"},
	{name: "offsets.retention.minutes", typ: TypeInt, def: "10080"},
	{name: "offsets.retention.check.interval.ms", typ: TypeLong, def: "600000"},
	{name: "offsets.commit.timeout.ms", typ: TypeInt, def: "5000"},
	{name: "offsets.load.buffer.size", typ: TypeInt, def: "5242880"},
	{name: "offset.metadata.max.bytes", typ: TypeInt, def: "4096"},
	{name: "group.initial.rebalance.delay.ms", typ: TypeInt, def: "3000"},
	{name: "group.min.session.timeout.ms", typ: TypeInt, def: "6000"},
	{name: "group.max.session.timeout.ms", typ: TypeInt, def: "1800000"},
	{name: "group.max.size", typ: TypeInt, def: "2147483647"},
	{name: "group.coordinator.rebalance.protocols", typ: TypeList, def: "classic,consumer"},
	{name: "group.coordinator.threads", typ: TypeInt, def: "4"},
	{name: "group.consumer.session.timeout.ms", typ: TypeInt, def: "45000"},
	{name: "group.consumer.heartbeat.interval.ms", typ: TypeInt, def: "5000"},
	{name: "group.consumer.max.size", typ: TypeInt, def: "2147483647"},
	{name: "group.share.enable", typ: TypeBoolean, def: "false"},
	{name: "share.coordinator.state.topic.replication.factor", typ: TypeShort, def: "3"},
	{name: "share.coordinator.state.topic.min.isr", typ: TypeShort, def: "2"},
	{name: "share.coordinator.state.topic.num.partitions", typ: TypeInt, def: "50"},

	// Transactions and idempotence.
	{name: "transaction.state.log.replication.factor", typ: TypeShort, def: "3"},
	{name: "transaction.state.log.min.isr", typ: TypeInt, def: "2"},
	{name: "transaction.state.log.num.partitions", typ: TypeInt, def: "50"},
	{name: "transaction.state.log.segment.bytes", typ: TypeInt, def: "104857600"},
	{name: "transaction.max.timeout.ms", typ: TypeInt, def: "900000"},
	{name: "transactional.id.expiration.ms", typ: TypeInt, def: "604800000"},
	{name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", typ: TypeInt, def: "10000"},
	{name: "transaction.remove.expired.transaction.cleanup.interval.ms", typ: TypeInt, def: "3600000"},
	{name: "transaction.partition.verification.enable", typ: TypeBoolean, def: "true", dynamic: true},
	{name: "producer.id.expiration.ms", typ: TypeInt, def: "86400000", dynamic: true},
	{name: "producer.id.expiration.check.interval.ms", typ: TypeInt, def: "600000"},

	// Quotas, metrics and misc accepted keys.
	{name: "quota.window.num", typ: TypeInt, def: "11"},
	{name: "quota.window.size.seconds", typ: TypeInt, def: "1"},
	{name: "metric.reporters", typ: TypeList, def: "", dynamic: true},
	{name: "metrics.num.samples", typ: TypeInt, def: "2"},
	{name: "metrics.sample.window.ms", typ: TypeLong, def: "30000"},
	{name: "metrics.recording.level", typ: TypeString, def: "INFO"},
	{name: "kafka.metrics.reporters", typ: TypeList, def: ""},
	{name: "kafka.metrics.polling.interval.secs", typ: TypeInt, def: "10"},
	{name: "auto.include.jmx.reporter", typ: TypeBoolean, def: "true"},
	{name: "unstable.api.versions.enable", typ: TypeBoolean, def: "false"},
	{name: "unstable.feature.versions.enable", typ: TypeBoolean, def: "false"},
	{name: "controlled.shutdown.enable", typ: TypeBoolean, def: "true"},
	{name: "reserved.broker.max.id", typ: TypeInt, def: "1000"},
	{name: "delegation.token.expiry.time.ms", typ: TypeLong, def: "86400000"},
	{name: "delegation.token.max.lifetime.ms", typ: TypeLong, def: "604800000"},
	{name: "create.topic.policy.class.name", typ: TypeClass, null: true},
	{name: "alter.config.policy.class.name", typ: TypeClass, null: true},
	{name: "client.quota.callback.class", typ: TypeClass, null: true},
	{name: "principal.builder.class", typ: TypeClass, def: "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder", dynamic: true},
}

// ignoredPrefixes are key families accepted without a warning: per-listener
// and client-side overrides that AK also accepts without a ConfigDef entry.
var ignoredPrefixes = []string{
	"listener.name.", "ssl.", "sasl.", "remote.log.", "log.cleaner.", "confluent.",
	"metrics.", "metric.", "authorizer.", "group.", "share.", "kafka.metrics.",
}

var brokerKeyIndex = func() map[string]*brokerKey {
	m := make(map[string]*brokerKey, len(brokerKeys))
	for i := range brokerKeys {
		m[brokerKeys[i].name] = &brokerKeys[i]
	}
	return m
}()

// knownKey reports whether key is a broker key samsa accepts without warning.
func knownKey(key string) bool {
	if _, ok := brokerKeyIndex[key]; ok {
		return true
	}
	for _, p := range ignoredPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// sortedKeyNames returns every broker key name in alphabetical order, the
// order DescribeConfigs answers in.
func sortedKeyNames() []string {
	names := make([]string, 0, len(brokerKeys))
	for _, k := range brokerKeys {
		names = append(names, k.name)
	}
	sort.Strings(names)
	return names
}

// parseTyped checks that v parses as t, with Kafka's textual rules.
func parseTyped(t Type, v string) error {
	var err error
	switch t {
	case TypeInt:
		_, err = strconv.ParseInt(v, 10, 32)
	case TypeShort:
		_, err = strconv.ParseInt(v, 10, 16)
	case TypeLong:
		_, err = strconv.ParseInt(v, 10, 64)
	case TypeDouble:
		_, err = strconv.ParseFloat(v, 64)
	case TypeBoolean:
		_, err = parseBool(v)
	}
	return err
}

// parseBool accepts what Kafka's ConfigDef accepts: true/false in any case.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, strconv.ErrSyntax
}
