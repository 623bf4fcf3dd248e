package e2e

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestREADME runs the shell commands of README.md exactly as written, in
// README order, the way a new user would: in a copy of the repository for
// the commands that build or run from source, and in a fresh directory with
// the README-built `samsa` on PATH for the rest, against the real `samsa`
// processes they start (or, for the CLI, the `samsa` the README says to have
// running). Each command has an entry in readmeSteps saying what it must do;
// a README command without one, or an entry the README lost, fails the
// test, so the two stay in step. The only commands not run are in
// readmeNotRun, with the reason.
//
// The commands use the README's fixed ports (9092, 9093, 8388, 1080 on
// 127.0.0.1); the test fails at once, naming the port, if one is taken.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds, files := readmeBlocks(string(readme))
	for _, c := range cmds {
		_, run := readmeSteps[c.key]
		_, skip := readmeNotRun[c.key]
		if !run && !skip {
			t.Errorf("README command %q has no entry in readmeSteps or readmeNotRun", c.key)
		}
	}
	for key := range readmeSteps {
		if !slices.ContainsFunc(cmds, func(c readmeCmd) bool { return c.key == key }) {
			t.Errorf("readmeSteps has %q, which the README no longer has", key)
		}
	}
	for key := range readmeNotRun {
		if !slices.ContainsFunc(cmds, func(c readmeCmd) bool { return c.key == key }) {
			t.Errorf("readmeNotRun has %q, which the README no longer has", key)
		}
	}
	if t.Failed() {
		return
	}
	for _, port := range []int{9092, 9093, 8388, 1080} {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("the README's commands need 127.0.0.1:%d, which is in use here: %v", port, err)
		}
		ln.Close()
	}

	r := &readmeRun{t: t, repo: copyRepo(t), work: t.TempDir(), bin: t.TempDir()}
	r.env = append(cleanEnv(), "PATH="+r.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(r.work, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defer r.stopAll()
	for _, c := range cmds {
		if why, skip := readmeNotRun[c.key]; skip {
			t.Logf("not run: %s (%s)", c.line, why)
			continue
		}
		st := readmeSteps[c.key]
		t.Logf("$ %s", c.line)
		if st.broker && r.broker == nil {
			r.broker = r.daemon(readmeCmd{line: "samsa", key: "samsa"}, readmeStep{ready: kafkaReady}, r.work)
		}
		dir := r.work
		if st.repo {
			dir = r.repo
		}
		if st.daemon {
			d := r.daemon(c, st, dir)
			if st.check != nil {
				st.check(r, d.out.String(), d.errb.String())
			}
			if !st.keep {
				r.stop(d, st)
			}
		} else {
			out, errb := r.run(c, st, dir)
			if st.check != nil {
				st.check(r, out, errb)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// readmeStep is how one README command runs and what it must do.
type readmeStep struct {
	repo   bool // runs in (a copy of) the repository, not in the user's directory
	broker bool // needs `samsa` running (the README's "With samsa running")
	daemon bool // serves until stopped: started, checked while it runs, stopped
	keep   bool // a daemon left running for the commands after it
	// ready reports when a daemon has started (its output so far is given).
	ready func(r *readmeRun, out string) bool
	// signal stops a daemon (SIGINT, Ctrl-C, unless set).
	signal syscall.Signal
	// goRun: the daemon is `go run`, which exits 1 after an interrupt
	// whatever its program does (cmd/go's rule); samsa's own log must show
	// the clean stop instead.
	goRun   bool
	timeout time.Duration // for a command to finish or a daemon to be ready (default 60s)
	// check asserts what the command did, given its stdout and stderr.
	check func(r *readmeRun, stdout, stderr string)
}

// readmeNotRun are the README commands the test does not run, and why.
var readmeNotRun = map[string]string{
	"./scripts/test": "the whole test suite, this test included: CI (.ci/run) and the lead run it",
}

var readmeSteps = map[string]readmeStep{
	"go run ./cmd/samsa": {repo: true, daemon: true, goRun: true, ready: kafkaReady, timeout: 10 * time.Minute, check: func(r *readmeRun, _, _ string) {
		r.roundTrip("readme-hello")
		r.exists(filepath.Join(r.repo, "samsa-data", "meta.properties"))
	}},
	"CGO_ENABLED=0 go build -o samsa ./cmd/samsa": {repo: true, timeout: 10 * time.Minute, check: func(r *readmeRun, _, _ string) {
		bin := filepath.Join(r.repo, "samsa")
		f, err := elf.Open(bin)
		if err != nil {
			r.t.Fatal(err)
		}
		libs, _ := f.ImportedLibraries()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				r.t.Errorf("%s is dynamically linked (it has an interpreter)", bin)
			}
		}
		f.Close()
		if len(libs) > 0 {
			r.t.Errorf("%s needs shared libraries %v", bin, libs)
		}
		// "put it on your PATH": the rest of the README uses this binary.
		data, err := os.ReadFile(bin)
		if err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.bin, "samsa"), data, 0o755); err != nil {
			r.t.Fatal(err)
		}
	}},
	"KAFKA_NUM_PARTITIONS=3 samsa serve": {daemon: true, ready: kafkaReady, check: func(r *readmeRun, _, _ string) {
		if n := r.roundTrip("readme-three"); n != 3 {
			r.t.Errorf("a topic created on first use has %d partitions, want 3", n)
		}
		r.exists(filepath.Join(r.work, "samsa-data", "meta.properties"))
	}},
	"samsa serve --override log.dirs=./data": {daemon: true, ready: kafkaReady, check: func(r *readmeRun, _, _ string) {
		r.roundTrip("readme-data")
		r.exists(filepath.Join(r.work, "data", "meta.properties"))
	}},
	`samsa storage format -t "$(samsa storage random-uuid)" -c server.properties`: {check: func(r *readmeRun, _, _ string) {
		props, err := os.ReadFile(filepath.Join(r.work, "kafka-data", "meta.properties"))
		if err != nil {
			r.t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^cluster\.id=([A-Za-z0-9_-]{22})$`).FindSubmatch(props)
		if m == nil {
			r.t.Fatalf("kafka-data/meta.properties has no cluster id:\n%s", props)
		}
		r.clusterID = string(m[1])
	}},
	"samsa serve -c server.properties": {daemon: true, ready: kafkaReady, check: func(r *readmeRun, _, _ string) {
		if n := r.roundTrip("readme-file"); n != 1 {
			r.t.Errorf("a topic created on first use has %d partitions, want Kafka's default 1", n)
		}
		md, err := kadm.NewClient(r.client()).Metadata(r.ctx(), "readme-file")
		if err != nil || md.Cluster != r.clusterID || r.clusterID == "" {
			r.t.Errorf("cluster id %q, formatted %q (%v)", md.Cluster, r.clusterID, err)
		}
	}},
	"samsa topic create -topic orders -partitions 3 -config retention.ms=86400000": {broker: true, check: func(r *readmeRun, out, _ string) {
		want(r.t, out, "created topic orders (3 partitions, replication factor 1")
	}},
	`printf 'k1:v1\nk2:v2\n' | samsa produce -topic orders -key-separator :`: {broker: true, check: func(r *readmeRun, _, errb string) {
		want(r.t, errb, "2 records produced, 0 failed")
	}},
	`samsa consume -topic orders -from earliest -n 2 -format '%k=%v @%o\n'`: {broker: true, check: func(r *readmeRun, out, _ string) {
		// k1 and k2 go to different partitions (murmur2), each at offset 0.
		if got := sortedLines(out); !slices.Equal(got, []string{"k1=v1 @0", "k2=v2 @0"}) {
			r.t.Errorf("output %q", out)
		}
	}},
	"samsa consume -topic orders -group billing -json": {broker: true, daemon: true, signal: syscall.SIGTERM,
		ready: func(r *readmeRun, out string) bool { return strings.Count(out, "\n") >= 2 },
		check: func(r *readmeRun, out, _ string) {
			var keys []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				var rec struct{ Topic, Key, Value string }
				if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Topic != "orders" {
					r.t.Errorf("line %q: %v", l, err)
				}
				keys = append(keys, rec.Key+":"+rec.Value)
			}
			sort.Strings(keys)
			if !slices.Equal(keys, []string{"k1:v1", "k2:v2"}) {
				r.t.Errorf("records %q", keys)
			}
		}},
	"samsa topic list; samsa topic describe -topic orders; samsa cluster": {broker: true, check: func(r *readmeRun, out, _ string) {
		want(r.t, out, "orders", "topic orders  id ", "partitions 3", "retention.ms=86400000", "controller 1  brokers 1")
	}},
	"samsa group list; samsa group describe -group billing": {broker: true, check: func(r *readmeRun, out, _ string) {
		// SIGTERM made the member commit and leave.
		want(r.t, out, "billing", "0 members", "total lag 0")
	}},
	"samsa group reset-offsets -group billing -topic orders -to earliest -execute": {broker: true, check: func(r *readmeRun, out, _ string) {
		want(r.t, out, "committed")
	}},
	"samsa bench produce -topic bench -num-records 1000000 -record-size 100": {broker: true, timeout: 5 * time.Minute, check: func(r *readmeRun, out, _ string) {
		want(r.t, out, "1000000 records sent")
	}},
	"samsa bench consume -topic bench": {broker: true, timeout: 5 * time.Minute, check: func(r *readmeRun, out, _ string) {
		want(r.t, out, "1000000 records read (")
	}},
	`export SAMSA_TUNNEL_KEY="$(samsa tunnel genkey)"`: {check: func(r *readmeRun, _, _ string) {
		if !slices.ContainsFunc(r.env, func(kv string) bool { return strings.HasPrefix(kv, "SAMSA_TUNNEL_KEY=") && len(kv) > 30 }) {
			r.t.Errorf("SAMSA_TUNNEL_KEY not exported")
		}
	}},
	"samsa tunnel server -listen 127.0.0.1:8388 -allow 127.0.0.1:9092": {broker: true, daemon: true, keep: true, ready: listening("127.0.0.1:8388")},
	"samsa tunnel local -server 127.0.0.1:8388":                        {broker: true, daemon: true, keep: true, ready: listening("127.0.0.1:1080")},
	"samsa consume -proxy socks5://127.0.0.1:1080 -topic orders -n 2": {broker: true, check: func(r *readmeRun, out, _ string) {
		if got := sortedLines(out); !slices.Equal(got, []string{"v1", "v2"}) {
			r.t.Errorf("through the tunnel: %q", out)
		}
	}},
}

// readmeCmd is one command line of a sh block: line as written, key
// without its trailing comment.
type readmeCmd struct{ line, key string }

// readmeBlocks returns the lines of the README's ```sh blocks and the
// files of its ```properties blocks (named by their first line, "# name").
func readmeBlocks(md string) ([]readmeCmd, map[string]string) {
	var cmds []readmeCmd
	files := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(md))
	lang, file := "", ""
	var body strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if fence, ok := strings.CutPrefix(line, "```"); ok {
			if lang == "" && fence != "" {
				lang, file = fence, ""
				body.Reset()
				continue
			}
			if lang == "properties" && file != "" {
				files[file] = body.String()
			}
			lang = ""
			continue
		}
		switch lang {
		case "sh":
			if strings.TrimSpace(line) != "" {
				cmds = append(cmds, readmeCmd{line: line, key: stripComment(line)})
			}
		case "properties":
			if name, ok := strings.CutPrefix(line, "# "); ok && body.Len() == 0 && file == "" {
				file = strings.TrimSpace(name)
			}
			body.WriteString(line + "\n")
		}
	}
	return cmds, files
}

// stripComment drops a trailing shell comment (a # after a blank, outside
// quotes) and the blanks before it.
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '#' && i > 0 && (line[i-1] == ' ' || line[i-1] == '\t'):
			return strings.TrimSpace(line[:i])
		}
	}
	return strings.TrimSpace(line)
}

