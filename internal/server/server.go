// Package server is samsa's composition root: it turns a validated
// config.Config into a running node — storage formatted or checked, a
// broker with its controller — so that `samsa serve` and samsatest start
// nodes the same way.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
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
}

// Start formats or checks the log dirs, opens the node and starts serving.
func Start(cfg *config.Config, o Options) (*broker.Broker, error) {
	clusterID, err := prepareStorage(cfg, o.FS)
	if err != nil {
		return nil, err
	}
	bo := brokerOptions(cfg, clusterID)
	bo.Logger, bo.Listen, bo.FS = o.Logger, o.Listen, o.FS
	b, err := broker.New(bo)
	if err != nil {
		return nil, err
	}
	if err := b.Start(); err != nil {
		return nil, err
	}
	return b, nil
}

// prepareStorage formats empty log dirs on first start, as the apache/kafka
// image does, and refuses dirs that belong to another cluster or node.
// Without CLUSTER_ID, an already formatted node keeps its id and a new one
// gets a random id.
func prepareStorage(cfg *config.Config, fsys vfs.FS) (string, error) {
	dirs := append([]string(nil), cfg.LogDirs...)
	if cfg.MetadataLogDir != "" && !contains(dirs, cfg.MetadataLogDir) {
		dirs = append(dirs, cfg.MetadataLogDir)
	}
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

		OffsetsTopicNumPartitions:      cfg.OffsetsTopicNumPartitions,
		OffsetsTopicReplicationFactor:  cfg.OffsetsTopicReplicationFactor,
		OffsetsRetention:               time.Duration(cfg.OffsetsRetentionMinutes) * time.Minute,
		GroupInitialRebalanceDelay:     time.Duration(cfg.GroupInitialRebalanceDelayMs) * time.Millisecond,
		GroupMinSessionTimeout:         time.Duration(cfg.GroupMinSessionTimeoutMs) * time.Millisecond,
		GroupMaxSessionTimeout:         time.Duration(cfg.GroupMaxSessionTimeoutMs) * time.Millisecond,
		GroupMaxSize:                   cfg.GroupMaxSize,
		GroupConsumerSessionTimeout:    time.Duration(cfg.GroupConsumerSessionTimeoutMs) * time.Millisecond,
		GroupConsumerHeartbeatInterval: time.Duration(cfg.GroupConsumerHeartbeatIntervalMs) * time.Millisecond,
	}
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
			if be, ok := t.cfg.Value(d.BrokerKey); ok && be.Source == config.SourceStatic {
				e.Source = 4
			}
		}
		out = append(out, e)
	}
	return out
}

func brokerEntries(cfg *config.Config) []broker.ConfigEntry {
	vals := cfg.Values()
	out := make([]broker.ConfigEntry, 0, len(vals))
	for _, e := range vals {
		be := broker.ConfigEntry{Name: e.Name, ReadOnly: e.ReadOnly, Sensitive: e.Sensitive, Type: configType(e.Type), Source: 5}
		if !e.Null && !e.Sensitive {
			v := e.Value
			be.Value = &v
		}
		if e.Source == config.SourceStatic {
			be.Source = 4
		}
		out = append(out, be)
	}
	return out
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
