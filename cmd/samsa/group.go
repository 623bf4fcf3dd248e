package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/samsa-io/samsa/client"
)

func init() {
	register("group", "list, describe, delete consumer groups and reset their offsets", interruptible(groupMain))
}

const groupUsage = `usage: samsa group <subcommand> [flags]

subcommands:
  list                              every group of the cluster
  describe -group G                 members, assignments, committed offsets and lag
  delete -group G[,G...]            delete empty groups
  reset-offsets -group G -topic T -to SPEC [-partitions P] [-execute]
                                    SPEC: earliest, latest, offset:N, time:RFC3339,
                                    time:@unix-ms, shift:N (from the committed offset)
`

func groupMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, groupUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("samsa group "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	var run func(ctx context.Context, cl *client.Client) error
	switch sub {
	case "list":
		run = func(ctx context.Context, cl *client.Client) error { return groupList(ctx, cl, stdout) }
	case "describe":
		group := fs.String("group", "", "group to describe (required)")
		run = func(ctx context.Context, cl *client.Client) error {
			if *group == "" {
				return errUsage
			}
			return groupDescribe(ctx, cl, *group, stdout)
		}
	case "delete":
		groups := fs.String("group", "", "group(s) to delete, comma-separated (required)")
		run = func(ctx context.Context, cl *client.Client) error {
			if *groups == "" {
				return errUsage
			}
			return groupDelete(ctx, cl, strings.Split(*groups, ","), stdout)
		}
	case "reset-offsets":
		group := fs.String("group", "", "group whose offsets to reset (required; it must have no active members)")
		topic := fs.String("topic", "", "topic(s), comma-separated (required)")
		parts := fs.String("partitions", "", "only these partitions, e.g. 0,2,4-6 (default all)")
		to := fs.String("to", "", "earliest, latest, offset:N, time:RFC3339, time:@unix-ms or shift:N (required)")
		execute := fs.Bool("execute", false, "commit the new offsets (without it, only print them)")
		run = func(ctx context.Context, cl *client.Client) error {
			if *group == "" || *topic == "" || *to == "" {
				return errUsage
			}
			return groupReset(ctx, cl, *group, strings.Split(*topic, ","), *parts, *to, *execute, stdout)
		}
	case "-h", "--help", "help":
		fmt.Fprint(stdout, groupUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "samsa group: unknown subcommand %q\n%s", sub, groupUsage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return withClient(ctx, "group "+sub, fs, cf, *timeout, stderr, run)
}

// withClient opens a client from the connection flags and runs fn under
// timeout. errUsage from fn prints the flag set's usage (exit 2); other
// errors are printed (exit 1).
func withClient(ctx context.Context, name string, fs *flag.FlagSet, cf *clientFlags, timeout time.Duration,
	stderr io.Writer, fn func(context.Context, *client.Client) error) int {
	opts, err := cf.options()
	if err != nil {
		fmt.Fprintf(stderr, "samsa %s: %v\n", name, err)
		return 2
	}
	cl, err := client.New(opts...)
	if err != nil {
		fmt.Fprintf(stderr, "samsa %s: %v\n", name, err)
		return 2
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := fn(ctx, cl); err != nil {
		if errors.Is(err, errUsage) {
			fs.Usage()
			return 2
		}
		fmt.Fprintf(stderr, "samsa %s: %v\n", name, err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func groupList(ctx context.Context, cl *client.Client, w io.Writer) error {
	gs, err := cl.ListGroups(ctx)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tTYPE\tPROTOCOL-TYPE\tCOORDINATOR")
	for _, g := range gs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", g.Group, orDash(g.State), orDash(g.Type), orDash(g.ProtocolType), g.Coordinator)
	}
	tw.Flush()
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func groupDescribe(ctx context.Context, cl *client.Client, group string, w io.Writer) error {
	d, err := cl.DescribeGroup(ctx, group)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "group %s: state %s, protocol %s/%s, coordinator %d, %d members\n",
		d.Group, d.State, orDash(d.ProtocolType), orDash(d.Protocol), d.Coordinator, len(d.Members))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(d.Members) > 0 {
		fmt.Fprintln(tw, "\nMEMBER\tINSTANCE\tCLIENT-ID\tHOST\tASSIGNMENT")
		for _, m := range d.Members {
			inst := "-"
			if m.InstanceID != nil {
				inst = *m.InstanceID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.MemberID, inst, m.ClientID, m.ClientHost, formatTPs(m.Assigned))
		}
		tw.Flush()
	}
	offs, err := cl.GroupOffsets(ctx, group, d)
	if err != nil {
		return err
	}
	fmt.Fprintln(tw, "\nTOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
	var total int64
	for _, o := range offs {
		member := orDash(o.Member)
		end, lag := num(o.End), num(o.Lag)
		if o.Err != nil {
			end = "error: " + o.Err.Error()
		}
		if o.Lag > 0 {
			total += o.Lag
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", o.Topic, o.Partition, num(o.Committed), end, lag, member)
	}
	tw.Flush()
	fmt.Fprintf(w, "total lag %d\n", total)
	return nil
}

func num(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// formatTPs prints t[0,1,2] u[3].
func formatTPs(tps []client.TopicPartition) string {
	if len(tps) == 0 {
		return "-"
	}
	by := map[string][]string{}
	var topics []string
	for _, tp := range tps {
		if _, ok := by[tp.Topic]; !ok {
			topics = append(topics, tp.Topic)
		}
		by[tp.Topic] = append(by[tp.Topic], strconv.Itoa(int(tp.Partition)))
	}
	sort.Strings(topics)
	var parts []string
	for _, t := range topics {
		parts = append(parts, t+"["+strings.Join(by[t], ",")+"]")
	}
	return strings.Join(parts, " ")
}

func groupDelete(ctx context.Context, cl *client.Client, groups []string, w io.Writer) error {
	res, err := cl.DeleteGroups(ctx, groups...)
	failed := 0
	for _, g := range groups {
		if e := res[g]; e != nil {
			failed++
			fmt.Fprintf(w, "%s: %v\n", g, e)
		} else if _, ok := res[g]; ok {
			fmt.Fprintf(w, "%s: deleted\n", g)
		}
	}
	if err == nil && failed > 0 {
		err = fmt.Errorf("%d of %d groups not deleted", failed, len(groups))
	}
	return err
}

// errActiveMembers is why reset-offsets refuses a group: like Kafka's
// kafka-consumer-groups, it resets only a group without members (the
// coordinator rejects commits from outside a live generation anyway, with a
// bare UNKNOWN_MEMBER_ID).
var errActiveMembers = errors.New("the offsets of a group can only be reset while it has no active members: stop its consumers first (samsa consume leaves its group on Ctrl-C or SIGTERM)")

// activeMembers describes group and returns an error naming its members
// if it has any.
func activeMembers(ctx context.Context, cl *client.Client, group string) error {
	d, err := cl.DescribeGroup(ctx, group)
	if err != nil || len(d.Members) == 0 {
		return nil // no such group yet, or nobody in it: the commit will tell
	}
	ids := make([]string, 0, len(d.Members))
	for _, m := range d.Members {
		ids = append(ids, m.MemberID+" ("+m.ClientID+"@"+m.ClientHost+")")
	}
	return fmt.Errorf("group %s is %s with %d active member(s): %s; %w", group, d.State, len(d.Members), strings.Join(ids, ", "), errActiveMembers)
}

func groupReset(ctx context.Context, cl *client.Client, group string, topics []string, parts, to string, execute bool, w io.Writer) error {
	active := activeMembers(ctx, cl, group)
	if active != nil && execute {
		return active
	}
	tps, err := cl.TopicPartitions(ctx, topics...)
	if err != nil {
		return err
	}
	if parts != "" {
		ps, err := parsePartitions(parts)
		if err != nil {
			return err
		}
		keep := map[int32]bool{}
		for _, p := range ps {
			keep[p] = true
		}
		var sel []client.TopicPartition
		for _, tp := range tps {
			if keep[tp.Partition] {
				sel = append(sel, tp)
			}
		}
		tps = sel
	}
	committed, err := cl.FetchGroupOffsets(ctx, group, tps)
	if err != nil {
		return err
	}
	starts, err := cl.ListOffsets(ctx, tps, client.AtStart())
	if err != nil {
		return err
	}
	ends, err := cl.ListOffsets(ctx, tps, client.AtEnd())
	if err != nil {
		return err
	}
	target := map[client.TopicPartition]int64{}
	kind, arg, _ := strings.Cut(to, ":")
	switch kind {
	case "earliest", "latest":
		src := starts
		if kind == "latest" {
			src = ends
		}
		for _, tp := range tps {
			target[tp] = src[tp].Offset
		}
	case "offset", "shift":
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			return fmt.Errorf("bad -to %q", to)
		}
		for _, tp := range tps {
			off := n
			if kind == "shift" {
				cur, ok := committed[tp]
				if !ok {
					cur = starts[tp].Offset
				}
				off = cur + n
			}
			target[tp] = min(max(off, starts[tp].Offset), ends[tp].Offset)
		}
	case "time":
		at, err := parseOffset(arg)
		if err != nil {
			return err
		}
		listed, err := cl.ListOffsets(ctx, tps, at)
		if err != nil {
			return err
		}
		for _, tp := range tps {
			off := listed[tp].Offset
			if off < 0 {
				off = ends[tp].Offset
			}
			target[tp] = off
		}
	default:
		return fmt.Errorf("bad -to %q: want earliest, latest, offset:N, time:T or shift:N", to)
	}
	for _, tp := range tps {
		for _, lo := range []client.ListedOffset{starts[tp], ends[tp]} {
			if lo.Err != nil {
				return fmt.Errorf("%s: %w", tp, lo.Err)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tNEW")
	for _, tp := range tps {
		cur := int64(-1)
		if c, ok := committed[tp]; ok {
			cur = c
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", tp.Topic, tp.Partition, num(cur), target[tp])
	}
	tw.Flush()
	if !execute {
		if active != nil {
			fmt.Fprintf(w, "dry run; -execute would fail now: %v\n", active)
			return nil
		}
		fmt.Fprintln(w, "dry run: add -execute to commit these offsets")
		return nil
	}
	if err := cl.CommitGroupOffsets(ctx, group, target); err != nil {
		if errors.Is(err, client.ErrorForCode(25)) || errors.Is(err, client.ErrorForCode(22)) { // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION: a member joined meanwhile
			if a := activeMembers(ctx, cl, group); a != nil {
				return fmt.Errorf("%w (%w)", a, err)
			}
			return fmt.Errorf("%w: %w", errActiveMembers, err)
		}
		return err
	}
	fmt.Fprintln(w, "committed")
	return nil
}