// readmeRun is one run of the README: the user's directory, the shell's
// exported environment and the processes still running.
type readmeRun struct {
	t         *testing.T
	repo      string // a copy of the repository
	work      string // the user's directory
	bin       string // on PATH: the README-built samsa
	env       []string
	broker    *readmeDaemon // the `samsa` of "With samsa running"
	daemons   []*readmeDaemon
	clusterID string // formatted by `samsa storage format`
	cl        *kgo.Client
}

type readmeDaemon struct {
	cmd       *exec.Cmd
	line      string
	out, errb syncBuffer
	exited    chan struct{}
	err       error
}

// shell runs line with bash in dir, as typed at a prompt: `set -e` and
// pipefail so any failing part fails the line, the session's exported
// variables, and its own process group (so a signal reaches the whole
// pipeline, as a terminal's would). envOut, if set, receives the exported
// environment afterwards.
func (r *readmeRun) shell(line, dir, envOut string) *exec.Cmd {
	script := "set -eo pipefail\n" + line + "\n"
	if envOut != "" {
		script += "env -0 > " + envOut + "\n"
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir, cmd.Env = dir, r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs a command to completion and returns its stdout and stderr; it
// must exit 0. Variables it exports stay for the next commands.
func (r *readmeRun) run(c readmeCmd, st readmeStep, dir string) (string, string) {
	r.t.Helper()
	envFile := filepath.Join(r.t.TempDir(), "env")
	cmd := r.shell(c.line, dir, envFile)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			r.t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", c.line, err, out.String(), errb.String())
		}
	case <-time.After(orDefault(st.timeout)):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		r.t.Fatalf("%s did not finish in %v\nstdout:\n%s\nstderr:\n%s", c.line, orDefault(st.timeout), out.String(), errb.String())
	}
	if env, err := os.ReadFile(envFile); err == nil {
		r.env = strings.Split(strings.TrimSuffix(string(env), "\x00"), "\x00")
	}
	return out.String(), errb.String()
}

