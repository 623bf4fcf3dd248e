package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The topology: a Linux bridge in a namespace of its own, one network
// namespace per node joined to it by a veth pair, and one more veth pair
// from the root namespace (holding the host address) to the bridge.
// Clients run in the root namespace and reach the nodes through the
// bridge. The bridge has its own namespace because bridged frames pass the
// FORWARD chain of the bridge's namespace when br_netfilter is loaded, and
// the root namespace's firewall (Docker's sets FORWARD to DROP) is not the
// harness's to change. Faults are iptables rules inside the node
// namespaces, so they cut node-to-node traffic only and nothing leaves the
// subnet.
//
// Every name the harness creates starts with a fixed prefix, and one run
// at a time holds lockPath: a run that finds names with the prefix while
// holding the lock knows they are leftovers of a crashed run and removes
// them (killing the processes inside the namespaces first).
const (
	nsPrefix   = "samsa-chaos-" // every namespace
	bridgeNS   = nsPrefix + "br"
	bridgeName = "schbr0"
	hostLink   = "schh0" // the root namespace's end of its veth to the bridge
	hostPeer   = "schhp" // the bridge namespace's end
	vethPrefix = "schv"  // bridge-side veth ends: schv1, ...
	peerPrefix = "schp"  // node-side ends before the rename to eth0
	subnet     = "10.77.14."
	hostIP     = subnet + "1"
	lockPath   = "/run/samsa-chaos.lock"
)

func nsName(id int32) string { return fmt.Sprintf("%sn%d", nsPrefix, id) }

// NodeIP is node id's address on the bridge.
func NodeIP(id int32) string { return fmt.Sprintf("%s%d", subnet, 10+id) }

// Probe checks what the harness needs: root, the ip command with network
// namespaces, and iptables. The error names everything missing.
func Probe() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the harness creates network namespaces; run as uid 0)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "the ip command (Debian package iproute2)")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		missing = append(missing, "the iptables command (Debian package iptables: apt-get install iptables)")
	}
	if len(missing) == 0 {
		// Namespaces and iptables inside one: create a scratch namespace,
		// named by the process (Probe runs outside the run lock; a run's
		// teardown leaves a live process's probe namespace alone).
		ns := probeNS(os.Getpid())
		_ = run("ip", "netns", "del", ns)
		if err := run("ip", "netns", "add", ns); err != nil {
			missing = append(missing, "network namespaces (ip netns add: "+err.Error()+")")
		} else {
			if err := run("ip", "netns", "exec", ns, "iptables", "-w", "-A", "INPUT", "-s", subnet+"250", "-j", "DROP"); err != nil {
				missing = append(missing, "iptables inside a network namespace ("+err.Error()+")")
			}
			_ = run("ip", "netns", "del", ns)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("chaos harness: missing %s", strings.Join(missing, "; "))
	}
	return nil
}

// run runs a command and returns its output in the error on failure.
func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

func output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// lock takes the harness's run lock, waiting up to wait for another run.
func lock(wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("chaos harness: another run holds %s: %v", lockPath, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Leftovers lists the namespaces, and the links in the root namespace,
// with the harness's prefixes that exist now.
func Leftovers() (namespaces, links []string, err error) {
	out, err := output("ip", "netns", "list")
	if err != nil {
		return nil, nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], nsPrefix) && !liveProbe(f[0]) {
			namespaces = append(namespaces, f[0])
		}
	}
	out, err = output("ip", "-o", "link", "show")
	if err != nil {
		return nil, nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if name == bridgeName || name == hostLink || name == hostPeer || isNumbered(name, vethPrefix) || isNumbered(name, peerPrefix) {
			links = append(links, name)
		}
	}
	return namespaces, links, nil
}

func probeNS(pid int) string { return fmt.Sprintf("%sprobe-%d", nsPrefix, pid) }

// liveProbe reports whether namespace ns is the probe namespace of a
// process that exists (another process's Probe in progress).
func liveProbe(ns string) bool {
	rest, ok := strings.CutPrefix(ns, nsPrefix+"probe-")
	if !ok {
		return false
	}
	pid, err := strconv.Atoi(rest)
	return err == nil && pid > 0 && syscall.Kill(pid, 0) == nil
}

func isNumbered(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" {
		return false
	}
	_, err := strconv.Atoi(rest)
	return err == nil
}

