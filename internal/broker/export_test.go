package broker

import (
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/seglog"
)

// PartitionConfig is what a hosted partition keeps of its topic's
// configuration, for the external tests; ok is false if not hosted.
func (b *Broker) PartitionConfig(topic string, index int32) (tc config.TopicConfig, seg seglog.Options,
	clean seglog.CompactOptions, compact, ok bool) {
	p := b.parts.get(topic, index)
	if p == nil {
		return tc, seg, clean, false, false
	}
	c := p.cfg.Load()
	return c.TopicConfig, c.segOpts, c.cleanOpts, c.compact, true
}
