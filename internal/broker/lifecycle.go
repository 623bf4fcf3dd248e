package broker

// The broker's lifecycle in the cluster, Kafka's BrokerLifecycleManager:
//
//  1. Register with the active controller (BrokerRegistration, key 62):
//     node id, a fresh incarnation id per process start, every advertised
//     listener by name, rack, supported features. The answer is the broker
//     epoch. A registration refused because another live process holds
//     this node.id (DUPLICATE_BROKER_REGISTRATION) is retried until that
//     process's session could have expired; if it is still refused, the
//     other process is alive and this one stops with an error.
//  2. Heartbeat (BrokerHeartbeat, key 63) with the offset of the metadata
//     this node has applied: quickly while fenced and catching up, then
//     every broker.heartbeat.interval.ms. The controller unfences the broker
//     once it has caught up to its own registration, and fences it again
//     after broker.session.timeout.ms without a heartbeat.
//  3. Controlled shutdown (Shutdown): heartbeats with WantShutDown until the
//     controller has moved every leadership away (ShouldShutDown).
//
// The first unfencing closes ready: the image holds at least everything up
// to this incarnation's registration, so directories it does not claim are
// leftovers of topics deleted while the node was down, and go.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/uuid"
)

// errDuplicateNode: another live process is this node.
var errDuplicateNode = errors.New("broker: another live broker is registered with this node.id")

// Ready is closed once this broker has registered and been unfenced (it is
// serving as part of the cluster). On a controller-only node it is closed
// at start.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// Failed is closed when the broker stopped itself (Err says why: another
// process registered with this node.id, or the metadata log stopped).
func (b *Broker) Failed() <-chan struct{} { return b.failed }

// Err is why the broker stopped itself (nil while it runs).
func (b *Broker) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failErr
}

func (b *Broker) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failErr == nil {
		b.failErr = err
		close(b.failed)
	}
}

// lifecycle state, owned by the lifecycle goroutine except where noted.
type lifecycle struct {
	incarnation metadata.Uuid
	epoch       atomic.Int64 // the broker epoch (read by producer-id allocation)
	ch          *ctlChannel
	// shutdown is closed by Shutdown to ask for a controlled shutdown;
	// shutdownDone is closed when the controller said ShouldShutDown (or
	// the lifecycle ended).
	shutdown, shutdownDone chan struct{}
	// activated is poked when this node's own controller becomes active,
	// so that a registration waiting for a controller tries at once.
	activated chan struct{}
}

func (b *Broker) lifecycleLoop() {
	defer b.wg.Done()
	lc := &b.life
	defer close(lc.shutdownDone)
	lc.incarnation = uuid.Random()
	for {
		if err := b.register(); err != nil {
			if !errors.Is(err, errNoController) {
				b.log.Error("broker registration failed", "err", err)
				b.fail(err)
			}
			return
		}
		if !b.heartbeatLoop() {
			return
		}
		// The controller forgot this epoch (it was fenced and replaced,
		// or unregistered): register again.
	}
}

