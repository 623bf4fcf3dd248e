// Command loadcheck is the load and the judge of the Docker stage's fault
// tests (scripts/docker-test): it produces unique values while containers
// are stopped, killed and restarted, consumes them in a group, and then
// checks that nothing acknowledged was lost or duplicated.
//
//	loadcheck produce -brokers B -topic T -tag S -out FILE   until SIGTERM
//	loadcheck consume -brokers B -topic T -group G -out FILE until SIGTERM, then to the end
//	loadcheck verify  -brokers B -topic T -sent FILE [-consumed FILE -group G]
//	loadcheck isr     -brokers B [-topic T]         every partition fully replicated
//	loadcheck offsets -brokers B -group G [-not-below FILE]
//
// produce sends the values S-1, S-2, ... with franz-go (idempotent,
// acks=all) at -rate records/s, round robin over the partitions, and
// appends each outcome to FILE as it is known: "ok VALUE PARTITION OFFSET"
// for an acknowledged send, "info VALUE ERROR" for a failed one (it may or
// may not have been written). On SIGTERM it stops sending and waits for
// every outstanding answer.
//
// consume reads T in group G (commits by hand, after each poll) and appends
// "r PARTITION OFFSET VALUE" for each record it is given and "c PARTITION
// OFFSET" for each commit the coordinator accepted, in the order they
// happened. On SIGTERM it reads on to the end offsets of that moment and
// commits them.
//
// verify reads every partition of T from its start to its end and fails
// unless every acknowledged value is there exactly once, no value occurs
// twice, no value is there that was not sent, and (without
// -allow-indeterminate) no send failed. With -consumed it also fails unless
// the consumer was given every acknowledged value, each at the offset the
// log has it, was never given a record below an offset its group had
// already committed (committed offsets were kept), and the group's
// committed offsets are the end offsets.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	cmds := map[string]func([]string) error{
		"produce": produce, "consume": consume, "verify": verify, "isr": isr, "offsets": offsets,
	}
	if len(os.Args) < 2 || cmds[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: loadcheck produce|consume|verify|isr|offsets -h")
		os.Exit(2)
	}
	if err := cmds[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "loadcheck %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

type common struct {
	fs      *flag.FlagSet
	brokers *string
	topic   *string
	timeout *time.Duration
}

func flags(name string) common {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	return common{
		fs:      fs,
		brokers: fs.String("brokers", "", "bootstrap brokers, comma separated (required)"),
		topic:   fs.String("topic", "", "the topic"),
		timeout: fs.Duration("timeout", 90*time.Second, "how long to wait for what must happen"),
	}
}

func (c common) parse(args []string, needTopic bool) error {
	c.fs.Parse(args)
	if *c.brokers == "" || (needTopic && *c.topic == "") {
		return errors.New("-brokers and -topic are required")
	}
	return nil
}

func (c common) client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(*c.brokers, ",")...)}, opts...)...)
}

// stopped is done on SIGTERM or SIGINT.
func stopped() context.Context {
	ctx, _ := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	return ctx
}

// lines appends to a file, safe for concurrent use, flushed every 100 ms
// so that the script can follow the progress.
type lines struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	done chan struct{}
}

func newLines(path string) (*lines, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	l := &lines{f: f, w: bufio.NewWriter(f), done: make(chan struct{})}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.mu.Lock()
				l.w.Flush()
				l.mu.Unlock()
			case <-l.done:
				return
			}
		}
	}()
	return l, nil
}

func (l *lines) printf(format string, a ...any) {
	l.mu.Lock()
	fmt.Fprintf(l.w, format, a...)
	l.mu.Unlock()
}

func (l *lines) close() error {
	close(l.done)
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.w.Flush(), l.f.Close())
}

