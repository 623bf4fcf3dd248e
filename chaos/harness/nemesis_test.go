package harness

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func stepEqual(a, b Step) bool {
	return a.At == b.At && a.Dur == b.Dur && a.Kind == b.Kind && a.Partition == b.Partition && a.Pick == b.Pick &&
		a.Restore == b.Restore && a.Overlap == b.Overlap &&
		slices.Equal(a.Nodes, b.Nodes) && slices.Equal(a.Peers, b.Peers) && slices.Equal(a.Drops, b.Drops)
}

var layouts = []struct {
	name string
	ids  []int32
}{{Combined, []int32{1, 2, 3}}, {Isolated, []int32{1, 2, 3, 4, 5, 6}}}

// TestSchedule: the schedule is a function of the seed, fits the run,
// pauses outlast the broker session, and every kind is scheduled.
func TestSchedule(t *testing.T) {
	const d = time.Minute
	for _, l := range layouts {
		for _, kinds := range [][]string{nil, AllKinds} {
			seen := map[string]bool{}
			differ := false
			first := Schedule(1, l.name, l.ids, 3, d, kinds)
			for seed := uint64(1); seed <= 100; seed++ {
				a, b := Schedule(seed, l.name, l.ids, 3, d, kinds), Schedule(seed, l.name, l.ids, 3, d, kinds)
				if !slices.EqualFunc(a, b, stepEqual) {
					t.Fatalf("%s seed %d: two schedules differ", l.name, seed)
				}
				if seed > 1 && !slices.EqualFunc(a, first, stepEqual) {
					differ = true
				}
				for i, s := range a {
					seen[s.Kind] = true
					if kinds != nil && !slices.Contains(kinds, s.Kind) || kinds == nil && !slices.Contains(Kinds, s.Kind) {
						t.Errorf("%s seed %d: kind %s not asked for", l.name, seed, s.Kind)
					}
					if i > 0 && s.At < a[i-1].At {
						t.Errorf("%s seed %d: step %d starts at %v, before step %d at %v", l.name, seed, i, s.At, i-1, a[i-1].At)
					}
					if s.Dur <= 0 || s.At+s.Dur > d {
						t.Errorf("%s seed %d: %s at %v for %v ends after the run (%v)", l.name, seed, s.Kind, s.At, s.Dur, d)
					}
					if (s.Kind == Pause || s.Kind == PauseLeader) && s.Dur <= max(brokerSessionTimeout, replicaLagTimeMax) {
						t.Errorf("%s seed %d: pause of %v, not longer than the session and lag timeouts", l.name, seed, s.Dur)
					}
					if s.Kind == Kill && len(s.Nodes) == 2 && (s.Nodes[0] > 3 || s.Nodes[1] <= 3) {
						t.Errorf("%s seed %d: minority kill %v is not one controller and one broker", l.name, seed, s.Nodes)
					}
					if s.Kind == Reassign && (s.Partition < 0 || s.Partition >= 3) {
						t.Errorf("%s seed %d: reassign of partition %d", l.name, seed, s.Partition)
					}
				}
			}
			if !differ {
				t.Errorf("%s: every seed gives the same schedule", l.name)
			}
			want := kinds
			if want == nil {
				want = Kinds
			}
			for _, k := range want {
				if !seen[k] {
					t.Errorf("%s: fault kind %s never scheduled in 100 seeds", l.name, k)
				}
			}
		}
	}
}

// downNodes is who a process fault kills or pauses: its nodes, or for the
// leader kinds one node not known before the fault starts (0).
func downNodes(s Step) []int32 {
	switch s.Kind {
	case Kill, KillAll, Shutdown, Pause, Corrupt:
		return s.Nodes
	case KillLeader, PauseLeader:
		return []int32{0}
	}
	return nil
}

