package broker

// Dynamic broker configs on a broker (KIP-226, Kafka's DynamicBrokerConfig):
// the metadata image holds Config records of the BROKER resource, the
// cluster-wide default under the empty name and each broker's own under its
// id. onBrokerConfigs, a metadata listener that runs before the partition
// manager's, rebuilds the node's configuration with them on top
// (Options.Reconfigure) when either changes, and applies what samsa can
// apply while running:
//   - topic-config defaults (log.retention.*, log.segment.bytes, log.roll.*,
//     message.max.bytes, log.cleanup.policy, compression.type, ...): every
//     hosted partition of a topic without its own override is reconfigured
//     at once, and new partitions open with them;
//   - log.cleaner.backoff.ms: the cleaner's next pause;
//   - min.insync.replicas and unclean.leader.election.enable defaults: the
//     produce path and the controller's elections.
// The other dynamic keys (thread counts, buffer sizes, metric reporters,
// connection limits) are stored, validated and reported as Kafka reports
// them, with no effect on samsa's runtime.

import (
	"maps"
	"strconv"
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
)

// dynState is one generation of the dynamic configuration; readers load it
// without locks.
type dynState struct {
	topics         TopicConfigs
	topicDefaults  []ConfigEntry
	brokerEntries  func() []ConfigEntry
	defaultEntries []ConfigEntry
	cleanerBackoff time.Duration
	// clusterDefault and perBroker are the image's values it was built from.
	clusterDefault, perBroker map[string]string
}

func (b *Broker) dynamic() *dynState { return b.dyn.Load() }

// initDynamic installs the static configuration.
func (b *Broker) initDynamic() {
	b.cleanerKick = make(chan struct{}, 1)
	b.dyn.Store(&dynState{topics: b.opts.TopicConfigs, topicDefaults: b.opts.TopicConfigs.Defaults(),
		brokerEntries: b.opts.BrokerConfigs, cleanerBackoff: b.opts.LogCleanerBackoff})
}

// onBrokerConfigs is the metadata listener described above.
func (b *Broker) onBrokerConfigs(prev, next *metadata.Image, recs []metadata.Record) {
	own := strconv.Itoa(int(b.opts.NodeID))
	changed := recs == nil // a snapshot: anything may have changed
	for _, r := range recs {
		if r.Type == metadata.TypeConfig && r.Config.ResourceType == metadata.ResourceBroker &&
			(r.Config.ResourceName == "" || r.Config.ResourceName == own) {
			changed = true
		}
	}
	if !changed || b.opts.Reconfigure == nil {
		return
	}
	cur := b.dynamic()
	def, mine := next.Configs(metadata.ResourceBroker, ""), next.Configs(metadata.ResourceBroker, own)
	if maps.Equal(def, cur.clusterDefault) && maps.Equal(mine, cur.perBroker) {
		return
	}
	d, err := b.opts.Reconfigure(def, mine)
	if err != nil {
		// The controller validated every value; one this node cannot
		// resolve (its static config differs) leaves the last good view.
		b.log.Warn("dynamic broker configs not applied", "err", err)
		return
	}
	backoff := d.LogCleanerBackoff
	if backoff <= 0 {
		backoff = b.opts.LogCleanerBackoff
	}
	entries := d.BrokerConfigs
	b.dyn.Store(&dynState{topics: d.TopicConfigs, topicDefaults: d.TopicConfigs.Defaults(),
		brokerEntries: func() []ConfigEntry { return entries }, defaultEntries: d.DefaultConfigs,
		cleanerBackoff: backoff, clusterDefault: maps.Clone(def), perBroker: maps.Clone(mine)})
	b.log.Info("dynamic broker configs applied", "clusterDefault", len(def), "broker", len(mine))
	if backoff != cur.cleanerBackoff {
		select {
		case b.cleanerKick <- struct{}{}:
		default:
		}
	}
	if b.opts.BrokerRole {
		b.parts.reconfigureAll(next)
	}
}

// reconfigureAll applies the current topic configs to every hosted
// partition (the broker-level defaults changed).
func (m *partitionManager) reconfigureAll(im *metadata.Image) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.parts {
		m.configureLocked(im, p)
	}
}
