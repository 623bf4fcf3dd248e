package client

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin calls for the state of the cluster (the cluster CLI):
// DescribeQuorum (key 55, v0-2; a broker forwards it to the active
// controller), DescribeCluster (key 60, v0-2) and the partitions without a
// leader (Metadata). Each goes to any broker, the next one if a connection
// fails.

// MetadataTopic is the topic of the KRaft metadata log, the one partition
// DescribeQuorum describes.
const MetadataTopic = "__cluster_metadata"

// QuorumInfo is the controller quorum as DescribeQuorum reports it: the
// active controller's view of the metadata log's replicas.
type QuorumInfo struct {
	LeaderID      int32 // the active controller; -1 if unknown
	LeaderEpoch   int32
	HighWatermark int64
	// Voters and Observers, sorted by id. Observers are the broker-only
	// nodes (and controllers not in the voter set) that fetch the log.
	Voters    []QuorumReplica
	Observers []QuorumReplica
	// Nodes are the voters' controller listeners by node id (v2+,
	// KIP-853); nil from older brokers.
	Nodes map[int32][]Listener
	// Version is the DescribeQuorum version the broker answered.
	Version int16
}

// QuorumReplica is one replica of the metadata log.
type QuorumReplica struct {
	ID          int32
	DirectoryID [16]byte // v2+ (KIP-853); zero if unknown
	// LogEndOffset is the leader's last knowledge of this replica's log
	// end offset, -1 if unknown.
	LogEndOffset int64
	// Lag is how far LogEndOffset is behind the leader's log end offset
	// (the high watermark if the leader is not among the voters); -1 if
	// either is unknown.
	Lag int64
	// LastFetch is when the leader last received a fetch from the replica,
	// LastCaughtUp the last time it was known to have fetched up to the
	// leader's log end offset; both by the leader's clock, zero if unknown
	// (v0 brokers have neither). The leader reports its own as now.
	LastFetch    time.Time
	LastCaughtUp time.Time
}

// Listener is one named endpoint of a node.
type Listener struct {
	Name string
	Host string
	Port uint16
}

// ClusterInfo is the cluster as DescribeCluster reports it.
type ClusterInfo struct {
	ClusterID string
	// ControllerID is the field of the same name: the active controller
	// of a ZooKeeper-era cluster, a random live broker from a KRaft one
	// (Kafka hides its controllers from clients). QuorumInfo.LeaderID is
	// the active controller.
	ControllerID int32
	// Brokers, sorted by id, each with its endpoint for the listener the
	// request came on.
	Brokers []BrokerInfo
	// FencedIncluded says that fenced brokers are listed (asked for, and
	// the broker answered v2+); otherwise only unfenced ones are.
	FencedIncluded bool
	// Version is the DescribeCluster version the broker answered.
	Version int16
}

// BrokerInfo is one broker of DescribeCluster.
type BrokerInfo struct {
	ID     int32
	Host   string
	Port   int32
	Rack   string // "" if none
	Fenced bool   // v2+ with fenced brokers asked for
}

// OfflinePartition is a partition without a leader.
type OfflinePartition struct {
	TopicPartition
	Leader          int32
	Replicas        []int32
	ISR             []int32
	OfflineReplicas []int32
	Err             error // the partition's error, e.g. ErrLeaderNotAvailable; nil if none
}

// adminAttempts is how many brokers a cluster admin call tries before it
// gives up on connection failures and retriable errors.
const adminAttempts = 3

// anyBrokerRequest sends req (up to maxVersion, -1 for the highest both
// sides support) to any broker, trying another one after a connection
// failure or a retriable error reported by check, up to adminAttempts
// times with a short backoff.
func (cl *Client) anyBrokerRequest(ctx context.Context, req kmsg.Request, maxVersion int16, check func(kmsg.Response) error) (kmsg.Response, error) {
	var err error
	for attempt := range adminAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w (after: %v)", ctx.Err(), err)
			case <-time.After(time.Duration(attempt) * cl.cfg.retryBackoff):
			}
		}
		var c *conn
		if c, err = cl.anyConn(ctx); err != nil {
			if !errors.Is(err, ErrConnDead) {
				return nil, err
			}
			continue
		}
		var resp kmsg.Response
		if resp, err = c.requestCopy(ctx, req, maxVersion, 0, nil); err == nil {
			if err = check(resp); err == nil {
				return resp, nil
			}
		}
		if !IsRetriable(err) || ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, err
}

