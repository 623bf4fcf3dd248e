package replica

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestLeaderRandomWalk drives a leader with random appends, syncs, follower
// fetches (each follower's offset only grows, never past the leader's LEO),
// clock steps and ISR round trips (the controller accepts or refuses), and
// checks after every call:
//   - the high watermark never goes back;
//   - when it moves, every member of the maximal ISR and the leader's durable
//     end hold it (an acks=all produce completes only once every replica that
//     counts has the data durably);
//   - with SetMinISR, it moves only while the ISR is large enough;
//   - the leader stays in every ISR it proposes;
//
// and at the end, once every follower fetched the whole log, all of them are
// back in the ISR and the high watermark is the leader's end.
func TestLeaderRandomWalk(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 3))
		t0 := time.Unix(1000, 0)
		now := t0
		replicas := []int32{1, 2, 3, 4}[:2+rng.IntN(3)]
		isr := slices.Clone(replicas)
		if rng.IntN(2) == 0 {
			isr = isr[:1+rng.IntN(len(isr))]
		}
		leo := int64(rng.IntN(50))
		hw0 := int64(rng.IntN(int(leo) + 1))
		durable := leo
		l := NewLeader(1, 3, 10, replicas, isr, leo, hw0, now, 10*time.Second)
		minISR := 0
		if rng.IntN(3) == 0 {
			minISR = 2
			l.SetMinISR(minISR)
		}
		fol := map[int32]int64{}
		for _, id := range replicas[1:] {
			fol[id] = hw0 - int64(rng.IntN(int(hw0)+1)) // somewhere at or below the old hw
		}
		pe := int32(10)
		var proposed []int32
		hw := l.HighWatermark()
		check := func(step int, moved bool) {
			t.Helper()
			got := l.HighWatermark()
			if got < hw {
				t.Fatalf("seed %d step %d: hw went back %d -> %d", seed, step, hw, got)
			}
			if moved != (got != hw) {
				t.Fatalf("seed %d step %d: moved=%v but hw %d -> %d", seed, step, moved, hw, got)
			}
			if got > hw {
				if got > durable {
					t.Fatalf("seed %d step %d: hw %d past the leader's durable end %d", seed, step, got, durable)
				}
				if minISR > 0 && len(l.ISR()) < min(minISR, len(replicas)) {
					t.Fatalf("seed %d step %d: hw moved with ISR %v under min.insync %d", seed, step, l.ISR(), minISR)
				}
				for _, id := range l.MaximalISR() {
					if id != 1 && fol[id] < got {
						t.Fatalf("seed %d step %d: hw %d past ISR member %d at %d", seed, step, got, id, fol[id])
					}
				}
			}
			hw = got
		}
		for step := range 300 {
			moved := false
			switch rng.IntN(7) {
			case 0:
				leo += int64(1 + rng.IntN(5))
				l.LocalWritten(leo)
			case 1:
				durable = leo
				moved = l.LocalAppended(durable)
			case 2, 3:
				id := replicas[1+rng.IntN(len(replicas)-1)]
				fol[id] += int64(rng.IntN(int(leo-fol[id]) + 1))
				moved = l.FollowerFetched(id, fol[id], leo, now)
			case 4:
				now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
			case 5:
				if next, ok := l.ISRUpdate(now); ok {
					if !slices.Contains(next, 1) {
						t.Fatalf("seed %d: proposed ISR %v without the leader", seed, next)
					}
					l.ISRPending(next)
					proposed = next
				}
			case 6:
				if proposed != nil {
					pe++
					if rng.IntN(4) == 0 {
						moved = l.ISRCommitted(l.ISR(), pe) // refused
					} else {
						moved = l.ISRCommitted(proposed, pe)
					}
					proposed = nil
				}
			}
			check(step, moved)
		}
		// Everyone catches up, fetching again and again, and the ISR round
		// trips succeed.
		durable = leo
		check(-1, l.LocalAppended(durable))
		for round := range 3 {
			for _, id := range replicas[1:] {
				fol[id] = leo
				check(-2, l.FollowerFetched(id, leo, leo, now))
			}
			if round > 0 && proposed != nil {
				pe++
				check(-3, l.ISRCommitted(proposed, pe))
				proposed = nil
			}
			if next, ok := l.ISRUpdate(now); ok {
				l.ISRPending(next)
				proposed = next
			}
			now = now.Add(time.Second)
		}
		if proposed != nil {
			pe++
			check(-4, l.ISRCommitted(proposed, pe))
		}
		if got := l.ISR(); len(got) != len(replicas) {
			t.Fatalf("seed %d: caught up, ISR %v of %v", seed, got, replicas)
		}
		if l.HighWatermark() != leo {
			t.Fatalf("seed %d: caught up, hw %d, leo %d", seed, l.HighWatermark(), leo)
		}
	}
}
