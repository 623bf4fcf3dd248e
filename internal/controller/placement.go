package controller

// Replica placement, after Kafka's StripedReplicaPlacer. The rule:
//
//   - Brokers are grouped by rack (brokers without a rack form one group).
//     Each partition takes its replicas from the racks in turn, so no rack
//     holds a second replica of a partition before every rack holds one;
//     successive partitions start one rack further on, which stripes
//     leaders and followers across racks and brokers.
//   - Within a rack, brokers are taken in turn as well, unfenced ones
//     first; a fenced broker is used only when the unfenced ones are
//     exhausted, and never as the first replica (the leader).
//   - Brokers in controlled shutdown take no new replicas.
//   - The starting rack and the starting broker within each rack are
//     random, and once every unfenced broker has started a partition the
//     order is reshuffled, so topics do not all begin on the same broker
//     and the same replica sets do not repeat.
//
// Then, one step past Kafka: the leader of each new partition (the first
// replica) is the unfenced replica of its set with the fewest preferred
// leaderships so far, counting the image's partitions and those placed
// before it (ties keep the placer's order). The replica sets, and so the
// rack rule, stay the placer's. The striped order alone can starve
// brokers of leadership until the next reshuffle (three racks of two
// brokers, two replicas per partition: brokers 1, 3 and 5 lead
// everything), and across topics it balances leaders only on average.
//
// The randomness is seeded from the topic id (and the partition count for
// CreatePartitions), so a placement is a pure function of the image and
// the ids; the ids come from Config.NewID.
//
// Refusals are Kafka's: a replication factor that is not positive, more
// replicas than registered brokers, or no unfenced broker at all are
// INVALID_REPLICATION_FACTOR.

import (
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

// placementSeed derives the placer's random source from a topic id and
// the first partition placed.
func placementSeed(id Uuid, first int32) *rand.Rand {
	a := binary.BigEndian.Uint64(id[:8])
	b := binary.BigEndian.Uint64(id[8:]) ^ uint64(uint32(first))
	return rand.New(rand.NewPCG(a, b))
}

// place returns n partitions' replica lists of rf brokers each.
func place(im *metadata.Image, rng *rand.Rand, n, rf int) ([][]int32, error) {
	if rf <= 0 {
		return nil, errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): Invalid replication factor %d: the replication factor must be positive.", rf, rf)
	}
	rl := newRackList(im, rng)
	if rf > rl.total {
		return nil, errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rf, rl.total)
	}
	if rl.unfenced == 0 {
		return nil, errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): All brokers are currently fenced.", rf)
	}
	out := make([][]int32, n)
	for i := range out {
		reps, ok := rl.place(rf)
		if !ok {
			return nil, errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): not enough usable brokers.", rf)
		}
		out[i] = reps
	}
	balanceLeaders(im, out)
	return out, nil
}

// balanceLeaders moves to the front of each replica list the unfenced
// replica with the fewest preferred leaderships (the image's and the
// lists' before it).
func balanceLeaders(im *metadata.Image, lists [][]int32) {
	count := map[int32]int{}
	for _, t := range im.Topics() {
		for _, p := range t.Partitions {
			if len(p.Replicas) > 0 {
				count[p.Replicas[0]]++
			}
		}
	}
	for _, reps := range lists {
		best := -1
		for i, r := range reps {
			if b := im.Broker(r); b == nil || b.Fenced {
				continue
			}
			if best < 0 || count[r] < count[reps[best]] {
				best = i
			}
		}
		if best > 0 {
			leader := reps[best]
			copy(reps[1:best+1], reps[:best])
			reps[0] = leader
		}
		if len(reps) > 0 {
			count[reps[0]]++
		}
	}
}

// brokerList hands out its brokers in turn: each iteration epoch (one
// partition) starts one further on, and returns each broker at most once.
type brokerList struct {
	ids    []int32
	index  int // how many were handed out in this epoch
	offset int // added to index, modulo len(ids)
	epoch  int
}

func (l *brokerList) next(epoch int) int32 {
	if len(l.ids) == 0 {
		return -1
	}
	if l.epoch != epoch {
		l.epoch, l.index = epoch, 0
		l.offset = (l.offset + 1) % len(l.ids)
	}
	if l.index >= len(l.ids) {
		return -1
	}
	id := l.ids[(l.index+l.offset)%len(l.ids)]
	l.index++
	return id
}

