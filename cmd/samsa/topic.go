package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/internal/uuid"
)

// samsa topic: topic administration through samsa's client core (raw admin
// requests, versions negotiated with ApiVersions), so it works against samsa
// and Apache Kafka alike.

func init() {
	register("topic", "create, list, describe, alter and delete topics", interruptible(topicMain))
}

const topicUsage = `usage: samsa topic <subcommand> [flags]

subcommands:
  list                                   every topic with its partition count
  create -topic T [-partitions N] [-replication-factor R] [-config k=v ...]
  describe -topic T                      partitions, leaders, replicas, ISR, and the topic's configs
  alter -topic T -config k=v ... [-delete-config k ...]
  delete -topic T[,T...]
`

// adminCall is one topic subcommand's work.
type adminCall func(ctx context.Context, a *admin) error

func topicMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topicUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("samsa topic "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	topic := fs.String("topic", "", "topic name (comma-separated for delete)")
	var run adminCall
	switch sub {
	case "list":
		run = func(ctx context.Context, a *admin) error { return a.list(ctx, stdout) }
	case "create":
		parts := fs.Int("partitions", -1, "partitions (-1: the broker's num.partitions)")
		rf := fs.Int("replication-factor", -1, "replication factor (-1: the broker's default)")
		var cfgs multiFlag
		fs.Var(&cfgs, "config", "topic config key=value (repeatable)")
		run = func(ctx context.Context, a *admin) error {
			return a.create(ctx, *topic, int32(*parts), int16(*rf), cfgs, stdout)
		}
	case "describe":
		run = func(ctx context.Context, a *admin) error { return a.describe(ctx, *topic, stdout) }
	case "alter":
		var set, del multiFlag
		fs.Var(&set, "config", "set topic config key=value (repeatable)")
		fs.Var(&del, "delete-config", "remove a topic config override (repeatable)")
		run = func(ctx context.Context, a *admin) error { return a.alter(ctx, *topic, set, del, stdout) }
	case "delete":
		run = func(ctx context.Context, a *admin) error { return a.delete(ctx, strings.Split(*topic, ","), stdout) }
	case "-h", "--help", "help":
		fmt.Fprint(stdout, topicUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "samsa topic: unknown subcommand %q\n%s", sub, topicUsage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if sub != "list" && *topic == "" {
		fmt.Fprintf(stderr, "samsa topic %s: -topic is required\n", sub)
		return 2
	}
	return withClient(ctx, "topic "+sub, fs, cf, *timeout, stderr, run.withAdmin)
}

// withAdmin runs the call with an admin over cl.
func (f adminCall) withAdmin(ctx context.Context, cl *client.Client) error {
	return f(ctx, &admin{cl: cl})
}

// admin sends admin requests to any broker (brokers forward or serve them).
type admin struct{ cl *client.Client }

func (a *admin) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	brokers, err := a.cl.Brokers(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]int32, 0, len(brokers))
	for id := range brokers {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no brokers in metadata")
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	// A broker that died is listed until the controller fences it: try
	// the next one when a connection fails.
	var err2 error
	for _, id := range ids {
		var resp kmsg.Response
		if resp, err2 = a.cl.Request(ctx, id, req); err2 == nil || !errors.Is(err2, client.ErrConnDead) || ctx.Err() != nil {
			return resp, err2
		}
	}
	return nil, err2
}

// codeErr turns a Kafka error code and optional message into an error.
func codeErr(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil {
		return nil
	}
	if msg != nil && *msg != "" {
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}

func (a *admin) metadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := a.request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

func (a *admin) list(ctx context.Context, w io.Writer) error {
	md, err := a.metadata(ctx, nil)
	if err != nil {
		return err
	}
	sort.Slice(md.Topics, func(i, j int) bool { return deref(md.Topics[i].Topic) < deref(md.Topics[j].Topic) })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tID")
	for _, t := range md.Topics {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", deref(t.Topic), len(t.Partitions), topicID(t.TopicID))
	}
	return tw.Flush()
}

func (a *admin) create(ctx context.Context, topic string, parts int32, rf int16, cfgs []string, w io.Writer) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, rf
	for _, kv := range cfgs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-config %q: want key=value", kv)
		}
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := a.request(ctx, req)
	if err != nil {
		return err
	}
	st := resp.(*kmsg.CreateTopicsResponse).Topics[0]
	if err := codeErr(st.ErrorCode, st.ErrorMessage); err != nil {
		return err
	}
	fmt.Fprintf(w, "created topic %s (%d partitions, replication factor %d, id %s)\n", topic, st.NumPartitions, st.ReplicationFactor, topicID(st.TopicID))
	return nil
}

func (a *admin) describe(ctx context.Context, topic string, w io.Writer) error {
	md, err := a.metadata(ctx, []string{topic})
	if err != nil {
		return err
	}
	t := md.Topics[0]
	if err := codeErr(t.ErrorCode, nil); err != nil {
		return err
	}
	fmt.Fprintf(w, "topic %s  id %s  partitions %d\n", topic, topicID(t.TopicID), len(t.Partitions))
	sort.Slice(t.Partitions, func(i, j int) bool { return t.Partitions[i].Partition < t.Partitions[j].Partition })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR")
	for _, p := range t.Partitions {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%v\t%v\n", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR)
	}
	tw.Flush()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, rr)
	resp, err := a.request(ctx, req)
	if err != nil {
		return err
	}
	res := resp.(*kmsg.DescribeConfigsResponse).Resources[0]
	if err := codeErr(res.ErrorCode, res.ErrorMessage); err != nil {
		return err
	}
	fmt.Fprintln(w, "configs set on the topic:")
	n := 0
	for _, c := range res.Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			fmt.Fprintf(w, "  %s=%s\n", c.Name, deref(c.Value))
			n++
		}
	}
	if n == 0 {
		fmt.Fprintln(w, "  (none: every config has its default)")
	}
	return nil
}

func (a *admin) alter(ctx context.Context, topic string, set, del []string, w io.Writer) error {
	if len(set)+len(del) == 0 {
		return fmt.Errorf("nothing to change: give -config k=v or -delete-config k")
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	for _, kv := range set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-config %q: want key=value", kv)
		}
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = k, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(v)
		rr.Configs = append(rr.Configs, c)
	}
	for _, k := range del {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op = k, kmsg.IncrementalAlterConfigOpDelete
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := a.request(ctx, req)
	if err != nil {
		return err
	}
	res := resp.(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
	if err := codeErr(res.ErrorCode, res.ErrorMessage); err != nil {
		return err
	}
	fmt.Fprintf(w, "altered topic %s\n", topic)
	return nil
}

func (a *admin) delete(ctx context.Context, topics []string, w io.Writer) error {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 30000
	for _, t := range topics {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
		req.TopicNames = append(req.TopicNames, t)
	}
	resp, err := a.request(ctx, req)
	if err != nil {
		return err
	}
	var firstErr error
	for _, st := range resp.(*kmsg.DeleteTopicsResponse).Topics {
		if err := codeErr(st.ErrorCode, st.ErrorMessage); err != nil {
			fmt.Fprintf(w, "%s: %v\n", deref(st.Topic), err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		fmt.Fprintf(w, "deleted topic %s\n", deref(st.Topic))
	}
	return firstErr
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func topicID(id [16]byte) string { return uuid.UUID(id).String() }
