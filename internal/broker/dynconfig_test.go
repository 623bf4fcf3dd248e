package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

func brokerConfig(t *testing.T, ctx context.Context, adm *kadm.Client, key string, brokers ...int32) (kadm.Config, bool) {
	t.Helper()
	rcs, err := adm.DescribeBrokerConfigs(ctx, brokers...)
	if err != nil {
		t.Fatalf("DescribeBrokerConfigs %v: %v", brokers, err)
	}
	if len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("DescribeBrokerConfigs %v: %+v", brokers, rcs)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == key {
			return c, true
		}
	}
	return kadm.Config{}, false
}

func synonymSources(c kadm.Config) []string {
	var out []string
	for _, s := range c.Synonyms {
		v := "null"
		if s.Value != nil {
			v = *s.Value
		}
		out = append(out, s.Source.String()+":"+s.Key+"="+v)
	}
	return out
}

func alterOK(t *testing.T) func(kadm.AlterConfigsResponses, error) {
	return func(rs kadm.AlterConfigsResponses, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				t.Fatalf("alter %q: %v %s", r.Name, r.Err, r.ErrMessage)
			}
		}
	}
}

// TestDynamicBrokerConfigs: a per-broker dynamic config and a cluster-wide
// default are set through IncrementalAlterConfigs, reported with Kafka's
// sources and synonym order, take effect on the topics without overrides
// (retention, max message size), are refused for read-only keys with
// Kafka's message, and are deleted again.
func TestDynamicBrokerConfigs(t *testing.T) {
	n := samsatest.Start(t, samsatest.Config("log.cleaner.threads", "1"))
	ctx := ctxT(t)
	adm := kadm.NewClient(newClient(t, n.Addr()))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dyn"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kmsg.StringPtr("7000")}, "own"); err != nil {
		t.Fatal(err)
	}
	// A read-only key is refused for the whole resource, with Kafka 4.4's
	// error code and message.
	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Name: "log.cleaner.threads", Value: kmsg.StringPtr("2")}, {Name: "log.dirs", Value: kmsg.StringPtr("/x")}}, 1)
	if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, kerr.InvalidRequest) || rs[0].ErrMessage != "Cannot update these configs dynamically: [log.dirs]" {
		t.Fatalf("read-only key: %v %+v", err, rs)
	}
	// A per-broker key on the cluster default.
	rs, _ = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "ssl.client.auth", Value: kmsg.StringPtr("required")}})
	if len(rs) != 1 || !errors.Is(rs[0].Err, kerr.InvalidRequest) || !strings.HasPrefix(rs[0].ErrMessage, "Cannot update these configs at default cluster level, broker id must be specified: [ssl.client.auth]") {
		t.Fatalf("per-broker key on the default: %+v", rs)
	}
	// Another broker's resource, or a name that is no broker id, is
	// refused by the broker receiving it (Kafka 4.4's messages).
	cl := newClient(t, n.Addr())
	for name, want := range map[string]string{"2": "Unexpected broker id, expected 1, but received 2", "x": "Node id must be an integer, but it is: x"} {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Value = "log.cleaner.threads", kmsg.StringPtr("2")
		rr.Configs = append(rr.Configs, rc)
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctx, cl.Broker(1))
		if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code ||
			resp.Resources[0].ErrorMessage == nil || *resp.Resources[0].ErrorMessage != want {
			t.Fatalf("resource %q: %v %+v", name, err, resp)
		}
	}
	rs, _ = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.io.threads", Value: kmsg.StringPtr("eight")}}, 1)
	if len(rs) != 1 || !errors.Is(rs[0].Err, kerr.InvalidRequest) {
		t.Fatalf("bad value: %+v", rs)
	}
	// validateOnly changes nothing.
	alterOK(t)(adm.ValidateAlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.cleaner.threads", Value: kmsg.StringPtr("3")}}, 1))
	if c, _ := brokerConfig(t, ctx, adm, "log.cleaner.threads", 1); c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("after validateOnly: %+v", c)
	}

	alterOK(t)(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.cleaner.threads", Value: kmsg.StringPtr("2")}}, 1))
	alterOK(t)(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Name: "log.cleaner.threads", Value: kmsg.StringPtr("4")},
		{Name: "log.retention.ms", Value: kmsg.StringPtr("5000")},
		{Name: "message.max.bytes", Value: kmsg.StringPtr("3000000")}}))
	c, _ := brokerConfig(t, ctx, adm, "log.cleaner.threads", 1)
	want := "DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2 DYNAMIC_DEFAULT_BROKER_CONFIG:log.cleaner.threads=4 STATIC_BROKER_CONFIG:log.cleaner.threads=1 DEFAULT_CONFIG:log.cleaner.threads=1"
	if c.Value == nil || *c.Value != "2" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig || strings.Join(synonymSources(c), " ") != want {
		t.Fatalf("broker 1 log.cleaner.threads: %v %v %v", c.Value, c.Source, synonymSources(c))
	}
	// The cluster default resource lists only what is set there.
	rcs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil || len(rcs) != 1 || len(rcs[0].Configs) != 3 {
		t.Fatalf("default resource: %v %+v", err, rcs)
	}
	c, _ = brokerConfig(t, ctx, adm, "log.retention.ms")
	if c.Value == nil || *c.Value != "5000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("default log.retention.ms: %+v", c)
	}
	// Topics without an override follow the default; the other keeps its own.
	deadline := time.Now().Add(5 * time.Second)
	for {
		tc, seg, _, _, _ := n.Broker().PartitionConfig("dyn", 0)
		own, _, _, _, _ := n.Broker().PartitionConfig("own", 0)
		if tc.RetentionMs == 5000 && seg.RetentionMs == 5000 && tc.MaxMessageBytes == 3000000 && own.RetentionMs == 7000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition config: dyn %+v own %+v", tc, own)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "dyn")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range rc[0].Configs {
		if tc.Key == "retention.ms" && (tc.Value == nil || *tc.Value != "5000" || tc.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig) {
			t.Fatalf("topic retention.ms: %v %v", tc.Value, tc.Source)
		}
	}
	// Delete: back to the static value.
	alterOK(t)(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.cleaner.threads"}}, 1))
	alterOK(t)(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.retention.ms"}}))
	if c, _ := brokerConfig(t, ctx, adm, "log.cleaner.threads", 1); *c.Value != "4" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("after delete: %v %v", *c.Value, c.Source)
	}
	// AlterConfigs (not incremental) replaces the default's whole set.
	alterOK(t)(adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "log.cleaner.backoff.ms", Value: kmsg.StringPtr("100")}}))
	rcs, _ = adm.DescribeBrokerConfigs(ctx)
	if len(rcs[0].Configs) != 1 || rcs[0].Configs[0].Key != "log.cleaner.backoff.ms" {
		t.Fatalf("after AlterConfigs: %+v", rcs[0].Configs)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		tc, _, _, _, _ := n.Broker().PartitionConfig("dyn", 0)
		if tc.RetentionMs == 604800000 && tc.MaxMessageBytes == 1048588 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition config after reset: %+v", tc)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Survives a restart (the metadata log holds the records).
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	adm = kadm.NewClient(newClient(t, n.Addr()))
	if c, _ := brokerConfig(t, ctx, adm, "log.cleaner.backoff.ms", 1); c.Value == nil || *c.Value != "100" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("after restart: %+v", c)
	}
}

