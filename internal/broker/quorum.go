package broker

// The metadata log of a node. Every node keeps its image in a
// metadata.Publisher fed by the log in commit order:
//   - a controller (process.roles has controller) is a voter of the Raft
//     quorum (internal/raft) in <metadata.log.dir>/__cluster_metadata-0;
//   - a broker-only node is an observer: it fetches committed entries from
//     the voters and keeps nothing on disk.
//
// The active controller is the Raft leader once it has applied the first
// entry of its own term (raft.Node.Active): only then does its image hold
// every committed change, so only then does it decide. Its decisions are
// controller.Controller's (NewCommitted): decide on the image → Propose the
// batch → wait until it is applied here. A proposal carries the term the
// controller was activated in; a proposal from an older activation is
// refused, so a decision made on an image from before this term never
// commits.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/raft"
	"github.com/samsa-io/samsa/internal/vfs"
)

// metadataLogDir is the Raft log's directory, as Kafka names it.
func (b *Broker) metadataLogDir() string {
	return filepath.Join(b.opts.MetadataDir, "__cluster_metadata-0")
}

// voters returns the quorum: node id → controller listener address.
func (b *Broker) voters() map[int32]string { return b.opts.Voters }

// quorumLeader is the controller leader this node knows (-1: none).
func (b *Broker) quorumLeader() int32 {
	if b.raft != nil {
		id, _ := b.raft.Leader()
		return id
	}
	if b.observer != nil {
		id, _ := b.observer.Leader()
		return id
	}
	return -1
}

// startQuorum joins the metadata log: a voter on a controller, an observer
// on a broker-only node. The listeners are bound, so a lone voter's
// address (port 0 in tests) is known.
func (b *Broker) startQuorum() error {
	if _, ok := b.opts.Voters[b.opts.NodeID]; ok && len(b.opts.Voters) == 1 {
		// A lone voter: this node's own controller listener, as bound
		// (port 0 in tests, a wildcard host in containers).
		b.opts.Voters = nil
	}
	if len(b.opts.Voters) == 0 {
		if !b.opts.ControllerRole {
			return errors.New("broker: controller.quorum.voters is empty on a broker-only node")
		}
		addr := b.controllerAddr()
		if addr == "" {
			return errors.New("broker: no controller listener to run the quorum on")
		}
		b.opts.Voters = map[int32]string{b.opts.NodeID: addr}
	}
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return b.opts.Dial(ctx, "tcp", addr) }
	raftLog := b.log.With("component", "raft")
	if !b.opts.ControllerRole {
		o, err := raft.StartObserver(raft.ObserverConfig{NodeID: b.opts.NodeID, Voters: b.opts.Voters,
			StateMachine: b.pub, Dial: dial, Logger: raftLog})
		if err != nil {
			return fmt.Errorf("broker: metadata observer: %w", err)
		}
		b.observer = o
		return nil
	}
	boot, imported, err := b.importFileLog()
	if err != nil {
		return err
	}
	if boot == nil {
		// A new cluster's first records (used only when the Raft log is
		// created, the same on every voter): its feature levels.
		data, err := metadata.EncodeBatch(controller.BootstrapFeatures())
		if err != nil {
			return err
		}
		boot = [][]byte{data}
	}
	n, err := raft.Start(raft.Config{NodeID: b.opts.NodeID, Voters: b.opts.Voters, Dir: b.metadataLogDir(),
		FS: b.opts.FS, StateMachine: b.pub, Bootstrap: boot, Dial: dial, Logger: raftLog,
		ElectionTicks: max(1, int(b.opts.ElectionTimeout/(100*time.Millisecond)))})
	if err != nil {
		return fmt.Errorf("broker: controller quorum: %w", err)
	}
	b.raft = n
	if imported != "" {
		// The records now live in the Raft log; keep the old file out of
		// the way instead of deleting it.
		fsys := vfs.Or(b.opts.FS)
		if err := fsys.Rename(imported, imported+".imported"); err == nil {
			fsys.SyncDir(filepath.Dir(imported))
		}
		b.log.Info("imported the single-node metadata log into the controller quorum's log", "file", imported)
	}
	b.ctl = controller.NewCommitted(b.controllerConfig(), &proposer{b: b}, b.pub)
	return nil
}

// controllerAddr is the address of this node's first controller listener.
func (b *Broker) controllerAddr() string {
	for _, name := range b.opts.ControllerListeners {
		for _, bl := range b.listeners {
			if bl.Name == name {
				host := bl.Host
				if host == "" || host == "0.0.0.0" || host == "::" {
					host = "127.0.0.1"
				}
				return net.JoinHostPort(host, fmt.Sprint(bl.Port))
			}
		}
	}
	return ""
}

