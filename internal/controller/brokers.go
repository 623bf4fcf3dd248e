package controller

// The broker lifecycle, Kafka's way (KIP-631; ClusterControlManager,
// BrokerHeartbeatManager and ReplicationControlManager in Kafka's
// metadata module):
//
//   - BrokerRegistration: a new incarnation id gets a new broker epoch and
//     starts fenced; the same incarnation registering again (a retry) keeps
//     its epoch and state. Another incarnation is refused with
//     DUPLICATE_BROKER_REGISTRATION while the current one has a live
//     session.
//   - BrokerHeartbeat: a fenced broker is unfenced once it has caught up
//     with the metadata log up to its registration; an unfenced broker
//     that wants to shut down enters controlled shutdown while its
//     leaderships move to other replicas, and is told to shut down (and
//     fenced) once it leads nothing and every active broker has applied
//     the moves; WantFence fences at once.
//   - A broker without a heartbeat for broker.session.timeout.ms is fenced
//     (Controller.Tick); the partitions it led elect new leaders.
//   - UnregisterBroker removes a registration.

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

// Registration is a BrokerRegistration request (API key 62).
type Registration struct {
	BrokerID      int32
	ClusterID     string
	IncarnationID Uuid
	// Endpoints are the advertised listeners, each by name.
	Endpoints []metadata.Endpoint
	// Features are the broker's supported feature ranges.
	Features []metadata.FeatureRange
	Rack     *string
	// PreviousBrokerEpoch is the epoch before a clean shutdown, -1 if none (KIP-966).
	PreviousBrokerEpoch int64
}

// RegistrationResult is the BrokerRegistration response.
type RegistrationResult struct {
	BrokerEpoch int64
	// NewIncarnation is false for a repeated registration of the same
	// incarnation (epoch and state unchanged).
	NewIncarnation bool
	// CleanShutdown: the previous incarnation shut down cleanly (the
	// request's PreviousBrokerEpoch is the epoch it had). A broker that
	// did not leaves the ELRs for the last known ELRs (KIP-966).
	CleanShutdown bool
}

// DecideRegistration decides a BrokerRegistration (Kafka's
// ClusterControlManager.registerBroker). A new incarnation's epoch is
// im.Offset+1: larger than every epoch handed out before (each was at most
// the index of the entry that recorded it), and the index of its own entry
// when nothing else is appended before it.
func DecideRegistration(cfg *Config, im *metadata.Image, s *Sessions, req Registration, now time.Time) ([]metadata.Record, RegistrationResult, error) {
	var res RegistrationResult
	if cfg.ClusterID != "" && req.ClusterID != cfg.ClusterID {
		return nil, res, errorf(kerr.InconsistentClusterID, "Expected cluster ID %s, but got cluster ID %s", cfg.ClusterID, req.ClusterID)
	}
	if req.BrokerID < 0 {
		return nil, res, errorf(kerr.InvalidRegistration, "broker id %d is negative", req.BrokerID)
	}
	seen := map[string]bool{}
	for _, e := range req.Endpoints {
		if seen[e.Name] {
			return nil, res, errorf(kerr.InvalidRegistration, "listener %s appears more than once", e.Name)
		}
		seen[e.Name] = true
		if e.Port < 0 || e.Port > math.MaxUint16 {
			return nil, res, errorf(kerr.InvalidRegistration, "listener %s has port %d", e.Name, e.Port)
		}
	}
	if err := checkFeatures(im, req); err != nil {
		return nil, res, err
	}
	existing := im.Broker(req.BrokerID)
	if existing != nil && existing.IncarnationID != req.IncarnationID && s.confirmedValid(im, req.BrokerID, now) {
		return nil, res, errorf(kerr.DuplicateBrokerRegistration, "Another broker is registered with that broker id.")
	}
	rec := &metadata.RegisterBrokerRecord{BrokerID: req.BrokerID, IncarnationID: req.IncarnationID,
		Endpoints: cleanEndpoints(req.Endpoints), Features: req.Features, Rack: validUTF8p(req.Rack)}
	if existing != nil && existing.IncarnationID == req.IncarnationID {
		rec.BrokerEpoch, rec.Fenced, rec.InControlledShutdown = existing.Epoch, existing.Fenced, existing.InControlledShutdown
	} else {
		rec.BrokerEpoch, rec.Fenced = im.Offset+1, true
		res.NewIncarnation = true
		res.CleanShutdown = existing != nil && req.PreviousBrokerEpoch >= 0 && req.PreviousBrokerEpoch == existing.Epoch
	}
	res.BrokerEpoch = rec.BrokerEpoch
	var recs []metadata.Record
	if res.NewIncarnation && existing != nil && !existing.Fenced {
		recs = replacedIncarnationRecords(cfg, im, existing)
	}
	if res.NewIncarnation && existing != nil && !res.CleanShutdown {
		// The ELR partitions are others than those above: a broker in a
		// partition's ELR is neither in its ISR nor its leader.
		recs = append(recs, uncleanShutdownRecords(im, req.BrokerID)...)
	}
	s.touch(req.BrokerID, rec.BrokerEpoch, now, -1)
	return append(recs, metadata.Record{Type: metadata.TypeRegisterBroker, RegisterBroker: rec}), res, nil
}