// TestDynamicBrokerConfigsCluster: configs altered through one node, for
// another broker and for the cluster default, are visible on that broker
// and survive its restart.
func TestDynamicBrokerConfigsCluster(t *testing.T) {
	c := samsatest.StartCluster(t, 3)
	ctx := ctxT(t)
	first := kadm.NewClient(newClient(t, c.Node(1).Addr()))
	alterOK(t)(first.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.cleaner.threads", Value: kmsg.StringPtr("2")}}, 3))
	alterOK(t)(first.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.bytes", Value: kmsg.StringPtr("123456789")}}))
	check := func(stage string) {
		t.Helper()
		adm := kadm.NewClient(newClient(t, c.Node(3).Addr()))
		deadline := time.Now().Add(10 * time.Second)
		for {
			th, _ := brokerConfig(t, ctx, adm, "log.cleaner.threads", 3)
			rb, _ := brokerConfig(t, ctx, adm, "log.retention.bytes", 3)
			if th.Value != nil && *th.Value == "2" && th.Source == kmsg.ConfigSourceDynamicBrokerConfig &&
				rb.Value != nil && *rb.Value == "123456789" && rb.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: broker 3 reports %+v and %+v", stage, th, rb)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Broker 2 has the default but not broker 3's own value.
		adm2 := kadm.NewClient(newClient(t, c.Node(2).Addr()))
		if th, _ := brokerConfig(t, ctx, adm2, "log.cleaner.threads", 2); th.Source == kmsg.ConfigSourceDynamicBrokerConfig {
			t.Fatalf("%s: broker 2 has broker 3's value: %+v", stage, th)
		}
	}
	check("altered")
	// A raw request to broker 1 for broker 3's resource is refused there,
	// the topic resource next to it is still decided.
	cl := newClient(t, c.Node(1).Addr())
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for _, name := range []string{"3", "1"} {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Value = "log.cleaner.threads", kmsg.StringPtr("5")
		rr.Configs = append(rr.Configs, rc)
		req.Resources = append(req.Resources, rr)
	}
	resp, err := req.RequestWith(ctx, cl.Broker(1))
	if err != nil || len(resp.Resources) != 2 {
		t.Fatalf("raw request: %v %+v", err, resp)
	}
	for _, r := range resp.Resources {
		want := int16(0)
		if r.ResourceName == "3" {
			want = kerr.InvalidRequest.Code
		}
		if r.ErrorCode != want {
			t.Fatalf("raw request, resource %s: error %d %v", r.ResourceName, r.ErrorCode, r.ErrorMessage)
		}
	}
	c.Node(3).Kill()
	if err := c.Node(3).Restart(); err != nil {
		t.Fatal(err)
	}
	check("restarted")
}
