package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/samsa-io/samsa/chaos/history"
)

// Fault kinds, as recorded in history.Op.Fault.
const (
	PartitionOne    = "partition-one"    // one node cut off from all others
	PartitionHalves = "partition-halves" // the nodes split in two halves
	PartitionLeader = "partition-leader" // a partition's leader, or the active controller, cut off
	PartitionOneWay = "partition-oneway" // packets from some nodes to others dropped, one way only
	Kill            = "kill"             // kill -9 of one node or a minority, restarted at heal
	KillAll         = "kill-all"         // kill -9 of every node, restarted at heal
	Shutdown        = "shutdown"         // a controlled shutdown (SIGTERM) of one node, restarted at heal
	KillLeader      = "kill-leader"      // kill -9 of a partition's leader, restarted at heal
	Pause           = "pause"            // SIGSTOP of one node, SIGCONT at heal
	PauseLeader     = "pause-leader"     // SIGSTOP of a partition's leader
	// Corrupt kills one node, flips a bit in or truncates one of its
	// segment, index, Raft log or snapshot files, and restarts it at heal.
	Corrupt = "corrupt"
)

// Kinds lists the fault kinds a schedule picks from by default.
var Kinds = []string{PartitionOne, PartitionHalves, PartitionLeader, PartitionOneWay, Kill, KillLeader, KillAll, Shutdown, Pause, PauseLeader}

// AllKinds adds the faults that are not on by default: Corrupt, until
// samsa is known to survive it.
var AllKinds = append(slices.Clone(Kinds), Corrupt)

// Step is one fault of a schedule: what, to whom, when, for how long.
type Step struct {
	At   time.Duration // from the start of the workload
	Dur  time.Duration
	Kind string
	// Nodes are the nodes the fault targets (for the leader kinds, chosen
	// when the fault starts; Partition says whose leader, -1 for the
	// controller quorum's: the active controller). For
	// partition-halves they are one half; for partition-oneway the nodes
	// whose packets are dropped on their way to Peers.
	Nodes     []int32
	Peers     []int32
	Partition int32
	// Pick chooses the file and the damage of a Corrupt fault.
	Pick uint64
}

// Schedule is the faults of a run, reproducible from seed: one at a time,
// of the kinds given (nil: Kinds), separated by calm gaps, sometimes a
// slot without any fault, none ending after d. ids are the nodes
// (controllers first for the isolated layout), partitions the topic's
// partition count.
func Schedule(seed uint64, layout string, ids []int32, partitions int, d time.Duration, kinds []string) []Step {
	if len(kinds) == 0 {
		kinds = Kinds
	}
	r := rand.New(rand.NewPCG(seed, 0x5a3a14))
	var steps []Step
	at := time.Duration(0)
	for {
		at += between(r, 500*time.Millisecond, 2*time.Second)
		dur := between(r, 2*time.Second, 5*time.Second)
		if at+dur > d {
			return steps
		}
		if r.IntN(6) == 0 { // a slot with no fault at all
			at += dur
			continue
		}
		s := Step{At: at, Dur: dur, Kind: kinds[r.IntN(len(kinds))], Partition: int32(r.IntN(partitions+1)) - 1, Pick: r.Uint64()}
		shuffled := slices.Clone(ids)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		switch s.Kind {
		case PartitionOne, Pause, Corrupt, Shutdown:
			s.Nodes = shuffled[:1]
		case KillAll:
			s.Nodes = slices.Clone(ids)
		case PartitionHalves:
			s.Nodes = sorted(shuffled[:len(shuffled)/2])
		case PartitionOneWay:
			// From one node to one other, or to all others.
			s.Nodes = shuffled[:1]
			if r.IntN(2) == 0 {
				s.Peers = shuffled[1:2]
			} else {
				s.Peers = sorted(shuffled[1:])
			}
		case Kill:
			s.Nodes = shuffled[:1]
			if layout == Isolated && r.IntN(2) == 0 {
				// A minority of each role: one controller, one broker.
				s.Nodes = []int32{ids[r.IntN(3)], ids[3+r.IntN(3)]}
			}
		}
		if s.Kind == Pause || s.Kind == PauseLeader {
			// Longer than the broker session and the replica lag time.
			s.Dur = max(brokerSessionTimeout, replicaLagTimeMax) + between(r, time.Second, 3*time.Second)
			if at+s.Dur > d {
				return steps
			}
		}
		steps = append(steps, s)
		at += s.Dur
	}
}

