package broker_test

// Feature levels: a new cluster finalizes eligible.leader.replicas.version 1
// as Kafka 4.4's format does, every node's image holds it, ApiVersions
// reports it, and Kafka 4.4's kafka-features describe reads it.

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/samsatest"
)

// apiFeatures is one ApiVersions v3 answer's feature lists.
func apiFeatures(t *testing.T, addr string) *kmsg.ApiVersionsResponse {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-test", "1.0"
	resp := kmsg.NewPtrApiVersionsResponse()
	rawConn(t, addr).roundTrip(t, req, resp)
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: error %d", resp.ErrorCode)
	}
	return resp
}

func TestNewClusterFinalizesELR(t *testing.T) {
	c := samsatest.StartCluster(t, 3)
	for _, nd := range c.Nodes() {
		im := waitImage(t, nd, "eligible.leader.replicas.version finalized", func(im *metadata.Image) bool {
			_, ok := im.Feature(controller.FeatureELR)
			return ok
		})
		if level, _ := im.Feature(controller.FeatureELR); level != 1 || !controller.ELREnabled(im) {
			t.Fatalf("node %d: %s level %d", nd.ID, controller.FeatureELR, level)
		}
		resp := apiFeatures(t, nd.Addr())
		finalized := map[string][2]int16{}
		for _, f := range resp.FinalizedFeatures {
			finalized[f.Name] = [2]int16{f.MinVersionLevel, f.MaxVersionLevel}
		}
		supported := map[string][2]int16{}
		for _, f := range resp.SupportedFeatures {
			supported[f.Name] = [2]int16{f.MinVersion, f.MaxVersion}
		}
		if finalized[controller.FeatureELR] != [2]int16{1, 1} || supported[controller.FeatureELR] != [2]int16{0, 1} {
			t.Errorf("node %d: ApiVersions finalizes %v, supports %v; want %s 1 of 0-1", nd.ID, finalized, supported, controller.FeatureELR)
		}
		if finalized["group.version"] != [2]int16{1, 1} || supported["group.version"] != [2]int16{0, 1} {
			t.Errorf("node %d: group.version finalized %v, supported %v", nd.ID, finalized["group.version"], supported["group.version"])
		}
		if resp.FinalizedFeaturesEpoch < 1 || resp.FinalizedFeaturesEpoch > nd.BrokerHandle().Image().Offset {
			t.Errorf("node %d: FinalizedFeaturesEpoch %d, image offset %d", nd.ID, resp.FinalizedFeaturesEpoch, nd.BrokerHandle().Image().Offset)
		}
	}

	// What Kafka 4.4's kafka-features describe prints for it.
	cmd := exec.Command("../../scripts/kafka-reference", "--version", "4.4.0", "tool", "org.apache.kafka.tools.FeatureCommand",
		"--bootstrap-server", strings.Join(c.Bootstrap(), ","), "describe")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-features describe: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`(?m)^Feature: eligible\.leader\.replicas\.version\s+SupportedMinVersion: (\S+)\s+SupportedMaxVersion: (\S+)\s+FinalizedVersionLevel: (\S+)\s`)
	m := line.FindStringSubmatch(string(out))
	if m == nil || m[2] != "1" || m[3] != "1" {
		t.Fatalf("kafka-features describe: no eligible.leader.replicas.version at finalized level 1 of max 1:\n%s", out)
	}
}
