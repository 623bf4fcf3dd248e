package broker

// PurgatoryTimers reports b's purgatory timer heap: how many deadlines it
// holds now and how many operations were ever scheduled on it.
func PurgatoryTimers(b *Broker) (pending int, scheduled int64) {
	return b.timers.Len(), b.timers.Scheduled()
}
