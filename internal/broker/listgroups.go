package broker

// ListGroups (key 16), versions 0-5.
//
// Every group this node coordinates, including groups that only have
// committed offsets (as Kafka lists them: Empty, protocol type ""). v4+
// StatesFilter (case-insensitive state names), v5+ TypesFilter
// ("classic" or "consumer" for KIP-848 groups) and GroupType in the answer.

import (
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
)

func init() { register(kmsg.ListGroups, 0, 5, keepsFrame, (*Broker).handleListGroups) }

func (b *Broker) handleListGroups(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := kmsg.NewPtrListGroupsResponse()
	resp.SetVersion(r.hdr.Version)
	resp.Groups = b.coord.list(req.StatesFilter, req.TypesFilter)
	r.respond(resp)
}

func (c *coordinator) list(states, types []string) []kmsg.ListGroupsResponseGroup {
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var out []kmsg.ListGroupsResponseGroup
	add := func(id, protocolType, state, typ string) {
		if seen[id] {
			return
		}
		seen[id] = true
		if state == group.Dead.String() || !match(states, state) || !match(types, typ) {
			return
		}
		if c.coordinatesLocked(id) != 0 {
			return
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, protocolType, state, typ
		out = append(out, lg)
	}
	for id, e := range c.groups {
		if e.cg != nil {
			add(id, "consumer", e.cg.State(), "consumer")
		} else {
			add(id, e.g.ProtocolType(), e.g.State().String(), "classic")
		}
	}
	for _, id := range c.offsets.Groups() {
		add(id, "", group.Empty.String(), "classic")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}
