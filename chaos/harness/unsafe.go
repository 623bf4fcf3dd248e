package harness

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
)

// Validation: the checker must find anomalies where there are some. The
// unsafe modes weaken the run's settings on purpose (Config.Unsafe), and a
// samsa built with the BrokenTag build tag breaks the high watermark; a run
// with either is expected to lose acknowledged writes under leader faults
// (ValidationKinds), a run with neither must not (docs/chaos-validation.md).

// Unsafe modes, the values of Config.Unsafe.
const (
	// UnsafeUnclean: unclean.leader.election.enable=true and
	// min.insync.replicas=1, on every broker and on the topic.
	UnsafeUnclean = "unclean"
	// UnsafeAcks1: every producer sends with acks=1, idempotence off.
	UnsafeAcks1 = "acks1"
)

// UnsafeModes lists the unsafe modes.
var UnsafeModes = []string{UnsafeUnclean, UnsafeAcks1}

// BrokenTag is the build tag of the deliberately broken samsa: a partition
// leader moves the high watermark to its own log end without waiting for
// its followers (internal/replica/hw_broken.go). Build(ctx, root, out,
// BrokenTag) builds it.
const BrokenTag = "chaosbroken"

// ValidationKinds are the fault kinds validation runs favour: a leader cut
// off (it keeps taking writes its followers never see) and a leader
// killed (a follower that lacks its last writes takes over).
var ValidationKinds = []string{PartitionLeader, KillLeader}

// settings is what a run's unsafe modes change.
type settings struct {
	unclean bool // unclean election on, min.insync.replicas=1
	acks1   bool // producers acks=1, not idempotent
}

// parseUnsafe checks the modes of Config.Unsafe.
func parseUnsafe(modes []string) (settings, error) {
	var s settings
	for _, m := range modes {
		switch m {
		case UnsafeUnclean:
			s.unclean = true
		case UnsafeAcks1:
			s.acks1 = true
		default:
			return s, fmt.Errorf("chaos harness: unknown unsafe mode %q (known: %s)", m, strings.Join(UnsafeModes, ","))
		}
	}
	return s, nil
}

// ParseUnsafe splits a comma list of unsafe modes ("" is none) and checks
// each.
func ParseUnsafe(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	modes := strings.Split(list, ",")
	if _, err := parseUnsafe(modes); err != nil {
		return nil, err
	}
	slices.Sort(modes)
	return slices.Compact(modes), nil
}

// minISR and uncleanElection are the values of the broker and topic
// configs of the same names.
func (s settings) minISR() string {
	if s.unclean {
		return "1"
	}
	return "2"
}

func (s settings) uncleanElection() string {
	if s.unclean {
		return "true"
	}
	return "false"
}

// topicConfig is the run's topic's configs.
func (s settings) topicConfig() map[string]*string {
	return map[string]*string{
		"min.insync.replicas":            kadm.StringPtr(s.minISR()),
		"unclean.leader.election.enable": kadm.StringPtr(s.uncleanElection()),
	}
}

// franzAcks is franz-go's producer options for the acks setting.
func (s settings) franzAcks() []kgo.Opt {
	if s.acks1 {
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	}
	return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
}

// samsaAcks is samsa's client's producer options for the acks setting.
func (s settings) samsaAcks() []client.Option {
	if s.acks1 {
		return []client.Option{client.RequiredAcks(client.AcksLeader), client.Idempotent(false)}
	}
	return []client.Option{client.RequiredAcks(client.AcksAll), client.Idempotent(true)}
}
