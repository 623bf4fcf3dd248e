// Package broker is samsa's Kafka broker: it binds the listeners, runs one
// reader and one writer goroutine per connection, dispatches requests to
// one handler per Kafka API (one file each: produce.go, fetch.go, ...),
// and owns the partitions this node hosts.
//
// Goroutine owners (DESIGN.md has the full table):
//   - Broker.Start starts one accept loop per listener, the purgatory timer
//     goroutine and the retention loop; Broker.Close stops and waits for
//     all of them, then closes every connection and partition.
//   - Each accepted connection runs a reader (request loop) and a writer
//     (responses in request order); the reader owns the writer.
//   - Each partition runs a flusher goroutine (group commit); the
//     partition manager owns it.
package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/purgatory"
	"github.com/samsa-io/samsa/internal/raft"
	"github.com/samsa-io/samsa/internal/vfs"
)

// Broker is one samsa node: a broker, a controller, or both
// (process.roles).
type Broker struct {
	opts  Options
	locks []io.Closer // one .lock per log dir, held until closeStores
	log   *slog.Logger
	// pub is the node's metadata image, fed by the metadata log: raft (a
	// voter, on a controller) or observer (a broker-only node).
	pub      *metadata.Publisher
	raft     *raft.Node
	observer *raft.Observer
	// ctl and prop: the controller of a controller node (decides only
	// while active); nil on a broker-only node.
	ctl  *controller.Controller
	prop *proposer
	// fwd carries forwarded admin requests (and the broker's own metadata
	// changes) to the active controller; life is the broker's
	// registration and heartbeats (its channel is life.ch).
	fwd          *ctlChannel
	life         lifecycle
	ready        chan struct{}
	readyOnce    sync.Once
	shutdownOnce sync.Once
	failed       chan struct{}
	failErr      error // mu guards failErr
	// ctx ends when Close starts (waits of forwarded requests).
	ctx    context.Context
	cancel context.CancelFunc

	parts *partitionManager
	// fetchers replicate the partitions this node follows (follower.go);
	// isrWake pokes the ISR loop (replication.go).
	fetchers *fetcherManager
	isrWake  chan struct{}
	timers   *purgatory.Timers
	pids     producerIDs

	// dyn is the configuration with the dynamic broker configs of the
	// image on top (dynconfig.go); cleanerKick wakes the cleaner when its
	// backoff changes.
	dyn         atomic.Pointer[dynState]
	cleanerKick chan struct{}
	coord       *coordinator

	mu        sync.Mutex
	listeners []*boundListener   // mu guards listeners, conns, closed
	conns     map[*conn]struct{} // live connections
	closed    bool
	wg        sync.WaitGroup // accept loops, connections, retention loop
	async     asyncGroup     // completions of parked fetches
	stop      chan struct{}
}

type boundListener struct {
	Listener
	ln         net.Listener
	controller bool
}

