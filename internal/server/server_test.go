package server

import (
	"reflect"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/config"
)

func loadConfig(t *testing.T, kv ...string) *config.Config {
	t.Helper()
	ov := append([]string{"process.roles=broker,controller", "node.id=1", "controller.quorum.voters=1@127.0.0.1:9093",
		"listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093", "controller.listener.names=CONTROLLER",
		"log.dirs=" + t.TempDir()}, kv...)
	cfg, _, err := config.Load(config.LoadOptions{Overrides: ov})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBrokerOptionsLogCleaner: the cleaner's switch and interval reach the
// broker from the log.cleaner.* keys; 0 ms (which Kafka accepts) becomes
// the shortest interval a ticker takes.
func TestBrokerOptionsLogCleaner(t *testing.T) {
	for _, c := range []struct {
		kv      []string
		enable  bool
		backoff time.Duration
	}{
		{nil, true, 15 * time.Second},
		{[]string{"log.cleaner.backoff.ms=50"}, true, 50 * time.Millisecond},
		{[]string{"log.cleaner.backoff.ms=0"}, true, time.Millisecond},
		{[]string{"log.cleaner.enable=false"}, false, 15 * time.Second},
	} {
		o := brokerOptions(loadConfig(t, c.kv...), "id")
		if o.LogCleanerEnable != c.enable || o.LogCleanerBackoff != c.backoff {
			t.Errorf("%v: enable=%v backoff=%v, want %v %v", c.kv, o.LogCleanerEnable, o.LogCleanerBackoff, c.enable, c.backoff)
		}
	}
}

// TestTopicConfigsAdapter: the broker's typed topic configs are package
// config's (broker keys for defaults, the topic's overrides on top), and
// the defaults it reports for DescribeConfigs are the values that typed
// config is parsed from.
func TestTopicConfigsAdapter(t *testing.T) {
	cfg := loadConfig(t, "message.max.bytes=2000000", "log.flush.interval.messages=1000",
		"log.cleaner.min.cleanable.ratio=0.3", "log.retention.hours=2")
	tcs := brokerOptions(cfg, "id").TopicConfigs
	over := map[string]string{"cleanup.policy": "compact", "segment.bytes": "2097152"}
	got, err := tcs.Effective(over)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := cfg.TopicConfig(over)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Effective %+v, want %+v", got, want)
	}
	if got.MaxMessageBytes != 2000000 || got.FlushMessages != 1000 || got.MinCleanableDirtyRatio != 0.3 ||
		got.RetentionMs != 7200000 || got.SegmentBytes != 2097152 || !got.Compact() {
		t.Fatalf("typed config %+v", got)
	}
	if _, err := tcs.Effective(map[string]string{"segment.bytes": "12"}); err == nil {
		t.Fatal("an invalid override must be reported")
	}
	reported := map[string]string{}
	for _, e := range tcs.Defaults() {
		if e.Value != nil {
			reported[e.Name] = *e.Value
		}
	}
	fromReported, err := config.ParseTopicConfig(reported)
	if err != nil {
		t.Fatal(err)
	}
	if base, _ := tcs.Effective(nil); !reflect.DeepEqual(base, fromReported) {
		t.Fatalf("typed defaults %+v differ from the reported ones %+v", base, fromReported)
	}
}
