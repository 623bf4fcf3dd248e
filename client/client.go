// Package client is samsa's Kafka client: a core shared by the producer (and
// later the consumer and admin) that talks to samsa and to Apache Kafka alike.
//
// The core keeps one pipelined connection per broker, negotiates request
// versions with ApiVersions on every connection (the user never names a
// Kafka version), and caches metadata for the topics in use, refreshing it on
// errors and on a timer. Every blocking call takes a context.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client is the connection and metadata core. It is safe for concurrent use.
type Client struct {
	cfg config

	// mu guards the following.
	mu       sync.Mutex
	brokers  map[int32]*brokerEntry // by node id; seeds have ids -1, -2, ...
	topics   map[string]struct{}    // topics whose metadata we keep
	metaWake chan struct{}          // cap 1: asks the metadata goroutine to refresh

	// closed is set once by Close. It is atomic, not under mu, because
	// connect reads it while holding a broker's mu, and the lock order is
	// Client.mu → brokerEntry.mu (installMetadata and learnBroker take a
	// broker's mu under Client.mu): reading it under mu there deadlocked.
	closed atomic.Bool

	// meta is the latest metadata snapshot; metaMu guards meta and
	// metaChanged (closed and replaced on every update, a broadcast).
	metaMu      sync.Mutex
	meta        *Metadata
	metaChanged chan struct{}

	stop chan struct{}
	done chan struct{}
}

type brokerEntry struct {
	id   int32
	addr string
	// mu serializes dialing; conn is the current connection (nil or dead
	// until dialed). lanes are the producer's extra connections to the
	// broker (lane k ≥ 1 is lanes[k-1]; lane 0 is conn), see
	// ProduceConnections.
	mu    sync.Mutex
	conn  *conn
	lanes []*conn
}

// killConns closes every connection to the broker; b.mu must be held.
func (b *brokerEntry) killConns(err error, async bool) {
	for _, c := range append([]*conn{b.conn}, b.lanes...) {
		if c == nil {
			continue
		}
		if async {
			go c.kill(err)
		} else {
			c.kill(err)
		}
	}
}

// Metadata is an immutable snapshot of the cluster as the client knows it.
type Metadata struct {
	Brokers map[int32]string // node id → host:port
	Topics  map[string]*TopicMetadata
	At      time.Time
}

// TopicMetadata is one topic's partitions.
type TopicMetadata struct {
	Err        error    // topic-level error, e.g. UNKNOWN_TOPIC_OR_PARTITION
	ID         [16]byte // topic id (Metadata v10+); zero if the broker sent none
	Partitions []PartitionMetadata
}

// PartitionMetadata is one partition's leader.
type PartitionMetadata struct {
	Leader      int32 // -1 if none
	LeaderEpoch int32
	Err         error
}

// New creates a client. It does not connect until a request needs it.
func New(opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newClient(cfg), nil
}

