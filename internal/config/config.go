// Package config loads samsa's broker configuration the way Apache Kafka
// does, so that a server.properties file or an apache/kafka docker-compose
// environment written for AK works unchanged: Java-properties files, the
// image's KAFKA_* environment mapping, --override key=value, AK's defaults
// and AK's KRaft validation rules (docs/contracts.md "internal/config").
//
// Precedence, lowest first: defaults < file < KAFKA_* env < overrides.
//
// Defaults come in two flavours, decided by one question: does the
// configuration set process.roles? A Kafka configuration without it cannot
// start a KRaft node at all, so when neither a file nor any other source sets
// it, samsa starts from the embedded default (a single combined
// broker+controller on 127.0.0.1:9092 with data in ./samsa-data, so `samsa`
// alone starts something useful) and applies the KAFKA_* variables and
// overrides on top of it: `KAFKA_NUM_PARTITIONS=3 samsa serve` is the
// embedded node with three partitions per new topic. A config file, or any
// source that sets process.roles, is a complete Kafka configuration instead:
// AK's own defaults apply to every key it leaves out, exactly like AK, with
// one deliberate exception, the fsync default (see
// Config.LogFlushIntervalMessages).
//
// Validate adds, besides AK's rules, the refusals of what samsa does not do
// yet (unsupported.go): a multi-node quorum and any security protocol but
// PLAINTEXT.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Source says where an effective value came from; the names are the
// DescribeConfigs ConfigSource values (KIP-226).
type Source string

// Config sources samsa reports. Dynamic sources (DYNAMIC_BROKER_CONFIG...)
// belong to the metadata layer, not to this package.
const (
	SourceDefault Source = "DEFAULT_CONFIG"
	SourceStatic  Source = "STATIC_BROKER_CONFIG"
)

// defaultProtocolMap is Kafka's listener.security.protocol.map default.
const defaultProtocolMap = "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"

// EmbeddedDataDir is log.dirs of the embedded default. It is relative, so it
// resolves against the working directory of the samsa process: running
// `samsa` in a project directory keeps that project's data next to it.
const EmbeddedDataDir = "./samsa-data"

// embeddedDefaults is the base configuration when no source sets
// process.roles: a single node that is both broker and controller, bound to
// loopback only (nothing is exposed to the network by surprise), with
// replication factor 1 for the internal topics because there is one node.
// advertised.listeners is left to AK's derivation (the listeners minus the
// controller ones) and controller.quorum.voters is derived from node.id and
// the controller listener (see deriveEmbedded), so overriding listeners or
// node.id alone keeps a consistent single-node quorum.
var embeddedDefaults = map[string]string{
	"process.roles":                                    "broker,controller",
	"node.id":                                          "1",
	"listeners":                                        "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
	"controller.listener.names":                        "CONTROLLER",
	"listener.security.protocol.map":                   "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
	"log.dirs":                                         EmbeddedDataDir,
	"offsets.topic.replication.factor":                 "1",
	"transaction.state.log.replication.factor":         "1",
	"transaction.state.log.min.isr":                    "1",
	"share.coordinator.state.topic.replication.factor": "1",
	"share.coordinator.state.topic.min.isr":            "1",
	"group.initial.rebalance.delay.ms":                 "0",
}

// LoadOptions are the inputs of Load. All are optional.
type LoadOptions struct {
	File      string   // a server.properties path; "" = none
	Overrides []string // "key=value", highest precedence (samsa serve --override)
	Environ   []string // os.Environ(); KAFKA_* and CLUSTER_ID are read from it
	// Hostname returns the name advertised for listeners bound to all
	// interfaces, as AK does with the canonical host name. nil = os.Hostname.
	Hostname func() (string, error)
}

