package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/samsa-io/samsa/client"
)

// benchConsumeMain is `samsa bench consume`, in the spirit of
// kafka-consumer-perf-test: read a topic from its start (every partition,
// no group unless -group is given) until -num-records records or, by
// default, the end offsets the topic had when the run began; a progress
// line every second and a summary at the end.
func benchConsumeMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("samsa bench consume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	topic := fs.String("topic", "samsa-bench", "topic to read")
	num := fs.Int64("num-records", 0, "stop after this many records (0 = everything the topic holds when the run starts)")
	group := fs.String("group", "", "consume as a member of this group (committing as it goes) instead of reading every partition directly")
	maxWait := fs.Duration("fetch-max-wait", 100*time.Millisecond, "how long the broker may hold a fetch for data")
	partBytes := fs.Int("fetch-partition-bytes", 1<<20, "bytes per partition per fetch")
	idle := fs.Duration("timeout", 10*time.Second, "give up when no record arrives for this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts, err := cf.options()
	if err != nil {
		fmt.Fprintln(stderr, "samsa bench consume:", err)
		return 2
	}
	cl, err := client.New(opts...)
	if err != nil {
		fmt.Fprintln(stderr, "samsa bench consume:", err)
		return 2
	}
	defer cl.Close()

	// What there is to read: the records between each partition's start
	// and end now (a bound when -num-records is 0).
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	tps, err := cl.TopicPartitions(mctx, *topic)
	var starts, ends map[client.TopicPartition]client.ListedOffset
	if err == nil {
		starts, err = cl.ListOffsets(mctx, tps, client.AtStart())
	}
	if err == nil {
		ends, err = cl.ListOffsets(mctx, tps, client.AtEnd())
	}
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "samsa bench consume: topic %q: %v\n", *topic, err)
		return 1
	}
	var avail int64
	for _, tp := range tps {
		if e := ends[tp].Err; e != nil {
			fmt.Fprintf(stderr, "samsa bench consume: %s: %v\n", tp, e)
			return 1
		}
		avail += ends[tp].Offset - starts[tp].Offset
	}
	want := *num
	if want <= 0 {
		want = avail
	}
	if want == 0 {
		fmt.Fprintf(stderr, "samsa bench consume: topic %q is empty\n", *topic)
		return 1
	}

	copts := []client.ConsumerOpt{client.FetchMaxWait(*maxWait), client.FetchMaxPartitionBytes(int32(*partBytes)), client.ConsumeResetOffset(client.AtStart())}
	if *group != "" {
		copts = append(copts, client.ConsumeTopics(*topic), client.ConsumerGroup(*group), client.AutoCommit(time.Second))
	} else {
		parts := map[int32]client.Offset{}
		for _, tp := range tps {
			parts[tp.Partition] = client.AtStart()
		}
		copts = append(copts, client.ConsumePartitions(map[string]map[int32]client.Offset{*topic: parts}))
	}
	c, err := client.NewConsumerFromClient(cl, copts...)
	if err != nil {
		fmt.Fprintln(stderr, "samsa bench consume:", err)
		return 2
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(cctx)
	}()

	var (
		recs, bytes         int64
		lastRecs, lastBytes int64
		start               = time.Now()
		lastT               = start
		lastData            = start
		firstAt             time.Duration
	)
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	for recs < want {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fetches, err := c.Poll(pctx)
		cancel()
		if ctx.Err() != nil {
			break
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintln(stderr, "samsa bench consume:", err)
			return 1
		}
		for _, f := range fetches {
			if f.Err != nil {
				fmt.Fprintf(stderr, "samsa bench consume: %s[%d]: %v\n", f.Topic, f.Partition, f.Err)
				return 1
			}
			for _, r := range f.Records {
				if recs == want {
					break
				}
				if firstAt == 0 {
					firstAt = time.Since(start)
				}
				recs++
				bytes += int64(len(r.Key) + len(r.Value))
			}
		}
		now := time.Now()
		if len(fetches) > 0 {
			lastData = now
		} else if now.Sub(lastData) > *idle {
			fmt.Fprintf(stderr, "samsa bench consume: no records for %v after %d of %d\n", *idle, recs, want)
			break
		}
		select {
		case <-progress.C:
			secs := now.Sub(lastT).Seconds()
			fmt.Fprintf(stdout, "%d records read, %.1f records/sec (%.2f MB/sec)\n",
				recs-lastRecs, float64(recs-lastRecs)/secs, float64(bytes-lastBytes)/secs/1e6)
			lastRecs, lastBytes, lastT = recs, bytes, now
		default:
		}
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "%d records read (%.2f MB) in %.2f s: %.1f records/sec, %.2f MB/sec; first record after %.1f ms.\n",
		recs, float64(bytes)/1e6, elapsed.Seconds(), float64(recs)/elapsed.Seconds(), float64(bytes)/elapsed.Seconds()/1e6,
		float64(firstAt)/float64(time.Millisecond))
	if recs < want {
		return 1
	}
	return 0
}
