package broker

import "time"

// cleanerLoop is the log cleaner (Kafka's LogCleaner with one thread): every
// log.cleaner.backoff.ms it compacts the partitions of topics whose
// cleanup.policy includes "compact", each when its dirty ratio reaches
// min.cleanable.dirty.ratio (seglog.Log.Compact decides). Started by
// Broker.Start, stopped by Broker.Close through b.stop and b.wg, like the
// retention loop. log.cleaner.enable=false (Options.LogCleanerEnable) turns
// it off.
func (b *Broker) cleanerLoop() {
	defer b.wg.Done()
	if !b.opts.LogCleanerEnable {
		return
	}
	// The backoff is read before every pass: log.cleaner.backoff.ms is a
	// dynamic broker config, and a change wakes the loop (cleanerKick).
	t := time.NewTimer(b.dynamic().cleanerBackoff)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-b.cleanerKick:
			t.Stop()
			t.Reset(b.dynamic().cleanerBackoff)
		case <-t.C:
			b.parts.compact(b.stop)
			t.Reset(b.dynamic().cleanerBackoff)
		}
	}
}
