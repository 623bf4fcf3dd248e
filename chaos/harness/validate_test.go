package harness

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/chaos/checker"
	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/client"
)

// buildBroken builds samsa with BrokenTag, once per test binary.
func buildBroken(t *testing.T) string { return buildTagged(t, BrokenTag) }

// longLeaderCut reports whether a schedule cuts off a partition's leader
// for longer than the broker session (so that another replica is elected
// while the cut-off leader still takes writes).
func longLeaderCut(steps []Step) bool {
	for _, s := range steps {
		if s.Kind == PartitionLeader && s.Partition >= 0 && s.Dur >= brokerSessionTimeout+time.Second {
			return true
		}
	}
	return false
}

// TestValidationFindsLoss: the checker's power. A samsa built with
// BrokenTag acknowledges acks=all writes its followers do not have; a
// partition's leader cut off from the other nodes for longer than the
// broker session keeps acknowledging the writes the clients (which still
// reach it) send, another replica is elected, and at the heal the old
// leader truncates them away. The checker must report lost writes.
func TestValidationFindsLoss(t *testing.T) {
	bin := buildBroken(t)
	const d = 15 * time.Second
	kinds := []string{PartitionLeader}
	ids := []int32{1, 2, 3}
	seed := uint64(1)
	for !longLeaderCut(Schedule(seed, Combined, ids, 3, d, kinds)) {
		seed++
	}
	dir := t.TempDir()
	sum := Run(context.Background(), Config{Seed: seed, Layout: Combined, Duration: d, Quiet: 3 * time.Second,
		Dir: dir, Samsa: bin, Kinds: kinds, Logf: t.Logf})
	t.Log(sum.Line())
	if sum.Err != nil {
		t.Fatalf("run: %v\n%s", sum.Err, tailLogs(dir))
	}
	if sum.Faults[PartitionLeader] == 0 {
		t.Fatalf("no %s fault was injected", PartitionLeader)
	}
	ops, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	res := checker.Check(ops, checker.Options{})
	t.Logf("seed %d: %s", seed, res.Verdict())
	if res.Valid() {
		t.Fatal("the checker found the broken build's run valid")
	}
	if res.Anomalies[checker.LostWrite].Count == 0 {
		t.Errorf("no lost write reported: %s", res.Verdict())
	}
	if res.Stats.Acknowledged < 100 {
		t.Errorf("%d acknowledged sends: the workload hardly ran", res.Stats.Acknowledged)
	}
}

// TestUnsafeSettings: what each unsafe mode changes in the nodes'
// properties, the topic's configs and the producers' acks, and that an
// unknown mode is refused (by Run too, before it touches anything).
func TestUnsafeSettings(t *testing.T) {
	n := &Node{ID: 1, Broker: true, Controller: true, Dir: "/x"}
	for _, tc := range []struct {
		modes           []string
		minISR, unclean string
		acks1           bool
	}{
		{nil, "2", "false", false},
		{[]string{UnsafeUnclean}, "1", "true", false},
		{[]string{UnsafeAcks1}, "2", "false", true},
		{[]string{UnsafeAcks1, UnsafeUnclean}, "1", "true", true},
	} {
		set, err := parseUnsafe(tc.modes)
		if err != nil {
			t.Fatalf("%v: %v", tc.modes, err)
		}
		props := n.properties("1@10.77.14.11:9093", set)
		for _, want := range []string{"min.insync.replicas=" + tc.minISR + "\n", "unclean.leader.election.enable=" + tc.unclean + "\n"} {
			if !strings.Contains(props, want) {
				t.Errorf("%v: properties lack %q:\n%s", tc.modes, want, props)
			}
		}
		tcfg := set.topicConfig()
		if *tcfg["min.insync.replicas"] != tc.minISR || *tcfg["unclean.leader.election.enable"] != tc.unclean {
			t.Errorf("%v: topic config min.insync.replicas=%s unclean=%s", tc.modes, *tcfg["min.insync.replicas"], *tcfg["unclean.leader.election.enable"])
		}
		// franz-go's and samsa's client accept the options (each refuses
		// acks=1 with idempotence on), and franz-go's say what they set.
		fc, err := kgo.NewClient(append(set.franzAcks(), kgo.SeedBrokers("127.0.0.1:1"))...)
		if err != nil {
			t.Fatalf("%v: franz-go: %v", tc.modes, err)
		}
		wantAcks := kgo.AllISRAcks()
		if tc.acks1 {
			wantAcks = kgo.LeaderAck()
		}
		if got := fc.OptValue(kgo.RequiredAcks); got != wantAcks {
			t.Errorf("%v: franz-go acks %v, want %v", tc.modes, got, wantAcks)
		}
		if got := fc.OptValue(kgo.DisableIdempotentWrite); got != tc.acks1 {
			t.Errorf("%v: franz-go idempotence disabled %v, want %v", tc.modes, got, tc.acks1)
		}
		fc.Close()
		sp, err := client.NewProducer(append(set.samsaAcks(), client.SeedBrokers("127.0.0.1:1"))...)
		if err != nil {
			t.Fatalf("%v: samsa's client: %v", tc.modes, err)
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		sp.Close(cctx)
		cancel()
	}
	if _, err := ParseUnsafe("acks1,bogus"); err == nil {
		t.Error("unknown mode accepted")
	}
	if got, err := ParseUnsafe("unclean,acks1,unclean"); err != nil || !slices.Equal(got, []string{UnsafeAcks1, UnsafeUnclean}) {
		t.Errorf("ParseUnsafe: %v %v", got, err)
	}
	if got, err := ParseUnsafe(""); err != nil || got != nil {
		t.Errorf("ParseUnsafe(\"\"): %v %v", got, err)
	}
	sum := Run(context.Background(), Config{Seed: 1, Layout: Combined, Dir: filepath.Join(t.TempDir(), "never"), Unsafe: []string{"bogus"}})
	if sum.Err == nil || !strings.Contains(sum.Err.Error(), "unknown unsafe mode") {
		t.Errorf("Run with an unknown unsafe mode: %v", sum.Err)
	}
}

// TestLeftoversSkipLiveProbe: another process's Probe in progress (its
// namespace named by its pid) is not a leftover; a dead process's is.
func TestLeftoversSkipLiveProbe(t *testing.T) {
	if !liveProbe(probeNS(os.Getpid())) {
		t.Error("this process's probe namespace not taken as live")
	}
	if liveProbe(probeNS(1 << 30)) {
		t.Error("a probe namespace of no process taken as live")
	}
	if liveProbe(nsName(1)) || liveProbe(bridgeNS) {
		t.Error("a node's or the bridge's namespace taken as a probe")
	}
}
