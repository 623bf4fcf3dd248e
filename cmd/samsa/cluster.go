package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/internal/uuid"
)

// samsa cluster: the state of a cluster as its brokers report it, through
// samsa's client: the controller quorum (DescribeQuorum, which a broker
// forwards to the active controller), the brokers with fenced ones
// (DescribeCluster v2) and the partitions without a leader (Metadata). It
// works against samsa and Apache Kafka alike; a broker that cannot describe
// the quorum gets the rest printed and a line saying why.

func init() {
	register("cluster", "cluster status: the controller quorum, the brokers (fenced or not) and offline partitions", interruptible(clusterMain))
}

const clusterUsage = `usage: samsa cluster [-json] [-brokers host:port,...] [-timeout 30s]

Prints the cluster id; the controller quorum: its leader (the active
controller), epoch and high watermark, and for each voter and observer its
log end offset, its lag behind the leader's log end offset and how long ago
it last fetched from the leader and was last caught up with it (by the
leader's clock); the brokers, fenced or not, with rack and endpoint (on the
listener this request came in on); and the partitions without a leader.
-json prints the same as one JSON object.

Exit status 1 if the cluster or its partitions cannot be described, or the
quorum is described with an error; a broker that does not support
DescribeQuorum is not an error (the rest is printed).
`

func clusterMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("samsa cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), clusterUsage); fs.PrintDefaults() }
	cf := addClientFlags(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	asJSON := fs.Bool("json", false, "print one JSON object instead of tables")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "samsa cluster: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	return withClient(ctx, "cluster", fs, cf, *timeout, stderr, func(ctx context.Context, cl *client.Client) error {
		st, err := describeCluster(ctx, cl)
		if err != nil {
			return err
		}
		if *asJSON {
			if err := st.writeJSON(stdout); err != nil {
				return err
			}
		} else {
			st.writeText(stdout)
		}
		return st.failure()
	})
}

// clusterState is what samsa cluster found: the cluster (required), the
// quorum and the offline partitions, each with the error that kept it
// from being described.
type clusterState struct {
	now               time.Time // when the quorum was described: ages are measured from it
	cluster           *client.ClusterInfo
	quorum            *client.QuorumInfo
	quorumErr         error
	quorumUnsupp      bool // the broker does not support DescribeQuorum
	offline           []client.OfflinePartition
	offlineErr        error
	offlineIncomplete bool // some topics could not be described (offlineErr), the others are in offline
}

// describeCluster asks the cluster. Only a failed DescribeCluster is an
// error here; the quorum's and the partitions' are kept in the state.
func describeCluster(ctx context.Context, cl *client.Client) (*clusterState, error) {
	ci, err := cl.DescribeCluster(ctx, true)
	if err != nil {
		return nil, cause(err)
	}
	st := &clusterState{cluster: ci}
	st.quorum, st.quorumErr = cl.DescribeQuorum(ctx)
	st.now = time.Now() // the leader reports its own fetch times as the time of its answer
	st.quorumUnsupp = errors.Is(st.quorumErr, client.ErrUnsupportedVersion)
	st.offline, st.offlineErr = cl.OfflinePartitions(ctx)
	st.offlineIncomplete = st.offlineErr != nil && st.offline != nil
	return st, nil
}

// failure is the error the command exits with, after printing.
func (st *clusterState) failure() error {
	var errs []error
	if st.quorumErr != nil && !st.quorumUnsupp {
		errs = append(errs, fmt.Errorf("describe quorum: %w", brief(st.quorumErr)))
	}
	if st.offlineErr != nil {
		errs = append(errs, fmt.Errorf("offline partitions: %w", brief(st.offlineErr)))
	}
	return errors.Join(errs...)
}

// controller is the active controller: the quorum's leader, else what
// DescribeCluster names (from Kafka in KRaft mode, a random live broker).
func (st *clusterState) controller() int32 {
	if st.quorum != nil {
		return st.quorum.LeaderID
	}
	return st.cluster.ControllerID
}

