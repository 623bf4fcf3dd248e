// Package controller makes the cluster's metadata decisions, Kafka's
// QuorumController way: every change is decided by a pure function of the
// current metadata image (and, where time matters, of a `now` passed in)
// that returns the records to commit and the per-request result, with the
// exact Kafka error code when the request is refused. The decisions (the
// Decide* functions in topics.go and brokers.go, alterpartition.go (the
// leaders' ISR changes), elect.go (ElectLeaders) and reassign.go, with
// placement.go and election.go; the broker session tracker in
// sessions.go) do no I/O, start no goroutine and read no clock.
//
// Controller is the thin serializer over them: lock → decide → make the
// batch durable in the log → apply it to the image → publish the image to
// listeners, in log order. On a single node the log is the local FileLog;
// in cluster mode it becomes the Raft quorum (propose, wait until applied)
// and the decisions stay as they are.
package controller

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/uuid"
)

// Log is where records become durable before they are applied. A Log
// whose Append takes a batch as one entry (the Raft log) also implements
// BatchLog; otherwise every record is an entry of its own (the
// single-node FileLog) and the image's Offset counts records.
type Log interface {
	Append(recs []metadata.Record) error
}

// BatchLog is a Log whose entries are whole batches: AppendBatch returns
// the index of the entry the batch became.
type BatchLog interface {
	AppendBatch(recs []metadata.Record) (index int64, err error)
}

// Kafka's defaults for the broker lifecycle.
const (
	// DefaultSessionTimeout is broker.session.timeout.ms: a broker with no
	// heartbeat for this long is fenced.
	DefaultSessionTimeout = 9 * time.Second
	// DefaultHeartbeatInterval is broker.heartbeat.interval.ms: how often a
	// broker sends BrokerHeartbeat.
	DefaultHeartbeatInterval = 2 * time.Second
	// DefaultLeaderImbalanceCheckInterval is leader.imbalance.check.interval.seconds.
	DefaultLeaderImbalanceCheckInterval = 300 * time.Second
	// DefaultLeaderImbalancePerBrokerPercentage is leader.imbalance.per.broker.percentage.
	DefaultLeaderImbalancePerBrokerPercentage = 10
	// DefaultProducerIDBlockSize is Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE.
	DefaultProducerIDBlockSize = 1000
)