// Config is the broker's typed configuration. Every field names its key and
// its AK default; "derived" fields resolve Kafka's fallback chains (ms ←
// minutes ← hours) so callers never repeat them.
type Config struct {
	// ClusterID is CLUSTER_ID from the environment ("" when unset): 22
	// characters of URL-safe base64 for 16 bytes. It is not a property; the
	// image passes it to `kafka-storage format`.
	ClusterID string
	// LogLevel is KAFKA_LOG4J_ROOT_LOGLEVEL ("" when unset), mapped to
	// samsa's log level by the caller.
	LogLevel string

	NodeID       int32    // node.id (AK default -1 = unset; required)
	ProcessRoles []string // process.roles: "broker" and/or "controller"

	// ControllerQuorumVoters is controller.quorum.voters (static quorum).
	ControllerQuorumVoters []Voter
	// ControllerQuorumBootstrapServers is controller.quorum.bootstrap.servers
	// (dynamic quorum, KIP-853) as host:port strings.
	ControllerQuorumBootstrapServers []string
	// ControllerListenerNames is controller.listener.names; the first one is
	// used to reach the controllers.
	ControllerListenerNames []string

	// Listeners is listeners (AK default PLAINTEXT://:9092): what to bind,
	// with SecurityProtocol resolved.
	Listeners []Listener
	// AdvertisedListeners is what brokers register and return in Metadata:
	// advertised.listeners (or listeners when unset) minus the controller
	// listeners, with empty or 0.0.0.0 hosts (only possible when derived
	// from listeners) replaced by the machine hostname, as AK does.
	AdvertisedListeners []Listener
	// ControllerAdvertisedListeners are the controller listeners a
	// controller advertises to its peers (KIP-853): the controller entries of
	// advertised.listeners, else of listeners, hosts resolved likewise.
	ControllerAdvertisedListeners []Listener
	// ListenerSecurityProtocolMap is the effective listener.security.protocol.map:
	// when the user did not set it, AK adds CONTROLLER-name:PLAINTEXT for
	// every controller listener unless SSL or SASL is in use.
	ListenerSecurityProtocolMap map[string]string
	// InterBrokerListenerName is inter.broker.listener.name, defaulting to
	// the listener named after security.inter.broker.protocol (PLAINTEXT).
	InterBrokerListenerName string

	// LogDirs is log.dirs, else log.dir (AK default /tmp/kafka-logs).
	LogDirs []string
	// MetadataLogDir is metadata.log.dir, defaulting to LogDirs[0].
	MetadataLogDir string

	NumPartitions            int32 // num.partitions (1)
	DefaultReplicationFactor int16 // default.replication.factor (1)
	MinInsyncReplicas        int   // min.insync.replicas (1)
	AutoCreateTopicsEnable   bool  // auto.create.topics.enable (true)
	DeleteTopicEnable        bool  // delete.topic.enable (true)
	UncleanLeaderElection    bool  // unclean.leader.election.enable (false)
	MessageMaxBytes          int   // message.max.bytes (1048588): largest batch accepted
	SocketRequestMaxBytes    int   // socket.request.max.bytes (104857600): largest request frame
	FetchMaxBytes            int   // fetch.max.bytes (57671680)
	QueuedMaxRequests        int   // queued.max.requests (500)
	ConnectionsMaxIdleMs     int64 // connections.max.idle.ms (600000)
	BrokerRack               string

	LogSegmentBytes int64 // log.segment.bytes (1 GiB)
	// LogRollMs is log.roll.ms, else log.roll.hours (168) in ms.
	LogRollMs int64
	// LogRollJitterMs is log.roll.jitter.ms, else log.roll.jitter.hours (0).
	LogRollJitterMs int64
	// LogRetentionMs is log.retention.ms, else .minutes, else .hours (168),
	// in ms; any negative value means infinite and is normalised to -1,
	// as AK's KafkaConfig.logRetentionTimeMillis does.
	LogRetentionMs              int64
	LogRetentionBytes           int64 // log.retention.bytes (-1 = infinite)
	LogRetentionCheckIntervalMs int64 // log.retention.check.interval.ms (300000)
	// LogFlushIntervalMessages is log.flush.interval.messages. AK's default
	// is Long.MAX: AK never fsyncs on the produce path and relies on
	// replication for durability. samsa's default is 1, meaning an acks=all
	// produce is acknowledged only after the batch is fsynced (group commit:
	// one fsync covers every batch appended before it), because samsa is
	// often run as a single node where replication cannot cover a power
	// loss. A user who sets the key explicitly gets AK's semantics (fsync
	// after that many messages, off the ack path). See FsyncOnAck.
	LogFlushIntervalMessages int64
	// LogFlushIntervalMs is log.flush.interval.ms, else
	// log.flush.scheduler.interval.ms (Long.MAX = never).
	LogFlushIntervalMs      int64
	LogIndexIntervalBytes   int    // log.index.interval.bytes (4096)
	LogIndexSizeMaxBytes    int    // log.index.size.max.bytes (10 MiB)
	LogMessageTimestampType string // log.message.timestamp.type (CreateTime)
	// LogMessageTimestampBeforeMaxMs and AfterMaxMs bound CreateTime
	// timestamps (KIP-937); AK 4.x defaults Long.MAX and 1 hour.
	LogMessageTimestampBeforeMaxMs int64
	LogMessageTimestampAfterMaxMs  int64
	LogCleanupPolicy               []string // log.cleanup.policy (delete)
	CompressionType                string   // compression.type (producer)
	LogPreallocate                 bool     // log.preallocate (false)
	LogCleanerEnable               bool     // log.cleaner.enable (true): compacted topics are cleaned
	LogCleanerBackoffMs            int64    // log.cleaner.backoff.ms (15000): the cleaner's pause between passes

	OffsetsTopicReplicationFactor        int16 // offsets.topic.replication.factor (3)
	OffsetsTopicNumPartitions            int32 // offsets.topic.num.partitions (50)
	OffsetsTopicSegmentBytes             int64 // offsets.topic.segment.bytes (100 MiB)
	OffsetsRetentionMinutes              int   // offsets.retention.minutes (10080)
	OffsetMetadataMaxBytes               int   // offset.metadata.max.bytes (4096)
	TransactionStateLogReplicationFactor int16 // transaction.state.log.replication.factor (3)
	TransactionStateLogMinISR            int   // transaction.state.log.min.isr (2)
	TransactionStateLogNumPartitions     int32 // transaction.state.log.num.partitions (50)
	TransactionMaxTimeoutMs              int   // transaction.max.timeout.ms (900000)
	TransactionalIDExpirationMs          int   // transactional.id.expiration.ms (7 days)
	ProducerIDExpirationMs               int   // producer.id.expiration.ms (1 day)
	GroupInitialRebalanceDelayMs         int   // group.initial.rebalance.delay.ms (3000)
	GroupMinSessionTimeoutMs             int   // group.min.session.timeout.ms (6000)
	GroupMaxSessionTimeoutMs             int   // group.max.session.timeout.ms (1800000)
	GroupMaxSize                         int   // group.max.size (MaxInt32)
	GroupConsumerSessionTimeoutMs        int   // group.consumer.session.timeout.ms (45000)
	GroupConsumerHeartbeatIntervalMs     int   // group.consumer.heartbeat.interval.ms (5000)
	MaxIncrementalFetchSessionCacheSlots int   // max.incremental.fetch.session.cache.slots (1000)

	ReplicaLagTimeMaxMs  int64 // replica.lag.time.max.ms (30000)
	ReplicaFetchMaxBytes int   // replica.fetch.max.bytes (1 MiB)

	BrokerHeartbeatIntervalMs           int // broker.heartbeat.interval.ms (2000)
	BrokerSessionTimeoutMs              int // broker.session.timeout.ms (9000)
	InitialBrokerRegistrationTimeoutMs  int // initial.broker.registration.timeout.ms (60000)
	ControllerQuorumElectionTimeoutMs   int // controller.quorum.election.timeout.ms (1000)
	ControllerQuorumFetchTimeoutMs      int // controller.quorum.fetch.timeout.ms (2000)
	ControllerQuorumRequestTimeoutMs    int // controller.quorum.request.timeout.ms (2000)
	ControllerQuorumElectionBackoffMs   int // controller.quorum.election.backoff.max.ms (1000)
	MetadataMaxIdleIntervalMs           int // metadata.max.idle.interval.ms (500)
	MetadataLogSegmentBytes             int64
	MetadataMaxRetentionBytes           int64
	MetadataMaxRetentionMs              int64
	GroupCoordinatorRebalanceProtocols  []string // group.coordinator.rebalance.protocols (classic,consumer)
	TransactionPartitionVerification    bool     // transaction.partition.verification.enable (true)
	AutoLeaderRebalanceEnable           bool     // auto.leader.rebalance.enable (true)
	LeaderImbalanceCheckIntervalSeconds int64    // leader.imbalance.check.interval.seconds (300)
	LeaderImbalancePerBrokerPercentage  int      // leader.imbalance.per.broker.percentage (10)

	// Embedded reports that the embedded default is the base: no config
	// file was given and no source set process.roles.
	Embedded bool

	// props are the user's effective key/values (file, env, overrides
	// merged) and from says where each came from ("server.properties:12",
	// "environment variable KAFKA_NUM_PARTITIONS", "--override"); defaults live in
	// brokerKeys, embeddedDefaults and derived (embedded values computed
	// from the user's). Values reads them.
	props          map[string]string
	from           map[string]string
	derived        map[string]string
	protocolMapSet bool
	// dynDefault and dynBroker are the dynamic broker configs WithDynamic
	// put on top (the cluster default, then this broker's own); hostname
	// resolves wildcard listener hosts.
	dynDefault, dynBroker map[string]string
	hostname              func() (string, error)
}