func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

func sorted(ids []int32) []int32 {
	out := slices.Clone(ids)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func whose(p int32) string {
	if p < 0 {
		return "the active controller"
	}
	return fmt.Sprintf("leader of partition %d", p)
}

// nemesis injects a schedule's faults into a cluster and records them.
type nemesis struct {
	c      *Cluster
	h      *history.Writer
	leader func(ctx context.Context, partition int32) (int32, error)
	logf   func(format string, args ...any)
	counts map[string]int
	// leaders, if set, says who leads each partition (-1: unknown); the
	// next fault start records it and targets (see history.Op).
	leaders func(ctx context.Context) []int32
	targets []int32
}

// run plays steps, counting time from start, until they end or ctx does;
// a fault in progress is healed either way.
func (nm *nemesis) run(ctx context.Context, start time.Time, steps []Step) {
	for _, s := range steps {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(s.At))):
		}
		heal, detail, node, err := nm.inject(ctx, s)
		if err != nil {
			nm.h.Add(history.Op{Process: history.Nemesis, Type: history.Fail, F: history.Fault, Fault: s.Kind, Detail: detail, Node: node, Error: err.Error()})
			nm.logf("fault %s failed: %v", s.Kind, err)
			continue
		}
		nm.counts[s.Kind]++
		select {
		case <-ctx.Done():
		case <-time.After(s.Dur):
		}
		herr := heal()
		op := history.Op{Process: history.Nemesis, Type: history.OK, F: history.Fault, Fault: s.Kind, Detail: detail, Node: node}
		if herr != nil {
			op.Type, op.Error = history.Info, herr.Error()
		}
		nm.h.Add(op)
		nm.logf("healed %s (%s)", s.Kind, detail)
	}
}

// inject starts fault s, recording its invocation, and returns how to
// heal it.
func (nm *nemesis) inject(ctx context.Context, s Step) (heal func() error, detail string, node int32, err error) {
	nodes := s.Nodes
	var why string
	if s.Kind == PartitionLeader || s.Kind == KillLeader || s.Kind == PauseLeader {
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		id, lerr := nm.leader(lctx, s.Partition)
		cancel()
		if lerr != nil {
			// No leader known (the cluster may be recovering): a random
			// broker instead, said so in the detail.
			bs := nm.c.Bootstrap()
			id = nm.c.brokerID(bs[int(s.Partition+1)%len(bs)])
			why = fmt.Sprintf(" (%s unknown: %v)", whose(s.Partition), lerr)
		} else {
			why = fmt.Sprintf(" (%s)", whose(s.Partition))
		}
		nodes = []int32{id}
	}
	if len(nodes) > 0 {
		node = nodes[0]
	}
	nm.targets = slices.Concat(nodes, s.Peers)
	all := nm.c.IDs()
	others := func(in []int32) []int32 {
		var out []int32
		for _, id := range all {
			if !slices.Contains(in, id) {
				out = append(out, id)
			}
		}
		return out
	}
	healNetAll := func() error {
		var errs []error
		for _, id := range all {
			errs = append(errs, healNet(id))
		}
		return errors.Join(errs...)
	}
	switch s.Kind {
	case PartitionOne, PartitionHalves, PartitionLeader:
		rest := others(nodes)
		detail = fmt.Sprintf("%v | %v%s", nodes, rest, why)
		nm.invoke(s.Kind, detail, node)
		for _, a := range nodes {
			for _, b := range rest {
				if err := cut(a, b); err != nil {
					return nil, detail, node, errors.Join(err, healNetAll())
				}
			}
		}
		return healNetAll, detail, node, nil
	case PartitionOneWay:
		detail = fmt.Sprintf("packets from %v to %v dropped", nodes, s.Peers)
		nm.invoke(s.Kind, detail, node)
		for _, from := range nodes {
			for _, to := range s.Peers {
				if err := dropFrom(to, from); err != nil {
					return nil, detail, node, errors.Join(err, healNetAll())
				}
			}
		}
		return healNetAll, detail, node, nil
	case Kill, KillLeader, KillAll, Shutdown:
		how := "kill -9"
		if s.Kind == Shutdown {
			how = "SIGTERM (controlled shutdown)"
		}
		detail = fmt.Sprintf("%s %v%s, restart at heal", how, nodes, why)
		nm.invoke(s.Kind, detail, node)
		for _, id := range nodes {
			if s.Kind == Shutdown {
				nm.c.Node(id).signal(syscall.SIGTERM, 20*time.Second)
			} else {
				nm.c.Node(id).kill()
			}
		}
		return func() error {
			var errs []error
			for _, id := range nodes {
				errs = append(errs, nm.c.Node(id).start())
			}
			return errors.Join(errs...)
		}, detail, node, nil
	case Corrupt:
		n := nm.c.Node(nodes[0])
		n.kill()
		damage, cerr := corruptFile(n.DataDir(), s.Pick)
		detail = fmt.Sprintf("kill -9 [%d]; %s; restart at heal", n.ID, damage)
		nm.invoke(s.Kind, detail, node)
		if cerr != nil {
			return nil, detail, node, errors.Join(cerr, n.start())
		}
		return n.start, detail, node, nil
	case Pause, PauseLeader:
		detail = fmt.Sprintf("SIGSTOP %v for %v%s", nodes, s.Dur.Round(time.Millisecond), why)
		nm.invoke(s.Kind, detail, node)
		for _, id := range nodes {
			nm.c.Node(id).signal(syscall.SIGSTOP, 0)
		}
		return func() error {
			for _, id := range nodes {
				nm.c.Node(id).signal(syscall.SIGCONT, 0)
			}
			return nil
		}, detail, node, nil
	}
	return nil, "", 0, fmt.Errorf("unknown fault kind %q", s.Kind)
}

