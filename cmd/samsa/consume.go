package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/tunnel"
)

func init() {
	register("consume", "print records of a topic, alone or as a group member", interruptible(consumeMain))
}

// clientFlags are the connection flags of the consumer and group commands.
type clientFlags struct {
	brokers *string
	proxy   *string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	return &clientFlags{
		brokers: brokersFlag(fs),
		proxy:   fs.String("proxy", "", "reach brokers through a SOCKS5 proxy, e.g. socks5://127.0.0.1:1080 (samsa tunnel local)"),
	}
}

func (f *clientFlags) options() ([]client.Option, error) {
	opts := []client.Option{client.SeedBrokers(seedList(*f.brokers)...)}
	if *f.proxy != "" {
		dial, err := tunnel.SOCKS5Dialer(*f.proxy)
		if err != nil {
			return nil, fmt.Errorf("-proxy: %w", err)
		}
		opts = append(opts, client.Dialer(dial))
	}
	return opts, nil
}

// parseOffset reads -from: earliest, latest, an offset, an RFC 3339 time
// or @<unix milliseconds>.
func parseOffset(s string) (client.Offset, error) {
	switch s {
	case "earliest", "start", "beginning":
		return client.AtStart(), nil
	case "latest", "end":
		return client.AtEnd(), nil
	}
	if ms, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return client.Offset{}, fmt.Errorf("bad timestamp %q", s)
		}
		return client.AtTimestamp(time.UnixMilli(n)), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return client.AtOffset(n), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return client.AtTimestamp(t), nil
	}
	return client.Offset{}, fmt.Errorf("bad offset %q: want earliest, latest, an offset, an RFC 3339 time or @unix-ms", s)
}

// parsePartitions reads "0,2,5-7".
func parsePartitions(s string) ([]int32, error) {
	var out []int32
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseInt(strings.TrimSpace(lo), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad partition %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(strings.TrimSpace(hi), 10, 32); err != nil || b < a {
				return nil, fmt.Errorf("bad partition range %q", part)
			}
		}
		for p := a; p <= b; p++ {
			out = append(out, int32(p))
		}
	}
	return out, nil
}

func consumeMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("samsa consume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	topics := fs.String("topic", "", "topic(s) to consume, comma-separated (required)")
	partitions := fs.String("partitions", "", "only these partitions, e.g. 0,2,4-6 (not with -group)")
	group := fs.String("group", "", "consume as a member of this consumer group (commits its offsets)")
	protocol := fs.String("group-protocol", "classic", "group protocol: classic or consumer (KIP-848)")
	from := fs.String("from", "earliest", "where to start without a committed offset: earliest, latest, an offset, an RFC 3339 time or @unix-ms")
	count := fs.Int("n", 0, "stop after this many records (0 = no limit)")
	idle := fs.Duration("idle", 0, "stop when no record arrived for this long (0 = wait forever)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when the brokers, the topics or the group's coordinator are still unavailable after this long (0 = keep waiting); once consuming, records may take as long as they like (see -idle)")
	format := fs.String("format", "%v\\n", "output per record: %t topic, %p partition, %o offset, %k key, %v value, %h headers (k=v,...), %T timestamp (unix ms), %d timestamp (RFC 3339), %% percent, \\n newline, \\t tab")
	asJSON := fs.Bool("json", false, "print one JSON object per record (topic, partition, offset, timestamp, key, value, headers)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: samsa consume -topic T [-group G] [-from earliest|latest|OFFSET|TIME] [-n N] [-format F | -json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *topics == "" {
		fs.Usage()
		return 2
	}
	start, err := parseOffset(*from)
	if err != nil {
		fmt.Fprintln(stderr, "samsa consume:", err)
		return 2
	}
	copts, err := cf.options()
	if err != nil {
		fmt.Fprintln(stderr, "samsa consume:", err)
		return 2
	}
	opts := []client.ConsumerOpt{client.ConsumeStartOffset(start)}
	done := &printed{next: map[client.TopicPartition]int64{}}
	for _, o := range copts {
		opts = append(opts, o)
	}
	tl := strings.Split(*topics, ",")
	switch {
	case *group != "" && *partitions != "":
		fmt.Fprintln(stderr, "samsa consume: -partitions cannot be used with -group")
		return 2
	case *group != "":
		// Commit what was printed, not what was polled: -n may stop in
		// the middle of a poll.
		opts = append(opts, client.ConsumerGroup(*group), client.ConsumeTopics(tl...),
			client.WithGroupProtocol(client.GroupProtocol(*protocol)), client.AutoCommit(0),
			client.OnRevoked(func(ctx context.Context, c *client.Consumer, tps []client.TopicPartition) {
				if err := done.commit(ctx, c, tps); err != nil {
					fmt.Fprintln(stderr, "samsa consume: commit:", err)
				}
			}))
		done.group = true
	case *partitions != "":
		ps, err := parsePartitions(*partitions)
		if err != nil {
			fmt.Fprintln(stderr, "samsa consume:", err)
			return 2
		}
		m := map[string]map[int32]client.Offset{}
		for _, t := range tl {
			m[t] = map[int32]client.Offset{}
			for _, p := range ps {
				m[t][p] = start
			}
		}
		opts = append(opts, client.ConsumePartitions(m))
	default:
		opts = append(opts, client.ConsumeTopics(tl...))
	}
	if err := awaitReady(ctx, copts, readiness{seeds: *cf.brokers, topics: tl, group: *group}, stderr, "consume", *timeout); err != nil {
		if errors.Is(err, context.Canceled) {
			return 1
		}
		fmt.Fprintln(stderr, "samsa consume:", err)
		return 1
	}
	c, err := client.NewConsumer(opts...)
	if err != nil {
		fmt.Fprintln(stderr, "samsa consume:", err)
		return 2
	}
	out := bufio.NewWriter(stdout)
	n, err := consumeLoop(ctx, c, out, stderr, done, *count, *idle, *format, *asJSON)
	out.Flush()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := done.commit(cctx, c, nil); cerr != nil {
		fmt.Fprintln(stderr, "samsa consume: commit:", cerr)
	}
	if cerr := c.Close(cctx); cerr != nil {
		fmt.Fprintln(stderr, "samsa consume: close:", cerr)
	}
	fmt.Fprintf(stderr, "%d records consumed\n", n)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "samsa consume:", err)
		return 1
	}
	return 0
}

