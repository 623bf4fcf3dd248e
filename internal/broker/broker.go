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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/purgatory"
	"github.com/samsa-io/samsa/internal/vfs"
)

// Broker is one samsa node (broker and controller roles).
type Broker struct {
	opts   Options
	locks  []io.Closer // one .lock per log dir, held until closeStores
	log    *slog.Logger
	ctl    *controller.Controller
	mlog   *metadata.FileLog
	parts  *partitionManager
	timers *purgatory.Timers
	pids   producerIDs

	// topicDefaults: the topic-config registry's defaults as reported,
	// computed once in New (see loadTopicDefaults).
	topicDefaults []ConfigEntry
	coord         *coordinator

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
	b := &Broker{opts: opts, log: opts.Logger, conns: map[*conn]struct{}{}, stop: make(chan struct{})}
	b.loadTopicDefaults()
	if err := b.lockDirs(); err != nil {
		return nil, err
	}
	mlog, recs, err := metadata.OpenFileLogFS(opts.FS, filepath.Join(opts.MetadataDir, "__cluster_metadata-0"))
	if err != nil {
		b.unlockDirs()
		return nil, fmt.Errorf("broker: metadata log: %w", err)
	}
	b.mlog = mlog
	b.ctl = controller.New(controller.Config{
		NodeID:                   opts.NodeID,
		DefaultPartitions:        opts.NumPartitions,
		DefaultReplicationFactor: opts.DefaultReplicationFactor,
		ValidateTopicConfig:      opts.TopicConfigs.Validate,
		DeleteTopicEnable:        opts.DeleteTopicEnable,
	}, mlog, recs)
	b.timers = purgatory.NewTimers()
	b.parts = newPartitionManager(b)
	if err := b.parts.scanDirs(); err != nil {
		b.closeStores()
		return nil, err
	}
	b.ctl.Subscribe(b.parts.onImage)
	if err := b.parts.err(); err != nil {
		b.closeStores()
		return nil, err
	}
	b.coord = newCoordinator(b)
	if err := b.coord.load(); err != nil {
		b.timers.Close()
		b.closeStores()
		return nil, err
	}
	return b, nil
}

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
	if _, err := b.ctl.RegisterBroker(b.opts.NodeID, endpoints(b.opts.Advertised), nil); err != nil {
		b.Close()
		return err
	}
	b.mu.Lock()
	for _, bl := range b.listeners {
		b.wg.Add(1)
		go b.acceptLoop(bl)
	}
	b.wg.Add(1)
	go b.retentionLoop()
	b.wg.Add(1)
	go b.cleanerLoop()
	b.coord.scheduleExpiry()
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
	for _, bl := range b.listeners {
		bl.ln.Close()
	}
	for c := range b.conns {
		c.close()
	}
	b.mu.Unlock()
	b.coord.close()  // group timers firing during shutdown do nothing
	b.timers.Close() // completes parked requests so connections can finish
	b.wg.Wait()
	b.async.Stop()
	b.coord.stopAsync() // durability completions of group writes
	return b.closeStores()
}

func (b *Broker) closeStores() error {
	err := b.parts.close()
	if e := b.mlog.Close(); err == nil {
		err = e
	}
	b.unlockDirs()
	return err
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