func produce(args []string) error {
	c := flags("produce")
	tag := c.fs.String("tag", "v", "the values are TAG-1, TAG-2, ...")
	out := c.fs.String("out", "", "where each send's outcome goes (required)")
	rate := c.fs.Int("rate", 400, "records per second")
	if err := c.parse(args, true); err != nil || *out == "" {
		return errors.Join(err, errors.New("-out is required"))
	}
	l, err := newLines(*out)
	if err != nil {
		return err
	}
	cl, err := c.client(
		kgo.DefaultProduceTopic(*c.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is franz-go's default
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RecordDeliveryTimeout(*c.timeout),
	)
	if err != nil {
		return err
	}
	ctx := stopped()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked, failed int
	start := time.Now()
	sent := 0
	tick := time.NewTicker(10 * time.Millisecond)
	for ctx.Err() == nil {
		due := int(time.Since(start).Seconds() * float64(*rate))
		for ; sent < due; sent++ {
			v := fmt.Sprintf("%s-%d", *tag, sent+1)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					l.printf("info %s %q\n", v, err.Error())
					return
				}
				acked++
				l.printf("ok %s %d %d\n", v, r.Partition, r.Offset)
			})
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	tick.Stop()
	fctx, cancel := context.WithTimeout(context.Background(), *c.timeout)
	ferr := cl.Flush(fctx)
	cancel()
	cl.Close() // fails whatever is still outstanding: indeterminate
	wg.Wait()
	fmt.Printf("produce %s: %d sent in %.1f s, %d acknowledged, %d failed\n", *c.topic, sent, time.Since(start).Seconds(), acked, failed)
	return errors.Join(l.close(), ferr)
}

func consume(args []string) error {
	c := flags("consume")
	group := c.fs.String("group", "", "the consumer group (required)")
	out := c.fs.String("out", "", "where deliveries and commits go (required)")
	if err := c.parse(args, true); err != nil || *group == "" || *out == "" {
		return errors.Join(err, errors.New("-group and -out are required"))
	}
	l, err := newLines(*out)
	if err != nil {
		return err
	}
	cl, err := c.client(
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(*c.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := stopped()
	committed := map[int32]int64{}     // the next offset, as committed
	pending := map[int32]*kgo.Record{} // the last record given, not yet committed
	var end map[int32]int64            // set on SIGTERM
	var deadline time.Time
	delivered := 0
	for {
		if end == nil && ctx.Err() != nil {
			if end, err = endOffsets(cl, *c.topic, *c.timeout); err != nil {
				return err
			}
			deadline = time.Now().Add(*c.timeout)
		}
		if end != nil {
			if caughtUp(committed, end) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("committed %v, not the end offsets %v, after %v", committed, end, *c.timeout)
			}
		}
		pctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			delivered++
			l.printf("r %d %d %s\n", r.Partition, r.Offset, r.Value)
			if p := pending[r.Partition]; p == nil || r.Offset > p.Offset {
				pending[r.Partition] = r
			}
		})
		if len(pending) > 0 {
			rs := make([]*kgo.Record, 0, len(pending))
			for _, r := range pending {
				rs = append(rs, r)
			}
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if cl.CommitRecords(cctx, rs...) == nil {
				for _, r := range rs {
					committed[r.Partition] = r.Offset + 1
					l.printf("c %d %d\n", r.Partition, r.Offset+1)
				}
				clear(pending)
			}
			cancel()
		}
		cl.AllowRebalance()
	}
	fmt.Printf("consume %s: %d records given to group %s, committed %v\n", *c.topic, delivered, *group, committed)
	return l.close()
}

func caughtUp(committed, end map[int32]int64) bool {
	for p, o := range end {
		if o > 0 && committed[p] < o {
			return false
		}
	}
	return true
}

// endOffsets of topic's partitions, retried until timeout.
func endOffsets(cl *kgo.Client, topic string, timeout time.Duration) (map[int32]int64, error) {
	adm := kadm.NewClient(cl)
	var last error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lo, err := adm.ListEndOffsets(ctx, topic)
		cancel()
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			last = err
			continue
		}
		end := map[int32]int64{}
		lo.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
		if len(end) == 0 {
			last = fmt.Errorf("topic %s has no partitions", topic)
			continue
		}
		return end, nil
	}
	return nil, fmt.Errorf("end offsets of %s: %w", topic, last)
}

type at struct {
	p int32
	o int64
}

// sends reads produce's file: the acknowledged values (where they were
// acknowledged) and the failed ones.
func sends(path string) (ok map[string]at, info map[string]bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	ok, info = map[string]at{}, map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) == 4 && fs[0] == "ok":
			p, err1 := strconv.ParseInt(fs[2], 10, 32)
			o, err2 := strconv.ParseInt(fs[3], 10, 64)
			if err1 != nil || err2 != nil {
				return nil, nil, fmt.Errorf("%s:%d: bad line %q", path, n, sc.Text())
			}
			ok[fs[1]] = at{int32(p), o}
		case len(fs) >= 2 && fs[0] == "info":
			info[fs[1]] = true
		default:
			return nil, nil, fmt.Errorf("%s:%d: bad line %q", path, n, sc.Text())
		}
	}
	return ok, info, sc.Err()
}

