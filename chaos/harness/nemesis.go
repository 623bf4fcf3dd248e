package harness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/chaos/history"
)

// Fault kinds, as recorded in history.Op.Fault.
const (
	PartitionOne    = "partition-one"    // one node cut off from all others
	PartitionHalves = "partition-halves" // the nodes split in two halves
	PartitionLeader = "partition-leader" // a partition's leader, or the active controller, cut off
	PartitionOneWay = "partition-oneway" // packets from some nodes to others dropped, one way only
	// PartitionRing is a ring of overlapping majorities (Jepsen's
	// majorities ring): every node drops the packets of the nodes outside
	// the majority that starts at itself on a shuffled ring, so each sees
	// a majority including itself and no two see the same one. With three
	// nodes a, b, c: a sees {a,b}, b sees {b,c}, c sees {c,a}, by one-way
	// drops (a drops c's packets, b a's, c b's). In the isolated layout
	// the ring is per role: one over the three controllers (the Raft
	// quorum) and one over the three brokers (the replicas), with
	// controller-broker traffic left alone, so that each quorum gets the
	// treatment rather than a ring of six that mixes the roles.
	PartitionRing = "partition-ring"
	Kill          = "kill"         // kill -9 of one node or a minority, restarted at heal
	KillAll       = "kill-all"     // kill -9 of every node, restarted at heal
	Shutdown      = "shutdown"     // a controlled shutdown (SIGTERM) of one node, restarted at heal
	KillLeader    = "kill-leader"  // kill -9 of a partition's leader, restarted at heal
	Pause         = "pause"        // SIGSTOP of one node, SIGCONT at heal
	PauseLeader   = "pause-leader" // SIGSTOP of a partition's leader
	// Reassign is a membership change of one partition: its replica list
	// reordered (with three brokers and RF 3 the set cannot change) so
	// that the preferred leader is not the current leader, by
	// AlterPartitionReassignments, then a preferred leader election; at
	// heal, for some steps, the original order is restored and elected
	// again. What the cluster answers is recorded; a refusal is not a
	// failure to inject.
	Reassign = "reassign"
	// Corrupt kills one node, flips a bit in or truncates one of its
	// segment, index, Raft log or snapshot files, and restarts it at heal.
	Corrupt = "corrupt"
)

// Kinds lists the fault kinds a schedule picks from by default.
var Kinds = []string{PartitionOne, PartitionHalves, PartitionLeader, PartitionOneWay, PartitionRing, Kill, KillLeader, KillAll, Shutdown, Pause, PauseLeader, Reassign}

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
	// whose packets are dropped on their way to Peers; for partition-ring
	// the ring (isolated: the controllers' ring, then the brokers').
	Nodes     []int32
	Peers     []int32
	Partition int32
	// Drops are partition-ring's one-way drops.
	Drops []Drop
	// Pick chooses the file and the damage of a Corrupt fault, and the
	// new replica order of a Reassign.
	Pick uint64
	// Restore: a Reassign puts the original replica order back at heal.
	Restore bool
	// Overlap: the step starts while the one before it is active.
	Overlap bool
}

// Fault categories: at most two faults are active at once, and two
// overlap only if they are not both process faults (so no more than a
// minority of the nodes is ever killed or paused, kill-all aside) and not
// both membership changes. Network faults compose with anything.
const (
	catNet = iota
	catProcess
	catAdmin
)

func category(kind string) int {
	switch kind {
	case PartitionOne, PartitionHalves, PartitionLeader, PartitionOneWay, PartitionRing:
		return catNet
	case Reassign:
		return catAdmin
	}
	return catProcess
}

// compatible reports whether faults of kinds a and b may be active at once.
// A membership change during kill-all could not even read the metadata.
func compatible(a, b string) bool {
	if a == KillAll && b == Reassign || a == Reassign && b == KillAll {
		return false
	}
	ca, cb := category(a), category(b)
	return ca != cb || ca == catNet
}