// register registers this incarnation; it returns when it succeeded, the
// broker closes (errNoController) or it cannot succeed.
func (b *Broker) register() error {
	lc := &b.life
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.IncarnationID = b.opts.NodeID, b.opts.ClusterID, lc.incarnation
	for _, e := range endpoints(b.brokerAdvertised()) {
		l := kmsg.NewBrokerRegistrationRequestListener()
		l.Name, l.Host, l.Port, l.SecurityProtocol = e.Name, e.Host, uint16(e.Port), e.SecurityProtocol
		req.Listeners = append(req.Listeners, l)
	}
	for name, r := range supportedFeatures {
		f := kmsg.NewBrokerRegistrationRequestFeature()
		f.Name, f.MinSupportedVersion, f.MaxSupportedVersion = name, r[0], r[1]
		req.Features = append(req.Features, f)
	}
	req.Rack = b.opts.Rack
	req.PreviousBrokerEpoch = -1
	var dupSince time.Time
	backoff := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		resp, err := lc.ch.call(ctx, req)
		cancel()
		if err != nil {
			if b.stopped() {
				return errNoController
			}
			b.log.Debug("broker registration: no controller yet", "err", err)
		} else {
			r := resp.(*kmsg.BrokerRegistrationResponse)
			switch r.ErrorCode {
			case 0:
				lc.epoch.Store(r.BrokerEpoch)
				b.log.Info("registered with the controller", "node.id", b.opts.NodeID, "broker.epoch", r.BrokerEpoch)
				return nil
			case kerr.NotController.Code:
				lc.ch.reset()
			case kerr.DuplicateBrokerRegistration.Code:
				if dupSince.IsZero() {
					dupSince = time.Now()
					b.log.Warn("another broker is registered with this node.id; waiting for its session to expire",
						"node.id", b.opts.NodeID, "broker.session.timeout.ms", b.opts.SessionTimeout.Milliseconds())
				}
				if time.Since(dupSince) > 2*b.opts.SessionTimeout+b.opts.HeartbeatInterval {
					return fmt.Errorf("%w (node.id %d): its session is still live after %v; stop the other process or give this one another node.id",
						errDuplicateNode, b.opts.NodeID, time.Since(dupSince).Round(time.Second))
				}
			case kerr.InconsistentClusterID.Code:
				return fmt.Errorf("broker: the controller quorum belongs to another cluster than this node's cluster.id %s (INCONSISTENT_CLUSTER_ID)", b.opts.ClusterID)
			default:
				b.log.Warn("broker registration refused", "err", kerr.ErrorForCode(r.ErrorCode))
			}
		}
		select {
		case <-time.After(backoff):
		case <-lc.activated:
		case <-b.stop:
			return errNoController
		}
		backoff = min(2*backoff, time.Second)
	}
}

// heartbeatLoop heartbeats until the broker stops (false) or the
// controller no longer knows this epoch (true: register again).
func (b *Broker) heartbeatLoop() bool {
	lc := &b.life
	fenced := true
	var unanswered time.Time // when shutting down: since when no controller answered
	for {
		wantShutdown := false
		select {
		case <-lc.shutdown:
			wantShutdown = true
		default:
		}
		req := kmsg.NewPtrBrokerHeartbeatRequest()
		req.BrokerID, req.BrokerEpoch = b.opts.NodeID, lc.epoch.Load()
		req.CurrentMetadataOffset = b.pub.Image().Offset
		req.WantShutdown = wantShutdown
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.SessionTimeout)
		resp, err := lc.ch.call(ctx, req)
		cancel()
		wait := b.opts.HeartbeatInterval
		if err != nil {
			if b.stopped() {
				return false
			}
			b.log.Debug("broker heartbeat failed", "err", err)
			wait = 100 * time.Millisecond
		} else {
			r := resp.(*kmsg.BrokerHeartbeatResponse)
			switch r.ErrorCode {
			case 0:
				if fenced && !r.IsFenced {
					b.log.Info("broker unfenced", "node.id", b.opts.NodeID, "metadata.offset", req.CurrentMetadataOffset)
					b.becameReady()
				} else if !fenced && r.IsFenced {
					b.log.Warn("broker fenced by the controller", "node.id", b.opts.NodeID)
				}
				fenced = r.IsFenced
				if wantShutdown && r.ShouldShutdown {
					return false
				}
			case kerr.NotController.Code:
				lc.ch.reset()
				wait = 50 * time.Millisecond
			case kerr.StaleBrokerEpoch.Code, kerr.BrokerIDNotRegistered.Code:
				b.log.Warn("the controller no longer knows this broker epoch; registering again", "err", kerr.ErrorForCode(r.ErrorCode))
				return true
			default:
				b.log.Warn("broker heartbeat refused", "err", kerr.ErrorForCode(r.ErrorCode))
			}
			if fenced || wantShutdown {
				// Catching up or shutting down: answer quickly.
				wait = min(wait, 100*time.Millisecond)
			}
		}
		if wantShutdown {
			// No controller to hand leaderships to (the quorum lost its
			// majority, e.g. the last nodes of a cluster stopping): after
			// two election timeouts without an active controller's answer,
			// stop without it.
			answered := err == nil && resp.(*kmsg.BrokerHeartbeatResponse).ErrorCode != kerr.NotController.Code
			switch {
			case answered:
				unanswered = time.Time{}
			case unanswered.IsZero():
				unanswered = time.Now()
			case time.Since(unanswered) > 2*b.opts.ElectionTimeout:
				b.log.Warn("controlled shutdown: no controller answers; stopping without handing leaderships over",
					"waited", time.Since(unanswered).Round(time.Millisecond))
				return false
			}
		}
		// While fenced (catching up), a newly applied entry is worth a
		// heartbeat at once; a shutdown request is, unless it is on.
		var changed, shutdown <-chan struct{}
		if fenced {
			changed = b.pub.Changed()
		}
		if !wantShutdown {
			shutdown = lc.shutdown
		}
		select {
		case <-time.After(wait):
		case <-changed:
		case <-shutdown:
		case <-b.stop:
			return false
		}
	}
}

