package config

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/samsa-io/samsa/internal/uuid"
)

// Validate applies AK's KRaft rules (KafkaConfig.validateValues),
// samsa's own sanity checks and the refusals of what samsa does not do yet
// (unsupported.go). Every message starts with the key it is about and
// states the rule, because operators meet these errors in a container log
// with nothing else to go on. All problems are joined.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.roles()
	v.quorum()
	v.listeners()
	if c.IsBroker() {
		v.brokerListeners()
	}
	v.misc()
	v.staticQuorumOnly()
	v.plaintextOnly()
	v.builtinReplicaSelectorOnly()
	return errors.Join(v.errs...)
}

type validator struct {
	c    *Config
	errs []error
}

func (v *validator) errorf(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(key+": "+format, args...))
}

func (v *validator) roles() {
	c := v.c
	if len(c.ProcessRoles) == 0 {
		v.errorf("process.roles", "must be set to broker, controller or broker,controller (samsa runs KRaft only)")
	}
	seen := map[string]bool{}
	for _, r := range c.ProcessRoles {
		if r != "broker" && r != "controller" {
			v.errorf("process.roles", "unknown role %q (want broker and/or controller)", r)
		}
		if seen[r] {
			v.errorf("process.roles", "duplicate role %q", r)
		}
		seen[r] = true
	}
	if c.NodeID < 0 {
		v.errorf("node.id", "must be set to a non-negative integer in KRaft mode (got %d)", c.NodeID)
	}
}

func (v *validator) quorum() {
	c := v.c
	if len(c.ControllerQuorumVoters) == 0 && len(c.ControllerQuorumBootstrapServers) == 0 {
		v.errorf("controller.quorum.voters", "either controller.quorum.voters or controller.quorum.bootstrap.servers must be set")
	}
	inVoters := false
	for _, vo := range c.ControllerQuorumVoters {
		inVoters = inVoters || vo.ID == c.NodeID
	}
	if len(c.ControllerQuorumVoters) > 0 {
		switch {
		case c.IsController() && !inVoters:
			v.errorf("controller.quorum.voters", "node.id %d must be one of the voters when process.roles contains controller", c.NodeID)
		case !c.IsController() && c.IsBroker() && inVoters:
			v.errorf("controller.quorum.voters", "node.id %d must not be one of the voters when process.roles is just broker", c.NodeID)
		}
	}
	if len(c.ControllerListenerNames) == 0 {
		v.errorf("controller.listener.names", "must contain at least one listener name in KRaft mode")
	}
	for _, n := range c.ControllerListenerNames {
		if _, ok := c.ListenerSecurityProtocolMap[n]; !ok {
			v.errorf("controller.listener.names", "%s is not in listener.security.protocol.map (an explicit mapping for each controller listener is required when the map is set or SSL/SASL is in use)", n)
		}
	}
	inListeners := func(n string) bool { _, ok := c.Listener(n); return ok }
	if c.IsController() {
		for _, n := range c.ControllerListenerNames {
			if !inListeners(n) {
				v.errorf("controller.listener.names", "%s must appear in listeners when process.roles contains controller", n)
			}
		}
		if !c.IsBroker() {
			for _, l := range c.Listeners {
				if !c.isControllerListener(l.Name) {
					v.errorf("listeners", "%s is not in controller.listener.names; when process.roles=controller, listeners may contain only controller listeners", l.Name)
				}
			}
		}
	} else if c.IsBroker() {
		for _, n := range c.ControllerListenerNames {
			if inListeners(n) {
				v.errorf("controller.listener.names", "%s must not appear in listeners when process.roles is just broker", n)
			}
		}
	}
}

func (v *validator) listeners() {
	c := v.c
	names := map[string]bool{}
	ports := map[int]Listener{}
	for _, l := range c.Listeners {
		if names[l.Name] {
			v.errorf("listeners", "each listener must have a different name; %s appears twice", l.Name)
		}
		names[l.Name] = true
		if l.SecurityProtocol == "" {
			v.errorf("listener.security.protocol.map", "no security protocol defined for listener %s", l.Name)
		}
		if l.Port == 0 {
			continue // ephemeral port, used by tests
		}
		if prev, dup := ports[l.Port]; dup && !ipFamiliesDiffer(prev.Host, l.Host) {
			v.errorf("listeners", "each listener must have a different port; %s and %s both use port %d", prev.Name, l.Name, l.Port)
		}
		ports[l.Port] = l
	}
	if len(c.Listeners) == 0 {
		v.errorf("listeners", "must contain at least one listener")
	}
}

