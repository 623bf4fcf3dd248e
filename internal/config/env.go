package config

import (
	"sort"
	"strings"
)

// excludedEnv are the KAFKA_* variables the apache/kafka image reserves for
// the JVM and launcher; they never become broker properties. samsa accepts
// and ignores them so that compose files written for the image keep working.
var excludedEnv = map[string]bool{
	"KAFKA_VERSION":              true,
	"KAFKA_HEAP_OPTS":            true,
	"KAFKA_LOG4J_OPTS":           true,
	"KAFKA_OPTS":                 true,
	"KAFKA_JMX_OPTS":             true,
	"KAFKA_JVM_PERFORMANCE_OPTS": true,
	"KAFKA_GC_LOG_OPTS":          true,
	"KAFKA_LOG4J_ROOT_LOGLEVEL":  true,
	"KAFKA_LOG4J_LOGGERS":        true,
	"KAFKA_TOOLS_LOG4J_LOGLEVEL": true,
	"KAFKA_JMX_HOSTNAME":         true,
}

// EnvKey maps an environment variable name to a property key exactly as the
// apache/kafka image does (KafkaDockerWrapper.getServerConfigsFromEnv):
// every "KAFKA_" substring is removed (not only the prefix), the rest is
// lowercased, '_' becomes '.', then "..." becomes '-' and ".." becomes '_'.
// ok is false for names that are not mapped: no KAFKA_ prefix, or excluded.
func EnvKey(name string) (key string, ok bool) {
	if !strings.HasPrefix(name, "KAFKA_") || excludedEnv[name] {
		return "", false
	}
	k := strings.ReplaceAll(name, "KAFKA_", "")
	k = strings.ToLower(k)
	k = strings.ReplaceAll(k, "_", ".")
	k = strings.ReplaceAll(k, "...", "-")
	k = strings.ReplaceAll(k, "..", "_")
	return k, true
}

// envSettings is what the environment contributes to a Load.
type envSettings struct {
	props     []envProperty // mapped KAFKA_* variables, sorted by key for determinism
	clusterID string        // CLUSTER_ID
	logLevel  string        // KAFKA_LOG4J_ROOT_LOGLEVEL
}

// parseEnviron maps an os.Environ-style list. It also applies the image's
// `configure` step: when KAFKA_LISTENERS is unset and KAFKA_ADVERTISED_LISTENERS
// is set, listeners become the advertised ones with every host replaced by
// 0.0.0.0, so that a compose file that sets only advertised listeners binds.
func parseEnviron(environ []string) envSettings {
	var es envSettings
	vars := map[string]string{}
	for _, kv := range environ {
		name, value, found := strings.Cut(kv, "=")
		if !found {
			continue
		}
		vars[name] = value
	}
	if _, ok := vars["KAFKA_LISTENERS"]; !ok {
		if adv := vars["KAFKA_ADVERTISED_LISTENERS"]; adv != "" {
			vars["KAFKA_LISTENERS"] = bindAllHosts(adv)
		}
	}
	for name, value := range vars {
		switch name {
		case "CLUSTER_ID":
			es.clusterID = strings.TrimSpace(value)
			continue
		case "KAFKA_LOG4J_ROOT_LOGLEVEL":
			es.logLevel = strings.TrimSpace(value)
			continue
		}
		if key, ok := EnvKey(name); ok {
			es.props = append(es.props, envProperty{Property{Key: key, Value: strings.TrimSpace(value)}, name})
		}
	}
	sort.Slice(es.props, func(i, j int) bool { return es.props[i].Key < es.props[j].Key })
	return es
}

// envProperty is a property and the variable it came from.
type envProperty struct {
	Property
	from string
}

// bindAllHosts rewrites "NAME://host:port,..." to "NAME://0.0.0.0:port,...",
// the image's `sed 's|://[^:]*:|://0.0.0.0:|g'`.
func bindAllHosts(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		rest := s[i+3:]
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("://0.0.0.0:")
		s = rest[j+1:]
	}
}