// IsBroker reports whether process.roles contains broker.
func (c *Config) IsBroker() bool { return c.hasRole("broker") }

// IsController reports whether process.roles contains controller.
func (c *Config) IsController() bool { return c.hasRole("controller") }

func (c *Config) hasRole(r string) bool {
	for _, x := range c.ProcessRoles {
		if x == r {
			return true
		}
	}
	return false
}

// FsyncOnAck reports whether an acks=all produce must wait for fsync before
// it is acknowledged: true with samsa's default log.flush.interval.messages=1.
// See LogFlushIntervalMessages.
func (c *Config) FsyncOnAck() bool { return c.LogFlushIntervalMessages <= 1 }

// Listener returns the listener called name (case-insensitive).
func (c *Config) Listener(name string) (Listener, bool) {
	name = strings.ToUpper(name)
	for _, l := range c.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// isControllerListener reports whether name is in controller.listener.names.
func (c *Config) isControllerListener(name string) bool {
	for _, n := range c.ControllerListenerNames {
		if n == name {
			return true
		}
	}
	return false
}

// Get returns the effective string value of a broker key and whether it is
// non-null, for code that needs a key without a typed field.
func (c *Config) Get(key string) (string, bool) {
	if v, ok := c.dynBroker[key]; ok {
		return v, true
	}
	if v, ok := c.dynDefault[key]; ok {
		return v, true
	}
	if v, ok := c.props[key]; ok {
		return v, true
	}
	return c.defaultValue(key)
}

func (c *Config) defaultValue(key string) (string, bool) {
	if c.Embedded {
		if v, ok := c.derived[key]; ok {
			return v, v != ""
		}
		if v, ok := embeddedDefaults[key]; ok {
			return v, true
		}
	}
	k, ok := brokerKeyIndex[key]
	if !ok || k.null {
		return "", false
	}
	return k.def, true
}

// Load reads the configuration from o and validates it. Warnings are for
// keys samsa does not know (AK logs and ignores them too). The error joins
// every problem found, each naming its key.
func Load(o LoadOptions) (*Config, []string, error) {
	c, warnings, err := build(o)
	if err != nil {
		return nil, warnings, err
	}
	if err := c.Validate(); err != nil {
		return nil, warnings, c.embeddedHint(err)
	}
	return c, warnings, nil
}

// build reads and resolves the configuration of o without validating it.
func build(o LoadOptions) (*Config, []string, error) {
	var warnings []string
	props := map[string]string{}
	sourceOf := map[string]string{}
	add := func(p Property, from string) {
		props[p.Key] = p.Value
		sourceOf[p.Key] = from
	}
	if o.File != "" {
		data, err := os.ReadFile(o.File)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		fileProps, err := ParseProperties(data)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %s: %w", o.File, err)
		}
		for _, p := range fileProps {
			add(p, fmt.Sprintf("%s:%d", o.File, p.Line))
		}
	}
	env := parseEnviron(o.Environ)
	for _, p := range env.props {
		add(p.Property, "environment variable "+p.from)
	}
	for _, kv := range o.Overrides {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, nil, fmt.Errorf("config: override %q: want key=value", kv)
		}
		add(Property{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)}, "--override")
	}
	for k := range props {
		if !knownKey(k) {
			warnings = append(warnings, fmt.Sprintf("unknown configuration %q (from %s) ignored", k, sourceOf[k]))
		}
	}
	sort.Strings(warnings)

	_, rolesSet := props["process.roles"]
	c := &Config{
		ClusterID: env.clusterID,
		LogLevel:  env.logLevel,
		Embedded:  o.File == "" && !rolesSet,
		props:     props,
		from:      sourceOf,
	}
	_, c.protocolMapSet = props["listener.security.protocol.map"]
	if c.Embedded {
		c.protocolMapSet = true // the embedded map already names CONTROLLER
	}
	hostname := o.Hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	if c.Embedded {
		c.deriveEmbedded()
	}
	c.hostname = hostname
	if err := c.resolve(hostname); err != nil {
		return nil, warnings, c.embeddedHint(err)
	}
	return c, warnings, nil
}