// TestScheduleOverlap: some steps overlap; never more than two faults at
// once, only compatible ones, an overlapping step starts inside the one
// before it, and no more than a minority of the nodes (of each role, in
// the isolated layout) is ever killed or paused, kill-all aside.
func TestScheduleOverlap(t *testing.T) {
	const d = time.Minute
	for _, l := range layouts {
		for _, kinds := range [][]string{nil, AllKinds, {Kill, PartitionOneWay}, {Kill, Pause}, {Reassign}} {
			// Two process faults, or two membership changes, never overlap.
			canOverlap := !slices.Equal(kinds, []string{Kill, Pause}) && !slices.Equal(kinds, []string{Reassign})
			overlaps := map[string]bool{}
			for seed := uint64(1); seed <= 200; seed++ {
				steps := Schedule(seed, l.name, l.ids, 3, d, kinds)
				for i, s := range steps {
					if !s.Overlap {
						continue
					}
					if i == 0 || steps[i-1].Overlap {
						t.Fatalf("%s seed %d: step %d overlaps no primary step", l.name, seed, i)
					}
					p := steps[i-1]
					if s.At <= p.At || s.At >= p.At+p.Dur {
						t.Errorf("%s seed %d: overlapping %s at %v is not inside %s %v..%v", l.name, seed, s.Kind, s.At, p.Kind, p.At, p.At+p.Dur)
					}
					overlaps[p.Kind+"+"+s.Kind] = true
				}
				active := map[int]bool{}
				for _, ev := range events(steps) {
					if ev.Heal {
						delete(active, ev.Step)
						continue
					}
					active[ev.Step] = true
					var on []Step
					for j := range active {
						on = append(on, steps[j])
					}
					if len(on) > 2 {
						t.Fatalf("%s seed %d: %d faults active at %v", l.name, seed, len(on), ev.At)
					}
					if len(on) == 2 && (on[0].Kind == KillAll && on[1].Kind == Reassign || on[0].Kind == Reassign && on[1].Kind == KillAll) {
						t.Errorf("%s seed %d: reassign during kill-all at %v", l.name, seed, ev.At)
					}
					if len(on) == 2 && !compatible(on[0].Kind, on[1].Kind) {
						t.Errorf("%s seed %d: %s and %s active at once at %v", l.name, seed, on[0].Kind, on[1].Kind, ev.At)
					}
					var down []int32
					killAll := false
					for _, s := range on {
						down = append(down, downNodes(s)...)
						killAll = killAll || s.Kind == KillAll
					}
					if killAll {
						if len(down) != len(l.ids) {
							t.Errorf("%s seed %d: kill-all with another process fault (%v) at %v", l.name, seed, down, ev.At)
						}
						continue
					}
					if err := minority(l.name, l.ids, down); err != nil {
						t.Errorf("%s seed %d at %v: %v", l.name, seed, ev.At, err)
					}
				}
			}
			if canOverlap && len(overlaps) < 2 {
				t.Errorf("%s kinds %v: overlapping pairs %v in 200 seeds", l.name, kinds, overlaps)
			}
			if !canOverlap && len(overlaps) > 0 {
				t.Errorf("%s kinds %v: incompatible faults overlapped: %v", l.name, kinds, overlaps)
			}
		}
	}
}

// minority checks that down is at most a minority: one node (combined),
// or at most one controller and one broker (isolated); 0 is a node not
// known in advance, and must be the only one down.
func minority(layout string, ids []int32, down []int32) error {
	if slices.Contains(down, 0) && len(down) > 1 {
		return fmt.Errorf("a leader fault while %v are down", down)
	}
	if layout == Combined {
		if len(down) > 1 {
			return fmt.Errorf("%v down of %v", down, ids)
		}
		return nil
	}
	var ctl, brk int
	for _, id := range down {
		if id >= 1 && id <= 3 {
			ctl++
		} else if id > 3 {
			brk++
		}
	}
	if ctl > 1 || brk > 1 {
		return fmt.Errorf("%v down: more than one controller or broker", down)
	}
	return nil
}