// Schedule is the faults of a run, reproducible from seed, of the kinds
// given (nil: Kinds), separated by calm gaps, sometimes a slot without
// any fault, none ending after d. One fault in four (decided by a random
// stream of its own, so the rest of the schedule is the same as without
// overlaps) has a second, compatible fault start during it; the next
// fault starts after both end. ids are the nodes (controllers first for
// the isolated layout), partitions the topic's partition count.
func Schedule(seed uint64, layout string, ids []int32, partitions int, d time.Duration, kinds []string) []Step {
	if len(kinds) == 0 {
		kinds = Kinds
	}
	r := rand.New(rand.NewPCG(seed, 0x5a3a14))
	ov := rand.New(rand.NewPCG(seed, 0x0e7a11))
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
		s := newStep(r, layout, ids, partitions, kinds[r.IntN(len(kinds))], at, dur)
		if s.At+s.Dur > d {
			return steps
		}
		steps = append(steps, s)
		end := s.At + s.Dur
		if ov.IntN(4) == 0 {
			var fit []string
			for _, k := range kinds {
				if compatible(s.Kind, k) {
					fit = append(fit, k)
				}
			}
			if len(fit) > 0 {
				oat := s.At + between(ov, s.Dur/5, s.Dur*4/5)
				o := newStep(ov, layout, ids, partitions, fit[ov.IntN(len(fit))], oat, between(ov, 2*time.Second, 5*time.Second))
				if o.At+o.Dur <= d {
					o.Overlap = true
					steps = append(steps, o)
					end = max(end, o.At+o.Dur)
				}
			}
		}
		at = end
	}
}

// newStep draws a step of kind at at, lasting dur (pauses longer).
func newStep(r *rand.Rand, layout string, ids []int32, partitions int, kind string, at, dur time.Duration) Step {
	s := Step{At: at, Dur: dur, Kind: kind, Partition: int32(r.IntN(partitions+1)) - 1, Pick: r.Uint64()}
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
	case PartitionRing:
		for _, g := range roleGroups(layout, ids) {
			ring := slices.Clone(g)
			r.Shuffle(len(ring), func(i, j int) { ring[i], ring[j] = ring[j], ring[i] })
			s.Nodes = append(s.Nodes, ring...)
			s.Drops = append(s.Drops, ringDrops(ring)...)
		}
	case Kill:
		s.Nodes = shuffled[:1]
		if layout == Isolated && r.IntN(2) == 0 {
			// A minority of each role: one controller, one broker.
			s.Nodes = []int32{ids[r.IntN(3)], ids[3+r.IntN(3)]}
		}
	case Reassign:
		s.Partition = int32(s.Pick % uint64(partitions))
		s.Restore = r.IntN(2) == 0
	}
	if s.Kind == Pause || s.Kind == PauseLeader {
		// Longer than the broker session and the replica lag time.
		s.Dur = max(brokerSessionTimeout, replicaLagTimeMax) + between(r, time.Second, 3*time.Second)
	}
	return s
}

// roleGroups are the groups a ring runs over: every node (combined), or
// the controllers and the brokers (isolated, controllers first in ids).
func roleGroups(layout string, ids []int32) [][]int32 {
	if layout == Isolated && len(ids) == 6 {
		return [][]int32{ids[:3], ids[3:]}
	}
	return [][]int32{ids}
}

// ringDrops are the drops of a ring of majorities over ring: the node at
// position i sees the majority ring[i], ring[i+1], ... (n/2+1 nodes,
// wrapping) and drops the packets of the others. The majorities differ
// from node to node because their starts do.
func ringDrops(ring []int32) []Drop {
	n := len(ring)
	m := n/2 + 1
	var drops []Drop
	for i, to := range ring {
		for k := m; k < n; k++ {
			drops = append(drops, Drop{From: ring[(i+k)%n], To: to})
		}
	}
	return drops
}

// views says, for each node a set of drops touches, which nodes of its
// group it still receives from: "a sees [a b]".
func views(groups [][]int32, drops []Drop) string {
	var parts []string
	for _, g := range groups {
		for _, id := range g {
			var sees []int32
			for _, from := range g {
				if !slices.Contains(drops, Drop{From: from, To: id}) {
					sees = append(sees, from)
				}
			}
			parts = append(parts, fmt.Sprintf("%d sees %v", id, sees))
		}
	}
	return strings.Join(parts, ", ")
}

