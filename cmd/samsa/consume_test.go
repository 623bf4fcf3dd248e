package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/samsatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cliBackends returns broker address → a fresh 3-partition topic, for
// kfake, samsa and (with KAFKA_REFERENCE_BOOTSTRAP) the reference Kafka.
func cliBackends(t *testing.T) map[string][2]string {
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "cli"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	n := samsatest.Start(t, samsatest.Config("auto.create.topics.enable", "true"), samsatest.Config("num.partitions", "3"))
	out := map[string][2]string{"kfake": {fake.ListenAddrs()[0], "cli"}, "samsa": {n.Addr(), "cli"}}
	if v := os.Getenv("KAFKA_REFERENCE_BOOTSTRAP"); v != "" {
		topic := fmt.Sprintf("cli-%d", time.Now().UnixNano())
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(v, ",")...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		out["kafka"] = [2]string{v, topic}
	}
	return out
}

func run(t *testing.T, fn func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if rc := fn(ctx, args, &out, &errb); rc != 0 {
		t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, rc, out.String(), errb.String())
	}
	return out.String()
}

func consumeCmd(ctx context.Context, args []string, out, errb *bytes.Buffer) int {
	return consumeMain(ctx, args, out, errb)
}

func groupCmd(ctx context.Context, args []string, out, errb *bytes.Buffer) int {
	return groupMain(ctx, args, out, errb)
}

func TestConsumeAndGroupCLI(t *testing.T) {
	for name, at := range cliBackends(t) {
		addr, topic := at[0], at[1]
		t.Run(name, func(t *testing.T) {
			p, err := client.NewProducer(client.SeedBrokers(addr), client.AllowAutoTopicCreation(), client.WithPartitioner(client.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			var recs []*client.Record
			for i := 0; i < 12; i++ {
				recs = append(recs, &client.Record{Topic: topic, Partition: int32(i % 3), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
					Headers: []client.RecordHeader{{Key: "h", Value: []byte("x")}}})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := p.ProduceSync(ctx, recs...); err != nil {
				t.Fatal(err)
			}
			b := "-brokers=" + addr
			tp := "-topic=" + topic
			g := "-group=g-" + topic

			out := run(t, consumeCmd, b, tp, "-n=12")
			if got := strings.Count(out, "\n"); got != 12 || !strings.Contains(out, "v11\n") {
				t.Fatalf("plain output: %q", out)
			}
			out = run(t, consumeCmd, b, tp, "-partitions=1", "-from=2", "-n=2", "-format=%t/%p@%o %k=%v [%h]\\n")
			if out != topic+"/1@2 k7=v7 [h=x]\n"+topic+"/1@3 k10=v10 [h=x]\n" {
				t.Fatalf("format output: %q", out)
			}
			out = run(t, consumeCmd, b, tp, "-partitions=0", "-n=1", "-json")
			var jr jsonRecord
			if err := json.Unmarshal([]byte(out), &jr); err != nil || *jr.Key != "k0" || *jr.Value != "v0" || jr.Offset != 0 || len(jr.Headers) != 1 || jr.Timestamp == 0 {
				t.Fatalf("json output %q: %v", out, err)
			}
			out = run(t, consumeCmd, b, tp, "-from=latest", "-idle=300ms")
			if out != "" {
				t.Fatalf("from latest: %q", out)
			}

			// A group consumes everything and commits on close.
			// -n stops inside a poll: only printed records are committed.
			out = run(t, consumeCmd, b, tp, g, "-n=5")
			out += run(t, consumeCmd, b, tp, g, "-n=7")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			seen := map[string]bool{}
			for _, l := range lines {
				seen[l] = true
			}
			if len(lines) != 12 || len(seen) != 12 {
				t.Fatalf("group consume in two runs: %q", out)
			}
			if out = run(t, groupCmd, "list", b); !strings.Contains(out, "g-"+topic) {
				t.Fatalf("group list: %q", out)
			}
			out = run(t, groupCmd, "describe", b, g)
			if !strings.Contains(out, "total lag 0") || strings.Count(out, topic+" ") != 3 {
				t.Fatalf("describe: %q", out)
			}
			out = run(t, groupCmd, "reset-offsets", b, g, tp, "-to=earliest")
			if !strings.Contains(out, "dry run") {
				t.Fatalf("reset dry run: %q", out)
			}
			run(t, groupCmd, "reset-offsets", b, g, tp, "-partitions=0,1", "-to=shift:-1", "-execute")
			out = run(t, groupCmd, "describe", b, g)
			if !strings.Contains(out, "total lag 2") {
				t.Fatalf("describe after reset: %q", out)
			}
			out = run(t, consumeCmd, b, tp, g, "-idle=1s", "-format=%v ")
			if out != "v9 v10 " && out != "v10 v9 " {
				t.Fatalf("after reset: %q", out)
			}
			if out = run(t, groupCmd, "delete", b, g); !strings.Contains(out, "deleted") {
				t.Fatalf("delete: %q", out)
			}
		})
	}
}