// TestScheduleRing: every ring step gives each node a majority of its
// group that includes itself, no two nodes the same, and drops only
// within the group; the isolated layout rings controllers and brokers
// separately.
func TestScheduleRing(t *testing.T) {
	rings := 0
	for _, l := range layouts {
		groups := roleGroups(l.name, l.ids)
		for seed := uint64(1); seed <= 100; seed++ {
			for _, s := range Schedule(seed, l.name, l.ids, 3, time.Minute, []string{PartitionRing, Kill}) {
				if s.Kind != PartitionRing {
					continue
				}
				rings++
				if got := sorted(s.Nodes); !slices.Equal(got, l.ids) {
					t.Errorf("%s seed %d: ring over %v, want every node %v", l.name, seed, s.Nodes, l.ids)
				}
				for _, g := range groups {
					seen := map[string]int32{}
					for _, id := range g {
						var sees []int32
						for _, from := range g {
							if !slices.Contains(s.Drops, Drop{From: from, To: id}) {
								sees = append(sees, from)
							}
						}
						if !slices.Contains(sees, id) || len(sees) != len(g)/2+1 {
							t.Errorf("%s seed %d: node %d sees %v of %v", l.name, seed, id, sees, g)
						}
						key := fmt.Sprint(sees)
						if other, dup := seen[key]; dup {
							t.Errorf("%s seed %d: nodes %d and %d both see %v", l.name, seed, other, id, sees)
						}
						seen[key] = id
					}
				}
				for _, dr := range s.Drops {
					same := false
					for _, g := range groups {
						same = same || slices.Contains(g, dr.From) && slices.Contains(g, dr.To)
					}
					if !same || dr.From == dr.To {
						t.Errorf("%s seed %d: drop %v crosses groups %v", l.name, seed, dr, groups)
					}
				}
			}
		}
	}
	if rings == 0 {
		t.Fatal("no partition-ring step in 200 schedules")
	}
	// The three-node ring of the issue: a sees {a,b}, b {b,c}, c {c,a}.
	if got, want := views([][]int32{{1, 2, 3}}, ringDrops([]int32{1, 2, 3})), "1 sees [1 2], 2 sees [2 3], 3 sees [1 3]"; got != want {
		t.Errorf("ring 1 2 3: %s, want %s", got, want)
	}
}

// TestReorder: the new replica order is a permutation whose preferred
// replica is not the leader, chosen by pick.
func TestReorder(t *testing.T) {
	replicas := []int32{2, 3, 1}
	for _, leader := range []int32{2, 3, 1, -1, 7} {
		results := map[string]bool{}
		for pick := uint64(0); pick < 32; pick++ {
			got := reorder(replicas, leader, pick)
			if !slices.Equal(sorted(got), []int32{1, 2, 3}) {
				t.Fatalf("reorder(%v, %d, %d) = %v: not a permutation", replicas, leader, pick, got)
			}
			if got[0] == leader || !slices.Contains(replicas, leader) && got[0] == replicas[0] {
				t.Errorf("reorder(%v, %d, %d) = %v: the preferred leader does not change", replicas, leader, pick, got)
			}
			if again := reorder(replicas, leader, pick); !slices.Equal(again, got) {
				t.Errorf("reorder(%v, %d, %d) gave %v then %v", replicas, leader, pick, got, again)
			}
			results[fmt.Sprint(got)] = true
		}
		if len(results) < 3 {
			t.Errorf("leader %d: only orders %v", leader, results)
		}
	}
	if got := reorder([]int32{4}, 4, 9); !slices.Equal(got, []int32{4}) {
		t.Errorf("one replica: %v", got)
	}
}

// TestEvents: starts and ends in time order, an end first at a tie.
func TestEvents(t *testing.T) {
	steps := []Step{{At: 1 * time.Second, Dur: 2 * time.Second}, {At: 2 * time.Second, Dur: 3 * time.Second}, {At: 3 * time.Second, Dur: time.Second}}
	got := events(steps)
	want := []event{{time.Second, 0, false}, {2 * time.Second, 1, false}, {3 * time.Second, 0, true}, {3 * time.Second, 2, false}, {4 * time.Second, 2, true}, {5 * time.Second, 1, true}}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// fakeFilter models the part of a node's iptables filter table the
// harness uses, with iptables's refusals: -N of a chain that exists, -X of
// a chain that is referenced or not empty, rules in a missing chain,
// deleting a rule that is not there.
type fakeFilter struct{ chains map[string][]string }

func newFakeFilter() *fakeFilter {
	return &fakeFilter{chains: map[string][]string{"INPUT": nil}}
}

func (f *fakeFilter) apply(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command")
	}
	op, rest := args[0], args[1:]
	chain := ""
	if len(rest) > 0 {
		chain = rest[0]
	}
	rule := strings.Join(rest[min(1, len(rest)):], " ")
	_, exists := f.chains[chain]
	referenced := func(c string) bool {
		for _, rules := range f.chains {
			if slices.Contains(rules, "-j "+c) {
				return true
			}
		}
		return false
	}
	switch {
	case op == "-N":
		if exists {
			return fmt.Errorf("chain %s already exists", chain)
		}
		f.chains[chain] = nil
	case op == "-A" || op == "-I" || op == "-D":
		if !exists {
			return fmt.Errorf("no chain %s", chain)
		}
		if target, ok := strings.CutPrefix(rule, "-j "); ok && target != "DROP" {
			if _, ok := f.chains[target]; !ok {
				return fmt.Errorf("jump to missing chain %s", target)
			}
		}
		switch op {
		case "-A":
			f.chains[chain] = append(f.chains[chain], rule)
		case "-I":
			f.chains[chain] = append([]string{rule}, f.chains[chain]...)
		case "-D":
			i := slices.Index(f.chains[chain], rule)
			if i < 0 {
				return fmt.Errorf("no rule %q in %s", rule, chain)
			}
			f.chains[chain] = slices.Delete(f.chains[chain], i, i+1)
		}
	case op == "-F" && chain == "":
		for c := range f.chains {
			f.chains[c] = nil
		}
	case op == "-F":
		if !exists {
			return fmt.Errorf("no chain %s", chain)
		}
		f.chains[chain] = nil
	case op == "-X":
		targets := []string{chain}
		if chain == "" {
			targets = nil
			for c := range f.chains {
				if c != "INPUT" {
					targets = append(targets, c)
				}
			}
		} else if !exists || chain == "INPUT" {
			return fmt.Errorf("cannot delete chain %q", chain)
		}
		for _, c := range targets {
			if len(f.chains[c]) > 0 || referenced(c) {
				return fmt.Errorf("chain %s is not empty or is referenced", c)
			}
			delete(f.chains, c)
		}
	default:
		return fmt.Errorf("unknown command %v", args)
	}
	return nil
}

