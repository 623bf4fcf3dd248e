package controller

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

// AlterBrokerConfigs changes the dynamic configs of a BROKER resource:
// name "" is the cluster-wide default, a broker id that broker's own. With
// replace set (AlterConfigs), the ops give the whole new set.
func (c *Controller) AlterBrokerConfigs(name string, ops []ConfigOp, replace, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, err := DecideAlterBrokerConfigs(&c.cfg, c.current(), name, ops, replace)
	if err != nil || validateOnly || len(recs) == 0 {
		return err
	}
	return c.commitLocked(recs)
}

// DecideAlterBrokerConfigs decides an (Incremental)AlterConfigs entry for
// a BROKER resource (Kafka's ConfigurationControlManager with the
// ControllerConfigurationValidator): the name is empty or a non-negative
// base-10 broker id (INVALID_REQUEST otherwise; the broker need not be
// registered), the resulting set passes cfg.ValidateBrokerConfigs (keys
// that are not dynamic, values that do not parse, per-broker keys on the
// default: INVALID_REQUEST, as Kafka 4.4 answers them), and one Config
// record is written per config whose value changes.
func DecideAlterBrokerConfigs(cfg *Config, im *metadata.Image, name string, ops []ConfigOp, replace bool) ([]metadata.Record, error) {
	if name != "" {
		id, err := strconv.ParseInt(name, 10, 32)
		if err != nil {
			return nil, errorf(kerr.InvalidRequest, "Unable to parse broker name as a base 10 number.")
		}
		if id < 0 {
			return nil, errorf(kerr.InvalidRequest, "Invalid negative broker ID.")
		}
	}
	if cfg.ValidateBrokerConfigs == nil {
		return nil, errorf(kerr.InvalidRequest, "dynamic broker configs are not supported by this controller")
	}
	current := im.Configs(metadata.ResourceBroker, name)
	next, err := applyConfigOps(current, ops, replace)
	if err != nil {
		return nil, err
	}
	set := map[string]string{}
	for k, v := range next {
		if v != nil {
			set[k] = *v
		}
	}
	if err := cfg.ValidateBrokerConfigs(set, name != ""); err != nil {
		return nil, errorf(kerr.InvalidRequest, "%v", err)
	}
	return configChanges(metadata.ResourceBroker, name, current, next), nil
}
