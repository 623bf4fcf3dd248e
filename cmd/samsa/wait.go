package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/client"
)

// What the client commands wait for before they can work (a reachable
// broker, the topic, the group's coordinator, the partition leaders at the
// addresses they advertise), said on stderr after a moment, and for how long
// at most: a command never waits silently, nor forever unless asked to.

// defaultBrokers is where the client commands connect without -brokers.
const defaultBrokers = "127.0.0.1:9092"

// brokersFlag registers -brokers and its alias -bootstrap-server (the name
// every Kafka tool uses), defaulting to $SAMSA_BROKERS, else
// 127.0.0.1:9092.
func brokersFlag(fs *flag.FlagSet) *string {
	def := defaultBrokers
	if v := strings.TrimSpace(os.Getenv("SAMSA_BROKERS")); v != "" {
		def = v
	}
	p := fs.String("brokers", def, "comma-separated bootstrap brokers (the default comes from $SAMSA_BROKERS if set)")
	fs.StringVar(p, "bootstrap-server", def, "alias of -brokers, as Kafka's tools call it")
	return p
}

func seedList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// interruptContext is cancelled by Ctrl-C (SIGINT) or SIGTERM, so that
// `kill` or a container stop ends a command as cleanly as Ctrl-C does (a
// group member commits and leaves its group).
func interruptContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// waitNotice is how long a command waits quietly before it says what it
// is waiting for; waitRetry is how often it looks again.
var (
	waitNotice = time.Second
	waitRetry  = 500 * time.Millisecond
)

// readiness is what a command needs from the cluster before it starts.
type readiness struct {
	seeds  string   // the bootstrap brokers, as given
	topics []string // topics that must exist (or be created: see the client's auto-create option)
	group  string   // a group whose coordinator must be available
}

// await checks r with cl until it holds, ctx ends or timeout passes (0:
// no limit). After waitNotice it prints on stderr what it is waiting for,
// again whenever that changes. It returns the last reason on timeout.
func (r readiness) await(ctx context.Context, cl *client.Client, stderr io.Writer, name string, timeout time.Duration) error {
	start := time.Now()
	var said string
	for {
		tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := r.check(tctx, cl)
		cancel()
		if err == nil {
			if said != "" {
				fmt.Fprintf(stderr, "samsa %s: ready after %v\n", name, time.Since(start).Round(100*time.Millisecond))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		waited := time.Since(start)
		if timeout > 0 && waited >= timeout {
			return fmt.Errorf("gave up after %v (-timeout) waiting for %w", timeout, err)
		}
		if msg := err.Error(); waited >= waitNotice && msg != said {
			fmt.Fprintf(stderr, "samsa %s: waiting for %s\n", name, msg)
			said = msg
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(waitRetry):
		}
	}
}

// awaitReady opens a client with opts just to await r (see
// readiness.await).
func awaitReady(ctx context.Context, opts []client.Option, r readiness, stderr io.Writer, name string, timeout time.Duration) error {
	cl, err := client.New(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return r.await(ctx, cl, stderr, name, timeout)
}

// check returns nil when r holds, else what is missing, phrased to follow
// "waiting for".
func (r readiness) check(ctx context.Context, cl *client.Client) error {
	brokers, err := cl.Brokers(ctx)
	if err != nil {
		return fmt.Errorf("the bootstrap broker %s: %w", r.seeds, cause(err))
	}
	reach := func(id int32, role string) error {
		api := kmsg.NewPtrApiVersionsRequest()
		api.ClientSoftwareName, api.ClientSoftwareVersion = "samsa", "1"
		if _, err := cl.Request(ctx, id, api); err != nil {
			return fmt.Errorf("broker %d at %s (the address it advertises, %s): %w", id, brokers[id], role, cause(err))
		}
		return nil
	}
	if len(r.topics) > 0 {
		meta, err := cl.RefreshMetadata(ctx, r.topics...)
		if err != nil {
			return fmt.Errorf("the metadata of %s: %w", strings.Join(r.topics, ", "), cause(err))
		}
		checked := map[int32]bool{}
		for _, t := range r.topics {
			tm := meta.Topics[t]
			switch {
			case tm == nil || errors.Is(tm.Err, client.ErrUnknownTopicOrPartition):
				return fmt.Errorf("topic %q to exist: %w", t, client.ErrUnknownTopicOrPartition)
			case tm.Err != nil:
				return fmt.Errorf("topic %q: %w", t, tm.Err)
			}
			for p, pm := range tm.Partitions {
				if pm.Leader < 0 {
					return fmt.Errorf("a leader of %s[%d]", t, p)
				}
				if !checked[pm.Leader] {
					checked[pm.Leader] = true
					if err := reach(pm.Leader, fmt.Sprintf("leader of %s[%d]", t, p)); err != nil {
						return err
					}
				}
			}
		}
	}
	if r.group != "" {
		var any int32 = -1
		for id := range brokers {
			any = id
			break
		}
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey, fc.CoordinatorKeys = r.group, []string{r.group}
		kresp, err := cl.Request(ctx, any, fc)
		if err != nil {
			return fmt.Errorf("the coordinator of group %q: %w", r.group, cause(err))
		}
		resp := kresp.(*kmsg.FindCoordinatorResponse)
		code, msg, node := resp.ErrorCode, resp.ErrorMessage, resp.NodeID
		if len(resp.Coordinators) == 1 {
			co := resp.Coordinators[0]
			code, msg, node = co.ErrorCode, co.ErrorMessage, co.NodeID
		}
		if code != 0 {
			err := client.ErrorForCode(code)
			if msg != nil && *msg != "" {
				err = fmt.Errorf("%w: %s", err, *msg)
			}
			return fmt.Errorf("the coordinator of group %q: %w", r.group, err)
		}
		if _, known := brokers[node]; known {
			if err := reach(node, fmt.Sprintf("coordinator of group %q", r.group)); err != nil {
				return err
			}
		}
	}
	return nil
}

// cause drops the client's wrapping down to the network or Kafka error a
// user can act on ("connect: connection refused", "no such host"), keeping
// a Kafka error whole.
func cause(err error) error {
	var ke *client.KafkaError
	if errors.As(err, &ke) {
		return err
	}
	var op *net.OpError // "dial tcp 127.0.0.1:9092: connect: connection refused"
	if errors.As(err, &op) {
		return op
	}
	// The client reports a failed dial as text inside its own errors.
	if msg := err.Error(); strings.Contains(msg, ": dial tcp") {
		return errors.New(msg[strings.LastIndex(msg, "dial tcp"):])
	}
	return err
}
