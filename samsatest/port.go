package samsatest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
)

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// FreePort returns a loopback TCP port that is free now and that this
// process has not handed out before. It is chosen below the kernel's
// ephemeral range (net.ipv4.ip_local_port_range), so a node restarted on
// the same port does not find it taken by some connection's local end
// while it was down; only when that fails does it fall back to a port the
// kernel picks.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	low := ephemeralLow()
	const floor = 20000
	for try := 0; low-floor > 1000 && try < 200; try++ {
		port := floor + rand.IntN(low-floor)
		if portsUsed[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		portsUsed[port] = true
		return port, nil
	}
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !portsUsed[port] {
			portsUsed[port] = true
			return port, nil
		}
	}
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default 32768 where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 {
		return 32768
	}
	return lo
}