func (b *Broker) controllerConfig() controller.Config {
	return controller.Config{
		NodeID:                             b.opts.NodeID,
		ClusterID:                          b.opts.ClusterID,
		DefaultPartitions:                  b.opts.NumPartitions,
		DefaultReplicationFactor:           b.opts.DefaultReplicationFactor,
		ValidateTopicConfig:                b.opts.TopicConfigs.Validate,
		ValidateBrokerConfigs:              b.opts.ValidateBrokerConfigs,
		DeleteTopicEnable:                  b.opts.DeleteTopicEnable,
		SessionTimeout:                     b.opts.SessionTimeout,
		AutoLeaderRebalance:                b.opts.AutoLeaderRebalance,
		LeaderImbalanceCheckInterval:       b.opts.LeaderImbalanceCheckInterval,
		LeaderImbalancePerBrokerPercentage: b.opts.LeaderImbalancePerBrokerPercentage,
		TopicReplication:                   b.topicReplication,
		Now:                                b.opts.Now,
	}
}

// topicReplication resolves a topic's min.insync.replicas and
// unclean.leader.election.enable from its dynamic configs over the broker
// defaults, for the controller's elections.
func (b *Broker) topicReplication(overrides map[string]string) (int, bool) {
	tc, _ := b.dynamic().topics.Effective(overrides)
	return tc.MinInsyncReplicas, tc.UncleanLeaderElection
}

// importFileLog returns the records of a single-node metadata log (the
// FileLog of earlier samsa versions) as the Raft log's bootstrap entry,
// when the Raft log does not exist yet.
func (b *Broker) importFileLog() ([][]byte, string, error) {
	fsys := vfs.Or(b.opts.FS)
	dir := b.metadataLogDir()
	ents, err := fsys.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	old := ""
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "raft-") {
			return nil, "", nil // the Raft log exists
		}
		if e.Name() == metadata.FileLogName {
			old = filepath.Join(dir, e.Name())
		}
	}
	if old == "" {
		return nil, "", nil
	}
	fl, recs, err := metadata.OpenFileLogFS(b.opts.FS, dir)
	if err != nil {
		return nil, "", fmt.Errorf("broker: reading the old metadata log: %w", err)
	}
	fl.Close()
	if len(recs) == 0 {
		return nil, old, nil
	}
	data, err := metadata.EncodeBatch(recs)
	if err != nil {
		return nil, "", err
	}
	return [][]byte{data}, old, nil
}

// proposer commits the active controller's batches through the quorum.
type proposer struct {
	b *Broker
	// term is the term the controller was activated in (controllerLoop,
	// under the controller's lock through ActivateTerm).
	term atomic.Uint64
}

func (p *proposer) Propose(recs []metadata.Record) (int64, error) {
	n := p.b.raft
	term, ok := n.Active()
	if !ok || term != p.term.Load() {
		return 0, notController(n)
	}
	data, err := metadata.EncodeBatch(recs)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	idx, err := n.Propose(ctx, data)
	switch {
	case err == nil:
		return int64(idx), nil
	case errors.Is(err, raft.ErrNotLeader):
		return 0, notController(n)
	case errors.Is(err, context.DeadlineExceeded):
		return 0, &controller.Error{Code: kerr.RequestTimedOut, Message: "the metadata change did not commit in 30 s (no quorum?)"}
	case errors.Is(err, raft.ErrClosed):
		return 0, &controller.Error{Code: kerr.NotController, Message: "the controller is shutting down"}
	}
	return 0, err
}

func notController(n *raft.Node) error {
	id, epoch := n.Leader()
	return &controller.Error{Code: kerr.NotController,
		Message: fmt.Sprintf("this node is not the active controller (the quorum's leader is %d at epoch %d)", id, epoch)}
}

// active reports whether this node is the active controller now.
func (b *Broker) active() bool {
	if b.raft == nil || b.prop == nil {
		return false
	}
	term, ok := b.raft.Active()
	return ok && term == b.prop.term.Load()
}

// controllerLoop activates the controller when this node becomes the
// quorum's leader and runs its timed decisions (fencing brokers whose
// session expired, leader rebalancing) when they are due. It wakes on
// leadership changes and on the next deadline Tick names.
func (b *Broker) controllerLoop() {
	defer b.wg.Done()
	var activated uint64
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		changed := b.raft.Changed()
		wait := time.Hour
		if term, ok := b.raft.Active(); ok {
			now := b.opts.Now()
			if term != activated {
				b.ctl.ActivateTerm(now, func() { b.prop.term.Store(term) })
				activated = term
				b.log.Info("active controller", "node.id", b.opts.NodeID, "epoch", term)
				select {
				case b.life.activated <- struct{}{}:
				default:
				}
			}
			next, err := b.ctl.Tick(now)
			switch {
			case err != nil:
				b.log.Warn("controller tick", "err", err)
				wait = 200 * time.Millisecond
			case !next.IsZero():
				wait = max(next.Sub(b.opts.Now()), time.Millisecond)
			}
		} else if activated != 0 {
			activated = 0
			b.log.Info("no longer the active controller", "node.id", b.opts.NodeID)
		}
		wait = min(wait, time.Second) // sessions of brokers heard from since
		timer.Reset(wait)
		select {
		case <-changed:
		case <-timer.C:
		case <-b.stop:
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// QuorumLeader is the controller quorum's leader as this node knows it
// (-1: none known).
func (b *Broker) QuorumLeader() int32 { return b.quorumLeader() }

// ActiveController reports whether this node is the active controller.
func (b *Broker) ActiveController() bool { return b.active() }

// Image returns the node's current metadata image.
func (b *Broker) Image() *metadata.Image { return b.image() }