// New opens the metadata log and the partitions; Start begins serving.
func New(opts Options) (*Broker, error) {
	opts.setDefaults()
	if opts.TopicConfigs == nil {
		return nil, errors.New("broker: Options.TopicConfigs is required")
	}
	if len(opts.LogDirs) == 0 {
		return nil, errors.New("broker: no log.dirs")
	}
	b := &Broker{opts: opts, log: opts.Logger, conns: map[*conn]struct{}{}, stop: make(chan struct{}),
		pub: metadata.NewPublisher(nil), ready: make(chan struct{}), failed: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.life.shutdown, b.life.shutdownDone = make(chan struct{}), make(chan struct{})
	b.life.activated = make(chan struct{}, 1)
	b.initDynamic()
	if err := b.lockDirs(); err != nil {
		return nil, err
	}
	b.timers = purgatory.NewTimers()
	b.parts = newPartitionManager(b)
	b.fetchers = newFetcherManager(b)
	b.isrWake = make(chan struct{}, 1)
	b.coord = newCoordinator(b)
	if opts.BrokerRole {
		if err := b.parts.scanDirs(); err != nil {
			b.closeStores()
			return nil, err
		}
		// The partitions follow the image from the first entry the log
		// applies (Start joins the log); the coordinator follows the
		// leadership of __consumer_offsets partitions they host.
		b.pub.Subscribe(b.onBrokerConfigs)
		b.pub.Subscribe(b.parts.onImage)
		b.pub.Subscribe(b.coord.onImage)
	} else {
		b.pub.Subscribe(b.onBrokerConfigs)
	}
	return b, nil
}

// image is the node's current metadata image.
func (b *Broker) image() *metadata.Image { return b.pub.Image() }

// lockFile is the lock Kafka's LogManager takes in every log dir.
const lockFile = ".lock"

// lockDirs makes every log dir (and the metadata dir) and takes its lock,
// so that a second process on the same dirs fails here instead of writing
// over this one's logs.
func (b *Broker) lockDirs() error {
	fsys := vfs.Or(b.opts.FS)
	seen := map[string]bool{}
	for _, dir := range append([]string{b.opts.MetadataDir}, b.opts.LogDirs...) {
		dir = filepath.Clean(dir)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		if err := vfs.MkdirAllSync(fsys, dir, 0o755); err != nil {
			b.unlockDirs()
			return fmt.Errorf("log.dirs %s: %w", dir, err)
		}
		l, err := fsys.Lock(filepath.Join(dir, lockFile))
		if err != nil {
			b.unlockDirs()
			if errors.Is(err, vfs.ErrLocked) {
				return fmt.Errorf("broker: failed to acquire lock on file %s in %s: another samsa (or Kafka) process is using this directory: %w", lockFile, dir, err)
			}
			return fmt.Errorf("broker: lock %s: %w", dir, err)
		}
		b.locks = append(b.locks, l)
	}
	return nil
}

func (b *Broker) unlockDirs() {
	for _, l := range b.locks {
		l.Close()
	}
	b.locks = nil
}

// Start binds every listener, registers this broker and starts serving.
func (b *Broker) Start() error {
	for _, l := range b.opts.Listeners {
		addr := net.JoinHostPort(l.Host, fmt.Sprint(l.Port))
		ln, err := b.opts.Listen("tcp", addr)
		if err != nil {
			b.Close()
			return fmt.Errorf("broker: listener %s://%s: %w", l.Name, addr, err)
		}
		bl := &boundListener{Listener: l, ln: ln, controller: contains(b.opts.ControllerListeners, l.Name)}
		if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
			bl.Port = tcp.Port
		}
		b.mu.Lock()
		b.listeners = append(b.listeners, bl)
		b.mu.Unlock()
	}
	b.fixAdvertisedPorts()
	if err := b.startQuorum(); err != nil {
		b.Close()
		return err
	}
	if err := b.parts.err(); err != nil {
		b.Close()
		return err
	}
	if b.ctl != nil {
		b.prop = b.ctl.Proposer().(*proposer)
	}
	b.mu.Lock()
	// Controller listeners serve at once (the quorum forms through them);
	// broker listeners once the broker has caught up with the metadata log
	// and been unfenced, as Kafka enables request processing only then: a
	// client never sees the image of a node that has not caught up.
	// Connections wait in the listen backlog meanwhile.
	var brokerLs []*boundListener
	for _, bl := range b.listeners {
		if bl.controller {
			b.wg.Add(1)
			go b.acceptLoop(bl)
		} else {
			brokerLs = append(brokerLs, bl)
		}
	}
	if len(brokerLs) > 0 {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			select {
			case <-b.ready:
			case <-b.stop:
				return
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.closed {
				return
			}
			for _, bl := range brokerLs {
				b.wg.Add(1)
				go b.acceptLoop(bl)
			}
		}()
	}
	if b.raft != nil {
		b.wg.Add(1)
		go b.controllerLoop()
		b.wg.Add(1)
		go b.watchQuorum()
	}
	if b.opts.BrokerRole {
		b.fwd = newCtlChannel(b, "samsa-forwarding")
		b.life.ch = newCtlChannel(b, "samsa-lifecycle")
		b.wg.Add(1)
		go b.lifecycleLoop()
		b.wg.Add(1)
		go b.retentionLoop()
		b.wg.Add(1)
		go b.cleanerLoop()
		b.wg.Add(1)
		go b.isrLoop()
		b.wg.Add(1)
		go b.hwCheckpointLoop()
		b.coord.scheduleExpiry()
	} else {
		close(b.ready)
	}
	var bound []string
	for _, bl := range b.listeners {
		bound = append(bound, bl.Name+"://"+bl.ln.Addr().String())
	}
	b.mu.Unlock()
	b.log.Info("samsa broker started", "node.id", b.opts.NodeID, "cluster.id", b.opts.ClusterID, "listeners", strings.Join(bound, ","))
	return nil
}