// DescribeQuorum describes the controller quorum. A broker that does not
// support the request fails with ErrUnsupportedVersion; a Kafka error of
// the request or of the metadata partition comes back as a *KafkaError
// with the broker's message.
func (cl *Client) DescribeQuorum(ctx context.Context) (*QuorumInfo, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = MetadataTopic
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	var part *kmsg.DescribeQuorumResponseTopicPartition
	kresp, err := cl.anyBrokerRequest(ctx, req, -1, func(r kmsg.Response) error {
		resp := r.(*kmsg.DescribeQuorumResponse)
		if err := errorWithMessage(resp.ErrorCode, resp.ErrorMessage); err != nil {
			return err
		}
		var err error
		part, err = quorumPartition(resp)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("samsa/client: describe quorum: %w", err)
	}
	resp := kresp.(*kmsg.DescribeQuorumResponse)
	q := &QuorumInfo{LeaderID: part.LeaderID, LeaderEpoch: part.LeaderEpoch, HighWatermark: part.HighWatermark, Version: resp.Version}
	leaderEnd := int64(-1)
	for _, v := range part.CurrentVoters {
		if v.ReplicaID == part.LeaderID && part.LeaderID >= 0 {
			leaderEnd = v.LogEndOffset
		}
	}
	if leaderEnd < 0 {
		leaderEnd = part.HighWatermark
	}
	q.Voters = quorumReplicas(part.CurrentVoters, leaderEnd)
	q.Observers = quorumReplicas(part.Observers, leaderEnd)
	if resp.Version >= 2 {
		q.Nodes = map[int32][]Listener{}
		for _, n := range resp.Nodes {
			ls := make([]Listener, 0, len(n.Listeners))
			for _, l := range n.Listeners {
				ls = append(ls, Listener{Name: l.Name, Host: l.Host, Port: l.Port})
			}
			q.Nodes[n.NodeID] = append(q.Nodes[n.NodeID], ls...)
		}
	}
	return q, nil
}

// quorumPartition finds the metadata partition in resp, or the error
// reported for it.
func quorumPartition(resp *kmsg.DescribeQuorumResponse) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if t.Topic != MetadataTopic {
			continue
		}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.Partition != 0 {
				continue
			}
			if err := errorWithMessage(p.ErrorCode, p.ErrorMessage); err != nil {
				return nil, err
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("the response does not describe %s[0]", MetadataTopic)
}

func quorumReplicas(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState, leaderEnd int64) []QuorumReplica {
	out := make([]QuorumReplica, 0, len(rs))
	for _, r := range rs {
		qr := QuorumReplica{ID: r.ReplicaID, DirectoryID: r.ReplicaDirectoryID, LogEndOffset: r.LogEndOffset, Lag: -1,
			LastFetch: millisTime(r.LastFetchTimestamp), LastCaughtUp: millisTime(r.LastCaughtUpTimestamp)}
		if r.LogEndOffset >= 0 && leaderEnd >= 0 {
			qr.Lag = max(leaderEnd-r.LogEndOffset, 0)
		}
		out = append(out, qr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// millisTime is a Kafka millisecond timestamp as a time, zero for -1 (or
// any negative: unknown).
func millisTime(ms int64) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// DescribeCluster describes the cluster's brokers; includeFenced asks
// for fenced brokers too (v2+; older brokers list unfenced ones only, and
// ClusterInfo.FencedIncluded says which). A Kafka error comes back as a
// *KafkaError with the broker's message.
func (cl *Client) DescribeCluster(ctx context.Context, includeFenced bool) (*ClusterInfo, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeFencedBrokers = includeFenced
	kresp, err := cl.anyBrokerRequest(ctx, req, -1, func(r kmsg.Response) error {
		resp := r.(*kmsg.DescribeClusterResponse)
		return errorWithMessage(resp.ErrorCode, resp.ErrorMessage)
	})
	if err != nil {
		return nil, fmt.Errorf("samsa/client: describe cluster: %w", err)
	}
	resp := kresp.(*kmsg.DescribeClusterResponse)
	ci := &ClusterInfo{ClusterID: resp.ClusterID, ControllerID: resp.ControllerID,
		FencedIncluded: includeFenced && resp.Version >= 2, Version: resp.Version}
	for _, b := range resp.Brokers {
		bi := BrokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port, Fenced: b.IsFenced}
		if b.Rack != nil {
			bi.Rack = *b.Rack
		}
		ci.Brokers = append(ci.Brokers, bi)
	}
	sort.Slice(ci.Brokers, func(i, j int) bool { return ci.Brokers[i].ID < ci.Brokers[j].ID })
	return ci, nil
}

// OfflinePartitions returns the partitions of every topic (internal ones
// included) that have no leader: leader -1 or LEADER_NOT_AVAILABLE, as a
// KRaft broker reports a partition whose replicas are all fenced. Sorted.
// A topic the broker reports with an error is left out and its error
// joined into the one returned, with the other topics' partitions: the
// slice is nil only if the request failed.
func (cl *Client) OfflinePartitions(ctx context.Context) ([]OfflinePartition, error) {
	req := kmsg.NewPtrMetadataRequest() // Topics nil: every topic
	kresp, err := cl.anyBrokerRequest(ctx, req, 12, func(kmsg.Response) error { return nil })
	if err != nil {
		return nil, fmt.Errorf("samsa/client: metadata: %w", err)
	}
	out := []OfflinePartition{}
	var errs []error
	for _, t := range kresp.(*kmsg.MetadataResponse).Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := ErrorForCode(t.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("topic %q: %w", name, err))
			continue
		}
		for _, p := range t.Partitions {
			perr := ErrorForCode(p.ErrorCode)
			if p.Leader >= 0 && !errors.Is(perr, ErrLeaderNotAvailable) {
				continue
			}
			out = append(out, OfflinePartition{TopicPartition: TopicPartition{name, p.Partition}, Leader: p.Leader,
				Replicas: p.Replicas, ISR: p.ISR, OfflineReplicas: p.OfflineReplicas, Err: perr})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, errors.Join(errs...)
}
