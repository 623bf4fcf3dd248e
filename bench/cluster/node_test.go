package main

import (
	"os"
	"strings"
	"testing"
)

const statusSample = `Name:	java
Umask:	0022
State:	S (sleeping)
Pid:	12912
VmPeak:	 5061380 kB
VmSize:	 4995844 kB
VmHWM:	  413204 kB
VmRSS:	  408812 kB
RssAnon:	  380000 kB
Threads:	98
`

func TestParseStatus(t *testing.T) {
	m, err := parseStatus(strings.NewReader(statusSample))
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 408812*1024 || m.HWM != 413204*1024 {
		t.Errorf("parseStatus = %+v", m)
	}
	for name, bad := range map[string]string{
		"no VmRSS":   "VmHWM:\t1 kB\n",
		"no VmHWM":   "VmRSS:\t1 kB\n",
		"unit":       "VmRSS:\t1 MB\nVmHWM:\t1 kB\n",
		"not number": "VmRSS:\tx kB\nVmHWM:\t1 kB\n",
		"negative":   "VmRSS:\t-1 kB\nVmHWM:\t1 kB\n",
		"empty":      "",
	} {
		if _, err := parseStatus(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The harness's own process has a status file with both figures.
func TestReadMemSelf(t *testing.T) {
	m, err := readMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("own memory %+v: VmHWM must be at least VmRSS", m)
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add(statusSample)
	f.Add("VmRSS:\t1 kB\nVmHWM:\t2 kB\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseStatus(strings.NewReader(s))
		if err == nil && (m.RSS < 0 || m.HWM < 0) {
			t.Errorf("negative sizes accepted: %+v", m)
		}
	})
}

func TestServerProperties(t *testing.T) {
	voters := voterList([]int{9101, 9102, 9103})
	if voters != "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103" {
		t.Errorf("voterList = %q", voters)
	}
	props := serverProperties(nodeConf{ID: 2, Port: 9002, CtlPort: 9102, Dir: "/d/node-2", Voters: voters, Nodes: 3, RF: 3, ISR: 2})
	got := map[string]string{}
	for _, l := range strings.Split(props, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("not a property line: %q", l)
		}
		if _, dup := got[k]; dup {
			t.Errorf("%s set twice", k)
		}
		got[k] = v
	}
	for k, want := range map[string]string{
		"process.roles":                    "broker,controller",
		"node.id":                          "2",
		"controller.quorum.voters":         voters,
		"listeners":                        "PLAINTEXT://127.0.0.1:9002,CONTROLLER://127.0.0.1:9102",
		"advertised.listeners":             "PLAINTEXT://127.0.0.1:9002",
		"controller.listener.names":        "CONTROLLER",
		"listener.security.protocol.map":   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs":                         "/d/node-2/data",
		"default.replication.factor":       "3",
		"offsets.topic.replication.factor": "3",
		"transaction.state.log.min.isr":    "2",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}