// replacedIncarnationRecords hands off what an unfenced incarnation held
// when a new one of the same broker replaces it (the new one starts
// fenced): leaderships another ISR member can take move there and the
// broker leaves the ISRs, as on fencing; a partition that would go
// offline keeps this broker as leader and ISR member, for the new
// incarnation (same broker, same log directories) to resume once it is
// unfenced, rather than going offline in between. Without this, the old
// incarnation's leaderships would stay with a fenced broker that the
// session tracker no longer fences.
func replacedIncarnationRecords(cfg *Config, im *metadata.Image, b *metadata.Broker) []metadata.Record {
	var recs []metadata.Record
	for _, r := range brokerLeaves(cfg, im, b.ID, false) {
		if r.PartitionChange.Leader != metadata.NoLeader {
			recs = append(recs, r)
		}
	}
	return recs
}

func cleanEndpoints(eps []metadata.Endpoint) []metadata.Endpoint {
	out := make([]metadata.Endpoint, len(eps))
	for i, e := range eps {
		e.Name, e.Host = validUTF8(e.Name), validUTF8(e.Host)
		out[i] = e
	}
	return out
}

// checkFeatures refuses a broker that cannot run a finalized feature level
// (Kafka's processRegistrationFeature): every finalized feature above
// level 0 must be in the broker's range (a feature it does not list has
// the range 0-0).
func checkFeatures(im *metadata.Image, req Registration) error {
	for name, level := range im.Features() {
		lo, hi := int16(0), int16(0)
		for _, f := range req.Features {
			if f.Name == name {
				lo, hi = f.Min, f.Max
			}
		}
		if level != 0 && (level < lo || level > hi) {
			return errorf(kerr.UnsupportedVersion, "Unable to register because the broker does not support finalized version %d of %s. The broker supports versions %d-%d", level, name, lo, hi)
		}
	}
	return nil
}

// Heartbeat is a BrokerHeartbeat request (API key 63).
type Heartbeat struct {
	BrokerID    int32
	BrokerEpoch int64
	// CurrentMetadataOffset is the offset of the last entry the broker applied.
	CurrentMetadataOffset int64
	WantFence             bool
	WantShutDown          bool
}

// HeartbeatResult is the BrokerHeartbeat response.
type HeartbeatResult struct {
	IsCaughtUp           bool
	IsFenced             bool
	InControlledShutdown bool
	ShouldShutDown       bool
}

// brokerState is Kafka's BrokerControlState.
type brokerState int

const (
	stateFenced brokerState = iota
	stateUnfenced
	stateControlledShutdown
	stateShutdownNow
)

// DecideHeartbeat decides a BrokerHeartbeat (Kafka's
// ReplicationControlManager.processBrokerHeartbeat with
// BrokerHeartbeatManager.calculateNextBrokerState) and records the
// contact in s.
func DecideHeartbeat(cfg *Config, im *metadata.Image, s *Sessions, req Heartbeat, now time.Time) ([]metadata.Record, HeartbeatResult, error) {
	b := im.Broker(req.BrokerID)
	if b == nil {
		return nil, HeartbeatResult{}, errorf(kerr.StaleBrokerEpoch, "No broker registration found for broker id %d", req.BrokerID)
	}
	if b.Epoch != req.BrokerEpoch {
		return nil, HeartbeatResult{}, errorf(kerr.StaleBrokerEpoch, "Expected broker epoch %d, but got broker epoch %d", b.Epoch, req.BrokerEpoch)
	}
	cur := stateUnfenced
	switch {
	case b.Fenced:
		cur = stateFenced
	case b.InControlledShutdown:
		cur = stateControlledShutdown
	}
	next := cur
	switch cur {
	case stateFenced:
		if req.WantShutDown {
			next = stateShutdownNow
		} else if !req.WantFence && req.CurrentMetadataOffset >= b.RegistrationOffset {
			next = stateUnfenced
		}
	case stateUnfenced:
		switch {
		case req.WantFence && req.WantShutDown:
			next = stateShutdownNow
		case req.WantFence:
			next = stateFenced
		case req.WantShutDown && leads(im, b.ID):
			next = stateControlledShutdown
		case req.WantShutDown:
			next = stateShutdownNow
		}
	case stateControlledShutdown:
		if !leads(im, b.ID) && b.ControlledShutdownOffset <= s.lowestActiveOffset(im) {
			next = stateShutdownNow
		}
	}
	var recs []metadata.Record
	if next != cur {
		switch next {
		case stateFenced, stateShutdownNow:
			if !b.Fenced {
				recs = fenceRecords(cfg, im, b)
			}
		case stateUnfenced:
			recs = unfenceRecords(cfg, im, b)
		case stateControlledShutdown:
			recs = controlledShutdownRecords(cfg, im, b)
		}
	}
	s.touch(b.ID, b.Epoch, now, req.CurrentMetadataOffset)
	res := HeartbeatResult{
		IsCaughtUp:           req.CurrentMetadataOffset >= b.RegistrationOffset,
		IsFenced:             next == stateFenced || next == stateShutdownNow,
		InControlledShutdown: next == stateControlledShutdown,
		ShouldShutDown:       next == stateShutdownNow,
	}
	return recs, res, nil
}

