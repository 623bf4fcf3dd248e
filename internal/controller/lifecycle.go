package controller

import (
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
)

// Activate starts broker sessions for this node's term as the active
// controller: every unfenced broker gets a session from now, so none is
// fenced before it has had a session timeout to reach this controller.
func (c *Controller) Activate(now time.Time) { c.ActivateTerm(now, nil) }

// ActivateTerm is Activate for a new term of the quorum: hook runs under
// the controller's lock, after every decision that started before it has
// finished, so the caller can mark which term later decisions belong to.
func (c *Controller) ActivateTerm(now time.Time, hook func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hook != nil {
		hook()
	}
	c.sessions.Adopt(c.current(), now)
	c.nextRebalance = now.Add(c.cfg.LeaderImbalanceCheckInterval)
}

// BrokerRegistration registers a broker (BrokerRegistration, API key 62).
func (c *Controller) BrokerRegistration(req Registration, now time.Time) (RegistrationResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, res, err := DecideRegistration(&c.cfg, c.current(), c.sessions, req, now)
	if err != nil {
		return res, err
	}
	return res, c.commitLocked(recs)
}

// BrokerHeartbeat handles a BrokerHeartbeat (API key 63).
func (c *Controller) BrokerHeartbeat(req Heartbeat, now time.Time) (HeartbeatResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, res, err := DecideHeartbeat(&c.cfg, c.current(), c.sessions, req, now)
	if err != nil {
		return res, err
	}
	return res, c.commitLocked(recs)
}

// UnregisterBroker removes a broker's registration (UnregisterBroker, API key 64).
func (c *Controller) UnregisterBroker(id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, err := DecideUnregister(&c.cfg, c.current(), id)
	if err != nil {
		return err
	}
	if err := c.commitLocked(recs); err != nil {
		return err
	}
	c.sessions.Remove(id)
	return nil
}

// Tick runs the timed decisions due at now: it fences every broker whose
// session expired, one decision each, and, with AutoLeaderRebalance, moves
// leaderships back to preferred replicas every
// LeaderImbalanceCheckInterval. It returns when it next has work (zero if
// nothing is scheduled): call it again then, or sooner.
func (c *Controller) Tick(now time.Time) (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions.Adopt(c.current(), now)
	for {
		recs, _ := DecideFenceStale(&c.cfg, c.current(), c.sessions, now)
		if len(recs) == 0 {
			break
		}
		if err := c.commitLocked(recs); err != nil {
			return now, err
		}
	}
	if c.cfg.AutoLeaderRebalance {
		if c.nextRebalance.IsZero() {
			c.nextRebalance = now.Add(c.cfg.LeaderImbalanceCheckInterval)
		}
		if !now.Before(c.nextRebalance) {
			c.nextRebalance = now.Add(c.cfg.LeaderImbalanceCheckInterval)
			if err := c.commitLocked(DecideRebalance(&c.cfg, c.current(), c.cfg.LeaderImbalancePerBrokerPercentage)); err != nil {
				return now, err
			}
		}
	}
	next, ok := c.sessions.NextExpiry(c.current())
	if ok {
		// A session is stale once its timeout has fully passed.
		next = next.Add(time.Millisecond)
	}
	if c.cfg.AutoLeaderRebalance && (!ok || c.nextRebalance.Before(next)) {
		next = c.nextRebalance
	}
	return next, nil
}

// Rebalance moves leaderships back to preferred replicas now, whatever the
// schedule (with LeaderImbalancePerBrokerPercentage).
func (c *Controller) Rebalance() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commitLocked(DecideRebalance(&c.cfg, c.current(), c.cfg.LeaderImbalancePerBrokerPercentage))
}

// Sessions describes the broker sessions this controller tracks.
func (c *Controller) Sessions() []SessionInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions.Describe()
}

// RegisterBroker registers this process's own broker and unfences it at
// once, as a broker that has caught up with the log it shares with its
// controller: the single-node path, one registration per process start
// (a fresh incarnation). It returns the broker epoch.
func (c *Controller) RegisterBroker(id int32, endpoints []metadata.Endpoint, rack *string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	im := c.current()
	var features []metadata.FeatureRange
	for name, level := range im.Features() {
		features = append(features, metadata.FeatureRange{Name: name, Min: level, Max: level})
	}
	recs, res, err := DecideRegistration(&c.cfg, im, c.sessions, Registration{BrokerID: id, ClusterID: c.cfg.ClusterID,
		IncarnationID: c.cfg.NewID(), Endpoints: endpoints, Features: features, Rack: rack, PreviousBrokerEpoch: -1}, now)
	if err != nil {
		return -1, err
	}
	if err := c.commitLocked(recs); err != nil {
		return -1, err
	}
	recs, _, err = DecideHeartbeat(&c.cfg, c.current(), c.sessions, Heartbeat{BrokerID: id, BrokerEpoch: res.BrokerEpoch,
		CurrentMetadataOffset: c.current().Offset}, now)
	if err != nil {
		return -1, err
	}
	return res.BrokerEpoch, c.commitLocked(recs)
}

// AllocateProducerIDs hands this node's broker a block of producer ids:
// [first, first+n).
func (c *Controller) AllocateProducerIDs(broker int32) (first, n int64, err error) {
	epoch := int64(-1)
	if b := c.Image().Broker(broker); b != nil {
		epoch = b.Epoch
	}
	return c.AllocateProducerIDBlock(broker, epoch)
}

// AllocateProducerIDBlock handles AllocateProducerIds (API key 67) from
// broker at epoch: [first, first+n).
func (c *Controller) AllocateProducerIDBlock(broker int32, epoch int64) (first, n int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, first, n, err := DecideAllocateProducerIDs(&c.cfg, c.current(), broker, epoch)
	if err != nil {
		return first, n, err
	}
	return first, n, c.commitLocked(recs)
}
