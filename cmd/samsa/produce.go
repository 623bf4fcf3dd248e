package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/tunnel"
)

func init() {
	register("produce", "produce records from stdin or a file, one per line", func(args []string) int {
		ctx, stop := interruptContext()
		defer stop()
		return produceMain(ctx, args, os.Stdin, os.Stderr)
	})
}

// producerFlags are the flags produce and bench share.
type producerFlags struct {
	brokers         *string
	acks            *string
	compression     *string
	level           *int
	linger          *time.Duration
	batchBytes      *int
	idempotent      *bool
	autoCreate      *bool
	deliveryTimeout *time.Duration
	timeout         *time.Duration
	proxy           *string
	conns           *int
}

func addProducerFlags(fs *flag.FlagSet) *producerFlags {
	return &producerFlags{
		brokers:         brokersFlag(fs),
		acks:            fs.String("acks", "all", "acks: 0, 1 or all (0 and 1 turn idempotence off)"),
		compression:     fs.String("compression", "none", "none, gzip, snappy, lz4 or zstd"),
		level:           fs.Int("compression-level", 0, "codec level (0 = default)"),
		linger:          fs.Duration("linger", 5*time.Millisecond, "linger before sealing a batch"),
		batchBytes:      fs.Int("batch-bytes", 1<<20, "max batch size"),
		idempotent:      fs.Bool("idempotent", true, "idempotent producer (requires acks=all)"),
		autoCreate:      fs.Bool("auto-create", true, "ask the broker to create a missing topic (if it allows it)"),
		deliveryTimeout: fs.Duration("delivery-timeout", 30*time.Second, "give up on a record after this long"),
		timeout:         fs.Duration("timeout", 30*time.Second, "give up at start when the brokers or the topic are still unavailable after this long (0 = keep waiting)"),
		conns:           fs.Int("connections", 2, "connections per broker to spread its partitions over (1 = one connection, like the Java client)"),
		proxy:           fs.String("proxy", "", "reach brokers through a SOCKS5 proxy, e.g. socks5://127.0.0.1:1080 (samsa tunnel local); host names are resolved by the proxy"),
	}
}

func (f *producerFlags) options() ([]client.Option, error) {
	codec, ok := client.ParseCodec(*f.compression)
	if !ok {
		return nil, fmt.Errorf("unknown compression %q", *f.compression)
	}
	opts := []client.Option{
		client.SeedBrokers(seedList(*f.brokers)...),
		client.Compression(codec, *f.level), client.Linger(*f.linger), client.BatchBytes(*f.batchBytes),
		client.DeliveryTimeout(*f.deliveryTimeout), client.ProduceConnections(*f.conns),
	}
	if *f.autoCreate {
		opts = append(opts, client.AllowAutoTopicCreation())
	}
	if *f.proxy != "" {
		dial, err := tunnel.SOCKS5Dialer(*f.proxy)
		if err != nil {
			return nil, fmt.Errorf("-proxy: %w", err)
		}
		opts = append(opts, client.Dialer(dial))
	}
	switch *f.acks {
	case "all", "-1":
		opts = append(opts, client.RequiredAcks(client.AcksAll), client.Idempotent(*f.idempotent))
	case "1":
		opts = append(opts, client.RequiredAcks(client.AcksLeader), client.Idempotent(false))
	case "0":
		opts = append(opts, client.RequiredAcks(client.AcksNone), client.Idempotent(false))
	default:
		return nil, fmt.Errorf("bad -acks %q", *f.acks)
	}
	return opts, nil
}

// headerList is a repeatable -header k=v flag.
type headerList []client.RecordHeader

func (h *headerList) String() string { return fmt.Sprint(*h) }
func (h *headerList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("header must be key=value")
	}
	*h = append(*h, client.RecordHeader{Key: k, Value: []byte(v)})
	return nil
}

// produceMain is `samsa produce`; ctx ends on Ctrl-C or SIGTERM.
func produceMain(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("samsa produce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pf := addProducerFlags(fs)
	topic := fs.String("topic", "", "topic to produce to (required)")
	file := fs.String("file", "", "read records from this file instead of stdin")
	keySep := fs.String("key-separator", "", "if set, each line is key<sep>value")
	recSep := fs.String("record-separator", "\n", "separator between records")
	var headers headerList
	fs.Var(&headers, "header", "header key=value added to every record (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: samsa produce -topic T [flags] < records")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *topic == "" || *recSep == "" {
		fs.Usage()
		return 2
	}
	opts, err := pf.options()
	if err != nil {
		fmt.Fprintln(stderr, "samsa produce:", err)
		return 2
	}
	in := stdin
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintln(stderr, "samsa produce:", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	// With -auto-create the readiness check's metadata request creates a
	// missing topic (if the broker allows it), as the first record would.
	if err := awaitReady(ctx, opts, readiness{seeds: *pf.brokers, topics: []string{*topic}}, stderr, "produce", *pf.timeout); err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "samsa produce:", err)
		}
		return 1
	}
	p, err := client.NewProducer(opts...)
	if err != nil {
		fmt.Fprintln(stderr, "samsa produce:", err)
		return 1
	}
	var sent, failed atomic.Int64
	cb := func(r *client.Record, err error) {
		if err != nil {
			if failed.Add(1) <= 10 {
				fmt.Fprintf(stderr, "samsa produce: record %q: %v\n", r.Value, err)
			}
			return
		}
		sent.Add(1)
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	sc.Split(splitOn([]byte(*recSep)))
	for sc.Scan() && ctx.Err() == nil {
		line := append([]byte(nil), sc.Bytes()...)
		r := &client.Record{Topic: *topic, Value: line, Headers: headers}
		if *keySep != "" {
			if k, v, ok := strings.Cut(string(line), *keySep); ok {
				r.Key, r.Value = []byte(k), []byte(v)
			}
		}
		if err := p.Produce(ctx, r, cb); err != nil && ctx.Err() != nil {
			break
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(stderr, "samsa produce: reading input:", err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		fmt.Fprintln(stderr, "samsa produce: close:", err)
	}
	fmt.Fprintf(stderr, "%d records produced, %d failed\n", sent.Load(), failed.Load())
	if failed.Load() > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

// splitOn is a bufio.SplitFunc for an arbitrary separator; a trailing "\r"
// is kept (use -record-separator $'\r\n' for CRLF input).
func splitOn(sep []byte) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if i := indexOf(data, sep); i >= 0 {
			return i + len(sep), data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
}

func indexOf(data, sep []byte) int { return strings.Index(string(data), string(sep)) }