// Config holds the rules the decisions follow.
type Config struct {
	// NodeID is this node's id.
	NodeID int32
	// ClusterID, when set, must match a registering broker's cluster id.
	ClusterID string
	// DefaultPartitions and DefaultReplicationFactor apply when a request
	// asks for -1 (num.partitions, default.replication.factor).
	DefaultPartitions        int32
	DefaultReplicationFactor int16
	// ValidateTopicConfig checks one topic config (nil: accept everything).
	ValidateTopicConfig func(name, value string) error
	// ValidateBrokerConfigs checks the whole set of dynamic configs one
	// BROKER resource would hold (perBroker: it names a broker; otherwise
	// it is the cluster default). Nil: dynamic broker configs are refused.
	ValidateBrokerConfigs func(next map[string]string, perBroker bool) error
	// DeleteTopicEnable mirrors delete.topic.enable.
	DeleteTopicEnable bool
	// ProducerIDBlockSize is how many producer ids one allocation hands out.
	ProducerIDBlockSize int64
	// SessionTimeout is broker.session.timeout.ms (0: DefaultSessionTimeout).
	SessionTimeout time.Duration
	// AutoLeaderRebalance is auto.leader.rebalance.enable (Kafka's default
	// is true): Tick moves leadership back to preferred replicas every
	// LeaderImbalanceCheckInterval when a broker's share of partitions led
	// by others exceeds LeaderImbalancePerBrokerPercentage.
	AutoLeaderRebalance                bool
	LeaderImbalanceCheckInterval       time.Duration // 0: DefaultLeaderImbalanceCheckInterval
	LeaderImbalancePerBrokerPercentage int           // leader.imbalance.per.broker.percentage (10)
	// MinInsyncReplicas and UncleanLeaderElection are the broker defaults
	// of min.insync.replicas (1) and unclean.leader.election.enable
	// (false), which a topic's dynamic configs override. TopicReplication,
	// when set, replaces them: it returns both for a topic's dynamic
	// configs (the broker resolves them with its own defaults).
	MinInsyncReplicas     int
	UncleanLeaderElection bool
	TopicReplication      func(overrides map[string]string) (minISR int, unclean bool)
	// NewID returns topic and incarnation ids (nil: NewUuid). Tests make it
	// deterministic.
	NewID func() metadata.Uuid
	// Now is the clock of the convenience methods that take no time
	// (RegisterBroker); nil: time.Now. The decisions never read it.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.ProducerIDBlockSize <= 0 {
		c.ProducerIDBlockSize = DefaultProducerIDBlockSize
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.LeaderImbalanceCheckInterval <= 0 {
		c.LeaderImbalanceCheckInterval = DefaultLeaderImbalanceCheckInterval
	}
	if c.NewID == nil {
		c.NewID = NewUuid
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Listener receives every published image, in order, with the records
// that produced it. It runs under the controller's write lock: it must not
// call back into the controller.
type Listener func(prev, next *metadata.Image, recs []metadata.Record)

// Controller serializes metadata changes.
type Controller struct {
	cfg Config
	log Log

	mu            sync.Mutex // mu serializes writes (decide → append → apply → publish)
	listeners     []Listener // mu guards listeners, sessions, nextRebalance
	sessions      *Sessions
	nextRebalance time.Time

	image atomic.Pointer[metadata.Image] // without pub

	// prop and pub, in cluster mode (NewCommitted): the metadata log
	// applies committed batches to pub, and commitLocked proposes.
	prop Proposer
	pub  *metadata.Publisher
}

// Proposer is the Raft quorum seen from the active controller: Propose
// returns once the batch is committed and applied to the Publisher the
// controller reads, so the next decision sees it. It fails with a
// NOT_CONTROLLER *Error when this node does not lead (or stops leading
// before the batch commits: then it may still commit).
type Proposer interface {
	Propose(recs []metadata.Record) (index int64, err error)
}

// NewCommitted returns the controller of a node in a quorum: it decides
// on pub's image, which the metadata log keeps current on every node, and
// commits through prop. Only the active controller (the leader) decides;
// elsewhere prop refuses.
func NewCommitted(cfg Config, prop Proposer, pub *metadata.Publisher) *Controller {
	cfg.setDefaults()
	return &Controller{cfg: cfg, prop: prop, pub: pub, sessions: NewSessions(cfg.SessionTimeout)}
}

// Proposer returns the controller's proposer (nil without one).
func (c *Controller) Proposer() Proposer { return c.prop }

// current is the image decisions are made on.
func (c *Controller) current() *metadata.Image {
	if c.pub != nil {
		return c.pub.Image()
	}
	return c.image.Load()
}

// New returns a controller whose image is the replay of recs (read from
// the log, one record per entry). Broker sessions start empty: call
// Activate when this node becomes the active controller.
func New(cfg Config, log Log, recs []metadata.Record) *Controller {
	return NewFromImage(cfg, log, metadata.Empty().Apply(recs...))
}

// NewFromImage returns a controller that starts from im (a restored
// snapshot with its tail applied).
func NewFromImage(cfg Config, log Log, im *metadata.Image) *Controller {
	cfg.setDefaults()
	c := &Controller{cfg: cfg, log: log, sessions: NewSessions(cfg.SessionTimeout)}
	c.image.Store(im)
	return c
}

// Image returns the current image.
func (c *Controller) Image() *metadata.Image { return c.current() }

// Subscribe adds a listener and calls it once with the current image
// (prev nil), so it starts from a known state.
func (c *Controller) Subscribe(l Listener) {
	if c.pub != nil {
		c.pub.Subscribe(metadata.Listener(l))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners = append(c.listeners, l)
	l(nil, c.current(), nil)
}

// commitLocked makes recs durable, applies and publishes them.
func (c *Controller) commitLocked(recs []metadata.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if c.prop != nil {
		_, err := c.prop.Propose(recs)
		return err
	}
	prev := c.current()
	var next *metadata.Image
	if bl, ok := c.log.(BatchLog); ok {
		index, err := bl.AppendBatch(recs)
		if err != nil {
			return fmt.Errorf("controller: metadata log: %w", err)
		}
		if next, err = prev.ApplyBatch(index, recs); err != nil {
			return fmt.Errorf("controller: %w", err)
		}
	} else {
		if err := c.log.Append(recs); err != nil {
			return fmt.Errorf("controller: metadata log: %w", err)
		}
		next = prev.Apply(recs...)
	}
	c.image.Store(next)
	for _, l := range c.listeners {
		l(prev, next, recs)
	}
	return nil
}

// Error is a Kafka error code with a message for the client.
type Error struct {
	Code    *kerr.Error
	Message string
}

func (e *Error) Error() string { return e.Code.Message + ": " + e.Message }

func errorf(code *kerr.Error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the Kafka error code for err (0 for nil).
func CodeOf(err error) int16 {
	if err == nil {
		return 0
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code.Code
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// MessageOf returns the client-facing message for err (nil for nil).
func MessageOf(err error) *string {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return &ce.Message
	}
	s := err.Error()
	return &s
}

// NewUuid returns a random Kafka UUID (uuid.Random: never the reserved zero
// or one ids, never one whose base64 starts with '-').
func NewUuid() metadata.Uuid { return uuid.Random() }
