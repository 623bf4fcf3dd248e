package config

// Dynamic broker configs (KIP-226), Kafka's DynamicBrokerConfig way: a
// broker key Kafka can change at runtime may be set in the metadata log for
// one broker (the BROKER resource named by its id: DYNAMIC_BROKER_CONFIG)
// or for every broker (the resource with the empty name:
// DYNAMIC_DEFAULT_BROKER_CONFIG). The effective value of a key is, most
// specific first: this broker's dynamic value, the cluster default, the
// static config (server.properties, KAFKA_* variables, --override), then
// Kafka's default. WithDynamic builds that view; ValidateDynamic is the
// check the controller runs before it writes the records.

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Dynamic config sources (DescribeConfigs ConfigSource names).
const (
	SourceDynamicBroker  Source = "DYNAMIC_BROKER_CONFIG"
	SourceDynamicDefault Source = "DYNAMIC_DEFAULT_BROKER_CONFIG"
)

// Synonym is one level of a broker key's value chain, most specific first
// (DescribeConfigs IncludeSynonyms).
type Synonym struct {
	Name   string
	Value  string
	Null   bool // sensitive: the value is never returned
	Source Source
}

// perBrokerKeys may be set only for one broker, never as the cluster
// default (Kafka's DynamicBrokerConfig.PerBrokerConfigs: the listener and
// security keys, less max.connections, max.connection.creation.rate and
// num.network.threads).
var perBrokerKeys = map[string]bool{
	"listeners": true, "listener.security.protocol.map": true, "principal.builder.class": true,
	"ssl.protocol": true, "ssl.provider": true, "ssl.cipher.suites": true, "ssl.enabled.protocols": true,
	"ssl.keystore.type": true, "ssl.keystore.location": true, "ssl.keystore.password": true,
	"ssl.key.password": true, "ssl.truststore.type": true, "ssl.truststore.location": true,
	"ssl.truststore.password": true, "ssl.keymanager.algorithm": true, "ssl.trustmanager.algorithm": true,
	"ssl.endpoint.identification.algorithm": true, "ssl.secure.random.implementation": true,
	"ssl.client.auth": true, "ssl.engine.factory.class": true,
	"sasl.mechanism.inter.broker.protocol": true, "sasl.jaas.config": true, "sasl.enabled.mechanisms": true,
}

// listenerOnlyKeys are Kafka's SslConfigs.RECONFIGURABLE_CONFIGS: dynamic
// only with a listener.name.<listener>. prefix.
var listenerOnlyKeys = map[string]bool{
	"ssl.keystore.type": true, "ssl.keystore.location": true, "ssl.keystore.password": true,
	"ssl.key.password": true, "ssl.truststore.type": true, "ssl.truststore.location": true,
	"ssl.truststore.password": true, "ssl.keystore.certificate.chain": true, "ssl.keystore.key": true,
	"ssl.truststore.certificates": true,
}

// threadKeys are Kafka's DynamicThreadPool keys: a new count must be at
// least 1.
var threadKeys = map[string]bool{
	"num.network.threads": true, "num.io.threads": true, "num.replica.fetchers": true,
	"num.recovery.threads.per.data.dir": true, "background.threads": true,
}

// notLive are dynamic keys samsa refuses although Kafka accepts them,
// because accepting them would promise a change samsa cannot make while
// running: its listeners are bound once, and it speaks PLAINTEXT only.
func notLive(key string) bool {
	return key == "listeners" || key == "listener.security.protocol.map" || strings.HasPrefix(key, "listener.name.")
}

// DynamicMode is a broker key's Kafka update mode: "read-only",
// "per-broker" or "cluster-wide" (the broker configs table of Kafka's
// documentation).
func DynamicMode(key string) string {
	k, ok := brokerKeyIndex[key]
	switch {
	case strings.HasPrefix(key, "listener.name."):
		return "per-broker"
	case !ok || !k.dynamic:
		return "read-only"
	case perBrokerKeys[key]:
		return "per-broker"
	}
	return "cluster-wide"
}

