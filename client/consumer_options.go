package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ConsumerOpt is an option of NewConsumer: a client Option or a
// ConsumerOption.
type ConsumerOpt interface{ applyConsumer(*consumerConfig) }

// ConsumerOption configures a Consumer.
type ConsumerOption func(*consumerConfig)

func (o ConsumerOption) applyConsumer(c *consumerConfig) { o(c) }
func (o Option) applyConsumer(c *consumerConfig)         { o(&c.client) }

// GroupProtocol selects the group membership protocol.
type GroupProtocol string

const (
	// GroupProtocolClassic is JoinGroup/SyncGroup/Heartbeat with
	// client-side assignors.
	GroupProtocolClassic GroupProtocol = "classic"
	// GroupProtocolConsumer is KIP-848: ConsumerGroupHeartbeat with a
	// server-side assignor.
	GroupProtocolConsumer GroupProtocol = "consumer"
)

// AssignmentCallback is told which partitions the group gave or took.
// It runs on the group goroutine: while it runs, the group does not
// rejoin or heartbeat, so keep it shorter than the session timeout.
type AssignmentCallback func(ctx context.Context, c *Consumer, parts []TopicPartition)

type consumerConfig struct {
	client config

	topics      []string
	partitions  map[string]map[int32]Offset
	startOffset Offset // ConsumeTopics without a committed offset
	resetOffset Offset // auto.offset.reset

	fetchMaxWait      time.Duration
	fetchMinBytes     int32
	fetchMaxBytes     int32
	partitionMaxBytes int32
	readCommitted     bool
	maxDecompressed   int

	group              string
	instanceID         *string
	protocol           GroupProtocol
	balancers          []GroupBalancer
	serverAssignor     string
	sessionTimeout     time.Duration
	rebalanceTimeout   time.Duration
	heartbeatInterval  time.Duration
	autoCommit         bool
	autoCommitInterval time.Duration
	onAssigned         AssignmentCallback
	onRevoked          AssignmentCallback
	onLost             AssignmentCallback
}

func defaultConsumerConfig() consumerConfig {
	return consumerConfig{
		client:             defaultConfig(),
		startOffset:        AtStart(),
		resetOffset:        AtStart(),
		fetchMaxWait:       500 * time.Millisecond,
		fetchMinBytes:      1,
		fetchMaxBytes:      50 << 20,
		partitionMaxBytes:  1 << 20,
		maxDecompressed:    128 << 20,
		protocol:           GroupProtocolClassic,
		sessionTimeout:     45 * time.Second,
		rebalanceTimeout:   60 * time.Second,
		heartbeatInterval:  3 * time.Second,
		autoCommit:         true,
		autoCommitInterval: 5 * time.Second,
	}
}

func (c *consumerConfig) validate() error {
	if c.group == "" && len(c.topics) == 0 && len(c.partitions) == 0 {
		return errors.New("samsa/client: consumer needs ConsumeTopics or ConsumePartitions")
	}
	if c.group != "" {
		if len(c.partitions) > 0 {
			return errors.New("samsa/client: ConsumePartitions cannot be used with ConsumerGroup")
		}
		if len(c.topics) == 0 {
			return errors.New("samsa/client: a group consumer needs ConsumeTopics")
		}
		if len(c.balancers) == 0 {
			c.balancers = []GroupBalancer{CooperativeStickyBalancer(), RangeBalancer()}
		}
		if c.heartbeatInterval <= 0 || c.heartbeatInterval >= c.sessionTimeout {
			return fmt.Errorf("samsa/client: heartbeat interval %v must be below the session timeout %v", c.heartbeatInterval, c.sessionTimeout)
		}
		if c.protocol != GroupProtocolClassic && c.protocol != GroupProtocolConsumer {
			return fmt.Errorf("samsa/client: unknown group protocol %q", c.protocol)
		}
	}
	if c.fetchMaxBytes < 1 || c.partitionMaxBytes < 1 {
		return errors.New("samsa/client: fetch sizes must be positive")
	}
	return nil
}

// ConsumeTopics consumes every partition of topics (in group mode: the
// group's subscription).
func ConsumeTopics(topics ...string) ConsumerOption {
	return func(c *consumerConfig) { c.topics = append(c.topics, topics...) }
}

// ConsumePartitions consumes the given partitions from the given offsets
// (assign mode; not with ConsumerGroup).
func ConsumePartitions(parts map[string]map[int32]Offset) ConsumerOption {
	return func(c *consumerConfig) {
		if c.partitions == nil {
			c.partitions = make(map[string]map[int32]Offset)
		}
		for t, ps := range parts {
			if c.partitions[t] == nil {
				c.partitions[t] = make(map[int32]Offset)
			}
			for p, o := range ps {
				c.partitions[t][p] = o
			}
		}
	}
}