// deriveEmbedded computes the embedded default's controller.quorum.voters
// from the effective node.id and controller listener, unless the user set
// the voters or controller.quorum.bootstrap.servers: the embedded node is
// always the lone voter of its own quorum, wherever its listeners are.
func (c *Config) deriveEmbedded() {
	c.derived = map[string]string{}
	_, voters := c.props["controller.quorum.voters"]
	_, bootstrap := c.props["controller.quorum.bootstrap.servers"]
	if voters || bootstrap {
		return
	}
	id, _ := c.Get("node.id")
	names, _ := c.Get("controller.listener.names")
	ls, _ := c.Get("listeners")
	listeners, err := ParseListeners(ls)
	if err != nil || len(splitList(names)) == 0 {
		return // resolve reports the listeners; Validate the missing names
	}
	first := strings.ToUpper(splitList(names)[0])
	addr := "127.0.0.1:9093" // no such listener: Validate says so, not the voters
	for _, l := range listeners {
		if l.Name == first {
			host := l.Host
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "localhost"
			}
			addr = net.JoinHostPort(host, strconv.Itoa(l.Port))
			break
		}
	}
	c.derived["controller.quorum.voters"] = strings.TrimSpace(id) + "@" + addr
}

// embeddedHint adds, to the errors of a configuration built on the embedded
// default, which values came from it: the user set only some keys and may
// not know where the others came from.
func (c *Config) embeddedHint(err error) error {
	if !c.Embedded {
		return err
	}
	return errors.Join(err, errors.New("(no config file and no process.roles were given, so these settings apply on top of samsa's embedded default: "+
		"process.roles=broker,controller, node.id=1, listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093, controller.listener.names=CONTROLLER, "+
		"controller.quorum.voters=<node.id>@<the CONTROLLER listener>, log.dirs=./samsa-data; give a config file or set process.roles for Kafka's own defaults)"))
}

