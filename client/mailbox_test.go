package client

import "testing"

// Slices circulate between a giver, the mailbox and its owner without
// allocating, also when the giver gives again between the owner's take
// and recycle (three slices in circulation), and nothing is lost or
// duplicated on the way.
func TestMailboxSteadyStateAllocatesNothing(t *testing.T) {
	m := newMailbox[int]()
	var bucket []int
	next, got := 0, 0
	fill := func() {
		for range 100 {
			bucket = append(bucket, next)
			next++
		}
	}
	check := func(s []int) {
		for _, v := range s {
			if v != got {
				t.Fatalf("took %d, want %d", v, got)
			}
			got++
		}
	}
	round := func() {
		fill()
		bucket = m.give(bucket)
		s := m.take()
		fill()
		bucket = m.give(bucket) // before the owner is done with s
		check(s)
		m.recycle(s)
		s = m.take()
		check(s)
		m.recycle(s)
		select {
		case <-m.wake:
		default:
		}
	}
	for range 3 {
		round() // warm up: the three slices reach their size
	}
	if a := testing.AllocsPerRun(100, round); a != 0 {
		t.Fatalf("%.1f allocations per round, want 0", a)
	}
	if got != next {
		t.Fatalf("took %d items, gave %d", got, next)
	}
}