// readAll reads every partition of topic from its start to its end.
func readAll(c common) (map[at]string, map[int32]int64, error) {
	cl, err := c.client(kgo.ConsumeTopics(*c.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	end, err := endOffsets(cl, *c.topic, *c.timeout)
	if err != nil {
		return nil, nil, err
	}
	log := map[at]string{}
	next := map[int32]int64{}
	deadline := time.Now().Add(*c.timeout)
	for !caughtUp(next, end) {
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("read up to %v, not the end offsets %v, after %v", next, end, *c.timeout)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end[r.Partition] {
				log[at{r.Partition, r.Offset}] = string(r.Value)
			}
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
	}
	return log, end, nil
}

func verify(args []string) error {
	c := flags("verify")
	sentPath := c.fs.String("sent", "", "produce's file (required)")
	consumedPath := c.fs.String("consumed", "", "consume's file")
	group := c.fs.String("group", "", "consume's group (with -consumed)")
	allowInfo := c.fs.Bool("allow-indeterminate", false, "a failed send is not itself an error")
	if err := c.parse(args, true); err != nil || *sentPath == "" || (*consumedPath != "") != (*group != "") {
		return errors.Join(err, errors.New("-sent is required, -consumed goes with -group"))
	}
	ok, info, err := sends(*sentPath)
	if err != nil {
		return err
	}
	log, end, err := readAll(c)
	if err != nil {
		return err
	}
	var problems []string
	problem := func(format string, a ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, a...))
		} else if len(problems) == 20 {
			problems = append(problems, "...")
		}
	}
	where := map[string]at{}
	infoPresent := 0
	for pos, v := range log {
		if prev, dup := where[v]; dup {
			problem("%s is in the log twice: partition %d offsets %d and %d", v, pos.p, prev.o, pos.o)
			continue
		}
		where[v] = pos
		if _, acked := ok[v]; !acked {
			if info[v] {
				infoPresent++
			} else {
				problem("%s (partition %d offset %d) was never sent", v, pos.p, pos.o)
			}
		}
	}
	for v, a := range ok {
		if pos, there := where[v]; !there {
			problem("%s was acknowledged (partition %d offset %d) and is not in the log", v, a.p, a.o)
		} else if pos != a {
			problem("%s was acknowledged at partition %d offset %d, the log has it at %d/%d", v, a.p, a.o, pos.p, pos.o)
		}
	}
	if len(info) > 0 && !*allowInfo {
		problem("%d sends failed", len(info))
	}
	summary := fmt.Sprintf("%s: %d records in %d partitions; all %d acknowledged values present exactly once; %d failed sends (%d of them written); no duplicate",
		*c.topic, len(log), len(end), len(ok), len(info), infoPresent)
	if *consumedPath != "" && len(problems) == 0 {
		s, err := checkConsumed(c, *consumedPath, *group, log, ok, end, problem)
		if err != nil {
			return err
		}
		summary += "; " + s
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s:\n  %s", *c.topic, strings.Join(problems, "\n  "))
	}
	fmt.Println(summary)
	return nil
}

// checkConsumed replays consume's file against the log.
func checkConsumed(c common, path, group string, log map[at]string, ok map[string]at, end map[int32]int64, problem func(string, ...any)) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	committed := map[int32]int64{}
	given := map[string]bool{}
	deliveries, commits, redelivered := 0, 0, 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fs := strings.Fields(sc.Text())
		var p, o int64
		var err1, err2 error
		if len(fs) >= 3 {
			p, err1 = strconv.ParseInt(fs[1], 10, 32)
			o, err2 = strconv.ParseInt(fs[2], 10, 64)
		}
		switch {
		case err1 != nil || err2 != nil:
		case len(fs) == 4 && fs[0] == "r":
			deliveries++
			pos := at{int32(p), o}
			if log[pos] != fs[3] {
				problem("the consumer was given %s at partition %d offset %d, the log has %q there", fs[3], p, o, log[pos])
			}
			if o < committed[pos.p] {
				problem("the consumer was given partition %d offset %d after its group had committed %d", p, o, committed[pos.p])
			}
			if given[fs[3]] {
				redelivered++
			}
			given[fs[3]] = true
			continue
		case len(fs) == 3 && fs[0] == "c":
			commits++
			committed[int32(p)] = o
			continue
		}
		return "", fmt.Errorf("%s:%d: bad line %q", path, n, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	for v := range ok {
		if !given[v] {
			problem("%s was acknowledged and never given to the consumer", v)
		}
	}
	cl, err := c.client()
	if err != nil {
		return "", err
	}
	defer cl.Close()
	got, err := fetchOffsets(cl, group, *c.timeout)
	if err != nil {
		return "", err
	}
	for p, o := range end {
		if o > 0 && (got[at{p: p}] != o || committed[p] != o) {
			problem("partition %d: end offset %d, the group's committed offset %d, the consumer's last commit %d", p, o, got[at{p: p}], committed[p])
		}
	}
	return fmt.Sprintf("group %s: %d deliveries (%d of them again after a rebalance, none below a committed offset), %d commits, committed offsets are the end offsets",
		group, deliveries, redelivered, commits), nil
}

