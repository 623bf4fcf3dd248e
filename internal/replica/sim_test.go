package replica

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A pure model of one partition on three replicas: logs as lists of
// entries, a controller that commits ISR changes fenced by leader and
// partition epoch and elects leaders from the ISR only, the leader's state
// in a Leader, and followers that fetch (sending their latest epoch,
// truncating on a diverging answer with TruncationState). Every entry that
// was ever below a leader's high watermark must stay in every later
// leader's log at its offset: acknowledged writes survive failovers.

type simEntry struct {
	epoch int32
	id    int
}

type simNode struct {
	log      []simEntry
	assigned int32 // an epoch a leader recorded at its end before writing in it; -1
	hw       int64
	alive    bool
}

// epochs lists (epoch, start) like a leader-epoch cache.
func (n *simNode) epochs() epochs {
	var c epochs
	for i, e := range n.log {
		if len(c) == 0 || int64(e.epoch) > c[len(c)-1][0] {
			c = append(c, [2]int64{int64(e.epoch), int64(i)})
		}
	}
	if n.assigned >= 0 && (len(c) == 0 || int64(n.assigned) > c[len(c)-1][0]) {
		c = append(c, [2]int64{int64(n.assigned), int64(len(n.log))})
	}
	return c
}

func (n *simNode) leo() int64 { return int64(len(n.log)) }

// truncate is seglog's TruncateTo: data at and after to goes, and epochs
// that start there.
func (n *simNode) truncate(to int64) {
	if to < n.leo() {
		n.log = n.log[:to]
	}
	if n.assigned >= 0 && to <= n.leo() {
		n.assigned = -1
	}
	n.hw = min(n.hw, n.leo())
}

func TestSimulatedFailovers(t *testing.T) {
	seeds := 300
	for seed := range uint64(seeds) {
		simulate(t, seed)
	}
}

func simulate(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	const lag = 10 * time.Second
	now := time.Unix(0, 0)
	replicas := []int32{1, 2, 3}
	nodes := map[int32]*simNode{}
	for _, id := range replicas {
		nodes[id] = &simNode{assigned: -1, alive: true}
	}
	leader, leaderEpoch, partEpoch := int32(1), int32(0), int32(0)
	isr := slices.Clone(replicas)
	nodes[leader].assigned = 0
	rl := NewLeader(leader, leaderEpoch, partEpoch, replicas, isr, 0, 0, now, lag)
	if rng.IntN(2) == 0 {
		rl.SetMinISR(2)
	}
	type proposal struct {
		isr        []int32
		le, pe     int32
		inProgress bool
	}
	var prop proposal
	committed := map[int64]simEntry{}
	nextID := 0
	record := func() {
		ln := nodes[leader]
		for o := int64(0); o < rl.HighWatermark(); o++ {
			if c, ok := committed[o]; ok && c != ln.log[o] {
				t.Fatalf("seed %d: leader %d holds %v at committed offset %d, was %v", seed, leader, ln.log[o], o, c)
			}
			committed[o] = ln.log[o]
		}
		ln.hw = rl.HighWatermark()
	}
	checkLeader := func(step int) {
		ln := nodes[leader]
		for o, c := range committed {
			if o >= ln.leo() || ln.log[o] != c {
				t.Fatalf("seed %d step %d: committed offset %d (%v) lost on leader %d (LEO %d)", seed, step, o, c, leader, ln.leo())
			}
		}
	}
	for step := range 400 {
		switch r := rng.IntN(20); {
		case r < 4: // produce
			ln := nodes[leader]
			for range 1 + rng.IntN(3) {
				ln.log = append(ln.log, simEntry{leaderEpoch, nextID})
				nextID++
			}
			rl.LocalWritten(ln.leo())
			rl.LocalAppended(ln.leo())
		case r < 12: // a follower fetches
			id := replicas[rng.IntN(3)]
			f, ln := nodes[id], nodes[leader]
			if id == leader || !f.alive {
				break
			}
			fc, lc := f.epochs(), ln.epochs()
			last := fc.latest()
			off := f.leo()
			if last >= 0 {
				e, end := lc.endFor(ln.leo())(last)
				if e != last || end < off {
					to, _ := TruncationState(off, f.hw, fc.endFor(off), last, e, end)
					if to > off {
						t.Fatalf("seed %d: truncation up from %d to %d", seed, off, to)
					}
					f.truncate(to)
					break
				}
			}
			rl.FollowerFetched(id, off, ln.leo(), now)
			n := min(int64(1+rng.IntN(4)), ln.leo()-off)
			f.log = append(f.log, ln.log[off:off+n]...)
			f.hw = min(rl.HighWatermark(), f.leo())
		case r < 14:
			now = now.Add(time.Duration(rng.IntN(6000)) * time.Millisecond)
		case r < 16: // the leader asks for an ISR change
			if next, ok := rl.ISRUpdate(now); ok {
				rl.ISRPending(next)
				prop = proposal{next, leaderEpoch, partEpoch, true}
			}
		case r < 17: // the controller answers
			if !prop.inProgress {
				break
			}
			if prop.le == leaderEpoch && prop.pe == partEpoch {
				partEpoch++
				isr = slices.Clone(prop.isr)
			}
			rl.ISRCommitted(isr, partEpoch)
			prop = proposal{}
		case r < 18: // a follower dies or comes back
			id := replicas[rng.IntN(3)]
			if id != leader {
				nodes[id].alive = !nodes[id].alive
			}
		default: // the leader fails: a clean election from the ISR
			var cands []int32
			for _, id := range isr {
				if id != leader && nodes[id].alive {
					cands = append(cands, id)
				}
			}
			if len(cands) == 0 {
				break
			}
			old := leader
			leader = cands[rng.IntN(len(cands))]
			leaderEpoch++
			partEpoch++
			isr = slices.DeleteFunc(slices.Clone(isr), func(id int32) bool { return id == old })
			nodes[old].alive = rng.IntN(2) == 0
			ln := nodes[leader]
			if ln.epochs().latest() < leaderEpoch {
				ln.assigned = leaderEpoch
			}
			rl = NewLeader(leader, leaderEpoch, partEpoch, replicas, isr, ln.leo(), ln.hw, now, lag)
			if rng.IntN(2) == 0 {
				rl.SetMinISR(2)
			}
			prop = proposal{}
		}
		record()
		checkLeader(step)
	}
	if len(committed) == 0 {
		t.Fatalf("seed %d: nothing was ever committed", seed)
	}
}
