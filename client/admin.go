package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin calls for consumer groups and offsets (the group CLI): ListGroups
// (to every broker), DescribeGroups, OffsetFetch, ListOffsets, DeleteGroups
// and OffsetCommit as a non-member.

// GroupListing is one group as ListGroups reports it.
type GroupListing struct {
	Group        string
	ProtocolType string // "consumer" for consumer groups, "" for offset-only groups
	State        string // v4+ ("Stable", "Empty", ...); "" from older brokers
	Type         string // v5+ ("classic", "consumer")
	Coordinator  int32
}

// GroupDescription is a group as its coordinator describes it.
type GroupDescription struct {
	Group        string
	State        string
	ProtocolType string
	Protocol     string // the assignor of the generation
	Members      []GroupMemberDescription
	Coordinator  int32
}

// GroupMemberDescription is one member and what it was assigned.
type GroupMemberDescription struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	Assigned   []TopicPartition // decoded for "consumer" protocol groups
}

// PartitionOffset is a group's position on one partition.
type PartitionOffset struct {
	TopicPartition
	Committed int64 // -1 if none
	End       int64 // high watermark, -1 if unknown
	Lag       int64 // End - Committed; -1 if either is unknown
	Member    string
	Err       error
}

// Brokers returns every broker of the cluster (a Metadata request without
// topics), and registers them with the client.
func (cl *Client) Brokers(ctx context.Context) (map[int32]string, error) {
	c, err := cl.anyConn(ctx)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	kresp, err := c.requestCopy(ctx, req, 12, 0, nil)
	if err != nil {
		return nil, err
	}
	out := map[int32]string{}
	for _, b := range kresp.(*kmsg.MetadataResponse).Brokers {
		addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		out[b.NodeID] = addr
		cl.learnBroker(b.NodeID, addr)
	}
	return out, nil
}