func (st *clusterState) writeText(w io.Writer) {
	ci := st.cluster
	fenced := 0
	for _, b := range ci.Brokers {
		if b.Fenced {
			fenced++
		}
	}
	ctl := st.controller()
	fmt.Fprintf(w, "cluster %s  controller %d  brokers %d", ci.ClusterID, ctl, len(ci.Brokers))
	if fenced > 0 {
		fmt.Fprintf(w, " (%d fenced)", fenced)
	}
	fmt.Fprintln(w)

	switch q := st.quorum; {
	case q != nil:
		fmt.Fprintf(w, "quorum: leader %d  epoch %d  high watermark %d  voters %d  observers %d\n",
			q.LeaderID, q.LeaderEpoch, q.HighWatermark, len(q.Voters), len(q.Observers))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tROLE\tLOG-END\tLAG\tLAST-FETCH\tLAST-CAUGHT-UP\tENDPOINTS")
		for _, r := range q.Voters {
			role := "follower"
			if r.ID == q.LeaderID {
				role = "leader"
			}
			st.replicaRow(tw, r, role, q.Nodes[r.ID])
		}
		for _, r := range q.Observers {
			st.replicaRow(tw, r, "observer", q.Nodes[r.ID])
		}
		tw.Flush()
	case st.quorumUnsupp:
		fmt.Fprintf(w, "quorum: not described: the broker does not support DescribeQuorum (%v); the controller above is DescribeCluster's\n", brief(st.quorumErr))
	default:
		fmt.Fprintf(w, "quorum: not described: DescribeQuorum failed: %v; the controller above is DescribeCluster's\n", brief(st.quorumErr))
	}

	fmt.Fprintln(w, "brokers (endpoints on the listener this request came in on):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tSTATUS\tRACK\tENDPOINT")
	for _, b := range ci.Brokers {
		status := "unfenced"
		if b.Fenced {
			status = "fenced"
		} else if !ci.FencedIncluded {
			status = "live"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", b.ID, status, orDash(b.Rack), net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
	}
	tw.Flush()
	if !ci.FencedIncluded {
		fmt.Fprintf(w, "(fenced brokers are not listed: the broker answered DescribeCluster v%d, fenced ones need v2)\n", ci.Version)
	}

	switch {
	case st.offlineErr != nil && !st.offlineIncomplete:
		fmt.Fprintf(w, "offline partitions: not described: %v\n", brief(st.offlineErr))
		return
	case len(st.offline) == 0 && st.offlineErr == nil:
		fmt.Fprintln(w, "offline partitions: none")
		return
	}
	fmt.Fprintf(w, "offline partitions: %d\n", len(st.offline))
	if len(st.offline) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tREPLICAS\tISR\tOFFLINE-REPLICAS\tERROR")
		for _, p := range st.offline {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%v\t%v\t%v\t%s\n", p.Topic, p.Partition, p.Leader, p.Replicas, p.ISR, p.OfflineReplicas, errName(p.Err))
		}
		tw.Flush()
	}
	if st.offlineErr != nil {
		fmt.Fprintf(w, "(incomplete: %v)\n", brief(st.offlineErr))
	}
}

func (st *clusterState) replicaRow(tw io.Writer, r client.QuorumReplica, role string, ls []client.Listener) {
	eps := make([]string, 0, len(ls))
	for _, l := range ls {
		eps = append(eps, l.Name+"://"+net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))))
	}
	fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, role, orUnknown(r.LogEndOffset), orUnknown(r.Lag),
		st.ago(r.LastFetch), st.ago(r.LastCaughtUp), orDash(strings.Join(eps, ",")))
}

// ago says how long before the command's answer t was ("-" if unknown),
// to the millisecond under a second, the tenth of a second under a minute.
func (st *clusterState) ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := max(st.now.Sub(t), 0)
	switch {
	case d < time.Second:
		d = d.Round(time.Millisecond)
	case d < time.Minute:
		d = d.Round(100 * time.Millisecond)
	default:
		d = d.Round(time.Second)
	}
	return d.String() + " ago"
}

// brief is err as the user needs it: a Kafka error alone (with the
// broker's message), else the network error (cause).
func brief(err error) error {
	var ke *client.KafkaError
	if errors.As(err, &ke) {
		return ke
	}
	return cause(err)
}