// nsPids lists the processes running in namespace ns.
func nsPids(ns string) []int {
	out, err := output("ip", "netns", "pids", ns)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// teardown removes every namespace and link with the harness's prefixes,
// killing the processes inside the namespaces first. It is how a run ends
// and how the next run cleans up after a crashed one.
func teardown() error {
	namespaces, links, err := Leftovers()
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range namespaces {
		for _, pid := range nsPids(ns) {
			// Resume a paused process so it can die.
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
		waitGone(nsPids, ns, 10*time.Second)
		if err := run("ip", "netns", "del", ns); err != nil && nsExists(ns) {
			errs = append(errs, err)
		}
	}
	for _, l := range links {
		if err := run("ip", "link", "del", l); err != nil && linkExists(l) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func waitGone(pids func(string) []int, ns string, d time.Duration) {
	deadline := time.Now().Add(d)
	for len(pids(ns)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

func linkExists(name string) bool { return run("ip", "link", "show", name) == nil }

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}

// setupNetwork creates the bridge and one namespace per node id.
func setupNetwork(ids []int32) error {
	br := []string{"ip", "-n", bridgeNS}
	cmds := [][]string{
		{"ip", "netns", "add", bridgeNS},
		append(br, "link", "add", bridgeName, "type", "bridge"),
		append(br, "link", "set", bridgeName, "up"),
		{"ip", "link", "add", hostLink, "type", "veth", "peer", "name", hostPeer},
		{"ip", "link", "set", hostPeer, "netns", bridgeNS},
		append(br, "link", "set", hostPeer, "master", bridgeName),
		append(br, "link", "set", hostPeer, "up"),
		{"ip", "addr", "add", hostIP + "/24", "dev", hostLink},
		{"ip", "link", "set", hostLink, "up"},
	}
	for _, id := range ids {
		ns := nsName(id)
		veth, peer := fmt.Sprintf("%s%d", vethPrefix, id), fmt.Sprintf("%s%d", peerPrefix, id)
		cmds = append(cmds,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "link", "add", veth, "type", "veth", "peer", "name", peer},
			[]string{"ip", "link", "set", veth, "netns", bridgeNS},
			append(br, "link", "set", veth, "master", bridgeName),
			append(br, "link", "set", veth, "up"),
			[]string{"ip", "link", "set", peer, "netns", ns},
			[]string{"ip", "-n", ns, "link", "set", peer, "name", "eth0"},
			[]string{"ip", "-n", ns, "addr", "add", NodeIP(id) + "/24", "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
		)
	}
	for _, c := range cmds {
		if err := run(c[0], c[1:]...); err != nil {
			return fmt.Errorf("chaos harness: network setup: %w", err)
		}
	}
	return nil
}

// Network faults compose: each fault's drop rules live in a chain of its
// own (faultChain) in the filter table of every node namespace it touches,
// entered by one jump from INPUT. Healing a fault unhooks and deletes its
// chain only, so faults that overlap (a partition during a one-way drop)
// leave each other's rules alone; heal-all flushes every chain and deletes
// every harness chain (healArgs).

// Drop is one direction of a cut: node To drops every packet from node
// From (To neither receives From's data nor its acknowledgements).
type Drop struct{ From, To int32 }

// faultChain names the chain of the harness's n-th network fault of a run.
func faultChain(n int) string { return fmt.Sprintf("samsa-f%d", n) }

// dropArgs are the iptables argument lists that make a node drop packets
// from the nodes from, in chain: the chain is created and filled before
// INPUT jumps to it, so the rules take effect together.
func dropArgs(chain string, from []int32) [][]string {
	cmds := [][]string{{"-N", chain}}
	for _, f := range from {
		cmds = append(cmds, []string{"-A", chain, "-s", NodeIP(f), "-j", "DROP"})
	}
	return append(cmds, []string{"-I", "INPUT", "-j", chain})
}

// undropArgs remove chain: the jump first, then its rules, then the chain.
func undropArgs(chain string) [][]string {
	return [][]string{{"-D", "INPUT", "-j", chain}, {"-F", chain}, {"-X", chain}}
}

// healArgs remove every rule and every user chain of a node's filter table.
func healArgs() [][]string { return [][]string{{"-F"}, {"-X"}} }

// byTarget groups drops by the node that drops, in order of first
// appearance, each node's sources in order.
func byTarget(drops []Drop) (to []int32, from map[int32][]int32) {
	from = map[int32][]int32{}
	for _, d := range drops {
		if _, ok := from[d.To]; !ok {
			to = append(to, d.To)
		}
		if !slices.Contains(from[d.To], d.From) {
			from[d.To] = append(from[d.To], d.From)
		}
	}
	return to, from
}

// iptables runs each argument list in node id's namespace; with all, it
// goes on after a failure (to undo as much as it can) and returns every
// error, else it stops at the first.
func iptables(id int32, cmds [][]string, all bool) error {
	var errs []error
	for _, c := range cmds {
		args := append([]string{"netns", "exec", nsName(id), "iptables", "-w"}, c...)
		if err := run("ip", args...); err != nil {
			errs = append(errs, err)
			if !all {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// healNet removes every drop rule and harness chain in node id's namespace.
func healNet(id int32) error { return iptables(id, healArgs(), true) }

// dropRules counts the drop rules in node id's namespace, in every chain.
func dropRules(id int32) (int, error) {
	out, err := output("ip", "netns", "exec", nsName(id), "iptables", "-w", "-S")
	if err != nil {
		return 0, err
	}
	return strings.Count(out, "-j DROP"), nil
}