// cutDrops are the drops that cut every node of a from every node of b,
// both ways.
func cutDrops(a, b []int32) []Drop {
	var drops []Drop
	for _, x := range a {
		for _, y := range b {
			drops = append(drops, Drop{From: y, To: x}, Drop{From: x, To: y})
		}
	}
	return drops
}

// reorder is a new order of replicas whose first (the preferred leader)
// is not leader, chosen by pick: another replica first, the rest in a
// rotation of their order. One replica cannot be reordered.
func reorder(replicas []int32, leader int32, pick uint64) []int32 {
	n := len(replicas)
	if n < 2 {
		return slices.Clone(replicas)
	}
	var firsts []int32
	for _, id := range replicas {
		if id != leader {
			firsts = append(firsts, id)
		}
	}
	if len(firsts) == n { // the leader is not a replica (or unknown): move off the preferred one
		firsts = firsts[1:]
	}
	first := firsts[pick%uint64(len(firsts))]
	var rest []int32
	for _, id := range replicas {
		if id != first {
			rest = append(rest, id)
		}
	}
	k := int((pick / uint64(len(firsts))) % uint64(len(rest)))
	return append([]int32{first}, append(rest[k:], rest[:k]...)...)
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
	chains  int         // network faults so far, naming their chains
	kcl     *kgo.Client // the admin client of Reassign, made when needed
}

// event is the start or the end of step Step of a schedule.
type event struct {
	At   time.Duration
	Step int
	Heal bool
}

// events are a schedule's starts and ends in time order, an end before a
// start at the same time (a fault is over before the next begins).
func events(steps []Step) []event {
	var evs []event
	for i, s := range steps {
		evs = append(evs, event{At: s.At, Step: i}, event{At: s.At + s.Dur, Step: i, Heal: true})
	}
	slices.SortStableFunc(evs, func(a, b event) int {
		if a.At != b.At {
			return cmp.Compare(a.At, b.At)
		}
		if a.Heal != b.Heal {
			if a.Heal {
				return -1
			}
			return 1
		}
		return 0
	})
	return evs
}

// run plays steps, counting time from start, until they end or ctx does;
// faults in progress are healed either way. Events happen in the
// schedule's order, whatever injecting or healing takes: the time one
// takes (a controlled shutdown may take seconds) delays every later
// event by as much, so no two faults are ever active at once that the
// schedule does not overlap, and every fault lasts at least its Dur.
func (nm *nemesis) run(ctx context.Context, start time.Time, steps []Step) {
	defer func() {
		if nm.kcl != nil {
			nm.kcl.Close()
			nm.kcl = nil
		}
	}()
	type active struct {
		heal   func() (string, error)
		detail string
		node   int32
	}
	on := map[int]active{}
	var order []int // steps active, in the order they started
	healOne := func(i int) {
		a, ok := on[i]
		if !ok {
			return // it could not be injected
		}
		delete(on, i)
		order = slices.DeleteFunc(order, func(j int) bool { return j == i })
		s := steps[i]
		more, herr := a.heal()
		detail := a.detail
		if more != "" {
			detail += "; " + more
		}
		op := history.Op{Process: history.Nemesis, Type: history.OK, F: history.Fault, Fault: s.Kind, Detail: detail, Node: a.node}
		if herr != nil {
			op.Type, op.Error = history.Info, herr.Error()
		}
		nm.h.Add(op)
		nm.logf("healed %s (%s)", s.Kind, detail)
	}
	defer func() {
		for len(order) > 0 {
			healOne(order[len(order)-1])
		}
	}()
	var lag time.Duration
	for _, ev := range events(steps) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(ev.At + lag))):
		}
		began := time.Now()
		if ev.Heal {
			healOne(ev.Step)
		} else {
			s := steps[ev.Step]
			heal, detail, node, err := nm.inject(ctx, s)
			if err != nil {
				nm.h.Add(history.Op{Process: history.Nemesis, Type: history.Fail, F: history.Fault, Fault: s.Kind, Detail: detail, Node: node, Error: err.Error()})
				nm.logf("fault %s failed: %v", s.Kind, err)
			} else {
				nm.counts[s.Kind]++
				on[ev.Step] = active{heal, detail, node}
				order = append(order, ev.Step)
			}
		}
		lag += time.Since(began)
	}
}