// drops reports whether a packet from node from is dropped: INPUT and
// the chains it jumps to, in order.
func (f *fakeFilter) drops(from int32) bool {
	var walk func(chain string) bool
	walk = func(chain string) bool {
		for _, r := range f.chains[chain] {
			if r == "-s "+NodeIP(from)+" -j DROP" {
				return true
			}
			if target, ok := strings.CutPrefix(r, "-j "); ok && walk(target) {
				return true
			}
		}
		return false
	}
	return walk("INPUT")
}

// fakeNet is a filter table per node.
type fakeNet map[int32]*fakeFilter

func (n fakeNet) node(id int32) *fakeFilter {
	if n[id] == nil {
		n[id] = newFakeFilter()
	}
	return n[id]
}

func (n fakeNet) run(t *testing.T, id int32, cmds [][]string) {
	t.Helper()
	for _, c := range cmds {
		if err := n.node(id).apply(c); err != nil {
			t.Fatalf("node %d: iptables %v: %v", id, c, err)
		}
	}
}

// add applies drops as fault chain, as nemesis.drop does.
func (n fakeNet) add(t *testing.T, chain string, drops []Drop) []int32 {
	t.Helper()
	targets, from := byTarget(drops)
	for _, to := range targets {
		n.run(t, to, dropArgs(chain, from[to]))
	}
	return targets
}

// dropped is every (from, to) pair dropped, over nodes 1-3.
func (n fakeNet) dropped() []Drop {
	var out []Drop
	for to := int32(1); to <= 3; to++ {
		for from := int32(1); from <= 3; from++ {
			if n.node(to).drops(from) {
				out = append(out, Drop{From: from, To: to})
			}
		}
	}
	return out
}

// TestRuleComposition: two network faults active at once, one drop in
// common; healing one leaves exactly the other's drops, healing both
// leaves no rule and no chain, and heal-all removes everything.
func TestRuleComposition(t *testing.T) {
	one := cutDrops([]int32{1}, []int32{2, 3})        // node 1 cut off
	two := []Drop{{From: 1, To: 3}, {From: 2, To: 3}} // node 3 hears neither 1 nor 2
	ring := ringDrops([]int32{1, 2, 3})               // 1 drops 3, 2 drops 1, 3 drops 2
	set := func(ds ...[]Drop) []Drop {
		var out []Drop
		for _, d := range ds {
			for _, x := range d {
				if !slices.Contains(out, x) {
					out = append(out, x)
				}
			}
		}
		slices.SortFunc(out, func(a, b Drop) int { return int(a.To-b.To)*10 + int(a.From-b.From) })
		return out
	}
	net := fakeNet{}
	t1 := net.add(t, faultChain(1), one)
	t2 := net.add(t, faultChain(2), two)
	if got, want := net.dropped(), set(one, two); !slices.Equal(got, want) {
		t.Fatalf("both faults: dropped %v, want %v", got, want)
	}
	for _, id := range t1 {
		net.run(t, id, undropArgs(faultChain(1)))
	}
	if got, want := net.dropped(), set(two); !slices.Equal(got, want) {
		t.Fatalf("after healing the first: dropped %v, want the second's %v", got, want)
	}
	t3 := net.add(t, faultChain(3), ring)
	if got, want := net.dropped(), set(two, ring); !slices.Equal(got, want) {
		t.Fatalf("second and ring: dropped %v, want %v", got, want)
	}
	for _, id := range t2 {
		net.run(t, id, undropArgs(faultChain(2)))
	}
	if got, want := net.dropped(), set(ring); !slices.Equal(got, want) {
		t.Fatalf("ring alone: dropped %v, want %v", got, want)
	}
	for _, id := range t3 {
		net.run(t, id, undropArgs(faultChain(3)))
	}
	for id, f := range net {
		if len(f.chains) != 1 || len(f.chains["INPUT"]) != 0 {
			t.Errorf("node %d after every heal: %v", id, f.chains)
		}
	}
	// Heal-all with two faults on.
	net.add(t, faultChain(4), one)
	net.add(t, faultChain(5), ring)
	for id := int32(1); id <= 3; id++ {
		net.run(t, id, healArgs())
	}
	if got := net.dropped(); len(got) > 0 {
		t.Errorf("after heal-all: dropped %v", got)
	}
	for id, f := range net {
		if len(f.chains) != 1 {
			t.Errorf("node %d after heal-all: chains %v", id, f.chains)
		}
	}
	// The same chain twice is refused, as iptables would.
	if err := net.node(1).apply([]string{"-N", "x"}); err != nil {
		t.Fatal(err)
	}
	if err := net.node(1).apply([]string{"-N", "x"}); err == nil {
		t.Error("the fake accepted a chain twice")
	}
}

