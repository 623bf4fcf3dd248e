package config

import (
	"sort"
	"strings"
)

// The refusals in this file are not Kafka's rules. They stop configurations
// that Kafka accepts but samsa cannot honour yet from starting as something
// else: a dynamic quorum that would not form, and a TLS or SASL listener
// that would serve plaintext. Each
// rule is one function, to be deleted when the feature lands.

// staticQuorumOnly refuses a dynamic controller quorum (KIP-853:
// controller.quorum.bootstrap.servers without controller.quorum.voters),
// which samsa does not run yet, except the one case that needs no voter
// changes: a lone controller whose bootstrap server is itself (Kafka's
// `kafka-storage format --standalone`). Delete this rule when dynamic
// quorums land.
func (v *validator) staticQuorumOnly() {
	c := v.c
	if len(c.ControllerQuorumVoters) > 0 || len(c.ControllerQuorumBootstrapServers) == 0 {
		return
	}
	const why = "samsa runs static controller quorums only for now (no KIP-853 dynamic quorum); list every controller in " +
		"controller.quorum.voters (id@host:port) instead"
	switch {
	case len(c.ControllerQuorumBootstrapServers) > 1:
		v.errorf("controller.quorum.bootstrap.servers", "%d servers (%s): %s",
			len(c.ControllerQuorumBootstrapServers), strings.Join(c.ControllerQuorumBootstrapServers, ","), why)
	case !c.IsController():
		v.errorf("controller.quorum.bootstrap.servers", "on a broker-only node: %s", why)
	}
}

// plaintextOnly refuses every listener whose security protocol is not
// PLAINTEXT, and every ssl.*, sasl.* or per-listener security key that
// states an expectation of TLS, SASL or authorization (a keystore, a
// truststore, credentials, enabled mechanisms, an authorizer). samsa has no
// TLS, SASL or ACLs yet: such a listener would serve plaintext without
// authentication and such a key would have no effect. Keys whose values are
// only tuning (ssl.protocol, ssl.endpoint.identification.algorithm,
// ssl.keystore.type, sasl.login.refresh.*, ...), which Kafka's defaults and
// common compose files carry, are accepted. Delete this rule when security
// lands.
func (v *validator) plaintextOnly() {
	c := v.c
	const why = "samsa has no TLS, SASL or ACLs yet"
	for _, l := range c.Listeners {
		if l.SecurityProtocol == "" || l.SecurityProtocol == "PLAINTEXT" {
			continue
		}
		v.errorf("listeners", "%s uses security protocol %s (listener.security.protocol.map): %s, so this port would be served in plaintext, "+
			"unencrypted and unauthenticated; map %s to PLAINTEXT or remove the listener", l.String(), l.SecurityProtocol, why, l.Name)
	}
	keys := make([]string, 0, len(c.props))
	for k := range c.props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		expects := securityExpectation(k, c.props[k])
		if expects == "" {
			continue
		}
		v.errorf(k, "set in %s, %s, but %s: it would have no effect and clients would be served in plaintext; remove it", c.from[k], expects, why)
	}
}

// securityKeys are the keys whose mere presence says the user expects TLS,
// SASL or authorization, with what they configure.
var securityKeys = map[string]string{
	"ssl.keystore.location":                "configures the TLS keystore",
	"ssl.keystore.password":                "configures the TLS keystore",
	"ssl.keystore.key":                     "configures the TLS private key",
	"ssl.keystore.certificate.chain":       "configures the TLS certificate",
	"ssl.key.password":                     "configures the TLS private key",
	"ssl.truststore.location":              "configures the TLS truststore",
	"ssl.truststore.password":              "configures the TLS truststore",
	"ssl.truststore.certificates":          "configures the TLS truststore",
	"sasl.enabled.mechanisms":              "enables SASL authentication",
	"sasl.mechanism.inter.broker.protocol": "sets the SASL mechanism between brokers",
	"sasl.mechanism.controller.protocol":   "sets the SASL mechanism of the controllers",
	"sasl.jaas.config":                     "configures SASL credentials",
	"sasl.server.callback.handler.class":   "configures SASL authentication",
	"sasl.login.callback.handler.class":    "configures SASL authentication",
	"sasl.client.callback.handler.class":   "configures SASL authentication",
	"sasl.login.class":                     "configures SASL authentication",
	"sasl.kerberos.service.name":           "configures Kerberos (SASL/GSSAPI) authentication",
	"sasl.oauthbearer.jwks.endpoint.url":   "configures OAuth (SASL/OAUTHBEARER) token validation",
	"sasl.oauthbearer.token.endpoint.url":  "configures OAuth (SASL/OAUTHBEARER) tokens",
	"sasl.oauthbearer.expected.audience":   "configures OAuth (SASL/OAUTHBEARER) token validation",
	"sasl.oauthbearer.expected.issuer":     "configures OAuth (SASL/OAUTHBEARER) token validation",
	"authorizer.class.name":                "enables an authorizer (ACLs)",
}

// securityExpectation returns what key=value configures when it states an
// expectation of security, "" when it is harmless.
func securityExpectation(key, value string) string {
	value = strings.TrimSpace(value)
	if rest, ok := strings.CutPrefix(key, "listener.name."); ok {
		// listener.name.<listener>.ssl.* and .sasl.*, also the
		// mechanism-scoped listener.name.<listener>.<mechanism>.sasl.jaas.config:
		// per-listener security settings, meaningful only on a TLS or SASL
		// listener.
		if _, setting, ok := strings.Cut(rest, "."); ok &&
			(strings.HasPrefix(setting, "ssl.") || strings.HasPrefix(setting, "sasl.") || strings.Contains(setting, ".sasl.")) {
			return "configures TLS or SASL for listener " + strings.ToUpper(rest[:strings.IndexByte(rest, '.')])
		}
		return ""
	}
	if key == "ssl.client.auth" {
		if v := strings.ToLower(value); v == "required" || v == "requested" {
			return "asks for TLS client authentication (ssl.client.auth=" + v + ")"
		}
		return ""
	}
	if what, ok := securityKeys[key]; ok && value != "" {
		return what
	}
	return ""
}

// RackAwareReplicaSelector is the one replica.selector.class samsa knows:
// Kafka's rack-aware selector (KIP-392).
const RackAwareReplicaSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// builtinReplicaSelectorOnly refuses a replica.selector.class other than
// Kafka's RackAwareReplicaSelector: samsa loads no Java classes, and Kafka
// itself fails to start on a class it cannot load. Delete this rule if
// samsa ever grows pluggable selectors.
func (v *validator) builtinReplicaSelectorOnly() {
	val, ok := v.c.props["replica.selector.class"]
	if !ok || strings.TrimSpace(val) == "" || strings.TrimSpace(val) == RackAwareReplicaSelector {
		return
	}
	v.errorf("replica.selector.class", "%q: samsa knows only %s (fetch from the closest replica by broker.rack and the consumer's client.rack); "+
		"remove the key to read from leaders only", val, RackAwareReplicaSelector)
}