// printed tracks, per partition, the offset after the last record
// printed: what a group member commits.
type printed struct {
	group      bool
	mu         sync.Mutex
	next       map[client.TopicPartition]int64
	lastCommit time.Time
}

func (p *printed) add(r *client.Record) {
	p.mu.Lock()
	p.next[client.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
	p.mu.Unlock()
}

// due reports whether a periodic commit is due.
func (p *printed) due() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.group && time.Since(p.lastCommit) > time.Second
}

// commit commits tps (all printed partitions if nil) and forgets them.
func (p *printed) commit(ctx context.Context, c *client.Consumer, tps []client.TopicPartition) error {
	if !p.group {
		return nil
	}
	p.mu.Lock()
	offs := map[client.TopicPartition]int64{}
	if tps == nil {
		for tp, off := range p.next {
			offs[tp] = off
		}
	}
	for _, tp := range tps {
		if off, ok := p.next[tp]; ok {
			offs[tp] = off
		}
	}
	for tp := range offs {
		delete(p.next, tp)
	}
	p.lastCommit = time.Now()
	p.mu.Unlock()
	if len(offs) == 0 {
		return nil
	}
	return c.CommitOffsets(ctx, offs)
}

func consumeLoop(ctx context.Context, c *client.Consumer, out *bufio.Writer, errw io.Writer, done *printed, count int, idle time.Duration, format string, asJSON bool) (int, error) {
	tmpl := compileFormat(format)
	n := 0
	for count == 0 || n < count {
		if done.due() {
			if err := done.commit(ctx, c, nil); err != nil {
				fmt.Fprintln(errw, "samsa consume: commit:", err)
			}
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if idle > 0 {
			pctx, cancel = context.WithTimeout(ctx, idle)
		}
		fs, err := c.Poll(pctx)
		idleOut := err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)
		cancel()
		if idleOut {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		for _, f := range fs.Errors() {
			fmt.Fprintf(errw, "samsa consume: %s[%d]: %v\n", f.Topic, f.Partition, f.Err)
		}
		for _, r := range fs.Records() {
			if count > 0 && n >= count {
				break
			}
			if asJSON {
				writeJSON(out, r)
			} else {
				tmpl(out, r)
			}
			done.add(r)
			n++
		}
		out.Flush()
	}
	return n, nil
}

// jsonRecord is the -json output.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []jsonHeader `json:"headers,omitempty"`
}

type jsonHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func strPtr(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func writeJSON(w io.Writer, r *client.Record) {
	jr := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Key: strPtr(r.Key), Value: strPtr(r.Value)}
	for _, h := range r.Headers {
		jr.Headers = append(jr.Headers, jsonHeader{Key: h.Key, Value: strPtr(h.Value)})
	}
	b, _ := json.Marshal(jr)
	w.Write(append(b, '\n'))
}

// compileFormat turns a -format spec into a writer.
func compileFormat(spec string) func(*bufio.Writer, *client.Record) {
	type piece struct {
		lit  string
		verb byte
	}
	var ps []piece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			ps = append(ps, piece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(spec); i++ {
		ch := spec[i]
		if (ch == '%' || ch == '\\') && i+1 < len(spec) {
			i++
			nx := spec[i]
			switch {
			case ch == '\\' && nx == 'n':
				lit.WriteByte('\n')
			case ch == '\\' && nx == 't':
				lit.WriteByte('\t')
			case ch == '\\' && nx == '\\':
				lit.WriteByte('\\')
			case ch == '%' && nx == '%':
				lit.WriteByte('%')
			case ch == '%' && strings.IndexByte("tpokvhTd", nx) >= 0:
				flush()
				ps = append(ps, piece{verb: nx})
			default:
				lit.WriteByte(ch)
				lit.WriteByte(nx)
			}
			continue
		}
		lit.WriteByte(ch)
	}
	flush()
	return func(w *bufio.Writer, r *client.Record) {
		for _, p := range ps {
			switch p.verb {
			case 0:
				w.WriteString(p.lit)
			case 't':
				w.WriteString(r.Topic)
			case 'p':
				w.WriteString(strconv.Itoa(int(r.Partition)))
			case 'o':
				w.WriteString(strconv.FormatInt(r.Offset, 10))
			case 'k':
				w.Write(r.Key)
			case 'v':
				w.Write(r.Value)
			case 'h':
				for i, h := range r.Headers {
					if i > 0 {
						w.WriteByte(',')
					}
					w.WriteString(h.Key)
					w.WriteByte('=')
					w.Write(h.Value)
				}
			case 'T':
				w.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
			case 'd':
				w.WriteString(r.Timestamp.UTC().Format(time.RFC3339Nano))
			}
		}
	}
}
