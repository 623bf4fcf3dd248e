// Package server is samsa's composition root: it turns a validated
// config.Config into a running node — storage formatted or checked, a
// broker with its controller — so that `samsa serve` and samsatest start
// nodes the same way.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/storage"
	"github.com/samsa-io/samsa/internal/vfs"
)

// Options are the parts of a node that do not come from Kafka config keys.
type Options struct {
	Logger *slog.Logger
	// Listen binds listeners (nil: net.Listen).
	Listen func(network, address string) (net.Listener, error)
	// FS is the filesystem of the log dirs (nil: the real one); crash
	// tests pass vfs's crashable twin.
	FS vfs.FS
	// Dial opens connections to the other nodes (nil: net.Dialer); tests
	// inject it to cut a node off.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Start binds the listeners, formats or checks the log dirs, opens the node
// and starts serving. The listeners are bound first, so that a start that
// fails because a port is taken touches no disk; a start that fails later
// removes the log dirs it created, so a failed first start leaves nothing
// behind (an empty ./samsa-data would look like a node that once ran).
func Start(cfg *config.Config, o Options) (_ *broker.Broker, err error) {
	listen := o.Listen
	if listen == nil {
		listen = net.Listen
	}
	bound, err := bindListeners(cfg.Listeners, listen)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, ln := range bound {
			ln.Close() // the ones the broker did not take (all, on failure)
		}
	}()
	fsys := vfs.Or(o.FS)
	created := missingDirs(fsys, storageDirs(cfg))
	defer func() {
		if err != nil {
			for _, d := range created {
				fsys.RemoveAll(d)
			}
		}
	}()
	clusterID, err := prepareStorage(cfg, fsys)
	if err != nil {
		return nil, err
	}
	bo := brokerOptions(cfg, clusterID)
	bo.Logger, bo.FS, bo.Dial = o.Logger, o.FS, o.Dial
	bo.Listen = func(network, addr string) (net.Listener, error) {
		if ln, ok := bound[addr]; ok {
			delete(bound, addr)
			return ln, nil
		}
		return listen(network, addr)
	}
	b, err := broker.New(bo)
	if err != nil {
		return nil, err
	}
	if err := b.Start(); err != nil {
		return nil, err
	}
	return b, nil
}

// bindListeners binds every listener, keyed by the host:port the broker
// asks for (its Start dials the same string), or closes them all and fails
// naming the listener.
func bindListeners(ls []config.Listener, listen func(network, address string) (net.Listener, error)) (map[string]net.Listener, error) {
	bound := map[string]net.Listener{}
	for _, l := range ls {
		addr := net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
		ln, err := listen("tcp", addr)
		if err != nil {
			for _, b := range bound {
				b.Close()
			}
			return nil, fmt.Errorf("listener %s: %w", l.String(), err)
		}
		bound[addr] = ln
	}
	return bound, nil
}

// storageDirs are the log dirs and the metadata dir.
func storageDirs(cfg *config.Config) []string {
	dirs := append([]string(nil), cfg.LogDirs...)
	if cfg.MetadataLogDir != "" && !contains(dirs, cfg.MetadataLogDir) {
		dirs = append(dirs, cfg.MetadataLogDir)
	}
	return dirs
}

// missingDirs returns, for each of dirs that does not exist yet, its
// topmost missing ancestor (what formatting it will create).
func missingDirs(fsys vfs.FS, dirs []string) []string {
	var out []string
	for _, d := range dirs {
		top := ""
		for p := filepath.Clean(d); ; p = filepath.Dir(p) {
			if _, err := fsys.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				break
			}
			top = p
			if filepath.Dir(p) == p {
				break
			}
		}
		if top != "" && !contains(out, top) {
			out = append(out, top)
		}
	}
	return out
}

// prepareStorage formats empty log dirs on first start, as the apache/kafka
// image does, and refuses dirs that belong to another cluster or node.
// Without CLUSTER_ID, an already formatted node keeps its id and a new one
// gets a random id.
func prepareStorage(cfg *config.Config, fsys vfs.FS) (string, error) {
	dirs := storageDirs(cfg)
	id, err := storage.CheckFS(fsys, dirs, cfg.ClusterID, cfg.NodeID)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, storage.ErrUnformatted) {
		return "", err
	}
	if id == "" {
		id = cfg.ClusterID
	}
	if id == "" {
		id = storage.RandomUUID()
	}
	// Format only the unformatted dirs; formatted ones were checked above.
	err = storage.FormatWith(storage.FormatOptions{FS: fsys, Dirs: dirs, ClusterID: id, NodeID: cfg.NodeID, IgnoreFormatted: true})
	if err != nil {
		return "", fmt.Errorf("formatting log dirs: %w", err)
	}
	return storage.CheckFS(fsys, dirs, id, cfg.NodeID)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func listeners(ls []config.Listener) []broker.Listener {
	out := make([]broker.Listener, 0, len(ls))
	for _, l := range ls {
		out = append(out, broker.Listener{Name: l.Name, Host: l.Host, Port: l.Port, SecurityProtocol: l.SecurityProtocol})
	}
	return out
}

