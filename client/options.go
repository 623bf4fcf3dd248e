package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"
)

// Option configures a Client or a Producer. Client options given to
// NewProducerFromClient are ignored (the client is already built).
type Option func(*config)

// config holds every setting; defaultConfig documents the defaults.
type config struct {
	// client
	seeds           []string
	clientID        string
	dial            func(ctx context.Context, network, addr string) (net.Conn, error)
	tls             *tls.Config
	dialTimeout     time.Duration
	requestTimeout  time.Duration
	metadataMaxAge  time.Duration
	metadataMinAge  time.Duration
	maxInFlightConn int
	retryBackoff    time.Duration
	retryBackoffMax time.Duration
	allowAutoCreate bool
	logf            func(format string, args ...any)

	// producer
	acks             Acks
	idempotent       bool
	linger           time.Duration
	batchBytes       int
	maxRequestBytes  int
	codec            Codec
	codecLevel       int
	partitioner      Partitioner
	maxInFlightPart  int
	produceConns     int
	deliveryTimeout  time.Duration
	produceTimeout   time.Duration
	maxBufferedBytes int64
	maxBufferedRecs  int64
}

func defaultConfig() config {
	return config{
		clientID:        "samsa",
		dialTimeout:     10 * time.Second,
		requestTimeout:  30 * time.Second,
		metadataMaxAge:  5 * time.Minute,
		metadataMinAge:  100 * time.Millisecond,
		maxInFlightConn: 5,
		retryBackoff:    100 * time.Millisecond,
		retryBackoffMax: time.Second,
		allowAutoCreate: false,

		acks:             AcksAll,
		idempotent:       true,
		linger:           5 * time.Millisecond,
		batchBytes:       1 << 20,
		maxRequestBytes:  100 << 20,
		codec:            CodecNone,
		partitioner:      nil, // DefaultPartitioner()
		maxInFlightPart:  5,
		produceConns:     2,
		deliveryTimeout:  2 * time.Minute,
		produceTimeout:   30 * time.Second,
		maxBufferedBytes: 64 << 20,
		maxBufferedRecs:  1 << 20,
	}
}

func (c *config) validate() error {
	if len(c.seeds) == 0 {
		return ErrNoSeedBrokers
	}
	if c.idempotent {
		if c.acks != AcksAll {
			return fmt.Errorf("samsa/client: idempotence requires Acks(AcksAll); use Idempotent(false) for acks %d", c.acks)
		}
		if c.maxInFlightPart > 5 {
			return fmt.Errorf("samsa/client: idempotence allows at most 5 in-flight batches per partition, got %d", c.maxInFlightPart)
		}
	}
	if c.produceConns < 1 || c.produceConns > 16 {
		return fmt.Errorf("samsa/client: ProduceConnections must be 1..16, got %d", c.produceConns)
	}
	if c.maxInFlightPart < 1 || c.maxInFlightConn < 1 {
		return fmt.Errorf("samsa/client: in-flight limits must be at least 1")
	}
	if c.batchBytes < 1024 || c.batchBytes > c.maxRequestBytes {
		return fmt.Errorf("samsa/client: BatchBytes %d must be in [1024, MaxRequestBytes]", c.batchBytes)
	}
	if c.partitioner == nil {
		c.partitioner = DefaultPartitioner()
	}
	return nil
}

// ---- client options ----

// SeedBrokers sets the host:port addresses used to bootstrap. Required.
// An address may also be a comma-separated list, as Kafka's
// bootstrap.servers is: SeedBrokers("a:9092,b:9092").
func SeedBrokers(addrs ...string) Option {
	return func(c *config) {
		for _, a := range addrs {
			for s := range strings.SplitSeq(a, ",") {
				if s = strings.TrimSpace(s); s != "" {
					c.seeds = append(c.seeds, s)
				}
			}
		}
	}
}

// ClientID sets the client id sent with every request. Default "samsa".
func ClientID(id string) Option { return func(c *config) { c.clientID = id } }

// Dialer replaces the function used to open broker connections; put a SOCKS5
// proxy or any other transport underneath with it. Default: net.Dialer with
// DialTimeout. TLS, if set, is layered on top of the returned connection.
func Dialer(fn func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *config) { c.dial = fn }
}

// TLS enables TLS on broker connections (on top of the Dialer). Default off.
func TLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// DialTimeout bounds opening a connection, ApiVersions included. Default 10s.
func DialTimeout(d time.Duration) Option { return func(c *config) { c.dialTimeout = d } }

// RequestTimeout bounds waiting for one response (added to the broker-side
// timeout of requests that carry one). Default 30s.
func RequestTimeout(d time.Duration) Option { return func(c *config) { c.requestTimeout = d } }

// MetadataMaxAge is how often metadata is refreshed even without errors.
// Default 5m.
func MetadataMaxAge(d time.Duration) Option { return func(c *config) { c.metadataMaxAge = d } }

// MetadataMinAge is the minimum time between two refreshes triggered by
// errors. Default 100ms.
func MetadataMinAge(d time.Duration) Option { return func(c *config) { c.metadataMinAge = d } }