// inject starts fault s, recording its invocation, and returns how to
// heal it (the heal may say what it did, for the record of the end).
func (nm *nemesis) inject(ctx context.Context, s Step) (heal func() (string, error), detail string, node int32, err error) {
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
	if s.Overlap {
		why += " (during another fault)"
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
	plain := func(f func() error) func() (string, error) {
		return func() (string, error) { return "", f() }
	}
	switch s.Kind {
	case PartitionOne, PartitionHalves, PartitionLeader:
		rest := others(nodes)
		detail = fmt.Sprintf("%v | %v%s", nodes, rest, why)
		nm.invoke(s.Kind, detail, node)
		h, err := nm.drop(cutDrops(nodes, rest))
		return plain(h), detail, node, err
	case PartitionOneWay:
		detail = fmt.Sprintf("packets from %v to %v dropped%s", nodes, s.Peers, why)
		nm.invoke(s.Kind, detail, node)
		var drops []Drop
		for _, from := range nodes {
			for _, to := range s.Peers {
				drops = append(drops, Drop{From: from, To: to})
			}
		}
		h, err := nm.drop(drops)
		return plain(h), detail, node, err
	case PartitionRing:
		groups := roleGroups(nm.c.Layout, all)
		var rings []string
		for i := 0; i < len(s.Nodes); i += len(groups[0]) {
			rings = append(rings, fmt.Sprint(s.Nodes[i:i+len(groups[0])]))
		}
		detail = fmt.Sprintf("ring %s: %s%s", strings.Join(rings, " "), views(groups, s.Drops), why)
		nm.invoke(s.Kind, detail, node)
		h, err := nm.drop(s.Drops)
		return plain(h), detail, node, err
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
		return plain(func() error {
			var errs []error
			for _, id := range nodes {
				errs = append(errs, nm.c.Node(id).start())
			}
			return errors.Join(errs...)
		}), detail, node, nil
	case Corrupt:
		n := nm.c.Node(nodes[0])
		n.kill()
		damage, restore, cerr := corruptFile(n.DataDir(), s.Pick)
		detail = fmt.Sprintf("kill -9 [%d]; %s; restart at heal%s", n.ID, damage, why)
		nm.invoke(s.Kind, detail, node)
		if cerr != nil {
			return nil, detail, node, errors.Join(cerr, restore(), n.start())
		}
		return func() (string, error) { return restartCorrupted(n, restore, corruptGrace) }, detail, node, nil
	case Pause, PauseLeader:
		detail = fmt.Sprintf("SIGSTOP %v for %v%s", nodes, s.Dur.Round(time.Millisecond), why)
		nm.invoke(s.Kind, detail, node)
		for _, id := range nodes {
			nm.c.Node(id).signal(syscall.SIGSTOP, 0)
		}
		return plain(func() error {
			for _, id := range nodes {
				nm.c.Node(id).signal(syscall.SIGCONT, 0)
			}
			return nil
		}), detail, node, nil
	case Reassign:
		return nm.reassign(ctx, s, why)
	}
	return nil, "", 0, fmt.Errorf("unknown fault kind %q", s.Kind)
}

// drop applies drops as one network fault, in a chain of its own in each
// namespace concerned, and returns how to remove exactly those rules. If
// it cannot apply them all, it removes what it applied.
func (nm *nemesis) drop(drops []Drop) (func() error, error) {
	nm.chains++
	chain := faultChain(nm.chains)
	targets, from := byTarget(drops)
	var touched []int32
	undo := func() error {
		var errs []error
		for _, id := range touched {
			errs = append(errs, iptables(id, undropArgs(chain), true))
		}
		return errors.Join(errs...)
	}
	for _, to := range targets {
		touched = append(touched, to)
		if err := iptables(to, dropArgs(chain, from[to]), false); err != nil {
			return nil, errors.Join(err, undo())
		}
	}
	return undo, nil
}

// partitionView is one broker's metadata of partition p of Topic.
type partitionView struct {
	Replicas, ISR       []int32
	Leader, LeaderEpoch int32
	Err                 error
}

func (v partitionView) String() string {
	if v.Err != nil {
		return fmt.Sprintf("no answer (%v)", v.Err)
	}
	return fmt.Sprintf("replicas %v leader %d epoch %d isr %v", v.Replicas, v.Leader, v.LeaderEpoch, v.ISR)
}

// viewOf asks broker id for partition p's metadata.
func (nm *nemesis) viewOf(ctx context.Context, id, p int32) partitionView {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(Topic)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := nm.kcl.Broker(int(id)).Request(rctx, req)
	if err != nil {
		return partitionView{Err: err}
	}
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		for _, mp := range t.Partitions {
			if mp.Partition == p {
				return partitionView{Replicas: mp.Replicas, ISR: mp.ISR, Leader: mp.Leader, LeaderEpoch: mp.LeaderEpoch}
			}
		}
	}
	return partitionView{Err: fmt.Errorf("partition %d not in the metadata", p)}
}