type rack struct {
	unfenced, fenced brokerList
}

// next returns the rack's next broker in this epoch, unfenced ones first.
func (r *rack) next(epoch int) int32 {
	if id := r.unfenced.next(epoch); id >= 0 {
		return id
	}
	return r.fenced.next(epoch)
}

type rackList struct {
	rng             *rand.Rand
	racks           []*rack // in rack-name order, the rackless group first
	total, unfenced int
	epoch           int // partitions placed since the last shuffle
	offset          int // the rack the next partition starts at
}

func newRackList(im *metadata.Image, rng *rand.Rand) *rackList {
	type key struct {
		has  bool
		name string
	}
	byRack := map[key]*rack{}
	var keys []key
	rl := &rackList{rng: rng}
	for _, b := range im.Brokers() {
		if b.InControlledShutdown {
			continue
		}
		k := key{}
		if b.Rack != nil {
			k = key{true, *b.Rack}
		}
		r := byRack[k]
		if r == nil {
			r = &rack{}
			byRack[k] = r
			keys = append(keys, k)
		}
		if b.Fenced {
			r.fenced.ids = append(r.fenced.ids, b.ID)
		} else {
			r.unfenced.ids = append(r.unfenced.ids, b.ID)
			rl.unfenced++
		}
		rl.total++
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.has != b.has {
			if a.has {
				return 1
			}
			return -1
		}
		return strings.Compare(a.name, b.name)
	})
	for _, k := range keys {
		r := byRack[k]
		for _, l := range []*brokerList{&r.unfenced, &r.fenced} {
			slices.SortFunc(l.ids, cmp.Compare[int32])
			if len(l.ids) > 0 {
				l.offset = rng.IntN(len(l.ids))
			}
		}
		rl.racks = append(rl.racks, r)
	}
	if len(rl.racks) > 0 {
		rl.offset = rng.IntN(len(rl.racks))
	}
	return rl
}

// place returns one partition's replicas: the first from the first rack
// (from the starting one on) with an unfenced broker left, the rest from
// the racks in turn from the starting one, skipping the first replica's
// rack once.
func (rl *rackList) place(rf int) ([]int32, bool) {
	if rl.epoch == rl.unfenced && rl.unfenced > 1 {
		rl.shuffle()
		rl.epoch = 0
	}
	if rl.offset >= len(rl.racks) {
		rl.offset = 0
	}
	reps := make([]int32, 0, rf)
	first := -1
	for i := 0; i < len(rl.racks); i++ {
		ri := (rl.offset + i) % len(rl.racks)
		if id := rl.racks[ri].unfenced.next(rl.epoch); id >= 0 {
			reps = append(reps, id)
			first = ri
			break
		}
	}
	if first < 0 {
		return nil, false
	}
	ri, misses := rl.offset, 0
	for len(reps) < rf {
		var id int32 = -1
		if ri == first {
			first = -1 // the leader's rack gave its replica already: skip it this once
		} else {
			id = rl.racks[ri].next(rl.epoch)
		}
		ri = (ri + 1) % len(rl.racks)
		if id < 0 {
			if misses++; misses > 2*len(rl.racks) {
				return nil, false // every rack is exhausted for this partition
			}
			continue
		}
		misses = 0
		reps = append(reps, id)
	}
	rl.epoch++
	rl.offset++
	return reps, true
}

// shuffle reorders the racks and each rack's brokers, and restarts every
// list's iteration so none carries an exhausted index into the new order.
func (rl *rackList) shuffle() {
	rl.rng.Shuffle(len(rl.racks), func(i, j int) { rl.racks[i], rl.racks[j] = rl.racks[j], rl.racks[i] })
	for _, r := range rl.racks {
		for _, l := range []*brokerList{&r.unfenced, &r.fenced} {
			rl.rng.Shuffle(len(l.ids), func(i, j int) { l.ids[i], l.ids[j] = l.ids[j], l.ids[i] })
			l.epoch = -1
		}
	}
}