func newClient(cfg config) *Client {
	cl := &Client{
		cfg:         cfg,
		brokers:     make(map[int32]*brokerEntry),
		topics:      make(map[string]struct{}),
		metaWake:    make(chan struct{}, 1),
		meta:        &Metadata{Brokers: map[int32]string{}, Topics: map[string]*TopicMetadata{}},
		metaChanged: make(chan struct{}),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	for i, s := range cfg.seeds {
		id := int32(-1 - i)
		cl.brokers[id] = &brokerEntry{id: id, addr: s}
	}
	go cl.metadataLoop()
	return cl
}

// Close closes every connection and stops the metadata goroutine.
func (cl *Client) Close() {
	cl.mu.Lock()
	if cl.closed.Load() {
		cl.mu.Unlock()
		return
	}
	cl.closed.Store(true)
	brokers := make([]*brokerEntry, 0, len(cl.brokers))
	for _, b := range cl.brokers {
		brokers = append(brokers, b)
	}
	cl.mu.Unlock()
	close(cl.stop)
	<-cl.done
	for _, b := range brokers {
		b.mu.Lock()
		b.killConns(ErrClosed, false)
		b.mu.Unlock()
	}
}

// Metadata returns the current snapshot (possibly empty).
func (cl *Client) Metadata() *Metadata {
	cl.metaMu.Lock()
	defer cl.metaMu.Unlock()
	return cl.meta
}

// metadataWait returns the snapshot and a channel closed when it changes.
func (cl *Client) metadataWait() (*Metadata, <-chan struct{}) {
	cl.metaMu.Lock()
	defer cl.metaMu.Unlock()
	return cl.meta, cl.metaChanged
}

// AddTopics makes the client keep metadata for topics and triggers a
// refresh if any is new.
func (cl *Client) AddTopics(topics ...string) {
	cl.mu.Lock()
	added := false
	for _, t := range topics {
		if _, ok := cl.topics[t]; !ok {
			cl.topics[t] = struct{}{}
			added = true
		}
	}
	cl.mu.Unlock()
	if added {
		cl.TriggerMetadataRefresh()
	}
}

// TriggerMetadataRefresh asks for a refresh soon (coalesced, and no more
// often than MetadataMinAge).
func (cl *Client) TriggerMetadataRefresh() {
	select {
	case cl.metaWake <- struct{}{}:
	default:
	}
}

// RefreshMetadata fetches metadata for the tracked topics plus topics now,
// and waits for the result.
func (cl *Client) RefreshMetadata(ctx context.Context, topics ...string) (*Metadata, error) {
	cl.AddTopics(topics...)
	return cl.fetchMetadata(ctx)
}

// metadataLoop owns periodic and triggered refreshes.
func (cl *Client) metadataLoop() {
	defer close(cl.done)
	ticker := time.NewTicker(cl.cfg.metadataMaxAge)
	defer ticker.Stop()
	var last time.Time
	backoff := cl.cfg.retryBackoff
	for {
		select {
		case <-cl.stop:
			return
		case <-ticker.C:
		case <-cl.metaWake:
			if wait := cl.cfg.metadataMinAge - time.Since(last); wait > 0 {
				select {
				case <-cl.stop:
					return
				case <-time.After(wait):
				}
			}
		}
		cl.mu.Lock()
		n := len(cl.topics)
		cl.mu.Unlock()
		if n == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), cl.cfg.requestTimeout)
		go func() {
			select {
			case <-cl.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		_, err := cl.fetchMetadata(ctx)
		cancel()
		last = time.Now()
		if err != nil {
			if cl.cfg.logf != nil {
				cl.cfg.logf("metadata refresh failed: %v", err)
			}
			// Retry soon, with a growing backoff.
			time.AfterFunc(backoff, cl.TriggerMetadataRefresh)
			backoff = min(backoff*2, cl.cfg.retryBackoffMax)
			continue
		}
		backoff = cl.cfg.retryBackoff
	}
}

// fetchMetadata asks one broker (any known, seeds as a fallback) for the
// tracked topics and installs the result.
func (cl *Client) fetchMetadata(ctx context.Context) (*Metadata, error) {
	cl.mu.Lock()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = cl.cfg.allowAutoCreate
	for t := range cl.topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	var candidates []*brokerEntry
	for _, b := range cl.brokers {
		candidates = append(candidates, b)
	}
	cl.mu.Unlock()
	if len(req.Topics) == 0 {
		return cl.Metadata(), nil
	}
	rand.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	// Prefer brokers with an open connection.
	for i, b := range candidates {
		b.mu.Lock()
		live := b.conn != nil && !b.conn.isDead()
		b.mu.Unlock()
		if live {
			candidates[0], candidates[i] = candidates[i], candidates[0]
			break
		}
	}
	var firstErr error
	for _, b := range candidates {
		c, err := cl.connect(ctx, b)
		if err == nil {
			var kresp kmsg.Response
			if err = c.setVersion(req, 12); err == nil { // v13 is the same; 12 keeps names
				kresp, err = c.request(ctx, req, true)
			}
			if err == nil {
				return cl.installMetadata(kresp.(*kmsg.MetadataResponse)), nil
			}
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("samsa/client: metadata: %w", firstErr)
}

func (cl *Client) installMetadata(resp *kmsg.MetadataResponse) *Metadata {
	m := &Metadata{Brokers: make(map[int32]string, len(resp.Brokers)), Topics: make(map[string]*TopicMetadata, len(resp.Topics)), At: time.Now()}
	for _, b := range resp.Brokers {
		m.Brokers[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	old := cl.Metadata()
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		tm := &TopicMetadata{Err: ErrorForCode(t.ErrorCode), ID: t.TopicID}
		if tm.Err == nil {
			tm.Partitions = make([]PartitionMetadata, len(t.Partitions))
			for i := range tm.Partitions {
				tm.Partitions[i] = PartitionMetadata{Leader: -1, Err: ErrLeaderNotAvailable}
			}
			for _, p := range t.Partitions {
				if p.Partition < 0 || int(p.Partition) >= len(tm.Partitions) {
					continue
				}
				tm.Partitions[p.Partition] = PartitionMetadata{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Err: ErrorForCode(p.ErrorCode)}
			}
		} else if prev, ok := old.Topics[*t.Topic]; ok && prev.Err == nil && IsRetriable(tm.Err) {
			// A transient topic error: keep what we knew rather than
			// stalling partitions that may still be fine.
			tm = prev
		}
		m.Topics[*t.Topic] = tm
	}
	cl.mu.Lock()
	for id, addr := range m.Brokers {
		if b, ok := cl.brokers[id]; !ok {
			cl.brokers[id] = &brokerEntry{id: id, addr: addr}
		} else if b.addr != addr {
			b.mu.Lock()
			b.addr = addr
			b.killConns(fmt.Errorf("%w: broker %d moved to %s", ErrConnDead, id, addr), false)
			b.mu.Unlock()
		}
	}
	cl.mu.Unlock()
	cl.metaMu.Lock()
	cl.meta = m
	close(cl.metaChanged)
	cl.metaChanged = make(chan struct{})
	cl.metaMu.Unlock()
	return m
}

// brokerConn returns a live connection to node id, dialing if needed.
func (cl *Client) brokerConn(ctx context.Context, id int32) (*conn, error) {
	return cl.laneConn(ctx, id, 0)
}

// laneConn returns the live connection of lane k to node id, dialing if
// needed. Lane 0 is the connection every request uses; the producer
// spreads partitions over lanes 0..ProduceConnections-1.
func (cl *Client) laneConn(ctx context.Context, id int32, lane int) (*conn, error) {
	cl.mu.Lock()
	if cl.closed.Load() {
		cl.mu.Unlock()
		return nil, ErrClosed
	}
	b, ok := cl.brokers[id]
	cl.mu.Unlock()
	if !ok {
		cl.TriggerMetadataRefresh()
		return nil, fmt.Errorf("%w: unknown broker %d", ErrConnDead, id)
	}
	return cl.connectLane(ctx, b, lane)
}

func (cl *Client) connect(ctx context.Context, b *brokerEntry) (*conn, error) {
	return cl.connectLane(ctx, b, 0)
}

func (cl *Client) connectLane(ctx context.Context, b *brokerEntry, lane int) (*conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	slot := &b.conn
	if lane > 0 {
		for len(b.lanes) < lane {
			b.lanes = append(b.lanes, nil)
		}
		slot = &b.lanes[lane-1]
	}
	if *slot != nil && !(*slot).isDead() {
		return *slot, nil
	}
	c, err := dialConn(ctx, &cl.cfg, b.addr, b.id)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConnDead, err)
	}
	if cl.closed.Load() {
		c.kill(ErrClosed)
		return nil, ErrClosed
	}
	*slot = c
	return c, nil
}

// Request sends req to node id (any broker if id < 0... seeds first) and
// waits for the response. The request version is negotiated.
func (cl *Client) Request(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	c, err := cl.brokerConn(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.request(ctx, req, false)
}

// anyConn returns a connection to any broker, trying each.
func (cl *Client) anyConn(ctx context.Context) (*conn, error) {
	cl.mu.Lock()
	var candidates []*brokerEntry
	for _, b := range cl.brokers {
		candidates = append(candidates, b)
	}
	cl.mu.Unlock()
	rand.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	var firstErr error = ErrNoSeedBrokers
	for i, b := range candidates {
		c, err := cl.connect(ctx, b)
		if err == nil {
			return c, nil
		}
		if i == 0 {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

func tlsClient(nc net.Conn, cfg *tls.Config) *tls.Conn { return tls.Client(nc, cfg) }

var errNoLeader = errors.New("samsa/client: no leader")
