package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/config"
)

// samsa healthcheck: the container image's HEALTHCHECK, which has no shell
// to run. It reads the node's configuration as the entrypoint does (the same
// environment, mounted file and default) and asks the node itself:
//
//   - a node with the broker role is healthy once a broker listener answers
//     ApiVersions: samsa accepts on broker listeners only once the broker
//     has caught up with the metadata log and been unfenced;
//   - a controller-only node is healthy once its controller listener
//     answers ApiVersions and the quorum has an active controller: a voter
//     of controller.quorum.voters answers DescribeQuorum naming a leader
//     (only the active controller answers it; the others say NOT_CONTROLLER).

func init() {
	register("healthcheck", "probe the local node (the container image's HEALTHCHECK): exit 0 when it serves", runHealthcheck)
}

func runHealthcheck(args []string) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	defaultConfig, mountedDir := dockerFlags(fs)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: samsa healthcheck [-timeout 5s] [KEY=VALUE ...]\n\nExit status 0 when the node this container runs serves (see samsa docker-entrypoint for how its configuration is found).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	s, err := prepareDocker(os.Environ(), fs.Args(), *defaultConfig, *mountedDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "samsa healthcheck: %v\n", err)
		return 1
	}
	cfg, _, err := config.Load(config.LoadOptions{File: s.File, Environ: s.environ()})
	if err != nil {
		fmt.Fprintf(os.Stderr, "samsa healthcheck: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	what, err := probeNode(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "samsa healthcheck: %s: %v\n", what, err)
		return 1
	}
	fmt.Fprintf(os.Stdout, "samsa healthcheck: %s: ok\n", what)
	return 0
}

// probeNode probes the node cfg describes; what names the probe.
func probeNode(ctx context.Context, cfg *config.Config) (what string, err error) {
	var brokerL, ctlL *config.Listener
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		isCtl := false
		for _, n := range cfg.ControllerListenerNames {
			if n == l.Name {
				isCtl = true
			}
		}
		if isCtl && ctlL == nil {
			ctlL = l
		} else if !isCtl && brokerL == nil {
			brokerL = l
		}
	}
	switch {
	case cfg.IsBroker() && brokerL != nil:
		addr := localAddr(*brokerL)
		return "broker listener " + brokerL.Name + " at " + addr, probeBroker(ctx, addr)
	case cfg.IsController() && ctlL != nil:
		addr := localAddr(*ctlL)
		what := "controller listener " + ctlL.Name + " at " + addr
		if err := probeBroker(ctx, addr); err != nil {
			return what, err
		}
		return what, probeVoters(ctx, cfg.ControllerQuorumVoters)
	}
	return "configuration", errors.New("no listener to probe")
}

// localAddr is where a listener is reached from inside its container.
func localAddr(l config.Listener) string {
	host := l.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(l.Port))
}

// probeBroker succeeds when addr answers ApiVersions.
func probeBroker(ctx context.Context, addr string) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName = "samsa-healthcheck"
	req.ClientSoftwareVersion = "1"
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := roundTrip(ctx, addr, req, resp); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	return nil
}

// probeVoters succeeds when one of voters answers DescribeQuorum naming a
// leader; else it returns the first voter's error.
func probeVoters(ctx context.Context, voters []config.Voter) error {
	if len(voters) == 0 {
		return errors.New("no controller.quorum.voters to ask for the quorum's leader")
	}
	var first error
	for _, v := range voters {
		err := probeQuorum(ctx, v.Addr())
		if err == nil {
			return nil
		}
		if first == nil {
			first = fmt.Errorf("voter %d at %s: %w", v.ID, v.Addr(), err)
		}
	}
	return first
}

// probeBroker is also the controller listener's liveness probe: every
// listener answers ApiVersions.

// probeQuorum succeeds when addr answers DescribeQuorum naming a leader.
func probeQuorum(ctx context.Context, addr string) error {
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(0)
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	t.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, t)
	resp := kmsg.NewPtrDescribeQuorumResponse()
	if err := roundTrip(ctx, addr, req, resp); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("DescribeQuorum: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return errors.New("DescribeQuorum: no __cluster_metadata partition in the answer")
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return fmt.Errorf("DescribeQuorum: %w", err)
	}
	if p.LeaderID < 0 {
		return errors.New("the quorum has no leader yet")
	}
	return nil
}

// roundTrip sends req on a new connection to addr and reads its answer
// into resp (same version).
func roundTrip(ctx context.Context, addr string, req kmsg.Request, resp kmsg.Response) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	const correlation = 1
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("samsa-healthcheck")).AppendRequest(nil, req, correlation)
	if _, err := c.Write(frame); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return fmt.Errorf("answer of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != correlation {
		return fmt.Errorf("answer with correlation id %d, want %d", got, correlation)
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		// Response header v1: skip its tagged fields.
		var err error
		if body, err = skipTags(body); err != nil {
			return err
		}
	}
	return resp.ReadFrom(body)
}

func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("malformed response header")
	}
	b = b[n:]
	for i := uint64(0); i < count; i++ {
		_, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("malformed response header")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			return nil, errors.New("malformed response header")
		}
		b = b[n+int(size):]
	}
	return b, nil
}
