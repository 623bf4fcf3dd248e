package controller

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

func TestAlterBrokerConfigs(t *testing.T) {
	c, log := newTest(t, 1, 2)
	var validated []bool
	c.cfg.ValidateBrokerConfigs = func(next map[string]string, perBroker bool) error {
		validated = append(validated, perBroker)
		if _, ok := next["log.dirs"]; ok {
			return errors.New("Cannot update these configs dynamically: [log.dirs]")
		}
		return nil
	}
	code := func(err error) int16 { return CodeOf(err) }
	for _, name := range []string{"x", "-1", "1.5"} {
		if err := c.AlterBrokerConfigs(name, []ConfigOp{{Name: "log.cleaner.threads", Value: ptr("2")}}, false, false); code(err) != kerr.InvalidRequest.Code {
			t.Fatalf("name %q: %v", name, err)
		}
	}
	err := c.AlterBrokerConfigs("2", []ConfigOp{{Name: "log.dirs", Value: ptr("/x")}}, false, false)
	if code(err) != kerr.InvalidRequest.Code || MessageOf(err) == nil || *MessageOf(err) != "Cannot update these configs dynamically: [log.dirs]" {
		t.Fatalf("read-only key: %v", err)
	}
	n := len(log.recs)
	if err := c.AlterBrokerConfigs("2", []ConfigOp{{Name: "log.cleaner.threads", Value: ptr("2")}}, false, true); err != nil || len(log.recs) != n {
		t.Fatalf("validateOnly: %v, %d records", err, len(log.recs)-n)
	}
	if err := c.AlterBrokerConfigs("2", []ConfigOp{{Name: "log.cleaner.threads", Value: ptr("2")}, {Name: "num.io.threads", Value: ptr("4")}}, false, false); err != nil {
		t.Fatal(err)
	}
	if err := c.AlterBrokerConfigs("", []ConfigOp{{Name: "log.cleaner.threads", Value: ptr("3")}}, false, false); err != nil {
		t.Fatal(err)
	}
	im := c.Image()
	if got := im.Configs(metadata.ResourceBroker, "2"); len(got) != 2 || got["log.cleaner.threads"] != "2" || got["num.io.threads"] != "4" {
		t.Fatalf("broker 2: %v", got)
	}
	if got := im.Configs(metadata.ResourceBroker, ""); len(got) != 1 || got["log.cleaner.threads"] != "3" {
		t.Fatalf("default: %v", got)
	}
	if len(validated) < 4 || !validated[0] || validated[len(validated)-1] {
		t.Fatalf("per-broker flags passed to the validator: %v", validated)
	}
	// Setting the same value again writes nothing; DELETE writes a null.
	n = len(log.recs)
	if err := c.AlterBrokerConfigs("2", []ConfigOp{{Name: "log.cleaner.threads", Value: ptr("2")}}, false, false); err != nil || len(log.recs) != n {
		t.Fatalf("no-op: %v, %d records", err, len(log.recs)-n)
	}
	if err := c.AlterBrokerConfigs("2", []ConfigOp{{Name: "log.cleaner.threads", Op: 1}}, false, false); err != nil {
		t.Fatal(err)
	}
	last := log.recs[len(log.recs)-1].Config
	if last.ResourceType != metadata.ResourceBroker || last.ResourceName != "2" || last.Name != "log.cleaner.threads" || last.Value != nil {
		t.Fatalf("delete record %+v", last)
	}
	// AlterConfigs replaces the whole set.
	if err := c.AlterBrokerConfigs("2", []ConfigOp{{Name: "background.threads", Value: ptr("5")}}, true, false); err != nil {
		t.Fatal(err)
	}
	if got := c.Image().Configs(metadata.ResourceBroker, "2"); len(got) != 1 || got["background.threads"] != "5" {
		t.Fatalf("after replace: %v", got)
	}
	// Without a validator, dynamic broker configs are refused.
	c.cfg.ValidateBrokerConfigs = nil
	if err := c.AlterBrokerConfigs("", []ConfigOp{{Name: "log.cleaner.threads", Value: ptr("3")}}, false, false); code(err) != kerr.InvalidRequest.Code {
		t.Fatalf("no validator: %v", err)
	}
}