// fenceRecords fences a broker (Kafka's handleBrokerFenced): it leaves
// the ISRs it is in, the partitions it led elect another leader from the
// ISR (NoLeader when none can lead), then the FenceBroker record.
func fenceRecords(cfg *Config, im *metadata.Image, b *metadata.Broker) []metadata.Record {
	recs := brokerLeaves(cfg, im, b.ID, false)
	return append(recs, metadata.Record{Type: metadata.TypeFenceBroker, FenceBroker: &metadata.FenceBrokerRecord{ID: b.ID, Epoch: b.Epoch}})
}

// unfenceRecords unfences a broker (Kafka's handleBrokerUnfenced): the
// UnfenceBroker record, then the partitions without a leader that it can
// lead elect it. It rejoins ISRs through its leaders' AlterPartition.
func unfenceRecords(cfg *Config, im *metadata.Image, b *metadata.Broker) []metadata.Record {
	recs := []metadata.Record{{Type: metadata.TypeUnfenceBroker, UnfenceBroker: &metadata.UnfenceBrokerRecord{ID: b.ID, Epoch: b.Epoch}}}
	accept := activeBrokers(im, metadata.NoLeader, b.ID)
	if b.InControlledShutdown {
		accept = activeBrokers(im, b.ID, metadata.NoLeader)
	}
	return append(recs, brokerReturns(cfg, im, b.ID, accept)...)
}

// controlledShutdownRecords starts a controlled shutdown (Kafka's
// handleBrokerInControlledShutdown): the BrokerRegistrationChange record,
// then the broker's leaderships move to other replicas and it leaves the
// ISRs.
func controlledShutdownRecords(cfg *Config, im *metadata.Image, b *metadata.Broker) []metadata.Record {
	recs := []metadata.Record{{Type: metadata.TypeBrokerRegistrationChange, BrokerRegistrationChange: &metadata.BrokerRegistrationChangeRecord{
		BrokerID: b.ID, BrokerEpoch: b.Epoch, InControlledShutdown: metadata.ChangeInControlledShutdown}}}
	return append(recs, brokerLeaves(cfg, im, b.ID, false)...)
}

// DecideFenceStale fences the unfenced broker whose session expired first
// (Kafka's maybeFenceOneStaleBroker): one broker per decision, so each
// fencing's leader elections see the previous ones. It returns the broker
// fenced, or no records when none is stale.
func DecideFenceStale(cfg *Config, im *metadata.Image, s *Sessions, now time.Time) ([]metadata.Record, int32) {
	id, ok := s.Stale(im, now)
	if !ok {
		return nil, -1
	}
	return fenceRecords(cfg, im, im.Broker(id)), id
}

// DecideUnregister decides an UnregisterBroker (API key 64; Kafka's
// handleBrokerUnregistered): the broker leaves every ISR, ELR and
// leadership, then the UnregisterBroker record.
func DecideUnregister(cfg *Config, im *metadata.Image, id int32) ([]metadata.Record, error) {
	b := im.Broker(id)
	if b == nil {
		return nil, errorf(kerr.BrokerIDNotRegistered, "Broker ID %d is not currently registered", id)
	}
	recs := brokerLeaves(cfg, im, id, true)
	return append(recs, metadata.Record{Type: metadata.TypeUnregisterBroker, UnregisterBroker: &metadata.UnregisterBrokerRecord{BrokerID: id, BrokerEpoch: b.Epoch}}), nil
}

// DecideAllocateProducerIDs hands broker id at epoch the next block of
// producer ids (Kafka's ProducerIdControlManager.generateNextProducerId):
// [first, first+n).
func DecideAllocateProducerIDs(cfg *Config, im *metadata.Image, id int32, epoch int64) ([]metadata.Record, int64, int64, error) {
	b := im.Broker(id)
	if b == nil {
		return nil, -1, 0, errorf(kerr.StaleBrokerEpoch, "No broker registration found for broker id %d", id)
	}
	if b.Epoch != epoch {
		return nil, -1, 0, errorf(kerr.StaleBrokerEpoch, "Expected broker epoch %d, but got broker epoch %d", b.Epoch, epoch)
	}
	first, n := im.NextProducerID, cfg.ProducerIDBlockSize
	if first > math.MaxInt64-n {
		return nil, -1, 0, errorf(kerr.UnknownServerError, "Exhausted all producerIds as the next block's end producerId has exceeded the int64 type limit")
	}
	rec := metadata.Record{Type: metadata.TypeProducerIDs, ProducerIDs: &metadata.ProducerIDsRecord{
		BrokerID: id, BrokerEpoch: epoch, NextProducerID: first + n,
	}}
	return []metadata.Record{rec}, first, n, nil
}