// ConsumeStartOffset is where ConsumeTopics partitions start when there is
// no committed offset. Default AtStart.
func ConsumeStartOffset(o Offset) ConsumerOption {
	return func(c *consumerConfig) { c.startOffset = o }
}

// ConsumeResetOffset is where a partition whose position is out of range
// goes (auto.offset.reset); NoReset makes it an error. Default AtStart.
func ConsumeResetOffset(o Offset) ConsumerOption {
	return func(c *consumerConfig) { c.resetOffset = o }
}

// FetchMaxWait is how long the broker may hold a Fetch for FetchMinBytes.
// Default 500ms.
func FetchMaxWait(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) { c.fetchMaxWait = d }
}

// FetchMinBytes is the data a broker waits for before answering. Default 1.
func FetchMinBytes(n int32) ConsumerOption { return func(c *consumerConfig) { c.fetchMinBytes = n } }

// FetchMaxBytes caps one Fetch response (the broker still returns one
// whole batch if it is larger). Default 50 MiB.
func FetchMaxBytes(n int32) ConsumerOption { return func(c *consumerConfig) { c.fetchMaxBytes = n } }

// FetchMaxPartitionBytes caps one partition's data per Fetch. Default 1 MiB.
func FetchMaxPartitionBytes(n int32) ConsumerOption {
	return func(c *consumerConfig) { c.partitionMaxBytes = n }
}

// ReadCommitted fetches only committed transactional records (isolation
// level read_committed; records of aborted transactions are skipped).
// Default read_uncommitted.
func ReadCommitted() ConsumerOption { return func(c *consumerConfig) { c.readCommitted = true } }

// ConsumerGroup makes the consumer a member of group, consuming the
// ConsumeTopics subscription.
func ConsumerGroup(group string) ConsumerOption { return func(c *consumerConfig) { c.group = group } }

// InstanceID makes the member static (KIP-345).
func InstanceID(id string) ConsumerOption { return func(c *consumerConfig) { c.instanceID = &id } }

// WithGroupProtocol picks the classic protocol (default) or KIP-848.
func WithGroupProtocol(p GroupProtocol) ConsumerOption {
	return func(c *consumerConfig) { c.protocol = p }
}

// Balancers sets the classic protocol's assignors in order of preference.
// Default CooperativeStickyBalancer, RangeBalancer.
func Balancers(bs ...GroupBalancer) ConsumerOption {
	return func(c *consumerConfig) { c.balancers = bs }
}

// ServerAssignor names the KIP-848 server-side assignor ("uniform",
// "range"); default: the broker's.
func ServerAssignor(name string) ConsumerOption {
	return func(c *consumerConfig) { c.serverAssignor = name }
}

// SessionTimeout is the time without heartbeat after which the coordinator
// evicts the member. Default 45s.
func SessionTimeout(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) { c.sessionTimeout = d }
}

// RebalanceTimeout is how long the coordinator waits for members to
// rejoin. Default 60s.
func RebalanceTimeout(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) { c.rebalanceTimeout = d }
}

// HeartbeatInterval is the classic protocol's heartbeat period (KIP-848
// takes the broker's). Default 3s.
func HeartbeatInterval(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) { c.heartbeatInterval = d }
}

// AutoCommit commits positions every interval, on revocation and on Close.
// What is committed is the position as of the latest Poll call, i.e. the
// records of earlier Polls (at-least-once). Default on, every 5s; 0 turns it
// off (commit with CommitOffsets / CommitRecords / CommitPolled).
func AutoCommit(interval time.Duration) ConsumerOption {
	return func(c *consumerConfig) { c.autoCommit, c.autoCommitInterval = interval > 0, interval }
}

// OnAssigned is called with partitions the group gave this member.
func OnAssigned(fn AssignmentCallback) ConsumerOption {
	return func(c *consumerConfig) { c.onAssigned = fn }
}

// OnRevoked is called with partitions taken away in a rebalance, before
// they are given to another member: commit here if not auto-committing.
func OnRevoked(fn AssignmentCallback) ConsumerOption {
	return func(c *consumerConfig) { c.onRevoked = fn }
}

// OnLost is called with partitions lost without a clean revocation (the
// coordinator fenced the member, or its session timed out); committing them
// is no longer possible: until the group assigns them to this member again,
// commits of them fail with ErrAssignmentLost. Default: OnRevoked's
// function is not called for them.
func OnLost(fn AssignmentCallback) ConsumerOption {
	return func(c *consumerConfig) { c.onLost = fn }
}
