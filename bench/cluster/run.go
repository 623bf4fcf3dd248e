package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// plan is what one repetition does on a fresh cluster.
type plan struct {
	Nodes    int           `json:"nodes"`
	RF       int           `json:"replication_factor"`
	Idle     time.Duration `json:"idle_ns"`
	Creates  int           `json:"creates"` // sequential CreateTopics in this repetition
	Kills    int           `json:"kills"`   // controller kills in this repetition
	Timeout  time.Duration `json:"timeout_ns"`
	Attempt  time.Duration `json:"attempt_timeout_ns"`
	Interval time.Duration `json:"probe_interval_ns"`
	Extra    []string      `json:"extra_properties,omitempty"` // appended to every server.properties
}

// repResult is one repetition of one system: a cold start on fresh
// storage, then the idle figures, the CreateTopics latencies and the kills.
type repResult struct {
	System     string          `json:"system"`
	Rep        int             `json:"rep"`
	Started    time.Time       `json:"started"`
	LoadBefore string          `json:"load_before"`
	LoadAfter  string          `json:"load_after"`
	ColdStart  time.Duration   `json:"cold_start_ns"` // 0: not ready
	Phases     coldPhases      `json:"cold_start_phases"`
	Mem        []memStatus     `json:"idle_mem"` // per node, after the idle wait
	Creates    []time.Duration `json:"creates_ns"`
	Kills      []killResult    `json:"kills"`
	Error      string          `json:"error,omitempty"`
}

// killResult is one SIGKILL of the active controller.
type killResult struct {
	Killed    int32         `json:"killed"`
	OldEpoch  int32         `json:"old_epoch"`
	NewLeader int32         `json:"new_leader"`
	NewEpoch  int32         `json:"new_epoch"`
	Elect     time.Duration `json:"elect_ns"`  // kill → DescribeQuorum on a survivor names another leader
	Write     time.Duration `json:"write_ns"`  // kill → a CreateTopics through a survivor succeeds
	Rejoin    time.Duration `json:"rejoin_ns"` // restart → back in the quorum and unfenced
	Error     string        `json:"error,omitempty"`
}

// cluster is one running cluster of one system.
type cluster struct {
	sys   *system
	dir   string
	nodes []*node
	p     *prober
	plan  plan
	rep   int
}

// newCluster writes fresh server.properties and storage for every node in
// dir and formats them (in parallel; not timed).
func newCluster(sys *system, dir string, pl plan, rep int) (*cluster, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	ports, err := freePorts(2 * pl.Nodes)
	if err != nil {
		return nil, err
	}
	voters := voterList(ports[pl.Nodes:])
	c := &cluster{sys: sys, dir: dir, p: newProber(pl.Attempt, pl.Interval), plan: pl, rep: rep}
	isr := (pl.RF + 1) / 2
	for i := 0; i < pl.Nodes; i++ {
		conf := nodeConf{ID: int32(i + 1), Port: ports[i], CtlPort: ports[pl.Nodes+i],
			Dir: filepath.Join(dir, fmt.Sprintf("node-%d", i+1)), Voters: voters, Nodes: pl.Nodes, RF: pl.RF, ISR: isr, Extra: pl.Extra}
		if err := os.MkdirAll(filepath.Join(conf.Dir, "logs"), 0o755); err != nil {
			return nil, err
		}
		props := filepath.Join(conf.Dir, "server.properties")
		if err := os.WriteFile(props, []byte(serverProperties(conf)), 0o644); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, &node{conf: conf, props: props, sys: sys})
	}
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = sys.format(n.props, n.logDir()) }()
	}
	wg.Wait()
	return c, errors.Join(errs...)
}

func (c *cluster) addrs(except ...int32) []string {
	var out []string
next:
	for _, n := range c.nodes {
		for _, e := range except {
			if n.conf.ID == e {
				continue next
			}
		}
		out = append(out, n.addr())
	}
	return out
}

func (c *cluster) ids() []int32 {
	var out []int32
	for _, n := range c.nodes {
		out = append(out, n.conf.ID)
	}
	return out
}

func (c *cluster) node(id int32) *node {
	for _, n := range c.nodes {
		if n.conf.ID == id {
			return n
		}
	}
	return nil
}

// stop kills every node (the data is thrown away, so no graceful shutdown).
func (c *cluster) stop() {
	c.p.close()
	for _, n := range c.nodes {
		n.signalKill()
	}
	for _, n := range c.nodes {
		n.wait()
	}
}

// exited is an error naming a node that died on its own, with its log.
func (c *cluster) exited() error {
	for _, n := range c.nodes {
		n.mu.Lock()
		started, killed := n.cmd != nil, n.killed
		n.mu.Unlock()
		if started && !killed && !n.alive() {
			return fmt.Errorf("node %d exited (log %s):\n%s", n.conf.ID, n.logPath(), tail(n.logPath(), 15))
		}
	}
	return nil
}

