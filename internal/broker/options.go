package broker

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/vfs"
)

// Listener is one named listener: a socket to bind, or an endpoint to advertise.
type Listener struct {
	Name             string
	Host             string
	Port             int
	SecurityProtocol string // PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
}

// TopicConfigs is the topic-config registry the broker consults (package
// config provides it through the server). The broker has no topic-config
// defaults or parsing of its own: everything comes from here.
type TopicConfigs interface {
	// Defaults gives every topic config Kafka users expect with its value
	// derived from broker keys, as DescribeConfigs reports it.
	Defaults() []ConfigEntry
	// Validate checks one topic config (CreateTopics, AlterConfigs).
	Validate(name, value string) error
	// Effective builds a topic's typed configuration: the defaults
	// overlaid with the topic's dynamic configs. A value that does not
	// validate takes Kafka's built-in default and is named in the error.
	Effective(overrides map[string]string) (config.TopicConfig, error)
}

// ConfigEntry is one config as DescribeConfigs reports it.
type ConfigEntry struct {
	Name      string
	Value     *string
	Source    int8 // kmsg ConfigSource: 1 topic, 4 static broker, 5 default
	ReadOnly  bool
	Sensitive bool
	Type      int8 // kmsg ConfigType (v3+)
	Doc       *string
	// Synonym is, for a topic config, the broker key its default comes from.
	Synonym string
	// Synonyms is the value chain DescribeConfigs reports (IncludeSynonyms),
	// most specific first; nil reports the entry itself. The handler fills
	// it for topic configs.
	Synonyms []ConfigSynonym
}

// ConfigSynonym is one level of a config's value chain.
type ConfigSynonym struct {
	Name   string
	Value  *string
	Source int8 // kmsg ConfigSource
}

// Dynamic is the node's configuration with the dynamic broker configs of
// the metadata image on top (Options.Reconfigure builds it).
type Dynamic struct {
	// TopicConfigs gives topic defaults that follow the dynamic broker
	// keys (log.retention.*, log.segment.*, message.max.bytes, ...).
	TopicConfigs TopicConfigs
	// BrokerConfigs is this broker's resource (named by its id), with the
	// sources DYNAMIC_BROKER_CONFIG (2) and DYNAMIC_DEFAULT_BROKER_CONFIG
	// (3) where they apply; DefaultConfigs the cluster default resource
	// (the empty name): only the keys set there.
	BrokerConfigs  []ConfigEntry
	DefaultConfigs []ConfigEntry
	// LogCleanerBackoff is log.cleaner.backoff.ms.
	LogCleanerBackoff time.Duration
}

