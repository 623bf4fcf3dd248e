package harness

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-io/samsa/chaos/history"
)

// builtBinary is samsa built once per test binary with one set of tags.
type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*builtBinary{} // by tags, comma-joined
)

// buildSamsa builds the binary the nodes run, once per test binary.
func buildSamsa(t *testing.T) string { return buildTagged(t) }

// buildTagged builds samsa with tags, once per test binary and tag set.
func buildTagged(t *testing.T, tags ...string) string {
	t.Helper()
	if err := Probe(); err != nil {
		t.Fatal(err) // the harness needs root, ip and iptables: CI runs as root
	}
	buildsMu.Lock()
	b := builds[strings.Join(tags, ",")]
	if b == nil {
		b = &builtBinary{}
		builds[strings.Join(tags, ",")] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "chaos-harness-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "samsa")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		b.err = Build(ctx, "../..", b.path, tags...)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, b := range builds {
		if b.path != "" {
			os.RemoveAll(filepath.Dir(b.path))
		}
	}
	os.Exit(code)
}

// networkAndKill reports whether a schedule has a network fault and a
// kill (so a node restarts).
func networkAndKill(steps []Step) bool {
	var netw, kill bool
	for _, s := range steps {
		netw = netw || strings.HasPrefix(s.Kind, "partition")
		kill = kill || s.Kind == Kill || s.Kind == KillLeader
	}
	return netw && kill
}

// TestRunCombined: a short fixed-seed run on three combined nodes. The
// nodes run in their own namespaces, faults of two kinds are injected and
// healed, every acknowledged value is in the final reads, every replica is
// audited, and nothing of the topology is left afterwards.
func TestRunCombined(t *testing.T) {
	bin := buildSamsa(t)
	const d = 20 * time.Second
	ids := []int32{1, 2, 3}
	// The first seed whose schedule has both a network fault and a kill
	// (the schedule is a pure function of the seed).
	seed := uint64(1)
	for !networkAndKill(Schedule(seed, Combined, ids, 3, d, nil)) {
		seed++
	}
	dir := t.TempDir()
	var pids []int
	var cluster *Cluster
	cfg := Config{Seed: seed, Layout: Combined, Duration: d, Quiet: 3 * time.Second, Dir: dir, Samsa: bin,
		Logf: t.Logf,
		Ready: func(c *Cluster) {
			cluster = c
			for _, n := range c.Nodes {
				pid := n.Pid()
				pids = append(pids, pid)
				out, err := exec.Command("ip", "netns", "identify", strconv.Itoa(pid)).Output()
				if got := strings.TrimSpace(string(out)); err != nil || got != nsName(n.ID) {
					t.Errorf("node %d (pid %d) runs in namespace %q (%v), want %s", n.ID, pid, got, err, nsName(n.ID))
				}
				if !strings.HasPrefix(n.Addr(), subnet) {
					t.Errorf("node %d address %s is not on the bridge", n.ID, n.Addr())
				}
			}
		}}
	began := time.Now()
	sum := Run(context.Background(), cfg)
	t.Logf("%s (%v)", sum.Line(), time.Since(began).Round(time.Millisecond))
	if sum.Err != nil {
		t.Fatalf("run: %v\n%s", sum.Err, tailLogs(dir))
	}
	if len(pids) != 3 {
		t.Fatalf("ready hook saw %d nodes", len(pids))
	}

	ops, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}

	// Faults: every kind invoked was healed, and at least two kinds were.
	invoked, healed := map[string]int{}, map[string]int{}
	for _, op := range ops {
		if op.F != history.Fault || op.Fault == "heal-all" {
			continue
		}
		switch op.Type {
		case history.Invoke:
			invoked[op.Fault]++
		case history.OK:
			healed[op.Fault]++
		}
	}
	if len(healed) < 2 {
		t.Errorf("faults healed by kind %v: want at least two kinds", healed)
	}
	for k, n := range invoked {
		if healed[k] != n {
			t.Errorf("fault %s: %d invoked, %d healed", k, n, healed[k])
		}
	}

	// Every fault start records its targets and the three partitions'
	// leaders (-1 where the metadata could not say).
	for _, op := range ops {
		if op.F == history.Fault && op.Type == history.Invoke && op.Fault != "heal-all" && (len(op.Targets) == 0 || len(op.Leaders) != 3) {
			t.Errorf("fault entry %d (%s): targets %v, leaders %v", op.Index, op.Fault, op.Targets, op.Leaders)
		}
	}

	// Acknowledged sends, and every one of them in the final reads.
	acked := map[int64]bool{}
	for _, op := range ops {
		if op.F == history.Send && op.Type == history.OK {
			acked[op.Value] = true
		}
	}
	if len(acked) < 100 {
		t.Errorf("%d acknowledged sends: the workload hardly ran", len(acked))
	}
	read := map[int64]bool{}
	finals := map[int32]bool{}
	for _, op := range ops {
		if op.F == history.FinalRead && op.Type == history.OK {
			finals[op.Partition] = true
			for _, r := range op.Records {
				read[r.Value] = true
			}
		}
	}
	if len(finals) != 3 {
		t.Errorf("final reads completed for partitions %v, want all 3", finals)
	}
	missing := 0
	for v := range acked {
		if !read[v] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged values are not in the final reads", missing, len(acked))
	}

	// The replica audit: every broker, every partition, each holding the
	// records below its high watermark.
	audits := 0
	for _, op := range ops {
		if op.F == history.Audit && op.Type == history.OK && int64(len(op.Records)) == op.Offset && op.Offset > 0 {
			audits++
		}
	}
	if audits != 9 {
		t.Errorf("%d complete replica audits, want 9 (3 nodes × 3 partitions)", audits)
	}

	// Every process of every start of every node is gone, the restarted
	// ones too.
	var all []int
	for _, n := range cluster.Nodes {
		all = append(all, n.Pids()...)
	}
	if len(all) <= 3 {
		t.Errorf("node processes %v: no node was restarted", all)
	}
	checkCleanedUp(t, all)
}