// views asks every broker for partition p's metadata.
func (nm *nemesis) views(ctx context.Context, p int32) map[int32]partitionView {
	out := map[int32]partitionView{}
	for _, id := range nm.c.brokerIDs() {
		out[id] = nm.viewOf(ctx, id, p)
	}
	return out
}

// freshest is the view of the highest leader epoch among vs.
func freshest(vs map[int32]partitionView) (partitionView, bool) {
	var best partitionView
	found := false
	for _, v := range vs {
		if v.Err == nil && len(v.Replicas) > 0 && (!found || v.LeaderEpoch > best.LeaderEpoch) {
			best, found = v, true
		}
	}
	return best, found
}

// brokerViews asks every broker for partition p's metadata until all of
// them list replicas and agree on the rest (up to 3 s), and says what they answered: one view
// if they agree, each broker's if not.
func (nm *nemesis) brokerViews(ctx context.Context, p int32, replicas []int32) string {
	ids := nm.c.brokerIDs()
	deadline := time.Now().Add(3 * time.Second)
	for {
		vs := nm.views(ctx, p)
		agree := true
		for _, id := range ids {
			agree = agree && vs[id].Err == nil && slices.Equal(vs[id].Replicas, replicas) && vs[id].String() == vs[ids[0]].String()
		}
		if agree || time.Now().After(deadline) || ctx.Err() != nil {
			var parts []string
			same := true
			for _, id := range ids {
				parts = append(parts, fmt.Sprintf("broker %d: %v", id, vs[id]))
				same = same && vs[id].String() == vs[ids[0]].String()
			}
			if same && len(ids) > 0 {
				return fmt.Sprintf("every broker says %v", vs[ids[0]])
			}
			return strings.Join(parts, "; ")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// admin is the admin client of membership changes.
func (nm *nemesis) admin() (*kadm.Client, error) {
	if nm.kcl == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(nm.c.Bootstrap()...), kgo.ClientID("chaos-nemesis"))
		if err != nil {
			return nil, err
		}
		nm.kcl = cl
	}
	adm := kadm.NewClient(nm.kcl)
	adm.SetTimeoutMillis(3000)
	return adm, nil
}

// reassign starts a Reassign: it reads the partition's replicas and
// leader, records the plan, asks for the new order and a preferred
// election, and returns a heal that reports the outcome and, for a
// Restore step, asks for the original order back. The cluster's answers
// are the fault's outcome, written in the detail of its end; only not
// knowing the replicas at all is a failure to inject.
func (nm *nemesis) reassign(ctx context.Context, s Step, why string) (func() (string, error), string, int32, error) {
	adm, err := nm.admin()
	if err != nil {
		return nil, "", 0, err
	}
	p := s.Partition
	// The freshest metadata any broker has: a broker cut off from the
	// controller for a while may answer with an older state.
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = adm.BrokerMetadata(mctx) // the client learns the brokers
	cancel()
	if err != nil {
		return nil, fmt.Sprintf("partition %d: replicas unknown%s", p, why), 0, err
	}
	vs := nm.views(ctx, p)
	pd, ok := freshest(vs)
	if !ok {
		var errs []error
		for _, v := range vs {
			errs = append(errs, v.Err)
		}
		return nil, fmt.Sprintf("partition %d: replicas unknown%s", p, why), 0, errors.Join(errs...)
	}
	orig := slices.Clone(pd.Replicas)
	target := reorder(orig, pd.Leader, s.Pick)
	restore := ", kept at heal"
	if s.Restore {
		restore = ", restored at heal"
	}
	detail := fmt.Sprintf("partition %d replicas %v -> %v (leader %d), preferred election%s%s", p, orig, target, pd.Leader, restore, why)
	var differ []string
	for _, id := range nm.c.brokerIDs() {
		if v := vs[id]; v.String() != pd.String() {
			differ = append(differ, fmt.Sprintf("broker %d: %v", id, v))
		}
	}
	if len(differ) > 0 {
		detail += fmt.Sprintf(" (from the freshest metadata, %v; %s)", pd, strings.Join(differ, "; "))
	}
	node := target[0]
	// The leader the preferred election moves away from is the target
	// (the checker's unavailability after leader faults).
	nm.targets = []int32{pd.Leader}
	nm.invoke(s.Kind, detail, node)
	outcome := nm.move(ctx, adm, p, target)
	nm.logf("reassign partition %d: %s", p, outcome)
	return func() (string, error) {
		said := "moved: " + outcome
		if s.Restore {
			said += "; restored: " + nm.move(context.Background(), adm, p, orig)
		}
		return said, nil
	}, detail, node, nil
}

// move asks for partition p's replicas to be replicas, waits a little for
// the reassignment to complete, elects the preferred leader and says what
// the cluster answered to each.
func (nm *nemesis) move(ctx context.Context, adm *kadm.Client, p int32, replicas []int32) string {
	ctx, cancel := context.WithTimeout(ctx, 12*time.Second)
	defer cancel()
	var said []string
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(Topic, p, replicas)
	rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
	rs, err := adm.AlterPartitionAssignments(rctx, req)
	rcancel()
	switch r, ok := rs[Topic][p]; {
	case err != nil:
		said = append(said, fmt.Sprintf("reassignment indeterminate (%v)", err))
	case !ok:
		said = append(said, "reassignment: no answer for the partition")
	case r.Err != nil:
		said = append(said, fmt.Sprintf("reassignment refused (%v %s)", r.Err, r.ErrMessage))
	default:
		said = append(said, "reassignment accepted")
		// A reorder adds no replica and completes at once; wait a
		// little in case it does not.
		for deadline := time.Now().Add(3 * time.Second); ; {
			lctx, lcancel := context.WithTimeout(ctx, 2*time.Second)
			ls, lerr := adm.ListPartitionReassignments(lctx, kadm.TopicsSet{Topic: {p: {}}})
			lcancel()
			if lerr == nil {
				if _, ongoing := ls[Topic][p]; !ongoing {
					break
				}
			}
			if time.Now().After(deadline) {
				said = append(said, fmt.Sprintf("still in progress after 3s (%v)", lerr))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ectx, ecancel := context.WithTimeout(ctx, 3*time.Second)
	es, err := adm.ElectLeaders(ectx, kadm.ElectPreferredReplica, kadm.TopicsSet{Topic: {p: {}}})
	ecancel()
	switch e, ok := es[Topic][p]; {
	case err != nil:
		said = append(said, fmt.Sprintf("election indeterminate (%v)", err))
	case !ok:
		said = append(said, "election: no answer for the partition")
	case e.Err != nil:
		said = append(said, fmt.Sprintf("election refused (%v %s)", e.Err, e.ErrMessage))
	default:
		said = append(said, "preferred leader elected")
	}
	said = append(said, nm.brokerViews(ctx, p, replicas))
	return strings.Join(said, ", ")
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

// brokerIDs are the ids of the broker nodes.
func (c *Cluster) brokerIDs() []int32 {
	var ids []int32
	for _, n := range c.Nodes {
		if n.Broker {
			ids = append(ids, n.ID)
		}
	}
	return ids
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