// fixAdvertisedPorts replaces port 0 in advertised listeners with the port
// the same-named listener got (tests bind ephemeral ports).
func (b *Broker) fixAdvertisedPorts() {
	for i, a := range b.opts.Advertised {
		if a.Port != 0 {
			continue
		}
		for _, bl := range b.listeners {
			if bl.Name == a.Name {
				b.opts.Advertised[i].Port = bl.Port
			}
		}
	}
}

// Addrs returns the bound address of each listener by name.
func (b *Broker) Addrs() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]string{}
	for _, bl := range b.listeners {
		out[bl.Name] = bl.ln.Addr().String()
	}
	return out
}

// Controller returns the node's controller (tests and the CLI use it).
func (b *Broker) Controller() *controller.Controller { return b.ctl }

func (b *Broker) acceptLoop(bl *boundListener) {
	defer b.wg.Done()
	var delay time.Duration
	for {
		nc, err := bl.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failure (EMFILE, ...): back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			b.log.Warn("accept failed", "listener", bl.Name, "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-b.stop:
				return
			}
		}
		delay = 0
		c := newConn(b, bl, nc)
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			nc.Close()
			return
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go func() {
			defer b.wg.Done()
			c.serve()
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
		}()
	}
}

// Close stops serving, waits for every goroutine and closes the partitions
// (writing their clean-shutdown state).
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.stop)
	b.cancel()
	for _, bl := range b.listeners {
		bl.ln.Close()
	}
	for c := range b.conns {
		c.close()
	}
	b.mu.Unlock()
	b.coord.close()  // group timers firing during shutdown do nothing
	b.timers.Close() // completes parked requests so connections can finish
	// The metadata log stops before the waits: a connection may be
	// handing the raft node a request, which ends when the node does.
	var err error
	if b.raft != nil {
		err = b.raft.Close()
	}
	if b.observer != nil {
		if e := b.observer.Close(); err == nil {
			err = e
		}
	}
	b.wg.Wait()
	b.fetchers.close()
	if b.opts.BrokerRole {
		// The clean shutdown's high-watermark checkpoint (hwcheckpoint.go).
		if e := b.parts.writeHWCheckpoints(); e != nil {
			b.log.Error("high-watermark checkpoint", "err", e)
		}
	}
	b.async.Stop()
	b.coord.stopAsync() // durability completions of group writes
	if b.fwd != nil {
		b.fwd.close()
		b.life.ch.close()
	}
	if e := b.closeStores(); err == nil {
		err = e
	}
	return err
}

func (b *Broker) closeStores() error {
	err := b.parts.close()
	b.unlockDirs()
	return err
}

// watchQuorum stops the node when its raft node stops on its own (an
// invariant broke, or its storage failed): a controller that cannot apply
// the log must not go on serving.
func (b *Broker) watchQuorum() {
	defer b.wg.Done()
	select {
	case <-b.raft.Done():
		if err := b.raft.Err(); err != nil && !errors.Is(err, raft.ErrClosed) {
			b.fail(fmt.Errorf("broker: the controller quorum's node stopped: %w", err))
		}
	case <-b.stop:
	}
}

func (b *Broker) retentionLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.opts.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.parts.applyRetention()
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