// checkCleanedUp asserts no namespace, link or node process is left. It
// looks while holding the run lock: on a shared machine another run may
// take the lock, and make its namespaces, as soon as this test's run ends.
func checkCleanedUp(t *testing.T, pids []int) {
	t.Helper()
	// Under the run lock: another run on the machine (which takes the
	// lock as soon as this one lets go) must not count as a leftover.
	lk, err := lock(10 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	checkCleanedUpLocked(t, pids)
}

// checkCleanedUpLocked is checkCleanedUp for a caller holding the lock.
func checkCleanedUpLocked(t *testing.T, pids []int) {
	t.Helper()
	ns, links, err := Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	if len(ns)+len(links) > 0 {
		t.Errorf("left over: namespaces %v, links %v", ns, links)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("node process %d still exists (%v)", pid, err)
		}
	}
}

// TestRunCancelled: a run cancelled as soon as its cluster is up (as the
// command does on SIGINT) removes everything it made.
func TestRunCancelled(t *testing.T) {
	bin := buildSamsa(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pids []int
	sum := Run(ctx, Config{Seed: 1, Layout: Combined, Duration: time.Minute, Dir: t.TempDir(), Samsa: bin,
		Ready: func(c *Cluster) {
			for _, n := range c.Nodes {
				pids = append(pids, n.Pid())
			}
			cancel()
		}})
	if !errors.Is(sum.Err, context.Canceled) {
		t.Errorf("run cancelled: %v, want context.Canceled", sum.Err)
	}
	if len(pids) != 3 {
		t.Fatalf("ready hook saw %d nodes", len(pids))
	}
	checkCleanedUp(t, pids)
}

// TestTeardownLeftovers: what a crashed run leaves (a namespace with a
// process in it, the bridge, a veth) is removed by the next run's cleanup.
func TestTeardownLeftovers(t *testing.T) {
	if err := Probe(); err != nil {
		t.Fatal(err)
	}
	lk, err := lock(5 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	if err := setupNetwork([]int32{7}); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("ip", "netns", "exec", nsName(7), "sleep", "600")
	if err := sleeper.Start(); err != nil {
		teardown()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	ns, links, err := Leftovers()
	if err != nil || !slices.Contains(ns, nsName(7)) || !slices.Contains(ns, bridgeNS) || !slices.Contains(links, hostLink) {
		t.Errorf("leftovers before cleanup: %v %v %v", ns, links, err)
	}
	if err := teardown(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("the process in the leftover namespace was not killed")
	}
	checkCleanedUpLocked(t, nil)
}

// tailLogs returns the last lines of every node log under dir.
func tailLogs(dir string) string {
	var b strings.Builder
	logs, _ := filepath.Glob(filepath.Join(dir, "node-*", "node.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		lines := strings.Split(string(data), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		b.WriteString("---- " + l + "\n" + strings.Join(lines, "\n") + "\n")
	}
	return b.String()
}

func TestLeadersOf(t *testing.T) {
	leader := func(ctx context.Context, p int32) (int32, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("leader asked without a deadline")
		}
		if p == 1 {
			return 0, errors.New("no leader for partition 1")
		}
		return 10 + p, nil
	}
	if got := leadersOf(leader, 3)(context.Background()); !slices.Equal(got, []int32{10, -1, 12}) {
		t.Errorf("leaders %v, want [10 -1 12]", got)
	}
}