// Default returns the embedded default configuration (what `samsa` with no
// arguments runs), for tests and tools.
func Default() *Config {
	c, _, err := Load(LoadOptions{})
	if err != nil {
		panic("config: embedded default is invalid: " + err.Error())
	}
	return c
}

// resolver reads typed values and collects every parse error.
type resolver struct {
	c    *Config
	errs []error
}

func (r *resolver) fail(key, value, why string) {
	r.errs = append(r.errs, fmt.Errorf("%s: invalid value %q: %s", key, value, why))
}

func (r *resolver) str(key string) string {
	v, _ := r.c.Get(key)
	return v
}

func (r *resolver) isSet(key string) bool {
	_, ok := r.c.Get(key)
	return ok
}

func (r *resolver) int64In(key string, bits int, min, max int64) int64 {
	v, ok := r.c.Get(key)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, bits)
	if err != nil {
		r.fail(key, v, fmt.Sprintf("not a %d-bit integer", bits))
		return 0
	}
	if n < min || n > max {
		r.fail(key, v, fmt.Sprintf("must be in [%d, %d]", min, max))
	}
	return n
}

func (r *resolver) intAtLeast(key string, min int64) int {
	return int(r.int64In(key, 32, min, 1<<31-1))
}

func (r *resolver) longAtLeast(key string, min int64) int64 {
	return r.int64In(key, 64, min, 1<<63-1)
}

func (r *resolver) boolean(key string) bool {
	v, _ := r.c.Get(key)
	b, err := parseBool(v)
	if err != nil {
		r.fail(key, v, "want true or false")
	}
	return b
}

func (r *resolver) list(key string) []string { return splitList(r.str(key)) }

func (r *resolver) oneOf(key string, allowed ...string) string {
	v := r.str(key)
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	r.fail(key, v, "must be one of "+strings.Join(allowed, ", "))
	return v
}

// resolve fills the typed fields from props and defaults.
func (c *Config) resolve(hostname func() (string, error)) error {
	r := &resolver{c: c}
	// Type-check every known key the user set, even ones samsa ignores, so a
	// typo such as num.io.threads=eight fails as it would on AK.
	for _, m := range []map[string]string{c.props, c.dynDefault, c.dynBroker} {
		for k, v := range m {
			if bk, ok := brokerKeyIndex[k]; ok {
				if err := parseTyped(bk.typ, v); err != nil {
					r.fail(k, v, "not a valid "+strings.ToLower(string(bk.typ)))
				}
			}
		}
	}
	if len(r.errs) > 0 {
		return errors.Join(r.errs...)
	}
	c.resolveKRaft(r)
	c.resolveListeners(r, hostname)
	c.resolveLog(r)
	c.resolveTopicsAndGroups(r)
	return errors.Join(r.errs...)
}

