package samsatest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// roundTrip sends one request on a fresh connection and decodes the
// response (request header v1 or v2, response header v0: ApiVersions'
// rule).
func roundTrip(t *testing.T, addr string, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	body := []byte{0, 0, 0, 0}
	body = binary.BigEndian.AppendUint16(body, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
	body = binary.BigEndian.AppendUint32(body, 7)
	client := "samsatest"
	body = binary.BigEndian.AppendUint16(body, uint16(len(client)))
	body = append(body, client...)
	if req.IsFlexible() {
		body = append(body, 0) // no tagged fields (request header v2)
	}
	body = req.AppendTo(body)
	binary.BigEndian.PutUint32(body, uint32(len(body)-4))
	if _, err := nc.Write(body); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	var n uint32
	if err := binary.Read(br, binary.BigEndian, &n); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		t.Fatal(err)
	}
	if corr := binary.BigEndian.Uint32(buf); corr != 7 {
		t.Fatalf("correlation id %d, want 7", corr)
	}
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(buf[4:]); err != nil {
		t.Fatal(err)
	}
}

// The node accessors a Go user reaches for: each node's logger lines carry
// its node.id, its directory holds the formatted log dir, its controller
// address answers on the CONTROLLER listener, and Running follows Kill and
// Restart.
func TestClusterNodeAccessors(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c := samsatest.StartCluster(t, 3, samsatest.ClusterLogger(logger))
	for _, nd := range c.Nodes() {
		if _, err := os.Stat(filepath.Join(nd.Dir(), "meta.properties")); err != nil {
			t.Errorf("node %d: %v", nd.ID, err)
		}
		if !strings.Contains(logs.String(), fmt.Sprintf("node.id=%d", nd.ID)) {
			t.Errorf("no log line names node.id=%d", nd.ID)
		}
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "samsatest", "1"
		resp := kmsg.NewPtrApiVersionsResponse()
		roundTrip(t, nd.ControllerAddr(), req, resp)
		if resp.ErrorCode != 0 {
			t.Fatalf("node %d controller listener: ApiVersions error %d", nd.ID, resp.ErrorCode)
		}
		var raft bool
		for _, k := range resp.ApiKeys {
			if k.ApiKey == int16(kmsg.DescribeQuorum) {
				raft = true
			}
		}
		if !raft {
			t.Errorf("node %d controller listener does not list DescribeQuorum", nd.ID)
		}
	}
	nd := c.Node(2)
	if !nd.Running() {
		t.Fatal("node 2 not running after StartCluster")
	}
	nd.Kill()
	if nd.Running() {
		t.Fatal("node 2 running after Kill")
	}
	if err := nd.Restart(); err != nil {
		t.Fatal(err)
	}
	if !nd.Running() {
		t.Fatal("node 2 not running after Restart")
	}
}

// The last node of a cluster stopping (its peers are gone, so there is no
// controller to hand leaderships to) stops after two election timeouts
// instead of waiting out the caller's whole grace period.
func TestClusterLastNodeStops(t *testing.T) {
	c := samsatest.StartCluster(t, 3)
	c.Node(2).Kill()
	c.Node(3).Kill()
	start := time.Now()
	stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.Node(1).Stop(stopCtx)
	took := time.Since(start)
	if stopCtx.Err() != nil {
		t.Fatalf("Stop waited out its whole context (%v): %v", took, err)
	}
	// Two election timeouts (1 s each) plus the heartbeat in flight.
	if took > 8*time.Second {
		t.Fatalf("Stop took %v with no controller alive", took)
	}
	if c.Node(1).Running() {
		t.Fatal("node 1 still running")
	}
}