// ListGroups lists the groups of every broker, sorted by name.
func (cl *Client) ListGroups(ctx context.Context) ([]GroupListing, error) {
	brokers, err := cl.Brokers(ctx)
	if err != nil {
		return nil, err
	}
	var out []GroupListing
	var errs []error
	for id := range brokers {
		kresp, err := cl.requestCopy(ctx, id, kmsg.NewPtrListGroupsRequest(), -1, 0, nil)
		if err == nil {
			resp := kresp.(*kmsg.ListGroupsResponse)
			err = ErrorForCode(resp.ErrorCode)
			for _, g := range resp.Groups {
				out = append(out, GroupListing{Group: g.Group, ProtocolType: g.ProtocolType, State: g.GroupState, Type: g.GroupType, Coordinator: id})
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("broker %d: %w", id, err))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, errors.Join(errs...)
}

// DescribeGroup describes group (GROUP_ID_NOT_FOUND-like states come back
// as State "Dead").
func (cl *Client) DescribeGroup(ctx context.Context, group string) (*GroupDescription, error) {
	coord, err := cl.coordinator(ctx, group)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	kresp, err := cl.requestCopy(ctx, coord, req, -1, 0, func(r kmsg.Response) {
		for i := range r.(*kmsg.DescribeGroupsResponse).Groups {
			g := &r.(*kmsg.DescribeGroupsResponse).Groups[i]
			for j := range g.Members {
				g.Members[j].MemberAssignment = cloneBytes(g.Members[j].MemberAssignment)
				g.Members[j].ProtocolMetadata = nil // not kept
			}
		}
	})
	if err != nil {
		return nil, err
	}
	g, err := onlyGroup("describe groups", kresp.(*kmsg.DescribeGroupsResponse).Groups)
	if err != nil {
		return nil, err
	}
	if err := errorWithMessage(g.ErrorCode, g.ErrorMessage); err != nil {
		if errors.Is(err, ErrGroupIDNotFound) { // maybe a KIP-848 group
			if d, err2 := cl.describeConsumerGroup(ctx, coord, group); err2 == nil {
				return d, nil
			}
		}
		return nil, err
	}
	d := &GroupDescription{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol, Coordinator: coordNode(coord)}
	for _, m := range g.Members {
		var assigned map[string][]int32
		if g.ProtocolType == "consumer" {
			assigned, _ = decodeAssignment(m.MemberAssignment) // undecodable: nothing shown
		}
		d.addMember(m.MemberID, m.InstanceID, m.ClientID, m.ClientHost, assigned)
	}
	d.sortMembers()
	return d, nil
}

// GroupOffsets returns the group's committed offsets with the partitions'
// ends and the lag, for every partition the group committed or a member
// is assigned, sorted.
func (cl *Client) GroupOffsets(ctx context.Context, group string, d *GroupDescription) ([]PartitionOffset, error) {
	coord, err := cl.coordinator(ctx, group)
	if err != nil {
		return nil, err
	}
	committed, err := cl.fetchCommitted(ctx, coord, group, nil)
	if err != nil {
		return nil, err
	}
	owner := map[TopicPartition]string{}
	if d != nil {
		for _, m := range d.Members {
			for _, tp := range m.Assigned {
				owner[tp] = m.MemberID
			}
		}
	}
	set := map[TopicPartition]bool{}
	for tp := range committed {
		set[tp] = true
	}
	for tp := range owner {
		set[tp] = true
	}
	tps := make([]TopicPartition, 0, len(set))
	for tp := range set {
		tps = append(tps, tp)
	}
	sortTPs(tps)
	ends, err := cl.ListOffsets(ctx, tps, AtEnd())
	out := make([]PartitionOffset, 0, len(tps))
	for _, tp := range tps {
		po := PartitionOffset{TopicPartition: tp, Committed: -1, End: -1, Lag: -1, Member: owner[tp]}
		if off, ok := committed[tp]; ok {
			po.Committed = off
		}
		if e, ok := ends[tp]; ok {
			po.End, po.Err = e.Offset, e.Err
		} else if err != nil {
			po.Err = err
		}
		if po.Committed >= 0 && po.End >= 0 {
			po.Lag = max(po.End-po.Committed, 0)
		}
		out = append(out, po)
	}
	return out, nil
}

// ListedOffset is one partition's answer to ListOffsets.
type ListedOffset struct {
	Offset    int64
	Timestamp int64
	Err       error
}

// ListOffsets resolves at (AtStart, AtEnd, AtTimestamp; AtOffset is
// returned as is) for tps, asking each partition's leader.
func (cl *Client) ListOffsets(ctx context.Context, tps []TopicPartition, at Offset) (map[TopicPartition]ListedOffset, error) {
	out := map[TopicPartition]ListedOffset{}
	if at.kind == offsetExact {
		for _, tp := range tps {
			out[tp] = ListedOffset{Offset: at.at, Timestamp: -1}
		}
		return out, nil
	}
	topicSet := map[string]bool{}
	for _, tp := range tps {
		topicSet[tp.Topic] = true
	}
	var topics []string
	for t := range topicSet {
		topics = append(topics, t)
	}
	meta, err := cl.RefreshMetadata(ctx, topics...)
	if err != nil {
		return nil, err
	}
	byLeader := map[int32][]TopicPartition{}
	for _, tp := range tps {
		l := leaderOf(meta, tp)
		if l < 0 {
			out[tp] = ListedOffset{Offset: -1, Err: fmt.Errorf("%w: %s", errNoLeader, tp)}
			continue
		}
		byLeader[l] = append(byLeader[l], tp)
	}
	var errs []error
	for leader, ltps := range byLeader {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		for topic, ps := range byTopic(ltps) {
			t := kmsg.NewListOffsetsRequestTopic()
			t.Topic = topic
			for _, p := range ps {
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch, rp.MaxNumOffsets = p, at.at, -1, 1
				t.Partitions = append(t.Partitions, rp)
			}
			req.Topics = append(req.Topics, t)
		}
		kresp, err := cl.requestCopy(ctx, leader, req, -1, 0, nil)
		if err != nil {
			errs = append(errs, err)
			for _, tp := range ltps {
				out[tp] = ListedOffset{Offset: -1, Err: err}
			}
			continue
		}
		for _, t := range kresp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				out[TopicPartition{t.Topic, p.Partition}] = ListedOffset{Offset: p.Offset, Timestamp: p.Timestamp, Err: ErrorForCode(p.ErrorCode)}
			}
		}
	}
	return out, errors.Join(errs...)
}