func (c *Config) resolveKRaft(r *resolver) {
	c.NodeID = int32(r.int64In("node.id", 32, -1, 1<<31-1))
	for _, role := range r.list("process.roles") {
		c.ProcessRoles = append(c.ProcessRoles, strings.ToLower(role))
	}
	var err error
	if c.ControllerQuorumVoters, err = ParseVoters(r.str("controller.quorum.voters")); err != nil {
		r.fail("controller.quorum.voters", r.str("controller.quorum.voters"), err.Error())
	}
	if c.ControllerQuorumBootstrapServers, err = ParseBootstrapServers(r.str("controller.quorum.bootstrap.servers")); err != nil {
		r.fail("controller.quorum.bootstrap.servers", r.str("controller.quorum.bootstrap.servers"), err.Error())
	}
	for _, n := range r.list("controller.listener.names") {
		c.ControllerListenerNames = append(c.ControllerListenerNames, strings.ToUpper(n))
	}
	c.BrokerHeartbeatIntervalMs = r.intAtLeast("broker.heartbeat.interval.ms", 1)
	c.BrokerSessionTimeoutMs = r.intAtLeast("broker.session.timeout.ms", 1)
	c.InitialBrokerRegistrationTimeoutMs = r.intAtLeast("initial.broker.registration.timeout.ms", 1)
	c.ControllerQuorumElectionTimeoutMs = r.intAtLeast("controller.quorum.election.timeout.ms", 1)
	c.ControllerQuorumFetchTimeoutMs = r.intAtLeast("controller.quorum.fetch.timeout.ms", 1)
	c.ControllerQuorumRequestTimeoutMs = r.intAtLeast("controller.quorum.request.timeout.ms", 1)
	c.ControllerQuorumElectionBackoffMs = r.intAtLeast("controller.quorum.election.backoff.max.ms", 1)
	c.MetadataMaxIdleIntervalMs = r.intAtLeast("metadata.max.idle.interval.ms", 0)
	c.MetadataLogSegmentBytes = int64(r.intAtLeast("metadata.log.segment.bytes", 12))
	c.MetadataMaxRetentionBytes = r.longAtLeast("metadata.max.retention.bytes", -1)
	c.MetadataMaxRetentionMs = r.longAtLeast("metadata.max.retention.ms", -1)
	c.BrokerRack = r.str("broker.rack")
}

func (c *Config) resolveListeners(r *resolver, hostname func() (string, error)) {
	// The protocol map first: listeners need it.
	pm, err := ParseProtocolMap(r.str("listener.security.protocol.map"))
	if err != nil {
		r.fail("listener.security.protocol.map", r.str("listener.security.protocol.map"), err.Error())
		pm = map[string]string{}
	}
	listeners, err := ParseListeners(r.str("listeners"))
	if err != nil {
		r.fail("listeners", r.str("listeners"), err.Error())
	}
	c.Listeners = listeners
	if !c.protocolMapSet {
		// AK's effectiveListenerSecurityProtocolMap: without an explicit map,
		// controller listeners default to PLAINTEXT unless any listener or
		// controller name is itself SSL or SASL_* (then the user must say).
		secure := func(n string) bool { return n == "SSL" || n == "SASL_SSL" || n == "SASL_PLAINTEXT" }
		usesSecure := false
		for _, n := range c.ControllerListenerNames {
			usesSecure = usesSecure || secure(n)
		}
		for _, l := range listeners {
			usesSecure = usesSecure || secure(l.Name)
		}
		if !usesSecure {
			for _, n := range c.ControllerListenerNames {
				if _, ok := pm[n]; !ok {
					pm[n] = "PLAINTEXT"
				}
			}
		}
	}
	c.ListenerSecurityProtocolMap = pm
	for i := range c.Listeners {
		c.Listeners[i].SecurityProtocol = pm[c.Listeners[i].Name]
	}

	var adv []Listener
	if v, ok := c.Get("advertised.listeners"); ok {
		if adv, err = ParseListeners(v); err != nil {
			r.fail("advertised.listeners", v, err.Error())
		}
	} else {
		adv = append(adv, c.Listeners...)
	}
	_, explicit := c.Get("advertised.listeners")
	host := ""
	// resolveHost gives a listener bound to all interfaces the machine's
	// name, as AK's ListenerInfo.withWildcardHostnamesResolved does. An
	// explicit advertised 0.0.0.0 is left alone for Validate to reject.
	resolveHost := func(l Listener, explicit bool) Listener {
		if l.Host == "" || (!explicit && (l.Host == "0.0.0.0" || l.Host == "::")) {
			if host == "" {
				h, err := hostname()
				if err != nil || h == "" {
					h = "localhost"
				}
				host = h
			}
			l.Host = host
		}
		l.SecurityProtocol = pm[l.Name]
		return l
	}
	for _, l := range adv {
		if c.isControllerListener(l.Name) {
			c.ControllerAdvertisedListeners = append(c.ControllerAdvertisedListeners, resolveHost(l, explicit))
		} else {
			c.AdvertisedListeners = append(c.AdvertisedListeners, resolveHost(l, explicit))
		}
	}
	if len(c.ControllerAdvertisedListeners) == 0 {
		for _, l := range c.Listeners {
			if c.isControllerListener(l.Name) {
				c.ControllerAdvertisedListeners = append(c.ControllerAdvertisedListeners, resolveHost(l, false))
			}
		}
	}

	if v, ok := c.Get("inter.broker.listener.name"); ok && v != "" {
		c.InterBrokerListenerName = strings.ToUpper(v)
	} else {
		c.InterBrokerListenerName = strings.ToUpper(r.oneOf("security.inter.broker.protocol", "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"))
	}
	c.SocketRequestMaxBytes = r.intAtLeast("socket.request.max.bytes", 1)
	c.ConnectionsMaxIdleMs = r.longAtLeast("connections.max.idle.ms", -1)
	c.QueuedMaxRequests = r.intAtLeast("queued.max.requests", 1)
}