func brokerOptions(cfg *config.Config, clusterID string) broker.Options {
	return broker.Options{
		NodeID:                   cfg.NodeID,
		ClusterID:                clusterID,
		Listeners:                listeners(cfg.Listeners),
		Advertised:               listeners(cfg.AdvertisedListeners),
		ControllerListeners:      cfg.ControllerListenerNames,
		LogDirs:                  cfg.LogDirs,
		MetadataDir:              cfg.MetadataLogDir,
		NumPartitions:            cfg.NumPartitions,
		DefaultReplicationFactor: cfg.DefaultReplicationFactor,
		AutoCreateTopics:         cfg.AutoCreateTopicsEnable,
		DeleteTopicEnable:        cfg.DeleteTopicEnable,
		SocketRequestMaxBytes:    int32(cfg.SocketRequestMaxBytes),
		RetentionCheckInterval:   time.Duration(cfg.LogRetentionCheckIntervalMs) * time.Millisecond,
		LogCleanerEnable:         cfg.LogCleanerEnable,
		LogCleanerBackoff:        cleanerBackoff(cfg),
		ConnectionsMaxIdle:       time.Duration(cfg.ConnectionsMaxIdleMs) * time.Millisecond,
		TopicConfigs:             topicConfigs{cfg},
		BrokerConfigs:            func() []broker.ConfigEntry { return brokerEntries(cfg) },
		ValidateBrokerConfigs: func(next map[string]string, perBroker bool) error {
			return config.ValidateDynamic(cfg, next, perBroker)
		},
		Reconfigure: func(clusterDefault, perBroker map[string]string) (*broker.Dynamic, error) {
			return reconfigure(cfg, clusterDefault, perBroker)
		},

		OffsetsTopicNumPartitions:      cfg.OffsetsTopicNumPartitions,
		OffsetsTopicReplicationFactor:  cfg.OffsetsTopicReplicationFactor,
		OffsetsRetention:               time.Duration(cfg.OffsetsRetentionMinutes) * time.Minute,
		GroupInitialRebalanceDelay:     time.Duration(cfg.GroupInitialRebalanceDelayMs) * time.Millisecond,
		GroupMinSessionTimeout:         time.Duration(cfg.GroupMinSessionTimeoutMs) * time.Millisecond,
		GroupMaxSessionTimeout:         time.Duration(cfg.GroupMaxSessionTimeoutMs) * time.Millisecond,
		GroupMaxSize:                   cfg.GroupMaxSize,
		GroupConsumerSessionTimeout:    time.Duration(cfg.GroupConsumerSessionTimeoutMs) * time.Millisecond,
		GroupConsumerHeartbeatInterval: time.Duration(cfg.GroupConsumerHeartbeatIntervalMs) * time.Millisecond,

		BrokerRole:                         cfg.IsBroker(),
		ControllerRole:                     cfg.IsController(),
		Voters:                             voters(cfg),
		Rack:                               rack(cfg),
		RackAwareReplicaSelector:           rackAwareSelector(cfg),
		HeartbeatInterval:                  time.Duration(cfg.BrokerHeartbeatIntervalMs) * time.Millisecond,
		SessionTimeout:                     time.Duration(cfg.BrokerSessionTimeoutMs) * time.Millisecond,
		ElectionTimeout:                    time.Duration(cfg.ControllerQuorumElectionTimeoutMs) * time.Millisecond,
		AutoLeaderRebalance:                cfg.AutoLeaderRebalanceEnable,
		LeaderImbalanceCheckInterval:       time.Duration(cfg.LeaderImbalanceCheckIntervalSeconds) * time.Second,
		LeaderImbalancePerBrokerPercentage: cfg.LeaderImbalancePerBrokerPercentage,

		InterBrokerListener:  cfg.InterBrokerListenerName,
		ReplicaLagTimeMax:    time.Duration(cfg.ReplicaLagTimeMaxMs) * time.Millisecond,
		ReplicaFetchMaxBytes: int32(cfg.ReplicaFetchMaxBytes),
		ReplicaFetchBackoff:  replicaIntMs(cfg, "replica.fetch.backoff.ms"),
		ReplicaFetchWaitMax:  replicaIntMs(cfg, "replica.fetch.wait.max.ms"),
		HWCheckpointInterval: replicaIntMs(cfg, "replica.high.watermark.checkpoint.interval.ms"),
	}
}

// replicaIntMs reads a replication key in milliseconds (0: the broker's
// default).
func replicaIntMs(cfg *config.Config, key string) time.Duration {
	v, ok := cfg.Get(key)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Millisecond
}