// LiveDynamicKeys are the dynamic keys whose new value samsa applies while
// running; every other dynamic key is stored and reported but has no
// effect on samsa (thread counts, buffer sizes, metric reporters).
var LiveDynamicKeys = []string{
	// Topic-config defaults: every topic without its own override follows.
	"log.segment.bytes", "log.roll.ms", "log.roll.hours", "log.roll.jitter.ms", "log.roll.jitter.hours",
	"log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.retention.bytes",
	"log.flush.interval.messages", "log.flush.interval.ms", "log.index.interval.bytes", "log.index.size.max.bytes",
	"log.message.timestamp.type", "log.message.timestamp.before.max.ms", "log.message.timestamp.after.max.ms",
	"log.cleanup.policy", "log.cleaner.delete.retention.ms", "log.cleaner.min.compaction.lag.ms",
	"log.cleaner.min.cleanable.ratio", "compression.type", "message.max.bytes", "min.insync.replicas",
	"unclean.leader.election.enable",
	// The log cleaner's pause between passes.
	"log.cleaner.backoff.ms",
}

// ValidateDynamic checks the whole set of dynamic configs one BROKER
// resource would hold (perBroker: the resource names a broker; otherwise
// it is the cluster default), as Kafka's DynamicBrokerConfig.validateConfigs
// does, in its order and with its messages: keys that are not dynamic,
// security keys without a listener prefix, values that do not parse, and
// per-broker keys on the cluster default. Then samsa's own refusals
// (listeners) and the value rules of the typed configuration. Kafka 4.4
// answers every one of these with INVALID_REQUEST, and so does the caller.
func ValidateDynamic(c *Config, props map[string]string, perBroker bool) error {
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	pick := func(test func(string) bool) []string {
		var out []string
		for _, n := range names {
			if test(n) {
				out = append(out, n)
			}
		}
		return out
	}
	list := func(msg string, keys []string) error {
		return fmt.Errorf("%s: [%s]", msg, strings.Join(keys, ", "))
	}
	if bad := pick(func(n string) bool { k, ok := brokerKeyIndex[n]; return ok && !k.dynamic && !listenerOnlyKeys[n] }); len(bad) > 0 {
		return list("Cannot update these configs dynamically", bad)
	}
	if bad := pick(func(n string) bool { return listenerOnlyKeys[n] }); len(bad) > 0 {
		return list("These security configs can be dynamically updated only per-listener using the listener prefix", bad)
	}
	for _, n := range names {
		base := n
		if rest, ok := strings.CutPrefix(n, "listener.name."); ok {
			if _, b, ok := strings.Cut(rest, "."); ok {
				base = b
			}
		}
		if k, ok := brokerKeyIndex[base]; ok {
			if err := parseTyped(k.typ, strings.TrimSpace(props[n])); err != nil {
				why := "Not a number of type " + string(k.typ)
				if k.typ == TypeBoolean {
					why = "Expected value to be either true or false"
				}
				return fmt.Errorf("Invalid value %s for configuration %s: %s", props[n], n, why)
			}
		}
	}
	if !perBroker {
		if bad := pick(func(n string) bool { return DynamicMode(n) == "per-broker" }); len(bad) > 0 {
			return list("Cannot update these configs at default cluster level, broker id must be specified", bad)
		}
	}
	if bad := pick(notLive); len(bad) > 0 {
		return list("samsa binds its listeners at start and speaks PLAINTEXT only; set these in server.properties instead", bad)
	}
	for _, n := range pick(func(n string) bool { return threadKeys[n] }) {
		if v, _ := strconv.ParseInt(strings.TrimSpace(props[n]), 10, 32); v < 1 {
			return fmt.Errorf("Invalid value %s for configuration %s: Value must be at least 1", props[n], n)
		}
	}
	if c == nil {
		c = Default()
	}
	var err error
	if perBroker {
		_, err = c.WithDynamic(nil, props)
	} else {
		_, err = c.WithDynamic(props, nil)
	}
	if err != nil {
		return kafkaRangeError(err)
	}
	return nil
}

// rangeError matches the resolver's message for a number below its minimum.
var rangeError = regexp.MustCompile(`^([a-z0-9.]+): invalid value "([^"]*)": must be in \[(-?[0-9]+), (9223372036854775807|2147483647|32767)\]$`)

// kafkaRangeError rewrites the first problem of a resolve error in Kafka's
// ConfigDef words when it is a lower bound ("Value must be at least N").
func kafkaRangeError(err error) error {
	first, _, _ := strings.Cut(err.Error(), "\n")
	if m := rangeError.FindStringSubmatch(first); m != nil {
		return fmt.Errorf("Invalid value %s for configuration %s: Value must be at least %s", m[2], m[1], m[3])
	}
	return errors.New(first)
}