func (c *Config) resolveLog(r *resolver) {
	if r.isSet("log.dirs") {
		c.LogDirs = r.list("log.dirs")
	} else {
		c.LogDirs = r.list("log.dir")
	}
	if v, ok := c.Get("metadata.log.dir"); ok && strings.TrimSpace(v) != "" {
		c.MetadataLogDir = strings.TrimSpace(v)
	} else if len(c.LogDirs) > 0 {
		c.MetadataLogDir = c.LogDirs[0]
	}
	c.LogSegmentBytes = int64(r.intAtLeast("log.segment.bytes", 1<<20))
	c.LogRollMs = msOrHours(r, "log.roll.ms", "log.roll.hours", 1, 1)
	c.LogRollJitterMs = msOrHours(r, "log.roll.jitter.ms", "log.roll.jitter.hours", 0, 0)
	c.LogRetentionMs = retentionMs(r)
	c.LogRetentionBytes = r.longAtLeast("log.retention.bytes", -1<<63)
	c.LogRetentionCheckIntervalMs = r.longAtLeast("log.retention.check.interval.ms", 1)
	c.LogFlushIntervalMessages = r.longAtLeast("log.flush.interval.messages", 1)
	if r.isSet("log.flush.interval.ms") {
		c.LogFlushIntervalMs = r.longAtLeast("log.flush.interval.ms", 0)
	} else {
		c.LogFlushIntervalMs = r.longAtLeast("log.flush.scheduler.interval.ms", 0)
	}
	c.LogIndexIntervalBytes = r.intAtLeast("log.index.interval.bytes", 0)
	c.LogIndexSizeMaxBytes = r.intAtLeast("log.index.size.max.bytes", 4)
	c.LogMessageTimestampType = r.oneOf("log.message.timestamp.type", "CreateTime", "LogAppendTime")
	c.LogMessageTimestampBeforeMaxMs = r.longAtLeast("log.message.timestamp.before.max.ms", 0)
	c.LogMessageTimestampAfterMaxMs = r.longAtLeast("log.message.timestamp.after.max.ms", 0)
	for _, p := range r.list("log.cleanup.policy") {
		p = strings.ToLower(p)
		if p != "delete" && p != "compact" {
			r.fail("log.cleanup.policy", r.str("log.cleanup.policy"), "entries must be delete or compact")
		}
		c.LogCleanupPolicy = append(c.LogCleanupPolicy, p)
	}
	c.CompressionType = strings.ToLower(r.oneOf("compression.type", compressionTypes...))
	c.LogPreallocate = r.boolean("log.preallocate")
	c.LogCleanerEnable = r.boolean("log.cleaner.enable")
	c.LogCleanerBackoffMs = r.longAtLeast("log.cleaner.backoff.ms", 0)
	c.MessageMaxBytes = r.intAtLeast("message.max.bytes", 0)
}

// compressionTypes are the values compression.type accepts (topic and broker).
var compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}

// msOrHours resolves a Kafka "x.ms, else x.hours" pair.
func msOrHours(r *resolver, msKey, hoursKey string, minMs, minHours int64) int64 {
	if r.isSet(msKey) {
		return r.longAtLeast(msKey, minMs)
	}
	return int64(r.intAtLeast(hoursKey, minHours)) * 3600_000
}

