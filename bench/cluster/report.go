package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Results is everything one run measured; the JSON file holds it whole and
// the markdown is rendered from it (again with -from-json).
type Results struct {
	Started      time.Time   `json:"started"`
	Finished     time.Time   `json:"finished"`
	Command      string      `json:"command"`
	Machine      machineInfo `json:"machine"`
	KafkaVersion string      `json:"kafka_version,omitempty"`
	KafkaJVM     string      `json:"kafka_jvm,omitempty"`
	Medium       string      `json:"medium"` // tmpfs or disk
	DataDir      string      `json:"data_dir"`
	FS           string      `json:"fs"`
	Systems      []string    `json:"systems"`
	Reps         int         `json:"reps"`
	Plan         plan        `json:"plan"` // Creates and Kills are totals over the repetitions here
	Runs         []repResult `json:"runs"`
	Errors       []string    `json:"errors,omitempty"`
}

type machineInfo struct {
	CPU        string `json:"cpu"`
	NProc      int    `json:"nproc"`
	MemTotal   string `json:"mem_total"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	Java       string `json:"java"`
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
	SamsaRev   string `json:"samsa_rev"`
}

func gatherMachine() machineInfo {
	m := machineInfo{NProc: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadavg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				m.MemTotal = strings.Join(strings.Fields(l)[1:], " ")
			}
		}
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("java", "-version").CombinedOutput(); err == nil {
		m.Java = strings.TrimSpace(strings.Split(string(out), "\n")[0])
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.SamsaRev = strings.TrimSpace(string(out))
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// fsType names the mount holding dir ("tmpfs (/dev/shm)", "ext4 on
// /dev/vda (/)"), by the longest mount point in /proc/mounts that is a
// prefix of it.
func fsType(dir string) string {
	abs, _ := filepath.Abs(dir)
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "?"
	}
	best, out := -1, "?"
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/") {
			if len(mp) > best {
				best = len(mp)
				if f[2] == "tmpfs" {
					out = "tmpfs (" + mp + ")"
				} else {
					out = f[2] + " on " + f[0] + " (" + mp + ")"
				}
			}
		}
	}
	return out
}

// figures are one system's figures over all its repetitions.
type figures struct {
	ColdStart, Create, Elect, Write, Rejoin summary   // seconds
	FirstMetadata, AllBrokers               summary   // seconds: phases of the cold start
	RSS, HWM                                summary   // bytes, one sample per node and repetition
	NodeRSS, NodeHWM                        []float64 // median per node id (index 0 is node 1)
	Kills, KillErrors, RepErrors            int
}

func computeFigures(runs []repResult, system string) figures {
	var f figures
	var cold, first, all, create, elect, write, rejoin, rss, hwm []float64
	perRSS, perHWM := map[int][]float64{}, map[int][]float64{}
	for _, r := range runs {
		if r.System != system {
			continue
		}
		if r.Error != "" {
			f.RepErrors++
		}
		if r.ColdStart > 0 {
			cold = append(cold, r.ColdStart.Seconds())
		}
		if r.Phases.Ready > 0 {
			first = append(first, r.Phases.FirstMetadata.Seconds())
			all = append(all, r.Phases.AllBrokers.Seconds())
		}
		create = append(create, seconds(r.Creates)...)
		for i, m := range r.Mem {
			rss = append(rss, float64(m.RSS))
			hwm = append(hwm, float64(m.HWM))
			perRSS[i] = append(perRSS[i], float64(m.RSS))
			perHWM[i] = append(perHWM[i], float64(m.HWM))
		}
		for _, k := range r.Kills {
			f.Kills++
			if k.Error != "" {
				f.KillErrors++
				continue
			}
			elect = append(elect, k.Elect.Seconds())
			write = append(write, k.Write.Seconds())
			rejoin = append(rejoin, k.Rejoin.Seconds())
		}
	}
	f.ColdStart, f.Create, f.Elect, f.Write, f.Rejoin = summarize(cold), summarize(create), summarize(elect), summarize(write), summarize(rejoin)
	f.FirstMetadata, f.AllBrokers = summarize(first), summarize(all)
	f.RSS, f.HWM = summarize(rss), summarize(hwm)
	for i := 0; i < len(perRSS); i++ {
		a, _ := percentile(perRSS[i], 50)
		b, _ := percentile(perHWM[i], 50)
		f.NodeRSS, f.NodeHWM = append(f.NodeRSS, a), append(f.NodeHWM, b)
	}
	return f
}

// goal is the target for every figure: samsa at most half of Kafka.
const goal = 0.5

// verdict is "pass" or "**fail** (N× away)" for a ratio against goal.
func verdict(r float64) string {
	switch {
	case math.IsNaN(r):
		return "—"
	case r <= goal:
		return "pass"
	default:
		return fmt.Sprintf("**fail** (%.1f× away)", r/goal)
	}
}

func fmtRatio(r float64) string {
	if math.IsNaN(r) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r)
}

// fmtSeconds prints a duration in seconds with three significant digits,
// in ms below one second.
func fmtSeconds(s float64, n int) string {
	if n == 0 {
		return "—"
	}
	if s < 1 {
		return sigfig(s*1000) + " ms"
	}
	return sigfig(s) + " s"
}

func fmtBytes(b float64, n int) string {
	if n == 0 {
		return "—"
	}
	return sigfig(b/1e6) + " MB"
}

func sigfig(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// renderMarkdown is the docs/bench.md section for res.
func renderMarkdown(res *Results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	kv := res.KafkaVersion
	if kv == "" {
		kv = "(not run)"
	}
	w("## Cluster mode: three combined nodes, samsa vs Apache Kafka %s\n\n", kv)
	w("Generated by `bench/cluster`, %s → %s UTC (%s). samsa revision %s.\n\n",
		res.Started.UTC().Format("2006-01-02 15:04"), res.Finished.UTC().Format("15:04"),
		res.Finished.Sub(res.Started).Round(time.Second), res.Machine.SamsaRev)
	w("Reproduce: `%s`.\n\n", res.Command)
	m := res.Machine
	w("- Machine: %s, **%d cores**, %s RAM; %s; %s; %s. Shared: load average %s before, %s after (per repetition in the JSON).\n",
		m.CPU, m.NProc, m.MemTotal, m.Kernel, m.Go, m.Java, m.LoadBefore, m.LoadAfter)
	w("- Each cluster: %d combined nodes (`process.roles=broker,controller`), a static quorum (`controller.quorum.voters`), PLAINTEXT and CONTROLLER listeners on free loopback ports, the same generated `server.properties` per node for both systems (Kafka's keys), data on %s (`%s`). All nodes and the harness share the machine's cores.\n",
		res.Plan.Nodes, res.FS, res.DataDir)
	if res.KafkaJVM != "" {
		w("- Kafka: `java %s -cp <scripts/kafka-reference classpath> kafka.Kafka server.properties` per node (kafka-server-start.sh's JVM options). samsa: `samsa serve -c server.properties`. Storage formatted before each cold start (not timed).\n", res.KafkaJVM)
	}
	w("- %d repetitions per system, interleaved (the order alternates each repetition); each a fresh cluster: cold start, %s idle, then its share of the %d CreateTopics and the %d kills. Percentiles are nearest-rank over every sample of all repetitions (p99 of 20 kills is the slowest).\n",
		res.Reps, res.Plan.Idle, res.Plan.Creates, res.Plan.Kills)
	w("- **Cold start**: from exec of the three processes to a Metadata response listing all three brokers (KRaft lists only unfenced ones) and a successful CreateTopics (RF %d), probed every %v with one request at a time per node (no client retries or backoff).\n", res.Plan.RF, res.Plan.Interval)
	w("- **CreateTopics**: sequential, one partition, RF %d, from a franz-go kadm client (routed and forwarded as each system does), after an untimed warm-up create.\n", res.Plan.RF)
	w("- **Failover**: the active controller is the leader DescribeQuorum names; SIGKILL it, then probe every survivor concurrently: *new controller* is until DescribeQuorum on a survivor names another leader, *metadata write* until a CreateTopics (RF 1, so placement does not depend on when the dead broker is fenced) through a survivor succeeds. The node is restarted and must be back (its listener lists all brokers and DescribeQuorum shows it caught up) before the next kill; that time is *rejoin*.\n")
	w("- **Idle RSS**: VmRSS and VmHWM (`/proc/PID/status`) of each node after %s idle following the cold start.\n\n", res.Plan.Idle)

	figs := map[string]figures{}
	for _, s := range res.Systems {
		figs[s] = computeFigures(res.Runs, s)
	}
	k, haveK := figs["kafka"]
	s, haveS := figs["samsa"]
	type row struct {
		name string
		pick func(f figures) (float64, int)
		unit func(float64, int) string
		goal bool
	}
	rows := []row{
		{"cold start to ready, p50", func(f figures) (float64, int) { return f.ColdStart.P50, f.ColdStart.N }, fmtSeconds, true},
		{"cold start to ready, p99", func(f figures) (float64, int) { return f.ColdStart.P99, f.ColdStart.N }, fmtSeconds, true},
		{"CreateTopics latency, p50", func(f figures) (float64, int) { return f.Create.P50, f.Create.N }, fmtSeconds, true},
		{"CreateTopics latency, p99", func(f figures) (float64, int) { return f.Create.P99, f.Create.N }, fmtSeconds, true},
		{"new controller after kill -9, p50", func(f figures) (float64, int) { return f.Elect.P50, f.Elect.N }, fmtSeconds, true},
		{"new controller after kill -9, p99", func(f figures) (float64, int) { return f.Elect.P99, f.Elect.N }, fmtSeconds, true},
		{"metadata write after kill -9, p50", func(f figures) (float64, int) { return f.Write.P50, f.Write.N }, fmtSeconds, true},
		{"metadata write after kill -9, p99", func(f figures) (float64, int) { return f.Write.P99, f.Write.N }, fmtSeconds, true},
		{"idle RSS per node (VmRSS, median)", func(f figures) (float64, int) { return f.RSS.P50, f.RSS.N }, fmtBytes, true},
		{"idle peak RSS per node (VmHWM, median)", func(f figures) (float64, int) { return f.HWM.P50, f.HWM.N }, fmtBytes, true},
		{"cold start: first Metadata answer, p50", func(f figures) (float64, int) { return f.FirstMetadata.P50, f.FirstMetadata.N }, fmtSeconds, false},
		{"cold start: every broker in Metadata, p50", func(f figures) (float64, int) { return f.AllBrokers.P50, f.AllBrokers.N }, fmtSeconds, false},
		{"killed node back in the quorum, p50", func(f figures) (float64, int) { return f.Rejoin.P50, f.Rejoin.N }, fmtSeconds, false},
		{"killed node back in the quorum, p99", func(f figures) (float64, int) { return f.Rejoin.P99, f.Rejoin.N }, fmtSeconds, false},
	}
	w("| figure | kafka | samsa | samsa/kafka | goal | verdict |\n|---|---:|---:|---:|---|---|\n")
	var worst struct {
		name string
		r    float64
	}
	for _, r := range rows {
		kv, kn := r.pick(k)
		sv, sn := r.pick(s)
		rt := ratio(sv, kv, haveS && sn > 0, haveK && kn > 0)
		g, v := "≤ 0.5", verdict(rt)
		if !r.goal {
			g, v = "(none)", ""
		} else if !math.IsNaN(rt) && rt > worst.r {
			worst.name, worst.r = r.name, rt
		}
		w("| %s | %s | %s | %s | %s | %s |\n", r.name, r.unit(kv, kn), r.unit(sv, sn), fmtRatio(rt), g, v)
	}
	w("\n")
	if worst.name != "" {
		w("Furthest from the goal: **%s**, samsa/Kafka %.2f× (goal ≤ 0.5×).\n\n", worst.name, worst.r)
	}
	w("Samples: ")
	for i, name := range res.Systems {
		f := figs[name]
		if i > 0 {
			w("; ")
		}
		w("%s %d cold starts, %d CreateTopics, %d kills (%d failed), %d repetitions with errors", name,
			f.ColdStart.N, f.Create.N, f.Kills, f.KillErrors, f.RepErrors)
	}
	w(".\n\n")
	w("Load average (1 min) at the start of each repetition: ")
	for i, name := range res.Systems {
		if i > 0 {
			w("; ")
		}
		var ls []string
		for _, r := range res.Runs {
			if r.System == name {
				one, _, _ := strings.Cut(r.LoadBefore, " ")
				if one == "" {
					one = "?"
				}
				ls = append(ls, one)
			}
		}
		w("%s %s", name, strings.Join(ls, ", "))
	}
	w(".\n\n")
	w("Idle memory per node (median over the repetitions):\n\n| node |")
	for _, name := range res.Systems {
		w(" %s VmRSS | %s VmHWM |", name, name)
	}
	w("\n|---|")
	for range res.Systems {
		w("---:|---:|")
	}
	w("\n")
	for i := 0; i < res.Plan.Nodes; i++ {
		w("| %d |", i+1)
		for _, name := range res.Systems {
			f := figs[name]
			if i < len(f.NodeRSS) {
				w(" %s | %s |", fmtBytes(f.NodeRSS[i], 1), fmtBytes(f.NodeHWM[i], 1))
			} else {
				w(" — | — |")
			}
		}
		w("\n")
	}
	var errs []string
	errs = append(errs, res.Errors...)
	for _, r := range res.Runs {
		if r.Error != "" {
			errs = append(errs, fmt.Sprintf("%s repetition %d: %s", r.System, r.Rep+1, firstLine(r.Error)))
		}
		for i, kr := range r.Kills {
			if kr.Error != "" {
				errs = append(errs, fmt.Sprintf("%s repetition %d kill %d: %s", r.System, r.Rep+1, i+1, firstLine(kr.Error)))
			}
		}
	}
	if len(errs) > 0 {
		w("\nErrors:\n\n")
		for _, e := range slices.Compact(errs) {
			w("- %s\n", e)
		}
	}
	return b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