// MaxInFlightRequestsPerConn bounds pipelined requests on one connection.
// Default 5.
func MaxInFlightRequestsPerConn(n int) Option { return func(c *config) { c.maxInFlightConn = n } }

// RetryBackoff sets the first and the largest backoff between retries; the
// backoff doubles between them, with jitter. Default 100ms, 1s.
func RetryBackoff(first, max time.Duration) Option {
	return func(c *config) { c.retryBackoff, c.retryBackoffMax = first, max }
}

// AllowAutoTopicCreation asks brokers to create unknown topics on metadata
// requests (if the broker allows it). Default false.
func AllowAutoTopicCreation() Option { return func(c *config) { c.allowAutoCreate = true } }

// Logf sets a printf-style logger for connection and retry events. Default
// none.
func Logf(fn func(format string, args ...any)) Option { return func(c *config) { c.logf = fn } }

// ---- producer options ----

// Acks is the number of acknowledgements the leader waits for.
type Acks int16

const (
	AcksNone   Acks = 0  // no response; records are reported done once written
	AcksLeader Acks = 1  // the leader appended the batch
	AcksAll    Acks = -1 // all in-sync replicas appended the batch (default)
)

// RequiredAcks sets acks. Default AcksAll. Anything but AcksAll requires
// Idempotent(false).
func RequiredAcks(a Acks) Option { return func(c *config) { c.acks = a } }

// Idempotent switches the idempotent producer (KIP-98) on or off. Default on:
// retries never duplicate or reorder records, with up to 5 batches in flight
// per partition. Off, MaxInFlightPerPartition defaults to 1 so that retries
// cannot reorder records.
func Idempotent(on bool) Option {
	return func(c *config) {
		c.idempotent = on
		if !on && c.maxInFlightPart == 5 {
			c.maxInFlightPart = 1
		}
	}
}

// Linger is how long a partition waits for more records before sealing a
// batch that is not full. 0 seals as soon as the partition goroutine runs.
// Flush and ProduceSync do not wait for linger. Default 5ms.
func Linger(d time.Duration) Option { return func(c *config) { c.linger = d } }

// BatchBytes caps the encoded size of one record batch (Kafka's batch.size
// and the broker's max.message.bytes); a batch is sealed when the next record
// would not fit. It is a cap, not a trigger to wait for. Default 1 MiB.
func BatchBytes(n int) Option { return func(c *config) { c.batchBytes = n } }

// MaxRequestBytes caps one Produce request. Default 100 MiB.
func MaxRequestBytes(n int) Option { return func(c *config) { c.maxRequestBytes = n } }

// Compression sets the batch codec and level (0 = the codec's default
// level). Default CodecNone.
func Compression(codec Codec, level int) Option {
	return func(c *config) { c.codec, c.codecLevel = codec, level }
}

// WithPartitioner sets the partitioner. Default DefaultPartitioner(): murmur2
// for keyed records (Java-compatible), uniform sticky for keyless (KIP-794).
func WithPartitioner(p Partitioner) Option { return func(c *config) { c.partitioner = p } }

// ProduceConnections is how many connections the producer opens to each
// broker and spreads that broker's partitions over (each partition stays
// on one, so its batches keep their order). A Kafka broker — Apache Kafka
// as well as samsa — handles one connection's requests one at a time, in
// order, so a single connection caps a producer at one request handler per
// broker however many partitions it leads. Two lanes let the broker append
// two requests at once. Connections are opened only for lanes in use (a
// broker leading one partition gets one). Default 2; 1 is the Java
// client's behaviour.
func ProduceConnections(n int) Option { return func(c *config) { c.produceConns = n } }

// MaxInFlightPerPartition bounds batches sent and not yet acknowledged per
// partition. Default 5 (idempotent), 1 (not idempotent). Above 1 without
// idempotence, a retry can reorder records.
func MaxInFlightPerPartition(n int) Option { return func(c *config) { c.maxInFlightPart = n } }

// DeliveryTimeout bounds the time from Produce to the record's result,
// retries included. A batch already sent is failed only once its request
// has come back (so the outcome is known). Default 2m; 0 = no limit.
func DeliveryTimeout(d time.Duration) Option { return func(c *config) { c.deliveryTimeout = d } }

// ProduceRequestTimeout is the broker-side wait for acks (timeout_ms in the
// request). Default 30s.
func ProduceRequestTimeout(d time.Duration) Option { return func(c *config) { c.produceTimeout = d } }

// MaxBufferedBytes bounds the bytes (key+value+headers) of records produced
// and not yet completed; Produce blocks beyond it until ctx ends. Default 64 MiB.
func MaxBufferedBytes(n int64) Option { return func(c *config) { c.maxBufferedBytes = n } }

// MaxBufferedRecords bounds records produced and not yet completed.
// Default 1<<20.
func MaxBufferedRecords(n int64) Option { return func(c *config) { c.maxBufferedRecs = n } }