// watch returns a context cancelled when ctx ends or a node dies on its own.
func (c *cluster) watch(ctx context.Context, timeout time.Duration) (context.Context, func() error, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	var mu sync.Mutex
	var died error
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.exited(); err != nil {
					mu.Lock()
					died = err
					mu.Unlock()
					cancel()
					return
				}
			}
		}
	}()
	why := func() error {
		mu.Lock()
		defer mu.Unlock()
		return died
	}
	return ctx, why, cancel
}

// coldPhases are the moments of a cold start, from the exec of the nodes.
type coldPhases struct {
	FirstMetadata time.Duration `json:"first_metadata_ns"` // a node first answers Metadata
	AllBrokers    time.Duration `json:"all_brokers_ns"`    // a Metadata response lists every node
	Ready         time.Duration `json:"ready_ns"`          // then a CreateTopics succeeded
}

// coldStart starts every node at once and times it to ready: a Metadata
// response lists every node as a broker (KRaft lists only unfenced ones),
// then a CreateTopics (rf replicas) succeeds.
func (c *cluster) coldStart(ctx context.Context) (coldPhases, error) {
	t0 := time.Now()
	for _, n := range c.nodes {
		if err := n.start(); err != nil {
			return coldPhases{}, err
		}
	}
	ctx, died, cancel := c.watch(ctx, c.plan.Timeout)
	defer cancel()
	ph, err := c.waitReady(ctx, t0, fmt.Sprintf("ready-%d", c.rep))
	if err != nil {
		if d := died(); d != nil {
			return coldPhases{}, d
		}
		return coldPhases{}, fmt.Errorf("not ready after %v: %w", c.plan.Timeout, err)
	}
	return ph, nil
}

// waitReady waits until some node's Metadata lists every node, then until a
// CreateTopics of topic succeeds; the phases are measured from t0.
func (c *cluster) waitReady(ctx context.Context, t0 time.Time, topic string) (coldPhases, error) {
	var ph coldPhases
	var mu sync.Mutex
	want := c.ids()
	_, at, err := race(ctx, c.p, c.addrs(), func(ctx context.Context, addr string, _ int) (struct{}, error) {
		ids, err := c.p.brokers(ctx, addr)
		if err != nil {
			return struct{}{}, err
		}
		mu.Lock()
		if ph.FirstMetadata == 0 {
			ph.FirstMetadata = time.Since(t0)
		}
		mu.Unlock()
		if !hasAll(ids, want) {
			return struct{}{}, fmt.Errorf("Metadata lists brokers %v", ids)
		}
		return struct{}{}, nil
	})
	if err != nil {
		return ph, fmt.Errorf("waiting for %d unfenced brokers: %w", len(want), err)
	}
	ph.AllBrokers = at.Sub(t0)
	_, at, err = race(ctx, c.p, c.addrs(), func(ctx context.Context, addr string, _ int) (struct{}, error) {
		return struct{}{}, c.p.createTopic(ctx, addr, topic, int16(c.plan.RF))
	})
	if err != nil {
		return ph, fmt.Errorf("CreateTopics %s: %w", topic, err)
	}
	ph.Ready = at.Sub(t0)
	return ph, nil
}

// listsAll is nil once Metadata from addr lists every node as a broker.
func (c *cluster) listsAll(ctx context.Context, addr string) error {
	ids, err := c.p.brokers(ctx, addr)
	if err != nil {
		return err
	}
	if !hasAll(ids, c.ids()) {
		return fmt.Errorf("Metadata lists brokers %v", ids)
	}
	return nil
}

