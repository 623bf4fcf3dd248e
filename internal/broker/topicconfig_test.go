package broker_test

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/samsatest"
)

// TestPartitionConfigIsTheTypedConfig: a partition's cached configuration
// is package config's typed config (broker keys for the defaults, the
// topic's dynamic configs on top), follows config changes, and is exactly
// what DescribeConfigs' values parse to: one source of truth.
func TestPartitionConfigIsTheTypedConfig(t *testing.T) {
	n := samsatest.Start(t, samsatest.Config("message.max.bytes", "2000000"),
		samsatest.Config("log.cleaner.min.cleanable.ratio", "0.25"), samsatest.Config("log.retention.ms", "3600000"),
		samsatest.Config("log.flush.interval.messages", "500"))
	ctx := ctxT(t)
	adm := kadm.NewClient(newClient(t, n.Addr()))
	cfg := map[string]*string{"cleanup.policy": kmsg.StringPtr("compact"), "min.compaction.lag.ms": kmsg.StringPtr("100")}
	if _, err := adm.CreateTopic(ctx, 1, 1, cfg, "typed"); err != nil {
		t.Fatal(err)
	}
	check := func(stage string, retention int64, compact bool) {
		t.Helper()
		tc, seg, clean, gotCompact, ok := n.Broker().PartitionConfig("typed", 0)
		if !ok {
			t.Fatalf("%s: partition not hosted", stage)
		}
		if tc.MaxMessageBytes != 2000000 || seg.MaxMessageBytes != 2000000 || tc.FlushMessages != 500 ||
			clean.MinCleanableRatio != 0.25 || clean.MinCompactionLagMs != 100 || clean.DeleteRetentionMs != 86400000 {
			t.Fatalf("%s: typed %+v segment %+v cleaner %+v", stage, tc, seg, clean)
		}
		if gotCompact != compact || seg.RetentionMs != retention || tc.RetentionMs != 3600000 {
			t.Fatalf("%s: compact %v, segment retention %d, topic retention %d", stage, gotCompact, seg.RetentionMs, tc.RetentionMs)
		}
		rc, err := adm.DescribeTopicConfigs(ctx, "typed")
		if err != nil || rc[0].Err != nil {
			t.Fatalf("%s: describe: %v %v", stage, err, rc[0].Err)
		}
		described := map[string]string{}
		for _, c := range rc[0].Configs {
			if c.Value != nil {
				described[c.Key] = *c.Value
			}
		}
		parsed, err := config.ParseTopicConfig(described)
		if err != nil {
			t.Fatalf("%s: described values do not parse: %v", stage, err)
		}
		if !reflect.DeepEqual(parsed, tc) {
			t.Fatalf("%s: described configs parse to\n%+v\nthe partition uses\n%+v", stage, parsed, tc)
		}
	}
	// compact without delete: no time or size retention in the log.
	check("created", -1, true)
	alter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact,delete")}}
	if r, err := adm.AlterTopicConfigs(ctx, alter, "typed"); err != nil || r[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, r)
	}
	check("compact,delete", 3600000, true)
	alter[0].Value = kmsg.StringPtr("delete")
	if r, err := adm.AlterTopicConfigs(ctx, alter, "typed"); err != nil || r[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, r)
	}
	check("delete", 3600000, false)
}
