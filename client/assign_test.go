package client

import (
	"reflect"
	"testing"
)

func members(topics []string, ids ...string) []GroupMember {
	var ms []GroupMember
	for _, id := range ids {
		ms = append(ms, GroupMember{ID: id, Topics: topics, Generation: -1})
	}
	return ms
}

func TestRangeBalancer(t *testing.T) {
	plan := RangeBalancer().Balance(members([]string{"a", "b"}, "m1", "m2", "m3"), map[string]int32{"a": 7, "b": 2})
	want := map[string]map[string][]int32{
		"m1": {"a": {0, 1, 2}, "b": {0}},
		"m2": {"a": {3, 4}, "b": {1}},
		"m3": {"a": {5, 6}},
	}
	if !reflect.DeepEqual(plan, want) {
		t.Fatalf("range: %v, want %v", plan, want)
	}
}

func TestRoundRobinBalancer(t *testing.T) {
	ms := members([]string{"a", "b"}, "m1", "m2")
	ms = append(ms, GroupMember{ID: "m3", Topics: []string{"b"}})
	plan := RoundRobinBalancer().Balance(ms, map[string]int32{"a": 3, "b": 3})
	want := map[string]map[string][]int32{
		"m1": {"a": {0, 2}, "b": {2}}, // a2: m3 does not read a
		"m2": {"a": {1}, "b": {0}},
		"m3": {"b": {1}},
	}
	if !reflect.DeepEqual(plan, want) {
		t.Fatalf("roundrobin: %v, want %v", plan, want)
	}
}

func count(a map[string][]int32) int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

// TestStickyBalancer: balanced from scratch; a new member takes partitions
// only from the most loaded, which first revoke them (cooperative: they
// appear in nobody's assignment for one generation); then balanced.
func TestStickyBalancer(t *testing.T) {
	b := CooperativeStickyBalancer()
	counts := map[string]int32{"a": 6, "b": 3}
	plan := b.Balance(members([]string{"a", "b"}, "m1", "m2"), counts)
	if count(plan["m1"]) != 5 && count(plan["m1"]) != 4 || count(plan["m1"])+count(plan["m2"]) != 9 {
		t.Fatalf("initial: %v", plan)
	}
	// m3 joins; m1 and m2 report what they own.
	ms := members([]string{"a", "b"}, "m1", "m2", "m3")
	ms[0].Owned, ms[0].Generation = plan["m1"], 1
	ms[1].Owned, ms[1].Generation = plan["m2"], 1
	next := b.Balance(ms, counts)
	if count(next["m3"]) != 0 {
		t.Fatalf("m3 got partitions still owned by others: %v", next)
	}
	kept := count(next["m1"]) + count(next["m2"])
	if kept != 6 {
		t.Fatalf("want 3 partitions revoked, kept %d: %v", kept, next)
	}
	for _, id := range []string{"m1", "m2"} {
		for topic, ps := range next[id] {
			for _, p := range ps {
				if !contains(plan[id][topic], p) {
					t.Fatalf("%s got %s[%d] it did not own", id, topic, p)
				}
			}
		}
	}
	// Next generation: the revoked partitions are free and go to m3.
	ms[0].Owned, ms[0].Generation = next["m1"], 2
	ms[1].Owned, ms[1].Generation = next["m2"], 2
	last := b.Balance(ms, counts)
	for _, id := range []string{"m1", "m2", "m3"} {
		if count(last[id]) != 3 {
			t.Fatalf("not balanced: %v", last)
		}
	}
	if !reflect.DeepEqual(last["m1"], next["m1"]) || !reflect.DeepEqual(last["m2"], next["m2"]) {
		t.Fatalf("m1/m2 moved again: %v then %v", next, last)
	}
	// Uneven subscriptions: m3 only reads b.
	ms = members([]string{"a", "b"}, "m1", "m2")
	ms = append(ms, GroupMember{ID: "m3", Topics: []string{"b"}})
	plan = b.Balance(ms, counts)
	total := 0
	for id, a := range plan {
		total += count(a)
		if id == "m3" && len(a["a"]) > 0 {
			t.Fatalf("m3 got topic a: %v", plan)
		}
	}
	if total != 9 || count(plan["m3"]) != 3 {
		t.Fatalf("uneven: %v", plan)
	}
}

func contains(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func TestSubscriptionEncoding(t *testing.T) {
	owned := map[string][]int32{"a": {1, 2}, "b": {0}}
	for _, b := range []GroupBalancer{RangeBalancer(), CooperativeStickyBalancer()} {
		enc := encodeSubscription(b, []string{"b", "a"}, owned, 7)
		m := decodeSubscription("id", nil, enc)
		if !reflect.DeepEqual(m.Topics, []string{"a", "b"}) || m.Generation != 7 {
			t.Fatalf("%s: %+v", b.ProtocolName(), m)
		}
		if b.Cooperative() != (m.Owned != nil) || (m.Owned != nil && !reflect.DeepEqual(m.Owned, owned)) {
			t.Fatalf("%s: owned %v", b.ProtocolName(), m.Owned)
		}
	}
	a := map[string][]int32{"x": {3, 1}, "y": {0}}
	got, err := decodeAssignment(encodeAssignment(a))
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("assignment round trip: %v %v", got, err)
	}
	if m := decodeSubscription("id", nil, []byte{0, 9}); len(m.Topics) != 0 {
		t.Fatalf("garbage decoded: %+v", m)
	}
}