// daemon starts a command that serves until stopped and waits until it is
// ready.
func (r *readmeRun) daemon(c readmeCmd, st readmeStep, dir string) *readmeDaemon {
	r.t.Helper()
	d := &readmeDaemon{cmd: r.shell(c.line, dir, ""), line: c.line, exited: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.errb
	if err := d.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.exited) }()
	r.daemons = append(r.daemons, d)
	deadline := time.Now().Add(orDefault(st.timeout))
	for !st.ready(r, d.out.String()) {
		select {
		case <-d.exited:
			r.t.Fatalf("%s exited at start: %v\nstdout:\n%s\nstderr:\n%s", c.line, d.err, d.out.String(), d.errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s not ready after %v\nstdout:\n%s\nstderr:\n%s", c.line, orDefault(st.timeout), d.out.String(), d.errb.String())
		}
	}
	return d
}

// stop signals a daemon's process group (SIGINT, Ctrl-C, by default) and
// requires a clean exit.
func (r *readmeRun) stop(d *readmeDaemon, st readmeStep) {
	r.t.Helper()
	sig := st.signal
	if sig == 0 {
		sig = syscall.SIGINT
	}
	r.daemons = slices.DeleteFunc(r.daemons, func(x *readmeDaemon) bool { return x == d })
	if r.cl != nil { // a client of this server: the next one is another
		r.cl.Close()
		r.cl = nil
	}
	syscall.Kill(-d.cmd.Process.Pid, sig)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.exited
		r.t.Errorf("%s did not stop on %v", d.line, sig)
	}
	clean := d.err == nil
	if st.goRun {
		clean = strings.Contains(d.errb.String(), `msg="shutting down" signal=interrupt`) && !strings.Contains(d.errb.String(), "level=ERROR")
	}
	if !clean {
		r.t.Errorf("%s exited with %v after %v\nstdout:\n%s\nstderr:\n%s", d.line, d.err, sig, d.out.String(), d.errb.String())
	}
	if strings.Contains(d.errb.String(), "panic:") {
		r.t.Errorf("%s panicked:\n%s", d.line, d.errb.String())
	}
}