// WithDynamic returns c with dynamic broker configs on top: the cluster
// default (clusterDefault, the resource "") under this broker's own
// (perBroker). Keys Kafka cannot change dynamically are ignored, as a
// Kafka broker ignores them in the log. The error names a value that does
// not resolve (the typed fields keep their rules: log.segment.bytes at
// least 1 MiB, retention not 0, ...).
func (c *Config) WithDynamic(clusterDefault, perBroker map[string]string) (*Config, error) {
	keep := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			if DynamicMode(k) != "read-only" || !knownKey(k) {
				out[k] = strings.TrimSpace(v)
			}
		}
		return out
	}
	n := &Config{ClusterID: c.ClusterID, LogLevel: c.LogLevel, Embedded: c.Embedded,
		props: c.props, from: c.from, derived: c.derived, protocolMapSet: c.protocolMapSet,
		hostname: c.hostname, dynDefault: keep(clusterDefault), dynBroker: keep(perBroker)}
	hostname := c.hostname
	if hostname == nil {
		hostname = func() (string, error) { return "localhost", nil }
	}
	if err := n.resolve(hostname); err != nil {
		return nil, err
	}
	// The listeners are not dynamic in samsa: keep the resolved ones.
	n.Listeners, n.AdvertisedListeners, n.ControllerAdvertisedListeners = c.Listeners, c.AdvertisedListeners, c.ControllerAdvertisedListeners
	return n, nil
}

// Dynamic returns the dynamic configs c was built with: the cluster
// default and this broker's own.
func (c *Config) Dynamic() (clusterDefault, perBroker map[string]string) {
	return c.dynDefault, c.dynBroker
}

// brokerSynonyms lists the keys that set one value, in Kafka's precedence
// order (DynamicBrokerConfig.brokerConfigSynonyms).
func brokerSynonyms(name string) []string {
	switch name {
	case "log.roll.ms", "log.roll.hours":
		return []string{"log.roll.ms", "log.roll.hours"}
	case "log.roll.jitter.ms", "log.roll.jitter.hours":
		return []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}
	case "log.flush.interval.ms":
		return []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}
	case "log.retention.ms", "log.retention.minutes", "log.retention.hours":
		return []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
	}
	return []string{name}
}

// synonyms is Kafka's ConfigHelper.configSynonyms: every level (this
// broker's dynamic value, the cluster default, static, default) of every
// synonym key, levels first, without the entries before the key's own
// first one.
func (c *Config) synonyms(name string, sensitive bool) []Synonym {
	var out []Synonym
	add := func(get func(string) (string, bool), src Source) {
		for _, s := range brokerSynonyms(name) {
			if v, ok := get(s); ok {
				if sensitive {
					v = ""
				}
				out = append(out, Synonym{Name: s, Value: v, Null: sensitive, Source: src})
			}
		}
	}
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	add(lookup(c.dynBroker), SourceDynamicBroker)
	add(lookup(c.dynDefault), SourceDynamicDefault)
	add(lookup(c.props), SourceStatic)
	add(c.defaultValue, SourceDefault)
	for len(out) > 0 && out[0].Name != name {
		out = out[1:]
	}
	return out
}

// DefaultValues lists the cluster-default dynamic broker configs (the
// BROKER resource with the empty name) as DescribeConfigs reports them:
// only the keys set there, each with the source DYNAMIC_DEFAULT_BROKER_CONFIG.
func (c *Config) DefaultValues() []Entry {
	names := make([]string, 0, len(c.dynDefault))
	for k := range c.dynDefault {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]Entry, 0, len(names))
	for _, name := range names {
		e := Entry{Name: name, Value: c.dynDefault[name], Source: SourceDynamicDefault, Type: TypeString}
		if k, ok := brokerKeyIndex[name]; ok {
			e.Type, e.Sensitive = k.typ, k.sensitive
		}
		e.Sensitive = e.Sensitive || looksSensitive(name)
		if e.Sensitive {
			e.Value, e.Null = "", true
		}
		// Kafka 4.4 lists only the default's own level here.
		e.Synonyms = []Synonym{{Name: name, Value: e.Value, Null: e.Null, Source: SourceDynamicDefault}}
		out = append(out, e)
	}
	return out
}