// ipFamiliesDiffer reports whether one host is an IPv4 literal and the other
// an IPv6 literal: AK allows two listeners on one port only in that case.
func ipFamiliesDiffer(a, b string) bool {
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	if ia == nil || ib == nil {
		return false
	}
	return (ia.To4() == nil) != (ib.To4() == nil)
}

func (v *validator) brokerListeners() {
	c := v.c
	if len(c.AdvertisedListeners) == 0 {
		v.errorf("advertised.listeners", "must contain at least one listener that is not a controller listener when process.roles contains broker")
	}
	advNames := map[string]bool{}
	for _, l := range c.AdvertisedListeners {
		if advNames[l.Name] {
			v.errorf("advertised.listeners", "each listener must have a different name; %s appears twice", l.Name)
		}
		advNames[l.Name] = true
		if _, ok := c.Listener(l.Name); !ok {
			v.errorf("advertised.listeners", "%s is not in listeners; advertised listener names must be a subset of the listener names", l.Name)
		}
		if l.Host == "0.0.0.0" || l.Host == "::" {
			v.errorf("advertised.listeners", "%s uses the non-routable meta-address %s; advertise a routable host name or IP address", l.Name, l.Host)
		}
	}
	ib := c.InterBrokerListenerName
	if c.isControllerListener(ib) {
		v.errorf("inter.broker.listener.name", "%s is a controller listener; brokers must talk to each other on a broker listener", ib)
	} else if !advNames[ib] {
		valid := make([]string, 0, len(c.AdvertisedListeners))
		for _, l := range c.AdvertisedListeners {
			valid = append(valid, l.Name)
		}
		v.errorf("inter.broker.listener.name", "%s must be a listener name defined in advertised.listeners (valid: %s)", ib, strings.Join(valid, ", "))
	}
	if _, a := c.props["inter.broker.listener.name"]; a {
		if _, b := c.props["security.inter.broker.protocol"]; b {
			v.errorf("inter.broker.listener.name", "only one of inter.broker.listener.name and security.inter.broker.protocol may be set")
		}
	}
}

func (v *validator) misc() {
	c := v.c
	if len(c.LogDirs) == 0 {
		v.errorf("log.dirs", "must name at least one directory")
	}
	if c.ClusterID != "" {
		if err := ValidateClusterID(c.ClusterID); err != nil {
			v.errorf("CLUSTER_ID", "%v", err)
		}
	}
	if c.BrokerHeartbeatIntervalMs >= c.BrokerSessionTimeoutMs && c.BrokerSessionTimeoutMs > 0 {
		v.errorf("broker.heartbeat.interval.ms", "%d must be less than broker.session.timeout.ms (%d)", c.BrokerHeartbeatIntervalMs, c.BrokerSessionTimeoutMs)
	}
	if c.GroupMinSessionTimeoutMs > c.GroupMaxSessionTimeoutMs {
		v.errorf("group.min.session.timeout.ms", "%d must not exceed group.max.session.timeout.ms (%d)", c.GroupMinSessionTimeoutMs, c.GroupMaxSessionTimeoutMs)
	}
}

// ValidateClusterID checks a KRaft cluster id: a 16-byte UUID written as 22
// characters of URL-safe base64 without padding (AK's Uuid.toString), not
// starting with '-' (AK never generates those: they look like a CLI flag)
// and not one of AK's reserved ids (ZERO_UUID, or ONE_UUID which is the
// metadata topic's id).
func ValidateClusterID(id string) error {
	if len(id) != 22 {
		return fmt.Errorf("cluster id %q must be 22 characters of URL-safe base64 (a 16-byte UUID), got %d characters", id, len(id))
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("cluster id %q is not URL-safe base64 of 16 bytes", id)
	}
	if strings.HasPrefix(id, "-") {
		return fmt.Errorf("cluster id %q must not start with '-'", id)
	}
	if u.IsReserved() {
		return fmt.Errorf("cluster id %q is a reserved UUID", id)
	}
	return nil
}
