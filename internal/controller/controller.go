// Package controller makes the cluster's metadata decisions: it validates
// admin requests (create/delete topics, add partitions, alter configs,
// register brokers, allocate producer ids), turns each accepted change into
// metadata records, makes the records durable in the metadata log, applies
// them to the image and publishes the new image to listeners, in log order.
//
// This is the single-node controller: its log is a local FileLog. In cluster
// mode the log becomes the Raft quorum; the decisions and records stay.
package controller

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/uuid"
)

// Log is where records become durable before they are applied.
type Log interface {
	Append(recs []metadata.Record) error
}

// Config configures a Controller.
type Config struct {
	// NodeID is this node's id.
	NodeID int32
	// DefaultPartitions and DefaultReplicationFactor apply when a request
	// asks for -1 (num.partitions, default.replication.factor).
	DefaultPartitions        int32
	DefaultReplicationFactor int16
	// ValidateTopicConfig checks one topic config (nil: accept everything).
	ValidateTopicConfig func(name, value string) error
	// DeleteTopicEnable mirrors delete.topic.enable.
	DeleteTopicEnable bool
	// ProducerIDBlockSize is how many producer ids one allocation hands out.
	ProducerIDBlockSize int64
}

// Listener receives every published image, in order, with the records
// that produced it. It runs under the controller's write lock: it must not
// call back into the controller.
type Listener func(prev, next *metadata.Image, recs []metadata.Record)

// Controller serializes metadata changes.
type Controller struct {
	cfg Config
	log Log

	mu        sync.Mutex // mu serializes writes (validate → append → apply → publish)
	listeners []Listener // mu guards listeners

	image atomic.Pointer[metadata.Image]
}

// New returns a controller whose image is the replay of recs (read from the log).
func New(cfg Config, log Log, recs []metadata.Record) *Controller {
	if cfg.ProducerIDBlockSize <= 0 {
		cfg.ProducerIDBlockSize = 1000
	}
	c := &Controller{cfg: cfg, log: log}
	c.image.Store(metadata.Empty().Apply(recs...))
	return c
}

// Image returns the current image.
func (c *Controller) Image() *metadata.Image { return c.image.Load() }

// Subscribe adds a listener and calls it once with the current image
// (prev nil), so it starts from a known state.
func (c *Controller) Subscribe(l Listener) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners = append(c.listeners, l)
	l(nil, c.image.Load(), nil)
}

// commitLocked makes recs durable, applies and publishes them.
func (c *Controller) commitLocked(recs []metadata.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := c.log.Append(recs); err != nil {
		return fmt.Errorf("controller: metadata log: %w", err)
	}
	prev := c.image.Load()
	next := prev.Apply(recs...)
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

// RegisterBroker records this process's broker registration.
func (c *Controller) RegisterBroker(id int32, endpoints []metadata.Endpoint, rack *string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	epoch := c.image.Load().Offset
	rec := metadata.Record{Type: metadata.TypeRegisterBroker, RegisterBroker: &metadata.RegisterBrokerRecord{
		BrokerID: id, IncarnationID: NewUuid(), BrokerEpoch: epoch, Endpoints: endpoints, Rack: rack,
	}}
	return epoch, c.commitLocked([]metadata.Record{rec})
}

// AllocateProducerIDs hands out a block of producer ids: [first, first+n).
func (c *Controller) AllocateProducerIDs(broker int32) (first, n int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	first = c.image.Load().NextProducerID
	n = c.cfg.ProducerIDBlockSize
	rec := metadata.Record{Type: metadata.TypeProducerIDs, ProducerIDs: &metadata.ProducerIDsRecord{
		BrokerID: broker, NextProducerID: first + n,
	}}
	return first, n, c.commitLocked([]metadata.Record{rec})
}