// Options configures a Broker. The zero value of a field means Kafka's
// default unless the field says otherwise; cmd/samsa builds Options from
// the validated config.
type Options struct {
	NodeID    int32
	ClusterID string

	// Listeners are the sockets to bind; Advertised are the endpoints
	// clients are told, matched to connections by listener name.
	Listeners  []Listener
	Advertised []Listener
	// ControllerListeners names the controller listeners (they get the
	// controller API set, not the broker one).
	ControllerListeners []string

	LogDirs     []string
	MetadataDir string
	// FS is the filesystem the log dirs live on (nil: vfs.Default).
	FS vfs.FS

	NumPartitions            int32 // num.partitions (1)
	DefaultReplicationFactor int16 // default.replication.factor (1)
	AutoCreateTopics         bool  // auto.create.topics.enable
	DeleteTopicEnable        bool  // delete.topic.enable
	SocketRequestMaxBytes    int32 // socket.request.max.bytes (100 MiB)

	// RetentionCheckInterval is log.retention.check.interval.ms.
	RetentionCheckInterval time.Duration
	// LogCleanerEnable is log.cleaner.enable: false runs no log cleaner
	// (compacted topics are then never cleaned).
	LogCleanerEnable bool
	// LogCleanerBackoff is log.cleaner.backoff.ms, the pause between the
	// cleaner's passes (15 s).
	LogCleanerBackoff time.Duration
	// ConnectionsMaxIdle closes idle connections (connections.max.idle.ms).
	ConnectionsMaxIdle time.Duration

	// Consumer groups (coordinator.go).
	OffsetsTopicNumPartitions     int32         // offsets.topic.num.partitions (50)
	OffsetsTopicReplicationFactor int16         // offsets.topic.replication.factor (3)
	OffsetsRetention              time.Duration // offsets.retention.minutes (7 days)
	// GroupInitialRebalanceDelay is group.initial.rebalance.delay.ms; zero
	// means no delay (the config layer supplies Kafka's 3 s default).
	GroupInitialRebalanceDelay time.Duration
	GroupMinSessionTimeout     time.Duration // group.min.session.timeout.ms (6 s)
	GroupMaxSessionTimeout     time.Duration // group.max.session.timeout.ms (30 min)
	GroupMaxSize               int           // group.max.size (0: unbounded)
	// KIP-848 groups.
	GroupConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms (45 s)
	GroupConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms (5 s)

	// TopicConfigs is the topic-config registry (required).
	TopicConfigs TopicConfigs
	// BrokerConfigs returns the broker configs for DescribeConfigs(BROKER).
	BrokerConfigs func() []ConfigEntry
	// ValidateBrokerConfigs checks the dynamic configs one BROKER resource
	// would hold (perBroker: it names a broker, else the cluster default);
	// nil refuses dynamic broker configs. Reconfigure overlays the cluster
	// default and this broker's dynamic configs on the static ones; nil
	// leaves the static configuration in force.
	ValidateBrokerConfigs func(next map[string]string, perBroker bool) error
	Reconfigure           func(clusterDefault, perBroker map[string]string) (*Dynamic, error)

	// Roles (process.roles). Neither set means both (the embedded default).
	BrokerRole, ControllerRole bool
	// Voters is the controller quorum (controller.quorum.voters): node id →
	// host:port of its controller listener. Empty: this node alone, at its
	// first controller listener.
	Voters map[int32]string
	// Rack is broker.rack (nil: none).
	Rack *string
	// RackAwareReplicaSelector is replica.selector.class naming Kafka's
	// org.apache.kafka.common.replica.RackAwareReplicaSelector (KIP-392):
	// the leader sends a consumer on another replica's rack to read there
	// (PreferredReadReplica). Off, consumers read from the leader.
	RackAwareReplicaSelector bool
	// HeartbeatInterval and SessionTimeout are broker.heartbeat.interval.ms
	// (2 s) and broker.session.timeout.ms (9 s).
	HeartbeatInterval, SessionTimeout time.Duration
	// AutoLeaderRebalance is auto.leader.rebalance.enable;
	// LeaderImbalanceCheckInterval and LeaderImbalancePerBrokerPercentage
	// its leader.imbalance.* settings.
	AutoLeaderRebalance                bool
	LeaderImbalanceCheckInterval       time.Duration
	LeaderImbalancePerBrokerPercentage int
	// ElectionTimeout is controller.quorum.election.timeout.ms (1 s).
	ElectionTimeout time.Duration

	// Replication (follower.go, replication.go). InterBrokerListener is
	// inter.broker.listener.name: the listener followers fetch from (""
	// means the first advertised broker listener).
	InterBrokerListener          string
	ReplicaLagTimeMax            time.Duration // replica.lag.time.max.ms (30 s)
	ReplicaFetchWaitMax          time.Duration // replica.fetch.wait.max.ms (500 ms)
	ReplicaFetchMaxBytes         int32         // replica.fetch.max.bytes (1 MiB)
	ReplicaFetchResponseMaxBytes int32         // replica.fetch.response.max.bytes (10 MiB)
	ReplicaFetchBackoff          time.Duration // replica.fetch.backoff.ms (1 s)
	HWCheckpointInterval         time.Duration // replica.high.watermark.checkpoint.interval.ms (5 s)

	// Listen binds a listener (nil: net.Listen). Tests inject ephemeral ports.
	Listen func(network, address string) (net.Listener, error)
	// Dial opens connections to other nodes (controllers; nil: net.Dialer
	// with TCP_USER_TIMEOUT, see interNodeDialer).
	// Tests inject it to cut a node off.
	Dial   func(ctx context.Context, network, address string) (net.Conn, error)
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if !o.BrokerRole && !o.ControllerRole {
		o.BrokerRole, o.ControllerRole = true, true
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 2 * time.Second
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 9 * time.Second
	}
	if o.ElectionTimeout <= 0 {
		o.ElectionTimeout = time.Second
	}
	if o.Dial == nil {
		o.Dial = interNodeDialer(interNodeUserTimeout(o.ElectionTimeout)).DialContext
	}
	if o.NumPartitions == 0 {
		o.NumPartitions = 1
	}
	if o.DefaultReplicationFactor == 0 {
		o.DefaultReplicationFactor = 1
	}
	if o.SocketRequestMaxBytes == 0 {
		o.SocketRequestMaxBytes = 100 << 20
	}
	if o.RetentionCheckInterval == 0 {
		o.RetentionCheckInterval = 5 * time.Minute
	}
	if o.LogCleanerBackoff <= 0 {
		o.LogCleanerBackoff = 15 * time.Second
	}
	if o.ConnectionsMaxIdle == 0 {
		o.ConnectionsMaxIdle = 10 * time.Minute
	}
	if o.OffsetsTopicNumPartitions == 0 {
		o.OffsetsTopicNumPartitions = 50
	}
	if o.OffsetsTopicReplicationFactor == 0 {
		o.OffsetsTopicReplicationFactor = 3
	}
	if o.OffsetsRetention == 0 {
		o.OffsetsRetention = 7 * 24 * time.Hour
	}
	if o.GroupMinSessionTimeout == 0 {
		o.GroupMinSessionTimeout = 6 * time.Second
	}
	if o.GroupMaxSessionTimeout == 0 {
		o.GroupMaxSessionTimeout = 30 * time.Minute
	}
	if o.GroupConsumerSessionTimeout == 0 {
		o.GroupConsumerSessionTimeout = 45 * time.Second
	}
	if o.GroupConsumerHeartbeatInterval == 0 {
		o.GroupConsumerHeartbeatInterval = 5 * time.Second
	}
	if o.ReplicaLagTimeMax <= 0 {
		o.ReplicaLagTimeMax = 30 * time.Second
	}
	if o.ReplicaFetchWaitMax <= 0 {
		o.ReplicaFetchWaitMax = 500 * time.Millisecond
	}
	if o.ReplicaFetchMaxBytes <= 0 {
		o.ReplicaFetchMaxBytes = 1 << 20
	}
	if o.ReplicaFetchResponseMaxBytes <= 0 {
		o.ReplicaFetchResponseMaxBytes = 10 << 20
	}
	if o.HWCheckpointInterval <= 0 {
		o.HWCheckpointInterval = 5 * time.Second
	}
	if o.ReplicaFetchBackoff <= 0 {
		o.ReplicaFetchBackoff = time.Second
	}
	if o.Listen == nil {
		o.Listen = net.Listen
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MetadataDir == "" && len(o.LogDirs) > 0 {
		o.MetadataDir = o.LogDirs[0]
	}
}

// securityProtocolID maps a security protocol name to Kafka's id.
func securityProtocolID(name string) int16 {
	switch name {
	case "PLAINTEXT":
		return 0
	case "SSL":
		return 1
	case "SASL_PLAINTEXT":
		return 2
	case "SASL_SSL":
		return 3
	}
	return -1
}

func endpoints(adv []Listener) []metadata.Endpoint {
	out := make([]metadata.Endpoint, 0, len(adv))
	for _, l := range adv {
		out = append(out, metadata.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port),
			SecurityProtocol: securityProtocolID(l.SecurityProtocol)})
	}
	return out
}
