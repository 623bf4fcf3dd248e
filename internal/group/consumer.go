package group

// The KIP-848 consumer group ("consumer" protocol): the coordinator
// computes the assignment itself (server-side assignors "uniform" and
// "range") and members reconcile towards it through
// ConsumerGroupHeartbeat.
//
// Epochs: the group epoch moves whenever membership, a subscription or
// the partition count of a subscribed topic changes; the target
// assignment is recomputed at once, so the assignment epoch follows it. A
// member reaches the target epoch in steps: first it is told to give up
// the partitions it must revoke (its epoch stays), and once a heartbeat
// shows it no longer owns them it gets the partitions nobody else still
// owns, and the new epoch. A partition is never handed to a member while
// another still owns it.
//
// Persistence (consumer_records.go): the group, its members and their
// target and current assignments are written to __consumer_offsets in
// Kafka's record schemas; Changes returns what a call changed, and
// RestoreConsumerGroup rebuilds the group on load, members keeping their
// epochs and assignments with their sessions restarted.

import (
	"fmt"
	"iter"
	"maps"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ConsumerConfig holds the settings of KIP-848 groups.
type ConsumerConfig struct {
	SessionTimeout    time.Duration // group.consumer.session.timeout.ms
	HeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	MaxSize           int           // group.consumer.max.size (0: unbounded)
	// NewMemberID returns a member id for ConsumerGroupHeartbeat v0, where
	// the coordinator chooses it (v1+ clients send their own).
	NewMemberID func() string
}

// TopicMeta is a topic as the metadata image knows it.
type TopicMeta struct {
	ID         [16]byte
	Name       string
	Partitions int32
}

// Assignment maps topic ids to sorted partitions.
type Assignment map[[16]byte][]int32

// Epochs maps topic ids and partitions to the member epoch at which the
// partition was assigned (KIP-1251's assignment epochs).
type Epochs map[[16]byte]map[int32]int32

func (e Epochs) get(topic [16]byte, p int32) (int32, bool) {
	v, ok := e[topic][p]
	return v, ok
}

func (e Epochs) set(topic [16]byte, p, epoch int32) {
	if e[topic] == nil {
		e[topic] = map[int32]int32{}
	}
	e[topic][p] = epoch
}

func (e Epochs) drop(a Assignment) {
	for id, ps := range a {
		for _, p := range ps {
			delete(e[id], p)
		}
		if len(e[id]) == 0 {
			delete(e, id)
		}
	}
}

// Heartbeat is a ConsumerGroupHeartbeat.
type CGHeartbeat struct {
	Version          int16
	MemberID         string
	Epoch            int32
	InstanceID       *string
	RackID           *string
	ClientID         string
	ClientHost       string
	RebalanceTimeout time.Duration
	Subscribed       []string // nil: unchanged
	Regex            *string  // nil: unchanged
	Assignor         *string
	Owned            Assignment // nil: unchanged
}

// CGResult is a ConsumerGroupHeartbeat answer.
type CGResult struct {
	Err        int16
	Msg        string
	MemberID   string
	Epoch      int32
	Assignment Assignment // nil: unchanged
}

// CGMember is one member of a consumer group.
type CGMember struct {
	ID               string
	InstanceID       *string
	RackID           *string
	ClientID         string
	ClientHost       string
	Epoch, prevEpoch int32
	Subscribed       []string
	Regex            string
	re               *regexp.Regexp // Regex compiled, anchored at both ends
	RebalanceTimeout time.Duration
	Assignor         *string    // the server assignor it asked for
	Assigned         Assignment // what the member was told it owns
	Pending          Assignment // revoked, not yet acknowledged
	// epochs holds the epoch each partition of Assigned and Pending was
	// assigned at: a commit with an older member epoch is accepted for
	// the partitions it already owned then (KIP-1251).
	epochs   Epochs
	expires  time.Time
	revokeBy time.Time
	dirty    bool // Assigned changed since last sent
}

// ConsumerGroup is one KIP-848 group.
type ConsumerGroup struct {
	ID              string
	cfg             *ConsumerConfig
	epoch           int32
	assignmentEpoch int32
	assignor        string
	members         map[string]*CGMember
	target          map[string]Assignment
	topicsHash      uint64 // hash of subscribed topics' ids and sizes when last assigned
	emptySince      time.Time

	// Persistence bookkeeping: the members a change touched (touchedAll:
	// every member, after a reassignment) and the value of each record
	// key as written (Changes diffs against it).
	touched    map[string]bool
	touchedAll bool
	written    map[string][]byte
}

// NewConsumerGroup returns an empty consumer group.
func NewConsumerGroup(id string, cfg *ConsumerConfig, now time.Time) *ConsumerGroup {
	return &ConsumerGroup{ID: id, cfg: cfg, assignor: "uniform", members: map[string]*CGMember{},
		target: map[string]Assignment{}, emptySince: now,
		touched: map[string]bool{}, written: map[string][]byte{}}
}

// Epoch and AssignmentEpoch are the group and target-assignment epochs.
func (g *ConsumerGroup) Epoch() int32           { return g.epoch }
func (g *ConsumerGroup) AssignmentEpoch() int32 { return g.assignmentEpoch }
func (g *ConsumerGroup) Assignor() string       { return g.assignor }
func (g *ConsumerGroup) EmptySince() time.Time  { return g.emptySince }

// Target returns a member's target assignment.
func (g *ConsumerGroup) Target(member string) Assignment { return g.target[member] }

// Members returns the members sorted by id.
func (g *ConsumerGroup) Members() []*CGMember {
	out := slices.Collect(maps.Values(g.members))
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// State is Kafka's ConsumerGroupState name: Empty, Reconciling or Stable
// (Assigning never shows: the target is computed synchronously).
func (g *ConsumerGroup) State() string {
	if len(g.members) == 0 {
		return "Empty"
	}
	for _, m := range g.members {
		if m.Epoch != g.assignmentEpoch || len(m.Pending) > 0 || !sameAssignment(m.Assigned, g.target[m.ID]) {
			return "Reconciling"
		}
	}
	return "Stable"
}

// Heartbeat handles a ConsumerGroupHeartbeat; topics is the current
// metadata by name.
func (g *ConsumerGroup) Heartbeat(now time.Time, req CGHeartbeat, topics map[string]TopicMeta) CGResult {
	if req.Epoch < 0 {
		return g.leave(now, req)
	}
	if req.Assignor != nil && *req.Assignor != "" && *req.Assignor != "uniform" && *req.Assignor != "range" {
		return CGResult{Err: kerr.UnsupportedAssignor.Code, Msg: "server assignors: uniform, range", MemberID: req.MemberID}
	}
	if req.Regex != nil {
		if _, err := compileRegex(*req.Regex); err != nil {
			// Kafka's Utils.throwIfRegularExpressionIsInvalid, before the
			// member is admitted or changed.
			return CGResult{Err: kerr.InvalidRegularExpression.Code, MemberID: req.MemberID, Epoch: req.Epoch,
				Msg: fmt.Sprintf("SubscribedTopicRegex `%s` is not a valid regular expression: %v.", *req.Regex, err)}
		}
	}
	m, res := g.admit(now, req)
	if res.Err != 0 {
		return res
	}
	g.touched[m.ID] = true
	g.update(m, req)
	m.expires = now.Add(g.cfg.SessionTimeout)
	g.maybeReassign(topics)
	resend := req.Epoch != 0 && req.Epoch == m.prevEpoch && req.Epoch != m.Epoch
	// A full request (rebalance timeout, subscription and owned partitions
	// all set) gets the assignment, as in Kafka: clients send one after an
	// error, when the answer that carried a new assignment may have been
	// lost (a dropped connection, a coordinator that died after writing
	// it); a keepalive would never tell them.
	full := req.RebalanceTimeout >= 0 && (req.Subscribed != nil || req.Regex != nil) && req.Owned != nil
	g.reconcile(now, m, req.Owned)
	res = CGResult{MemberID: m.ID, Epoch: m.Epoch}
	if m.dirty || resend || full || req.Epoch == 0 {
		res.Assignment = copyAssignment(m.Assigned)
		m.dirty = false
	}
	return res
}

// admit finds or creates the member and checks its epoch.
func (g *ConsumerGroup) admit(now time.Time, req CGHeartbeat) (*CGMember, CGResult) {
	fail := func(e *kerr.Error, msg string) (*CGMember, CGResult) {
		return nil, CGResult{Err: e.Code, Msg: msg, MemberID: req.MemberID, Epoch: req.Epoch}
	}
	if req.Epoch == 0 {
		id := req.MemberID
		if id == "" {
			if req.Version >= 1 {
				return fail(kerr.InvalidRequest, "MemberId must be set from version 1")
			}
			id = g.cfg.NewMemberID()
		}
		if req.Subscribed == nil && req.Regex == nil {
			return fail(kerr.InvalidRequest, "a joining member must subscribe")
		}
		if old := g.members[id]; old != nil {
			// Rejoining with epoch 0: start over, releasing what it had.
			g.removeMember(now, old)
		}
		if g.cfg.MaxSize > 0 && len(g.members) >= g.cfg.MaxSize {
			return fail(kerr.GroupMaxSizeReached, "")
		}
		// Subscription set here so that joining bumps the epoch once.
		m := &CGMember{ID: id, Assigned: Assignment{}, Pending: Assignment{}, epochs: Epochs{}}
		if req.Subscribed != nil {
			m.Subscribed = slices.Sorted(slices.Values(req.Subscribed))
		}
		if req.Regex != nil {
			m.setRegex(*req.Regex)
		}
		g.members[id] = m
		g.epoch++
		return m, CGResult{}
	}
	m := g.members[req.MemberID]
	if m == nil {
		return fail(kerr.UnknownMemberID, "")
	}
	if req.Epoch != m.Epoch && !(req.Epoch == m.prevEpoch && ownsSubset(req.Owned, m.Assigned)) {
		return fail(kerr.FencedMemberEpoch, "the member epoch is not the current one")
	}
	return m, CGResult{}
}

// ownsSubset: a member answering with its previous epoch lost our last
// answer; that is fine as long as it owns nothing it should not.
func ownsSubset(owned, assigned Assignment) bool {
	for id, ps := range owned {
		for _, p := range ps {
			if !slices.Contains(assigned[id], p) {
				return false
			}
		}
	}
	return true
}

// update applies the request's member fields; a changed subscription
// bumps the group epoch.
func (g *ConsumerGroup) update(m *CGMember, req CGHeartbeat) {
	m.ClientID, m.ClientHost = req.ClientID, req.ClientHost
	if req.InstanceID != nil { // null: unchanged
		m.InstanceID = req.InstanceID
	}
	if req.RackID != nil {
		m.RackID = req.RackID
	}
	if req.RebalanceTimeout > 0 {
		m.RebalanceTimeout = req.RebalanceTimeout
	}
	if req.Assignor != nil && *req.Assignor != "" {
		g.assignor = *req.Assignor
		a := *req.Assignor
		m.Assignor = &a
	}
	if req.Subscribed != nil {
		subs := slices.Sorted(slices.Values(req.Subscribed))
		if !slices.Equal(subs, m.Subscribed) {
			m.Subscribed = subs
			g.epoch++
		}
	}
	if req.Regex != nil && *req.Regex != m.Regex {
		m.setRegex(*req.Regex)
		g.epoch++
	}
}

// compileRegex compiles a SubscribedTopicRegex ("" = none). Like Kafka's
// RE2/J Matcher.matches, the whole topic name must match.
func compileRegex(s string) (*regexp.Regexp, error) {
	if s == "" {
		return nil, nil
	}
	if _, err := regexp.Compile(s); err != nil {
		return nil, err
	}
	return regexp.Compile("^(?:" + s + ")$")
}

// setRegex sets the member's regex, already validated by Heartbeat.
func (m *CGMember) setRegex(s string) {
	m.Regex = s
	m.re, _ = compileRegex(s)
}

// subscribedTopics resolves a member's names and regex against topics:
// every topic of the metadata, internal ones included. Kafka resolves a
// regex the same way (TopicRegexResolver scans every topic name of the
// metadata image, filtered only by the authorizer's DESCRIBE check), so a
// regex that matches __consumer_offsets is assigned its partitions; clients
// that must not see internal topics leave them out of their regex.
func (m *CGMember) subscribedTopics(topics map[string]TopicMeta) []TopicMeta {
	re := m.re
	var out []TopicMeta
	for name, t := range topics {
		if slices.Contains(m.Subscribed, name) || (re != nil && re.MatchString(name)) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// maybeReassign recomputes the target assignment when the group epoch
// moved or a subscribed topic changed.
func (g *ConsumerGroup) maybeReassign(topics map[string]TopicMeta) {
	key := ""
	for _, m := range g.Members() {
		for _, t := range m.subscribedTopics(topics) {
			key += fmt.Sprintf("%x:%d,", t.ID, t.Partitions)
		}
	}
	if h := hashTopics(key); h != g.topicsHash {
		g.topicsHash = h
		if g.assignmentEpoch == g.epoch {
			g.epoch++
		}
	}
	if g.assignmentEpoch == g.epoch {
		return
	}
	subs := map[string][]TopicMeta{}
	for _, m := range g.members {
		subs[m.ID] = m.subscribedTopics(topics)
	}
	if g.assignor == "range" {
		g.target = assignRange(subs)
	} else {
		g.target = assignUniform(subs, g.target)
	}
	g.assignmentEpoch = g.epoch
	g.touchedAll = true
}

// reconcile moves m towards its target: revoke first, then add what
// nobody else still owns.
func (g *ConsumerGroup) reconcile(now time.Time, m *CGMember, owned Assignment) {
	if len(m.Pending) > 0 && owned != nil && !intersects(owned, m.Pending) {
		m.epochs.drop(m.Pending)
		m.Pending = Assignment{}
		m.revokeBy = time.Time{}
	}
	if len(m.Pending) > 0 {
		return
	}
	target := g.target[m.ID]
	revoke := minus(m.Assigned, target)
	if len(revoke) > 0 {
		m.Pending = revoke
		m.Assigned = minus(m.Assigned, revoke)
		m.revokeBy = now.Add(max(m.RebalanceTimeout, time.Second))
		m.dirty = true
		return
	}
	for id, ps := range minus(target, m.Assigned) {
		for _, p := range ps {
			if !g.ownedByOther(m.ID, id, p) {
				m.Assigned[id] = insertSorted(m.Assigned[id], p)
				m.epochs.set(id, p, g.assignmentEpoch) // the epoch m moves to below
				m.dirty = true
			}
		}
	}
	if m.Epoch != g.assignmentEpoch {
		m.prevEpoch, m.Epoch = m.Epoch, g.assignmentEpoch
	}
}

func (g *ConsumerGroup) ownedByOther(self string, topic [16]byte, p int32) bool {
	for _, o := range g.members {
		if o.ID != self && (slices.Contains(o.Assigned[topic], p) || slices.Contains(o.Pending[topic], p)) {
			return true
		}
	}
	return false
}

// leave removes a member (epoch -1, or -2 for a static member's
// temporary leave, which samsa treats the same way).
func (g *ConsumerGroup) leave(now time.Time, req CGHeartbeat) CGResult {
	m := g.members[req.MemberID]
	if m == nil {
		return CGResult{Err: kerr.UnknownMemberID.Code, MemberID: req.MemberID, Epoch: req.Epoch}
	}
	g.removeMember(now, m)
	return CGResult{MemberID: req.MemberID, Epoch: req.Epoch}
}

func (g *ConsumerGroup) removeMember(now time.Time, m *CGMember) {
	delete(g.members, m.ID)
	delete(g.target, m.ID)
	g.touched[m.ID] = true
	g.epoch++
	if len(g.members) == 0 {
		g.emptySince = now
	}
}

// Deadline is when Tick must next run (zero: never).
func (g *ConsumerGroup) Deadline() time.Time {
	var d time.Time
	for _, m := range g.members {
		for _, t := range []time.Time{m.expires, m.revokeBy} {
			if !t.IsZero() && (d.IsZero() || t.Before(d)) {
				d = t
			}
		}
	}
	return d
}

// Tick removes members whose session ended or who did not revoke in time.
func (g *ConsumerGroup) Tick(now time.Time) {
	for _, m := range g.Members() {
		if !now.Before(m.expires) || (!m.revokeBy.IsZero() && !now.Before(m.revokeBy)) {
			g.removeMember(now, m)
		}
	}
}

// ValidateCommit checks an OffsetCommit's member id and epoch (the
// request's generation field) and the partitions it commits (topic id
// and partition), as Kafka 4.4's ConsumerGroup does: a member of this
// protocol must commit with v9 or later (UNSUPPORTED_VERSION); an epoch
// newer than the member's is STALE_MEMBER_EPOCH. An older one is checked
// per partition (KIP-1251): a member whose answer carrying a new epoch
// was lost (say, the coordinator died after writing it) still commits the
// partitions it owned at that epoch, and no zombie commit lands on a
// partition another member has owned since. One partition it did not own
// then makes the whole request STALE_MEMBER_EPOCH (Kafka's validator
// throws at the first).
func (g *ConsumerGroup) ValidateCommit(memberID string, epoch int32, version int16, parts iter.Seq2[[16]byte, int32]) int16 {
	if epoch < 0 && len(g.members) == 0 {
		return 0
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if version < 9 {
		return kerr.UnsupportedVersion.Code
	}
	switch {
	case epoch == m.Epoch:
		return 0
	case epoch > m.Epoch:
		return kerr.StaleMemberEpoch.Code
	}
	for topic, p := range parts {
		if at, ok := m.epochs.get(topic, p); !ok || epoch < at {
			return kerr.StaleMemberEpoch.Code // not owned, or assigned after epoch
		}
	}
	return 0
}

// ValidateFetch checks an OffsetFetch's member id and epoch: the epoch
// must be the member's own (Kafka's validateOffsetFetch).
func (g *ConsumerGroup) ValidateFetch(memberID string, epoch int32) int16 {
	if epoch < 0 && len(g.members) == 0 {
		return 0
	}
	m := g.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case epoch != m.Epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// Empty reports whether the group has no members.
func (g *ConsumerGroup) Empty() bool { return len(g.members) == 0 }

// SubscribedTopics returns every topic name some member subscribes to by
// name (OffsetDelete's check).
func (g *ConsumerGroup) SubscribedTopics() map[string]bool {
	out := map[string]bool{}
	for _, m := range g.members {
		for _, t := range m.Subscribed {
			out[t] = true
		}
	}
	return out
}

func copyAssignment(a Assignment) Assignment {
	out := Assignment{}
	for id, ps := range a {
		if len(ps) > 0 {
			out[id] = slices.Clone(ps)
		}
	}
	return out
}

func minus(a, b Assignment) Assignment {
	out := Assignment{}
	for id, ps := range a {
		for _, p := range ps {
			if !slices.Contains(b[id], p) {
				out[id] = append(out[id], p)
			}
		}
	}
	return out
}

func intersects(a, b Assignment) bool {
	for id, ps := range a {
		for _, p := range ps {
			if slices.Contains(b[id], p) {
				return true
			}
		}
	}
	return false
}

func sameAssignment(a, b Assignment) bool {
	return len(minus(a, b)) == 0 && len(minus(b, a)) == 0
}

func insertSorted(ps []int32, p int32) []int32 {
	i, _ := slices.BinarySearch(ps, p)
	return slices.Insert(ps, i, p)
}