func orUnknown(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// errName is a partition's Kafka error by name, "-" for none.
func errName(err error) string {
	var ke *client.KafkaError
	if errors.As(err, &ke) {
		return ke.Name
	}
	if err != nil {
		return err.Error()
	}
	return "-"
}

// The -json output. Times are Unix milliseconds by the leader's clock, -1
// if unknown; *_ago_ms are measured against this machine's clock.
type jsonCluster struct {
	ClusterID string `json:"cluster_id"`
	// ControllerID is the quorum's leader when the quorum is described,
	// else DescribeCluster's ControllerID.
	ControllerID      int32                  `json:"controller_id"`
	Quorum            *jsonQuorum            `json:"quorum"`
	QuorumError       string                 `json:"quorum_error,omitempty"`
	QuorumUnsupported bool                   `json:"quorum_unsupported,omitempty"`
	Brokers           []jsonBroker           `json:"brokers"`
	FencedIncluded    bool                   `json:"fenced_included"`
	OfflinePartitions []jsonOfflinePartition `json:"offline_partitions"`
	OfflineError      string                 `json:"offline_error,omitempty"`
}

type jsonQuorum struct {
	LeaderID      int32                     `json:"leader_id"`
	LeaderEpoch   int32                     `json:"leader_epoch"`
	HighWatermark int64                     `json:"high_watermark"`
	Voters        []jsonReplica             `json:"voters"`
	Observers     []jsonReplica             `json:"observers"`
	Nodes         map[string][]jsonListener `json:"nodes,omitempty"`
}

type jsonReplica struct {
	ID              int32  `json:"id"`
	DirectoryID     string `json:"directory_id,omitempty"`
	LogEndOffset    int64  `json:"log_end_offset"`
	Lag             int64  `json:"lag"`
	LastFetchMs     int64  `json:"last_fetch_ms"`
	LastFetchAgoMs  int64  `json:"last_fetch_ago_ms"`
	LastCaughtUpMs  int64  `json:"last_caught_up_ms"`
	LastCaughtUpAgo int64  `json:"last_caught_up_ago_ms"`
}

type jsonListener struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port uint16 `json:"port"`
}

type jsonBroker struct {
	ID     int32  `json:"id"`
	Host   string `json:"host"`
	Port   int32  `json:"port"`
	Rack   string `json:"rack,omitempty"`
	Fenced bool   `json:"fenced"`
}

type jsonOfflinePartition struct {
	Topic           string  `json:"topic"`
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	Error           string  `json:"error,omitempty"`
}

func (st *clusterState) writeJSON(w io.Writer) error {
	ci := st.cluster
	ctl := st.controller()
	out := jsonCluster{ClusterID: ci.ClusterID, ControllerID: ctl, FencedIncluded: ci.FencedIncluded,
		Brokers: []jsonBroker{}, OfflinePartitions: []jsonOfflinePartition{}}
	if q := st.quorum; q != nil {
		jq := &jsonQuorum{LeaderID: q.LeaderID, LeaderEpoch: q.LeaderEpoch, HighWatermark: q.HighWatermark,
			Voters: st.jsonReplicas(q.Voters), Observers: st.jsonReplicas(q.Observers)}
		if q.Nodes != nil {
			jq.Nodes = map[string][]jsonListener{}
			for id, ls := range q.Nodes {
				jls := []jsonListener{}
				for _, l := range ls {
					jls = append(jls, jsonListener{Name: l.Name, Host: l.Host, Port: l.Port})
				}
				jq.Nodes[strconv.Itoa(int(id))] = jls
			}
		}
		out.Quorum = jq
	} else {
		out.QuorumError = brief(st.quorumErr).Error()
		out.QuorumUnsupported = st.quorumUnsupp
	}
	for _, b := range ci.Brokers {
		out.Brokers = append(out.Brokers, jsonBroker{ID: b.ID, Host: b.Host, Port: b.Port, Rack: b.Rack, Fenced: b.Fenced})
	}
	for _, p := range st.offline {
		jp := jsonOfflinePartition{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader,
			Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), OfflineReplicas: nonNil(p.OfflineReplicas)}
		if p.Err != nil {
			jp.Error = errName(p.Err)
		}
		out.OfflinePartitions = append(out.OfflinePartitions, jp)
	}
	if st.offlineErr != nil {
		out.OfflineError = brief(st.offlineErr).Error()
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func (st *clusterState) jsonReplicas(rs []client.QuorumReplica) []jsonReplica {
	out := []jsonReplica{}
	for _, r := range rs {
		jr := jsonReplica{ID: r.ID, LogEndOffset: r.LogEndOffset, Lag: r.Lag,
			LastFetchMs: unixMs(r.LastFetch), LastFetchAgoMs: st.agoMs(r.LastFetch),
			LastCaughtUpMs: unixMs(r.LastCaughtUp), LastCaughtUpAgo: st.agoMs(r.LastCaughtUp)}
		if r.DirectoryID != ([16]byte{}) {
			jr.DirectoryID = uuid.UUID(r.DirectoryID).String()
		}
		out = append(out, jr)
	}
	return out
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

func (st *clusterState) agoMs(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return max(st.now.Sub(t), 0).Milliseconds()
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