// retentionMs applies AK's precedence log.retention.ms > .minutes > .hours;
// a negative result means "keep forever" and becomes -1. Like AK, 0 is
// rejected (it would delete every segment as soon as it rolls).
func retentionMs(r *resolver) int64 {
	var ms int64
	key := "log.retention.hours"
	switch {
	case r.isSet("log.retention.ms"):
		key = "log.retention.ms"
		ms = r.longAtLeast(key, -1<<63)
	case r.isSet("log.retention.minutes"):
		key = "log.retention.minutes"
		ms = int64(r.int64In(key, 32, -1<<31, 1<<31-1)) * 60_000
	default:
		ms = int64(r.int64In(key, 32, -1<<31, 1<<31-1)) * 3600_000
	}
	if ms < 0 {
		return -1
	}
	if ms == 0 {
		r.errs = append(r.errs, fmt.Errorf("%s: log.retention.ms must be unlimited (-1) or, equal or greater than 1", key))
	}
	return ms
}

func (c *Config) resolveTopicsAndGroups(r *resolver) {
	c.NumPartitions = int32(r.intAtLeast("num.partitions", 1))
	c.DefaultReplicationFactor = int16(r.int64In("default.replication.factor", 32, 1, 1<<15-1))
	c.MinInsyncReplicas = r.intAtLeast("min.insync.replicas", 1)
	c.AutoCreateTopicsEnable = r.boolean("auto.create.topics.enable")
	c.DeleteTopicEnable = r.boolean("delete.topic.enable")
	c.UncleanLeaderElection = r.boolean("unclean.leader.election.enable")
	c.FetchMaxBytes = r.intAtLeast("fetch.max.bytes", 1024)
	c.ReplicaLagTimeMaxMs = r.longAtLeast("replica.lag.time.max.ms", 1)
	c.ReplicaFetchMaxBytes = r.intAtLeast("replica.fetch.max.bytes", 0)
	c.AutoLeaderRebalanceEnable = r.boolean("auto.leader.rebalance.enable")
	c.LeaderImbalanceCheckIntervalSeconds = r.longAtLeast("leader.imbalance.check.interval.seconds", 1)
	c.LeaderImbalancePerBrokerPercentage = r.intAtLeast("leader.imbalance.per.broker.percentage", 0)
	c.OffsetsTopicReplicationFactor = int16(r.int64In("offsets.topic.replication.factor", 16, 1, 1<<15-1))
	c.OffsetsTopicNumPartitions = int32(r.intAtLeast("offsets.topic.num.partitions", 1))
	c.OffsetsTopicSegmentBytes = int64(r.intAtLeast("offsets.topic.segment.bytes", 1))
	c.OffsetsRetentionMinutes = r.intAtLeast("offsets.retention.minutes", 1)
	c.OffsetMetadataMaxBytes = r.intAtLeast("offset.metadata.max.bytes", 0)
	c.TransactionStateLogReplicationFactor = int16(r.int64In("transaction.state.log.replication.factor", 16, 1, 1<<15-1))
	c.TransactionStateLogMinISR = r.intAtLeast("transaction.state.log.min.isr", 1)
	c.TransactionStateLogNumPartitions = int32(r.intAtLeast("transaction.state.log.num.partitions", 1))
	c.TransactionMaxTimeoutMs = r.intAtLeast("transaction.max.timeout.ms", 1)
	c.TransactionalIDExpirationMs = r.intAtLeast("transactional.id.expiration.ms", 1)
	c.TransactionPartitionVerification = r.boolean("transaction.partition.verification.enable")
	c.ProducerIDExpirationMs = r.intAtLeast("producer.id.expiration.ms", 1)
	c.GroupInitialRebalanceDelayMs = r.intAtLeast("group.initial.rebalance.delay.ms", 0)
	c.GroupMinSessionTimeoutMs = r.intAtLeast("group.min.session.timeout.ms", 0)
	c.GroupMaxSessionTimeoutMs = r.intAtLeast("group.max.session.timeout.ms", 0)
	c.GroupMaxSize = r.intAtLeast("group.max.size", 1)
	c.GroupConsumerSessionTimeoutMs = r.intAtLeast("group.consumer.session.timeout.ms", 1)
	c.GroupConsumerHeartbeatIntervalMs = r.intAtLeast("group.consumer.heartbeat.interval.ms", 1)
	c.MaxIncrementalFetchSessionCacheSlots = r.intAtLeast("max.incremental.fetch.session.cache.slots", 0)
	for _, p := range r.list("group.coordinator.rebalance.protocols") {
		c.GroupCoordinatorRebalanceProtocols = append(c.GroupCoordinatorRebalanceProtocols, strings.ToLower(p))
	}
}
