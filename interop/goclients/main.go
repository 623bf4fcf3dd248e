// Command goclients is the Go rows of the interop matrix: it drives franz-go,
// IBM/sarama, segmentio/kafka-go and samsa's own client against one broker and prints one line per
// (client, scenario):
//
//	RESULT <client> <scenario> PASS
//	RESULT <client> <scenario> FAIL <reason>
//
// Scenarios, in order (later ones use the topic the earlier ones made):
// create, describe, produce (exact records written, then read back by
// partition), group (the same records read through a consumer group, offsets
// committed and fetched back), delete. It exits 0 even when scenarios fail, so
// that the runner reads every line.
//
// Usage:
//
//	goclients -bootstrap host:port [-clients franz-go,sarama,kafka-go] [-scenarios all]
//	goclients -bootstrap host:port -admin create|delete -topic T [-partitions N]
//
// The -admin form is a helper for rows whose client cannot manage topics
// (kcat): it creates or deletes a topic with franz-go's admin client.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// client is what every Go client implements for the scenarios.
type client interface {
	create(ctx context.Context, topic string, partitions int32) error
	describe(ctx context.Context, topic string, partitions int32) error
	// produce writes recs and checks the acknowledged offsets where the client reports them.
	produce(ctx context.Context, topic string, recs []record) error
	// read reads n records from every partition's start without a group.
	read(ctx context.Context, topic string, partitions int32, n int) ([]record, error)
	// groupRead reads n records as member of group, commits, and returns the
	// committed offsets fetched back from the broker.
	groupRead(ctx context.Context, topic, group string, n int) ([]record, map[int32]int64, error)
	delete(ctx context.Context, topic string) error
	close()
}

var newClients = map[string]func(bootstrap string) (client, error){
	"franz-go": newFranz,
	"sarama":   newSarama,
	"kafka-go": newKafkaGo,
	"samsa":    newSamsa,
}

var clientOrder = []string{"franz-go", "sarama", "kafka-go", "samsa"}
var scenarioOrder = []string{"create", "describe", "produce", "group", "delete"}

const (
	partitions      = 3
	scenarioTimeout = 20 * time.Second
	// groupTimeout is longer: joining a group is the first use of
	// __consumer_offsets, which a broker creates (50 partitions on Kafka) and
	// loads on demand, and that takes seconds on a loaded 2-core machine.
	groupTimeout = 45 * time.Second
)

func main() {
	bootstrap := flag.String("bootstrap", "", "broker host:port (required)")
	clients := flag.String("clients", "all", "comma-separated clients: "+strings.Join(clientOrder, ","))
	scenarios := flag.String("scenarios", "all", "comma-separated scenarios: "+strings.Join(scenarioOrder, ","))
	admin := flag.String("admin", "", "helper: create or delete -topic with franz-go and exit")
	topic := flag.String("topic", "", "topic for -admin")
	parts := flag.Int("partitions", 1, "partitions for -admin create")
	flag.Parse()
	if *bootstrap == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *admin != "" {
		os.Exit(adminHelper(*bootstrap, *admin, *topic, int32(*parts)))
	}
	names := clientOrder
	if *clients != "all" {
		names = strings.Split(*clients, ",")
	}
	scens := scenarioOrder
	if *scenarios != "all" {
		scens = strings.Split(*scenarios, ",")
	}
	for _, name := range names {
		runClient(*bootstrap, name, scens)
	}
}

func adminHelper(bootstrap, op, topic string, parts int32) int {
	c, err := newFranz(bootstrap)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	switch op {
	case "create":
		err = c.create(ctx, topic, parts)
	case "delete":
		err = c.delete(ctx, topic)
	default:
		err = fmt.Errorf("unknown -admin %q", op)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, oneLine(err.Error()))
		return 1
	}
	return 0
}

// runClient runs the scenarios for one client and prints their results.
func runClient(bootstrap, name string, scens []string) {
	report := func(scenario string, err error) {
		if err == nil {
			fmt.Printf("RESULT %s %s PASS\n", name, scenario)
		} else {
			fmt.Printf("RESULT %s %s FAIL %s\n", name, scenario, oneLine(err.Error()))
		}
	}
	newc, ok := newClients[name]
	if !ok {
		for _, s := range scens {
			report(s, fmt.Errorf("unknown client %q", name))
		}
		return
	}
	c, err := newc(bootstrap)
	if err != nil {
		for _, s := range scens {
			report(s, fmt.Errorf("new client: %w", err))
		}
		return
	}
	defer c.close()
	topic := "interop-" + name + "-" + randomID()
	var createErr error
	for _, s := range scens {
		if createErr != nil {
			report(s, fmt.Errorf("create failed: %v", createErr))
			continue
		}
		timeout := scenarioTimeout
		if s == "group" {
			timeout = groupTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		err := runScenario(ctx, c, s, topic)
		cancel()
		fmt.Fprintf(os.Stderr, "goclients: %s %s took %v\n", name, s, time.Since(start).Round(time.Millisecond))
		if s == "create" {
			createErr = err
		}
		report(s, err)
	}
}

func runScenario(ctx context.Context, c client, scenario, topic string) error {
	want := expected(partitions)
	switch scenario {
	case "create":
		return c.create(ctx, topic, partitions)
	case "describe":
		return c.describe(ctx, topic, partitions)
	case "produce":
		if err := c.produce(ctx, topic, want); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		got, err := c.read(ctx, topic, partitions, len(want))
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		return compare(want, got)
	case "group":
		got, committed, err := c.groupRead(ctx, topic, "interop-"+randomID(), len(want))
		if err != nil {
			return err
		}
		if err := compare(want, got); err != nil {
			return err
		}
		return checkCommitted(want, committed)
	case "delete":
		return c.delete(ctx, topic)
	}
	return fmt.Errorf("unknown scenario %q", scenario)
}

func checkCommitted(want []record, committed map[int32]int64) error {
	per := map[int32]int64{}
	for _, r := range want {
		per[r.Partition]++
	}
	for p, n := range per {
		if got, ok := committed[p]; !ok || got != n {
			return fmt.Errorf("partition %d committed offset %d (present %v), want %d", p, got, ok, n)
		}
	}
	return nil
}

// waitFor polls cond every 100ms until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%s: %w", what, last)
			}
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var errTimeout = errors.New("timed out")
