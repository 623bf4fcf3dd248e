package group

import (
	"sort"
)

// The server-side assignors of KIP-848. Both are deterministic: members
// and partitions are visited in sorted order.

type topicPartition struct {
	id [16]byte
	p  int32
}

// assignRange gives each member, per topic, a contiguous range of the
// topic's partitions among the members subscribed to it; the first
// (partitions % members) members get one extra (as the classic range
// assignor does, so co-partitioned topics line up).
func assignRange(subs map[string][]TopicMeta) map[string]Assignment {
	out := emptyTargets(subs)
	byTopic := map[[16]byte][]string{}
	sizes := map[[16]byte]int32{}
	for id, ts := range subs {
		for _, t := range ts {
			byTopic[t.ID] = append(byTopic[t.ID], id)
			sizes[t.ID] = t.Partitions
		}
	}
	for topic, members := range byTopic {
		sort.Strings(members)
		n, m := int(sizes[topic]), len(members)
		next := 0
		for i, id := range members {
			count := n / m
			if i < n%m {
				count++
			}
			for p := next; p < next+count; p++ {
				out[id][topic] = append(out[id][topic], int32(p))
			}
			next += count
		}
	}
	return out
}

// assignUniform spreads every subscribed partition so member counts
// differ by at most one where subscriptions allow, keeping partitions
// where they were in the previous target (stickiness means fewer
// revocations).
func assignUniform(subs map[string][]TopicMeta, prev map[string]Assignment) map[string]Assignment {
	out := emptyTargets(subs)
	eligible := map[topicPartition][]string{}
	var all []topicPartition
	for id, ts := range subs {
		for _, t := range ts {
			for p := int32(0); p < t.Partitions; p++ {
				tp := topicPartition{t.ID, p}
				if eligible[tp] == nil {
					all = append(all, tp)
				}
				eligible[tp] = append(eligible[tp], id)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].id != all[j].id {
			return string(all[i].id[:]) < string(all[j].id[:])
		}
		return all[i].p < all[j].p
	})
	count := map[string]int{}
	quota := 0
	if len(subs) > 0 {
		quota = (len(all) + len(subs) - 1) / len(subs)
	}
	var rest []topicPartition
	for _, tp := range all {
		owner := previousOwner(prev, tp)
		if owner != "" && contains(eligible[tp], owner) && count[owner] < quota {
			out[owner][tp.id] = append(out[owner][tp.id], tp.p)
			count[owner]++
			continue
		}
		rest = append(rest, tp)
	}
	for _, tp := range rest {
		cands := eligible[tp]
		sort.Strings(cands)
		best := cands[0]
		for _, c := range cands[1:] {
			if count[c] < count[best] {
				best = c
			}
		}
		out[best][tp.id] = append(out[best][tp.id], tp.p)
		count[best]++
	}
	for _, a := range out {
		for id := range a {
			sort.Slice(a[id], func(i, j int) bool { return a[id][i] < a[id][j] })
		}
	}
	return out
}

func emptyTargets(subs map[string][]TopicMeta) map[string]Assignment {
	out := map[string]Assignment{}
	for id := range subs {
		out[id] = Assignment{}
	}
	return out
}

func previousOwner(prev map[string]Assignment, tp topicPartition) string {
	for id, a := range prev {
		if contains32(a[tp.id], tp.p) {
			return id
		}
	}
	return ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func contains32(ps []int32, p int32) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}