func (nm *nemesis) invoke(kind, detail string, node int32) {
	op := history.Op{Process: history.Nemesis, Type: history.Invoke, F: history.Fault, Fault: kind, Detail: detail, Node: node, Targets: nm.targets}
	if nm.leaders != nil && nm.targets != nil {
		op.Leaders = nm.leaders(context.Background())
	}
	nm.targets = nil
	nm.h.Add(op)
	nm.logf("fault %s: %s", kind, detail)
}

// healAll ends every fault there may be: rules flushed, paused nodes
// resumed, stopped or crashed nodes started again. It is recorded as one
// fault entry pair of kind "heal-all" naming what it did.
func (nm *nemesis) healAll() error {
	var did []string
	var errs []error
	for _, n := range nm.c.Nodes {
		if k, err := dropRules(n.ID); err != nil {
			errs = append(errs, err)
		} else if k > 0 {
			did = append(did, fmt.Sprintf("node %d: %d drop rules removed", n.ID, k))
		}
		errs = append(errs, healNet(n.ID))
		n.mu.Lock()
		paused, running := n.paused, n.cmd != nil
		n.mu.Unlock()
		if paused {
			n.signal(syscall.SIGCONT, 0)
			did = append(did, fmt.Sprintf("node %d resumed", n.ID))
		}
		if !running {
			errs = append(errs, n.start())
			did = append(did, fmt.Sprintf("node %d started", n.ID))
		}
	}
	detail := "nothing to heal"
	if len(did) > 0 {
		detail = strings.Join(did, "; ")
	}
	nm.invoke("heal-all", detail, 0)
	op := history.Op{Process: history.Nemesis, Type: history.OK, F: history.Fault, Fault: "heal-all", Detail: detail}
	err := errors.Join(errs...)
	if err != nil {
		op.Type, op.Error = history.Info, err.Error()
	}
	nm.h.Add(op)
	return err
}

// brokerID maps a broker address back to its node id.
func (c *Cluster) brokerID(addr string) int32 {
	for _, n := range c.Nodes {
		if n.Addr() == addr {
			return n.ID
		}
	}
	return 0
}