// fetchOffsets is the group's committed offset of each partition (keyed
// with o 0), retried until timeout (a restarted coordinator loads first).
func fetchOffsets(cl *kgo.Client, group string, timeout time.Duration) (map[at]int64, error) {
	adm := kadm.NewClient(cl)
	var last error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rs, err := adm.FetchOffsets(ctx, group)
		cancel()
		if err == nil {
			err = rs.Error()
		}
		if err != nil {
			last = err
			continue
		}
		m := map[at]int64{}
		rs.Each(func(r kadm.OffsetResponse) { m[at{p: r.Partition}] = r.At })
		return m, nil
	}
	return nil, fmt.Errorf("committed offsets of group %s: %w", group, last)
}

func offsets(args []string) error {
	c := flags("offsets")
	group := c.fs.String("group", "", "the group (required)")
	notBelow := c.fs.String("not-below", "", "a file of this command's output: fail if an offset in it is no longer committed or went back")
	if err := c.parse(args, false); err != nil || *group == "" {
		return errors.Join(err, errors.New("-group is required"))
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	got, err := fetchOffsets(cl, *group, *c.timeout)
	if err != nil {
		return err
	}
	if *notBelow != "" {
		b, err := os.ReadFile(*notBelow)
		if err != nil {
			return err
		}
		before := 0
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var p int32
			var o int64
			if _, err := fmt.Sscanf(line, "%d %d", &p, &o); err != nil {
				return fmt.Errorf("%s: bad line %q", *notBelow, line)
			}
			before++
			if now, there := got[at{p: p}]; !there || now < o {
				return fmt.Errorf("group %s partition %d: committed %d before, now %d (present: %v)", *group, p, o, now, there)
			}
		}
		if before == 0 {
			return fmt.Errorf("%s names no committed offset", *notBelow)
		}
	}
	ps := make([]int32, 0, len(got))
	for k := range got {
		ps = append(ps, k.p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, p := range ps {
		fmt.Printf("%d %d\n", p, got[at{p: p}])
	}
	return nil
}

// isr waits until every partition of every topic (or of -topic) has a
// leader and all its replicas in sync (no under-replicated or offline
// partition).
func isr(args []string) error {
	c := flags("isr")
	if err := c.parse(args, false); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	start := time.Now()
	var last error
	for time.Since(start) < *c.timeout {
		var n int
		if n, last = underReplicated(cl, *c.topic); last == nil {
			fmt.Printf("every partition of %d fully replicated after %.1f s\n", n, time.Since(start).Seconds())
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("after %v: %w", *c.timeout, last)
}

// underReplicated asks for fresh metadata of topic (every topic if ""):
// the number of partitions, or the first one short of its replicas.
func underReplicated(cl *kgo.Client, topic string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	if topic != "" {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range resp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return 0, fmt.Errorf("topic %s: %w", name, err)
		}
		for _, p := range t.Partitions {
			n++
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil && !errors.Is(err, kerr.ReplicaNotAvailable) {
				return 0, fmt.Errorf("%s/%d: %w", name, p.Partition, err)
			}
			if p.Leader < 0 || len(p.ISR) < len(p.Replicas) {
				return 0, fmt.Errorf("%s/%d: leader %d, replicas %v, in sync %v", name, p.Partition, p.Leader, p.Replicas, p.ISR)
			}
		}
	}
	return n, nil
}
