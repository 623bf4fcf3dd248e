package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/samsatest"
)

// TestTopicAndClusterCommands runs samsa topic and samsa cluster against a
// samsa node, and against the reference Kafka when KAFKA_REFERENCE_BOOTSTRAP is set.
func TestTopicAndClusterCommands(t *testing.T) {
	brokers := map[string]string{"samsa": samsatest.Start(t).Addr()}
	if v := os.Getenv("KAFKA_REFERENCE_BOOTSTRAP"); v != "" {
		brokers["kafka"] = v
	}
	for name, addr := range brokers {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			topic := "cli-topic-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
			run := func(main func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) int, want int, args ...string) string {
				t.Helper()
				var out, errb bytes.Buffer
				if code := main(ctx, append(args, "-brokers", addr), &out, &errb); code != want {
					t.Fatalf("%v: exit %d, want %d: %s%s", args, code, want, out.String(), errb.String())
				}
				return out.String() + errb.String()
			}
			topicCmd := func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return topicMain(ctx, a, o, e) }
			clusterCmd := func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return clusterMain(ctx, a, o, e) }
			out := run(topicCmd, 0, "create", "-topic", topic, "-partitions", "3", "-replication-factor", "1", "-config", "retention.ms=123456")
			if !strings.Contains(out, "3 partitions") {
				t.Fatalf("create: %s", out)
			}
			out = run(topicCmd, 1, "create", "-topic", topic, "-partitions", "3", "-replication-factor", "1")
			if !strings.Contains(out, "TOPIC_ALREADY_EXISTS") {
				t.Fatalf("second create: %s", out)
			}
			if out = run(topicCmd, 0, "list"); !strings.Contains(out, topic) {
				t.Fatalf("list: %s", out)
			}
			run(topicCmd, 0, "alter", "-topic", topic, "-config", "retention.bytes=1000000")
			out = run(topicCmd, 0, "describe", "-topic", topic)
			if !strings.Contains(out, "partitions 3") || !strings.Contains(out, "retention.ms=123456") || !strings.Contains(out, "retention.bytes=1000000") {
				t.Fatalf("describe: %s", out)
			}
			out = run(topicCmd, 1, "alter", "-topic", topic, "-config", "retention.ms=soon")
			if !strings.Contains(out, "INVALID_CONFIG") {
				t.Fatalf("bad config: %s", out)
			}
			if out = run(topicCmd, 0, "delete", "-topic", topic); !strings.Contains(out, "deleted topic "+topic) {
				t.Fatalf("delete: %s", out)
			}
			out = run(clusterCmd, 0)
			if !strings.Contains(out, "cluster ") || !strings.Contains(out, "BROKER") {
				t.Fatalf("cluster: %s", out)
			}
		})
	}
}