// idleMem waits out the idle period, then reads every node's memory.
func (c *cluster) idleMem() ([]memStatus, error) {
	time.Sleep(c.plan.Idle)
	if err := c.exited(); err != nil {
		return nil, err
	}
	var out []memStatus
	for _, n := range c.nodes {
		m, err := readMem(n.pid())
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", n.conf.ID, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// createLatencies times count sequential CreateTopics (one partition, rf
// replicas) from a kadm client, after one untimed warm-up create that
// opens the connections.
func (c *cluster) createLatencies(ctx context.Context, count int) ([]time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs()...), kgo.ClientID("samsa-cluster-bench"))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, c.plan.Timeout+time.Duration(count)*time.Second)
	defer cancel()
	create := func(name string) error {
		r, err := adm.CreateTopic(ctx, 1, int16(c.plan.RF), nil, name)
		if err != nil {
			return err
		}
		return r.Err
	}
	if err := create(fmt.Sprintf("lat-%d-warmup", c.rep)); err != nil {
		return nil, fmt.Errorf("warm-up CreateTopics: %w", err)
	}
	out := make([]time.Duration, 0, count)
	for i := 0; i < count; i++ {
		t0 := time.Now()
		if err := create(fmt.Sprintf("lat-%d-%d", c.rep, i)); err != nil {
			return out, fmt.Errorf("CreateTopics %d: %w", i, err)
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

// failover kills the active controller with SIGKILL and times (a) until
// DescribeQuorum on a survivor names another leader and (b) until a
// CreateTopics (one partition, one replica, so that placement never
// depends on whether the dead broker is fenced yet) through a survivor
// succeeds; then it restarts the killed node and times it until it is back:
// its own listener answers Metadata listing itself and the quorum shows it
// caught up.
func (c *cluster) failover(ctx context.Context, k int) (kr killResult) {
	kr.Killed, kr.NewLeader = -1, -1
	fail := func(format string, args ...any) killResult {
		kr.Error = fmt.Sprintf(format, args...)
		return kr
	}
	ctx, died, cancel := c.watch(ctx, c.plan.Timeout)
	defer cancel()
	q, _, err := race(ctx, c.p, c.addrs(), func(ctx context.Context, addr string, _ int) (quorum, error) {
		q, err := c.p.describeQuorum(ctx, addr)
		if err == nil && q.Leader < 0 {
			err = errors.New("no leader")
		}
		return q, err
	})
	if err != nil {
		return fail("finding the active controller: %v", err)
	}
	victim := c.node(q.Leader)
	if victim == nil {
		return fail("DescribeQuorum names leader %d, not a node of this cluster", q.Leader)
	}
	kr.Killed, kr.OldEpoch = q.Leader, q.Epoch
	survivors := c.addrs(q.Leader)

	t0 := time.Now()
	victim.signalKill()
	var wg sync.WaitGroup
	var electErr, writeErr error
	var electAt, writeAt time.Time
	var nq quorum
	wg.Add(2)
	go func() {
		defer wg.Done()
		nq, electAt, electErr = race(ctx, c.p, survivors, func(ctx context.Context, addr string, _ int) (quorum, error) {
			nq, err := c.p.describeQuorum(ctx, addr)
			if err == nil && (nq.Leader < 0 || nq.Leader == kr.Killed) {
				err = fmt.Errorf("leader %d", nq.Leader)
			}
			return nq, err
		})
	}()
	go func() {
		defer wg.Done()
		_, writeAt, writeErr = race(ctx, c.p, survivors, func(ctx context.Context, addr string, attempt int) (struct{}, error) {
			name := fmt.Sprintf("failover-%d-%d-%s-%d", c.rep, k, addr[strings.LastIndexByte(addr, ':')+1:], attempt)
			return struct{}{}, c.p.createTopic(ctx, addr, name, 1)
		})
	}()
	wg.Wait()
	victim.wait()
	if electErr != nil {
		return fail("no new leader: %v", orDied(electErr, died))
	}
	if writeErr != nil {
		return fail("no metadata write: %v", orDied(writeErr, died))
	}
	kr.Elect, kr.Write = electAt.Sub(t0), writeAt.Sub(t0)
	kr.NewLeader, kr.NewEpoch = nq.Leader, nq.Epoch

	rctx, rdied, rcancel := c.watch(context.Background(), c.plan.Timeout)
	defer rcancel()
	restartMs := time.Now().UnixMilli()
	t1 := time.Now()
	if err := victim.start(); err != nil {
		return fail("restart node %d: %v", victim.conf.ID, err)
	}
	// Its own listener lists it: it has caught up with the metadata log and
	// sees its new registration unfenced.
	_, _, err = race(rctx, c.p, []string{victim.addr()}, func(ctx context.Context, addr string, _ int) (struct{}, error) {
		return struct{}{}, c.listsAll(ctx, addr)
	})
	if err != nil {
		return fail("node %d not serving after restart: %v", victim.conf.ID, orDied(err, rdied))
	}
	_, _, err = race(rctx, c.p, c.addrs(), func(ctx context.Context, addr string, _ int) (struct{}, error) {
		nq, err := c.p.describeQuorum(ctx, addr)
		if err == nil && !nq.rejoined(victim.conf.ID, restartMs) {
			err = fmt.Errorf("node %d not caught up in the quorum (leader %d, high watermark %d)", victim.conf.ID, nq.Leader, nq.HighWatermark)
		}
		return struct{}{}, err
	})
	if err != nil {
		return fail("node %d not back in the quorum: %v", victim.conf.ID, orDied(err, rdied))
	}
	kr.Rejoin = time.Since(t1)
	return kr
}

func orDied(err error, died func() error) error {
	if d := died(); d != nil {
		return d
	}
	return err
}