// voters is controller.quorum.voters as node id → address. With only
// controller.quorum.bootstrap.servers (a standalone controller, Kafka's
// `format --standalone`), the one server is this node's own address.
func voters(cfg *config.Config) map[int32]string {
	out := map[int32]string{}
	for _, v := range cfg.ControllerQuorumVoters {
		out[v.ID] = v.Addr()
	}
	if len(out) == 0 && len(cfg.ControllerQuorumBootstrapServers) == 1 && cfg.IsController() {
		out[cfg.NodeID] = cfg.ControllerQuorumBootstrapServers[0]
	}
	return out
}

// rackAwareSelector reports whether replica.selector.class is Kafka's
// RackAwareReplicaSelector (config validation refuses any other class).
func rackAwareSelector(cfg *config.Config) bool {
	v, _ := cfg.Get("replica.selector.class")
	return strings.TrimSpace(v) == config.RackAwareReplicaSelector
}

func rack(cfg *config.Config) *string {
	if cfg.BrokerRack == "" {
		return nil
	}
	r := cfg.BrokerRack
	return &r
}

// cleanerBackoff is log.cleaner.backoff.ms. Kafka accepts 0 (passes back
// to back); the cleaner's ticker needs at least 1 ms.
func cleanerBackoff(cfg *config.Config) time.Duration {
	return time.Duration(max(cfg.LogCleanerBackoffMs, 1)) * time.Millisecond
}

// topicConfigs adapts package config's topic registry to the broker: the
// broker's only source of topic-config defaults, validation and parsing.
type topicConfigs struct{ cfg *config.Config }

func (t topicConfigs) Validate(name, value string) error {
	return config.ValidateTopicConfig(name, value)
}

func (t topicConfigs) Effective(overrides map[string]string) (config.TopicConfig, error) {
	return t.cfg.TopicConfig(overrides)
}

func (t topicConfigs) Defaults() []broker.ConfigEntry {
	vals := config.TopicDefaults(t.cfg)
	out := make([]broker.ConfigEntry, 0, len(config.TopicConfigs))
	for _, d := range config.TopicConfigs {
		v := vals[d.Name]
		e := broker.ConfigEntry{Name: d.Name, Value: &v, Source: 5, Type: configType(d.Type), Synonym: d.BrokerKey}
		if d.BrokerKey != "" {
			if be, ok := t.cfg.Value(d.BrokerKey); ok {
				e.Source = sourceID(be.Source)
			}
		}
		out = append(out, e)
	}
	return out
}

// reconfigure is the node's configuration with the dynamic broker configs
// of the metadata image on top (Kafka's DynamicBrokerConfig).
func reconfigure(cfg *config.Config, clusterDefault, perBroker map[string]string) (*broker.Dynamic, error) {
	dc, err := cfg.WithDynamic(clusterDefault, perBroker)
	if err != nil {
		return nil, err
	}
	return &broker.Dynamic{
		TopicConfigs:      topicConfigs{dc},
		BrokerConfigs:     configEntries(dc.Values()),
		DefaultConfigs:    configEntries(dc.DefaultValues()),
		LogCleanerBackoff: cleanerBackoff(dc),
	}, nil
}

func brokerEntries(cfg *config.Config) []broker.ConfigEntry { return configEntries(cfg.Values()) }

func configEntries(vals []config.Entry) []broker.ConfigEntry {
	out := make([]broker.ConfigEntry, 0, len(vals))
	for _, e := range vals {
		be := broker.ConfigEntry{Name: e.Name, ReadOnly: e.ReadOnly, Sensitive: e.Sensitive, Type: configType(e.Type), Source: sourceID(e.Source)}
		if !e.Null && !e.Sensitive {
			v := e.Value
			be.Value = &v
		}
		for _, s := range e.Synonyms {
			sy := broker.ConfigSynonym{Name: s.Name, Source: sourceID(s.Source)}
			if !s.Null && !e.Sensitive {
				v := s.Value
				sy.Value = &v
			}
			be.Synonyms = append(be.Synonyms, sy)
		}
		out = append(out, be)
	}
	return out
}

// sourceID maps a config source to its DescribeConfigs ConfigSource number.
func sourceID(s config.Source) int8 {
	switch s {
	case config.SourceDynamicBroker:
		return 2
	case config.SourceDynamicDefault:
		return 3
	case config.SourceStatic:
		return 4
	}
	return 5
}

// configType maps config types to DescribeConfigs ConfigType numbers.
func configType(t config.Type) int8 {
	switch t {
	case config.TypeBoolean:
		return 1
	case config.TypeString:
		return 2
	case config.TypeInt:
		return 3
	case config.TypeShort:
		return 4
	case config.TypeLong:
		return 5
	case config.TypeDouble:
		return 6
	case config.TypeList:
		return 7
	case config.TypeClass:
		return 8
	case config.TypePassword:
		return 9
	}
	return 0
}
