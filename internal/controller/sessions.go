package controller

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
)

// Sessions tracks broker sessions on the active controller, as Kafka's
// BrokerHeartbeatManager does: the last heartbeat of each broker epoch and
// the metadata offset it reported. It is the controller's own state, not
// part of the image (a new active controller starts afresh with Adopt),
// and it is pure: time comes in as a parameter.
//
// An unfenced broker whose last contact is older than the session timeout
// is stale and gets fenced (Stale); a broker whose session is valid keeps
// its id against a registration from another incarnation
// (DUPLICATE_BROKER_REGISTRATION).
type Sessions struct {
	timeout time.Duration
	m       map[int32]*session
}

type session struct {
	epoch       int64
	lastContact time.Time
	// offset is the metadata offset the broker last reported (-1: none yet).
	offset int64
	// confirmed: the broker itself contacted this controller (registration
	// or heartbeat). Sessions granted by Adopt are not: they keep a broker
	// from being fenced before it can reach a new controller, but they are
	// no evidence that another process holds the id.
	confirmed bool
}

// NewSessions returns an empty tracker with the given session timeout.
func NewSessions(timeout time.Duration) *Sessions {
	return &Sessions{timeout: timeout, m: map[int32]*session{}}
}

// Timeout returns the session timeout.
func (s *Sessions) Timeout() time.Duration { return s.timeout }

// Adopt gives every unfenced broker of the image that has no session for
// its current epoch a fresh, unconfirmed one starting now (Kafka's
// ClusterControlManager.activate), and drops the sessions of brokers no
// longer registered.
func (s *Sessions) Adopt(im *metadata.Image, now time.Time) {
	for id := range s.m {
		if im.Broker(id) == nil {
			delete(s.m, id)
		}
	}
	for _, b := range im.Brokers() {
		if b.Fenced {
			continue
		}
		if ss := s.m[b.ID]; ss == nil || ss.epoch != b.Epoch {
			s.m[b.ID] = &session{epoch: b.Epoch, lastContact: now, offset: -1}
		}
	}
}

// touch records contact from broker id at epoch.
func (s *Sessions) touch(id int32, epoch int64, now time.Time, offset int64) {
	s.m[id] = &session{epoch: epoch, lastContact: now, offset: offset, confirmed: true}
}

// Remove forgets a broker's session.
func (s *Sessions) Remove(id int32) { delete(s.m, id) }

func (s *Sessions) current(im *metadata.Image, id int32) *session {
	b := im.Broker(id)
	ss := s.m[id]
	if b == nil || ss == nil || ss.epoch != b.Epoch {
		return nil
	}
	return ss
}

// Valid reports whether broker id has a live session (Kafka's
// hasValidSession): unfenced, and heard from within the session timeout.
func (s *Sessions) Valid(im *metadata.Image, id int32, now time.Time) bool {
	ss := s.current(im, id)
	return ss != nil && !im.Broker(id).Fenced && !now.After(ss.lastContact.Add(s.timeout))
}

// confirmedValid is Valid for a session the broker itself established.
func (s *Sessions) confirmedValid(im *metadata.Image, id int32, now time.Time) bool {
	return s.Valid(im, id, now) && s.m[id].confirmed
}

// Stale returns the unfenced broker whose session expired first, if any
// (Kafka's findOneStaleBroker). Unfenced brokers without a session are
// not stale: Adopt gives them one.
func (s *Sessions) Stale(im *metadata.Image, now time.Time) (int32, bool) {
	best, found := int32(-1), false
	var oldest time.Time
	for _, b := range im.Brokers() {
		ss := s.current(im, b.ID)
		if b.Fenced || ss == nil || !now.After(ss.lastContact.Add(s.timeout)) {
			continue
		}
		if !found || ss.lastContact.Before(oldest) {
			best, oldest, found = b.ID, ss.lastContact, true
		}
	}
	return best, found
}

// NextExpiry returns when the first unfenced broker's session expires.
func (s *Sessions) NextExpiry(im *metadata.Image) (time.Time, bool) {
	var next time.Time
	found := false
	for _, b := range im.Brokers() {
		ss := s.current(im, b.ID)
		if b.Fenced || ss == nil {
			continue
		}
		if t := ss.lastContact.Add(s.timeout); !found || t.Before(next) {
			next, found = t, true
		}
	}
	return next, found
}

// lowestActiveOffset is the smallest metadata offset reported by an active
// broker (unfenced, not in controlled shutdown; -1 for one that has not
// reported), MaxInt64 with none: a broker in controlled shutdown may stop
// once every active broker has applied its leadership moves.
func (s *Sessions) lowestActiveOffset(im *metadata.Image) int64 {
	low := int64(math.MaxInt64)
	for _, b := range im.Brokers() {
		if !b.Active() {
			continue
		}
		off := int64(-1)
		if ss := s.current(im, b.ID); ss != nil {
			off = ss.offset
		}
		low = min(low, off)
	}
	return low
}

// Describe lists the tracked sessions (for tests and the CLI), by broker id.
func (s *Sessions) Describe() []SessionInfo {
	out := make([]SessionInfo, 0, len(s.m))
	for id, ss := range s.m {
		out = append(out, SessionInfo{BrokerID: id, BrokerEpoch: ss.epoch, LastContact: ss.lastContact,
			MetadataOffset: ss.offset, Confirmed: ss.confirmed})
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return cmp.Compare(a.BrokerID, b.BrokerID) })
	return out
}

// SessionInfo is one tracked broker session.
type SessionInfo struct {
	BrokerID       int32
	BrokerEpoch    int64
	LastContact    time.Time
	MetadataOffset int64
	Confirmed      bool
}
