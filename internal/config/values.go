package config

import "strings"

// Entry is one broker config as DescribeConfigs(BROKER) reports it.
type Entry struct {
	Name      string
	Value     string // "" when Null
	Null      bool   // Kafka reports a null value (unset derived key, or sensitive)
	Source    Source
	Default   bool // IsDefault (v0) / source DEFAULT_CONFIG
	ReadOnly  bool // AK cannot change it without a restart
	Sensitive bool // passwords: the value is never returned
	Type      Type // ConfigType (v3+)
	// Synonyms is the value chain, most specific first (Kafka's order:
	// this broker's dynamic value, the cluster default, static, default).
	Synonyms []Synonym
}

// Values lists every broker key samsa knows, sorted by name, with the
// effective value and its source, for DescribeConfigs of the BROKER
// resource. Keys the user set that samsa does not know are left out, as AK
// leaves out unknown keys.
func (c *Config) Values() []Entry {
	out := make([]Entry, 0, len(brokerKeys))
	for _, name := range sortedKeyNames() {
		k := brokerKeyIndex[name]
		e := Entry{Name: name, ReadOnly: !k.dynamic, Sensitive: k.sensitive, Type: k.typ}
		if v, ok := c.dynBroker[name]; ok {
			e.Value, e.Source = v, SourceDynamicBroker
		} else if v, ok := c.dynDefault[name]; ok {
			e.Value, e.Source = v, SourceDynamicDefault
		} else if v, ok := c.props[name]; ok {
			e.Value, e.Source = v, SourceStatic
		} else {
			v, ok := c.defaultValue(name)
			e.Value, e.Null, e.Source, e.Default = v, !ok, SourceDefault, true
		}
		if e.Sensitive || looksSensitive(name) {
			e.Sensitive, e.Value, e.Null = true, "", true
		}
		e.Synonyms = c.synonyms(name, e.Sensitive)
		out = append(out, e)
	}
	return out
}

// Value returns the Entry for one key, with ok=false for unknown keys.
func (c *Config) Value(name string) (Entry, bool) {
	for _, e := range c.Values() {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

func looksSensitive(name string) bool {
	return strings.Contains(name, "password") || strings.HasSuffix(name, "jaas.config")
}