// becameReady runs once, on the first unfencing.
func (b *Broker) becameReady() {
	b.readyOnce.Do(func() {
		if b.parts != nil {
			b.parts.removeStray()
		}
		close(b.ready)
	})
}

// Shutdown is Kafka's controlled shutdown: the controller moves every
// partition this broker leads to another replica before it stops, so
// clients switch leaders with no errors but retriable ones. It returns
// when the controller agreed, ctx ended, or no controller answered for two
// election timeouts. A
// node that is the active controller hands the quorum's leadership to
// another voter. Close follows.
func (b *Broker) Shutdown(ctx context.Context) error {
	var err error
	if b.opts.BrokerRole && b.life.shutdown != nil {
		b.shutdownOnce.Do(func() { close(b.life.shutdown) })
		select {
		case <-b.life.shutdownDone:
		case <-ctx.Done():
			err = fmt.Errorf("controlled shutdown: %w", ctx.Err())
		}
	}
	if b.raft != nil && len(b.opts.Voters) > 1 {
		if id, _ := b.raft.Leader(); id == b.opts.NodeID {
			if to := b.transferTarget(ctx); to >= 0 {
				if terr := b.raft.TransferLeadership(ctx, to); terr != nil && err == nil {
					err = fmt.Errorf("handing the controller leadership to %d: %w", to, terr)
				} else if terr == nil {
					b.log.Info("handed the active controller role over", "to", to)
				}
			}
		}
	}
	return err
}

// transferTarget picks the most caught-up other voter among those heard
// from within an election timeout (a stopped voter cannot take over).
func (b *Broker) transferTarget(ctx context.Context) int32 {
	st, err := b.raft.Status(ctx)
	if err != nil {
		return -1
	}
	best, bestMatch := int32(-1), uint64(0)
	for _, v := range st.Voters {
		if v.ID == b.opts.NodeID || time.Since(v.LastContact) > b.opts.ElectionTimeout {
			continue
		}
		if best < 0 || v.MatchIndex > bestMatch {
			best, bestMatch = v.ID, v.MatchIndex
		}
	}
	return best
}

// brokerAdvertised is the advertised listeners clients may use (the
// controller listeners are not a broker's endpoints).
func (b *Broker) brokerAdvertised() []Listener {
	var out []Listener
	for _, l := range b.opts.Advertised {
		if !contains(b.opts.ControllerListeners, l.Name) {
			out = append(out, l)
		}
	}
	return out
}

// supportedFeatures are the feature levels this broker can run [min, max].
var supportedFeatures = map[string][2]int16{
	"group.version":       {0, 1},
	controller.FeatureELR: {0, 1},
}

func (b *Broker) stopped() bool {
	select {
	case <-b.stop:
		return true
	default:
		return false
	}
}

// sleep waits d unless the broker stops first (false).
func (b *Broker) sleep(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-b.stop:
		return false
	}
}
