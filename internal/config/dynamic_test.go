package config

import (
	"strings"
	"testing"
)

func TestValidateDynamic(t *testing.T) {
	c := Default()
	cases := []struct {
		props     map[string]string
		perBroker bool
		want      string // "" = accepted; else the error's prefix
	}{
		{map[string]string{"log.cleaner.threads": "2"}, true, ""},
		{map[string]string{"log.cleaner.threads": "2", "log.retention.ms": "5000", "num.io.threads": "16"}, false, ""},
		{map[string]string{"log.dirs": "/x", "node.id": "3", "log.cleaner.threads": "2"}, true, "Cannot update these configs dynamically: [log.dirs, node.id]"},
		{map[string]string{"advertised.listeners": "PLAINTEXT://h:1"}, true, "Cannot update these configs dynamically: [advertised.listeners]"},
		{map[string]string{"ssl.keystore.location": "/k"}, true, "These security configs can be dynamically updated only per-listener using the listener prefix: [ssl.keystore.location]"},
		{map[string]string{"num.io.threads": "eight"}, true, "Invalid value eight for configuration num.io.threads: Not a number of type INT"},
		{map[string]string{"foo.bar": "1"}, true, ""},
		{map[string]string{"ssl.client.auth": "required"}, false, "Cannot update these configs at default cluster level, broker id must be specified: [ssl.client.auth]"},
		{map[string]string{"ssl.client.auth": "required"}, true, ""},
		{map[string]string{"listeners": "PLAINTEXT://:1"}, true, "samsa binds its listeners"},
		{map[string]string{"num.io.threads": "0"}, true, "Invalid value 0 for configuration num.io.threads: Value must be at least 1"},
		{map[string]string{"log.segment.bytes": "1000"}, false, "Invalid value 1000 for configuration log.segment.bytes: Value must be at least 1048576"},
		{map[string]string{"log.retention.ms": "0"}, false, "log.retention.ms"},
	}
	for _, tc := range cases {
		err := ValidateDynamic(c, tc.props, tc.perBroker)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.props, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%v: got %v, want %q", tc.props, err, tc.want)
		}
	}
	if DynamicMode("log.cleaner.threads") != "cluster-wide" || DynamicMode("listeners") != "per-broker" || DynamicMode("log.dirs") != "read-only" {
		t.Error("DynamicMode")
	}
}

// TestWithDynamicPrecedence: this broker's dynamic value over the cluster
// default over static over default, in values, typed fields, topic
// defaults and synonyms (Kafka's order).
func TestWithDynamicPrecedence(t *testing.T) {
	c, _, err := Load(LoadOptions{Overrides: []string{"log.cleaner.threads=1", "log.retention.hours=10"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.WithDynamic(map[string]string{"log.cleaner.threads": "3", "log.retention.minutes": "30", "message.max.bytes": "2000000", "log.dirs": "/ignored"},
		map[string]string{"log.cleaner.threads": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if d.LogRetentionMs != 30*60_000 || d.MessageMaxBytes != 2000000 || d.LogDirs[0] != c.LogDirs[0] {
		t.Fatalf("typed: retention %d, max %d, dirs %v", d.LogRetentionMs, d.MessageMaxBytes, d.LogDirs)
	}
	if td := TopicDefaults(d); td["retention.ms"] != "1800000" || td["max.message.bytes"] != "2000000" {
		t.Fatalf("topic defaults %v %v", td["retention.ms"], td["max.message.bytes"])
	}
	syn := func(e Entry) string {
		var s []string
		for _, y := range e.Synonyms {
			s = append(s, string(y.Source)+":"+y.Name+"="+y.Value)
		}
		return strings.Join(s, " ")
	}
	e, _ := d.Value("log.cleaner.threads")
	if e.Value != "2" || e.Source != SourceDynamicBroker || e.ReadOnly ||
		syn(e) != "DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2 DYNAMIC_DEFAULT_BROKER_CONFIG:log.cleaner.threads=3 STATIC_BROKER_CONFIG:log.cleaner.threads=1 DEFAULT_CONFIG:log.cleaner.threads=1" {
		t.Fatalf("log.cleaner.threads: %+v %s", e, syn(e))
	}
	// Synonym keys: the levels first, then the keys; entries before the
	// key's own first one are dropped.
	e, _ = d.Value("log.retention.minutes")
	if e.Value != "30" || e.Source != SourceDynamicDefault ||
		syn(e) != "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.minutes=30 STATIC_BROKER_CONFIG:log.retention.hours=10 DEFAULT_CONFIG:log.retention.hours=168" {
		t.Fatalf("log.retention.minutes: %+v %s", e, syn(e))
	}
	def := d.DefaultValues()
	if len(def) != 3 || def[0].Name != "log.cleaner.threads" || def[0].Value != "3" || def[0].Source != SourceDynamicDefault ||
		syn(def[0]) != "DYNAMIC_DEFAULT_BROKER_CONFIG:log.cleaner.threads=3" {
		t.Fatalf("default resource: %+v", def)
	}
	// The static config is untouched.
	if e, _ := c.Value("log.cleaner.threads"); e.Source != SourceStatic || c.LogRetentionMs != 10*3600_000 {
		t.Fatalf("static config changed: %+v", e)
	}
}

// TestLiveDynamicKeysAreDynamic: every key samsa applies live is one
// Kafka can change for the whole cluster.
func TestLiveDynamicKeysAreDynamic(t *testing.T) {
	for _, k := range LiveDynamicKeys {
		if DynamicMode(k) != "cluster-wide" {
			t.Errorf("%s: %s", k, DynamicMode(k))
		}
	}
}
