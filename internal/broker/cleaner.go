package broker

import (
	"strconv"
	"time"
)

// defaultCleanerBackoff is log.cleaner.backoff.ms's default.
const defaultCleanerBackoff = 15 * time.Second

// cleanerLoop is the log cleaner (Kafka's LogCleaner with one thread): every
// log.cleaner.backoff.ms it compacts the partitions of topics whose
// cleanup.policy includes "compact", each when its dirty ratio reaches
// min.cleanable.dirty.ratio (seglog.Log.Compact decides). Started by
// Broker.Start, stopped by Broker.Close through b.stop and b.wg, like the
// retention loop. log.cleaner.enable=false turns it off.
func (b *Broker) cleanerLoop() {
	defer b.wg.Done()
	backoff, enabled := b.cleanerSettings()
	if !enabled {
		return
	}
	t := time.NewTicker(backoff)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.parts.compact(b.stop)
		}
	}
}

// cleanerSettings reads log.cleaner.backoff.ms and log.cleaner.enable from
// the broker configs (the config layer has no typed fields for them).
func (b *Broker) cleanerSettings() (backoff time.Duration, enabled bool) {
	backoff, enabled = defaultCleanerBackoff, true
	if b.opts.BrokerConfigs == nil {
		return backoff, enabled
	}
	for _, e := range b.opts.BrokerConfigs() {
		if e.Value == nil {
			continue
		}
		switch e.Name {
		case "log.cleaner.backoff.ms":
			if ms, err := strconv.ParseInt(*e.Value, 10, 64); err == nil && ms > 0 {
				backoff = time.Duration(ms) * time.Millisecond
			}
		case "log.cleaner.enable":
			enabled = *e.Value != "false"
		}
	}
	return backoff, enabled
}