// TopicPartitions returns every partition of topics.
func (cl *Client) TopicPartitions(ctx context.Context, topics ...string) ([]TopicPartition, error) {
	meta, err := cl.RefreshMetadata(ctx, topics...)
	if err != nil {
		return nil, err
	}
	var out []TopicPartition
	for _, t := range topics {
		tm := meta.Topics[t]
		if tm == nil {
			return nil, fmt.Errorf("samsa/client: topic %q: %w", t, ErrUnknownTopicOrPartition)
		}
		if tm.Err != nil {
			return nil, fmt.Errorf("samsa/client: topic %q: %w", t, tm.Err)
		}
		for p := range tm.Partitions {
			out = append(out, TopicPartition{t, int32(p)})
		}
	}
	return out, nil
}

// DeleteGroups deletes groups (which must be empty); the result maps each
// group to its error, nil on success.
func (cl *Client) DeleteGroups(ctx context.Context, groups ...string) (map[string]error, error) {
	out := map[string]error{}
	byCoord := map[int32][]string{}
	for _, g := range groups {
		coord, err := cl.coordinator(ctx, g)
		if err != nil {
			out[g] = err
			continue
		}
		byCoord[coord] = append(byCoord[coord], g)
	}
	var errs []error
	for coord, gs := range byCoord {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = gs
		kresp, err := cl.requestCopy(ctx, coord, req, -1, 0, nil)
		if err != nil {
			errs = append(errs, err)
			for _, g := range gs {
				out[g] = err
			}
			continue
		}
		for _, r := range kresp.(*kmsg.DeleteGroupsResponse).Groups {
			out[r.Group] = ErrorForCode(r.ErrorCode)
		}
	}
	return out, errors.Join(errs...)
}

// CommitGroupOffsets commits offsets for group as a non-member (the group
// must have no active members), e.g. to reset its positions.
func (cl *Client) CommitGroupOffsets(ctx context.Context, group string, offsets map[TopicPartition]int64) error {
	coord, err := cl.coordinator(ctx, group)
	if err != nil {
		return err
	}
	return cl.commitOffsets(ctx, coord, group, commitMember{generation: -1}, offsets)
}

// FetchGroupOffsets returns the committed offsets of group (all partitions
// if tps is nil).
func (cl *Client) FetchGroupOffsets(ctx context.Context, group string, tps []TopicPartition) (map[TopicPartition]int64, error) {
	coord, err := cl.coordinator(ctx, group)
	if err != nil {
		return nil, err
	}
	return cl.fetchCommitted(ctx, coord, group, tps)
}

// describeConsumerGroup describes a KIP-848 group (ConsumerGroupDescribe
// v0-1), which Kafka does not describe through DescribeGroups.
func (cl *Client) describeConsumerGroup(ctx context.Context, coord int32, group string) (*GroupDescription, error) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	kresp, err := cl.requestCopy(ctx, coord, req, -1, 0, nil)
	if err != nil {
		return nil, err
	}
	g, err := onlyGroup("consumer group describe", kresp.(*kmsg.ConsumerGroupDescribeResponse).Groups)
	if err != nil {
		return nil, err
	}
	if err := errorWithMessage(g.ErrorCode, g.ErrorMessage); err != nil {
		return nil, err
	}
	d := &GroupDescription{Group: g.Group, State: g.State, ProtocolType: "consumer", Protocol: g.AssignorName, Coordinator: coordNode(coord)}
	for _, m := range g.Members {
		assigned := map[string][]int32{}
		for _, t := range m.Assignment.TopicPartitions {
			assigned[t.Topic] = append(assigned[t.Topic], t.Partitions...)
		}
		d.addMember(m.MemberID, m.InstanceID, m.ClientID, m.ClientHost, assigned)
	}
	d.sortMembers()
	return d, nil
}

// onlyGroup returns the one answer of a describe request for one group.
func onlyGroup[G any](what string, gs []G) (*G, error) {
	if len(gs) != 1 {
		return nil, fmt.Errorf("samsa/client: %s: %d answers for one group", what, len(gs))
	}
	return &gs[0], nil
}

func (d *GroupDescription) addMember(memberID string, instanceID *string, clientID, clientHost string, assigned map[string][]int32) {
	d.Members = append(d.Members, GroupMemberDescription{MemberID: memberID, InstanceID: instanceID,
		ClientID: clientID, ClientHost: clientHost, Assigned: partitionsOf(assigned).sorted()})
}

func (d *GroupDescription) sortMembers() {
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].MemberID < d.Members[j].MemberID })
}