// TestCutDrops: a cut drops both ways between the sides and nothing else.
func TestCutDrops(t *testing.T) {
	got := cutDrops([]int32{1}, []int32{2, 3})
	want := []Drop{{From: 2, To: 1}, {From: 1, To: 2}, {From: 3, To: 1}, {From: 1, To: 3}}
	if !slices.Equal(got, want) {
		t.Errorf("cut 1 | 2 3: %v, want %v", got, want)
	}
	to, from := byTarget(got)
	if !slices.Equal(to, []int32{1, 2, 3}) || !slices.Equal(from[1], []int32{2, 3}) || !slices.Equal(from[2], []int32{1}) {
		t.Errorf("by target: %v %v", to, from)
	}
}

// TestRuleCompositionIptables: the same in a real namespace (root, like
// the other harness tests): two faults' chains, one healed, the other's
// rules still there; heal-all leaves no rule and no chain.
func TestRuleCompositionIptables(t *testing.T) {
	if err := Probe(); err != nil {
		t.Fatal(err) // the harness needs root, ip and iptables: CI runs as root
	}
	lk, err := lock(10 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	const id = 9
	if err := run("ip", "netns", "add", nsName(id)); err != nil {
		t.Fatal(err)
	}
	defer run("ip", "netns", "del", nsName(id))
	rules := func() string {
		out, err := output("ip", "netns", "exec", nsName(id), "iptables", "-w", "-S")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := iptables(id, dropArgs(faultChain(1), []int32{1, 2}), false); err != nil {
		t.Fatal(err)
	}
	if err := iptables(id, dropArgs(faultChain(2), []int32{2, 3}), false); err != nil {
		t.Fatal(err)
	}
	if n, err := dropRules(id); err != nil || n != 4 {
		t.Fatalf("two faults: %d drop rules (%v), want 4:\n%s", n, err, rules())
	}
	if err := iptables(id, undropArgs(faultChain(1)), true); err != nil {
		t.Fatal(err)
	}
	got := rules()
	for _, want := range []string{"-A INPUT -j " + faultChain(2), "-A " + faultChain(2) + " -s " + NodeIP(2) + "/32 -j DROP", "-A " + faultChain(2) + " -s " + NodeIP(3) + "/32 -j DROP"} {
		if !strings.Contains(got, want) {
			t.Errorf("after healing the first fault, %q is missing:\n%s", want, got)
		}
	}
	if strings.Contains(got, faultChain(1)+" ") || strings.Contains(got, NodeIP(1)) {
		t.Errorf("after healing the first fault, its rules remain:\n%s", got)
	}
	if err := iptables(id, dropArgs(faultChain(3), []int32{1}), false); err != nil {
		t.Fatal(err)
	}
	if err := healNet(id); err != nil {
		t.Fatal(err)
	}
	if got := rules(); strings.Contains(got, "DROP") || strings.Contains(got, "samsa-f") {
		t.Errorf("after heal-all:\n%s", got)
	}
}