// stopAll stops what is still running, the last started first.
func (r *readmeRun) stopAll() {
	for len(r.daemons) > 0 {
		r.stop(r.daemons[len(r.daemons)-1], readmeStep{})
	}
}

func (r *readmeRun) ctx() context.Context { return ctxT(r.t, 30*time.Second) }

func (r *readmeRun) client() *kgo.Client {
	if r.cl == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:9092"), kgo.AllowAutoTopicCreation())
		if err != nil {
			r.t.Fatal(err)
		}
		r.cl = cl
	}
	return r.cl
}

// roundTrip produces a record to topic (created on first use) and reads it
// back, returning the topic's partition count.
func (r *readmeRun) roundTrip(topic string) int {
	r.t.Helper()
	cl, ctx := r.client(), r.ctx()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("hello")}).FirstErr(); err != nil {
		r.t.Fatalf("produce to %s: %v", topic, err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:9092"), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cons.Close()
	fs := cons.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil || len(fs.Records()) != 1 || string(fs.Records()[0].Value) != "hello" {
		r.t.Fatalf("read back from %s: %v %v", topic, fs.Errors(), fs.Records())
	}
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		r.t.Fatal(err)
	}
	return len(md.Topics[topic].Partitions)
}

func (r *readmeRun) exists(path string) {
	r.t.Helper()
	if _, err := os.Stat(path); err != nil {
		r.t.Errorf("%v", err)
	}
}

// kafkaReady: the README's broker answers on 127.0.0.1:9092.
func kafkaReady(*readmeRun, string) bool { return apiVersionsOK("127.0.0.1:9092") }

func listening(addr string) func(*readmeRun, string) bool {
	return func(*readmeRun, string) bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
}

func want(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return lines
}

func orDefault(d time.Duration) time.Duration {
	if d == 0 {
		return 60 * time.Second
	}
	return d
}

// copyRepo copies the repository's files (not .git, nor what builds and
// runs leave in it) to a temporary directory, so the README's build and run
// commands work there as on a fresh checkout.
func copyRepo(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	skip := map[string]bool{".git": true, "bin": true, "samsa-data": true, "samsa": true}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel != "." && !strings.Contains(rel, string(filepath.Separator)) && skip[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		info, err := in.Stat()
		if err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "go.mod")); err != nil {
		t.Fatalf("the copy of the repository has no go.mod: %v", err)
	}
	return dst
}
