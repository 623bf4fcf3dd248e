package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// output is what a finished command left behind.
type output struct {
	stdout, stderr string
	err            error // nil, the exit error, or a timeout
}

// run runs name with args from the repository root, feeding stdin, and kills
// it (and its children) after timeout.
func (e *env) run(timeout time.Duration, stdin string, name string, args ...string) output {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	if e.verbose && se.Len() > 0 {
		fmt.Fprintf(os.Stderr, "--- stderr of %s %s\n%s", filepath.Base(name), strings.Join(args, " "), se.String())
	}
	return output{stdout: so.String(), stderr: se.String(), err: err}
}

// why picks the most telling line of a failed command's output: the first
// line naming an exception or error, else the last non-empty line.
func (o output) why() string {
	lines := strings.Split(strings.TrimSpace(o.stderr+"\n"+o.stdout), "\n")
	// An exception names the Kafka error; an ERROR log line often only says
	// that one follows.
	for _, marker := range []string{"Exception", "ERROR", "Error", "FAIL"} {
		for _, l := range lines {
			if strings.Contains(l, marker) {
				return clip(strings.TrimSpace(l))
			}
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			if o.err != nil {
				return clip(o.err.Error() + ": " + l)
			}
			return clip(l)
		}
	}
	if o.err != nil {
		return o.err.Error()
	}
	return "no output"
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// parseResults reads "RESULT client scenario PASS|FAIL reason" lines.
func parseResults(stdout string) []result {
	var out []result
	for _, l := range strings.Split(stdout, "\n") {
		f := strings.SplitN(strings.TrimSpace(l), " ", 5)
		if len(f) < 4 || f[0] != "RESULT" {
			continue
		}
		r := result{Client: f[1], Scenario: f[2], Pass: f[3] == "PASS"}
		if len(f) == 5 {
			r.Reason = clip(f[4])
		}
		out = append(out, r)
	}
	return out
}

// build builds the client programs and the samsa binary, concurrently (two
// cores: the Java build and the Go builds overlap well).
func (e *env) build(sel []row, wantSamsa bool) (samsaBin, samsaErr string) {
	need := map[string]bool{}
	for _, r := range sel {
		need[r.client] = true
	}
	var wg sync.WaitGroup
	if need["java"] {
		wg.Add(1)
		go func() { defer wg.Done(); e.buildJava() }()
	}
	if need["kafkajs"] {
		wg.Add(1)
		go func() { defer wg.Done(); e.installKafkajs() }()
	}
	// The reference broker and the CLI row need the Kafka jars.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if o := e.run(10*time.Minute, "", "scripts/kafka-reference", "fetch"); o.err != nil {
			logf("kafka-reference fetch failed: %s", o.why())
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.goclients = filepath.Join(e.tmp, "bin", "goclients")
		if o := e.run(10*time.Minute, "", "go", "build", "-o", e.goclients, "./interop/goclients"); o.err != nil {
			fatalf("building interop/goclients: %s\n%s", o.err, o.stderr)
		}
		if wantSamsa {
			samsaBin = filepath.Join(e.tmp, "bin", "samsa")
			if o := e.run(10*time.Minute, "", "go", "build", "-o", samsaBin, "./cmd/samsa"); o.err != nil {
				samsaErr = "go build ./cmd/samsa failed: " + o.why()
			}
		}
	}()
	wg.Wait()
	return samsaBin, samsaErr
}

// buildJava compiles interop/java with Maven unless its classes are newer
// than its sources.
func (e *env) buildJava() {
	dir := filepath.Join(e.root, "interop", "java")
	class := filepath.Join(dir, "target", "classes", "Scenario.class")
	e.javaCP = filepath.Join(dir, "target", "classes") + string(os.PathListSeparator) + filepath.Join(dir, "target", "lib", "*")
	if newer(class, filepath.Join(dir, "pom.xml"), filepath.Join(dir, "src", "main", "java", "Scenario.java")) {
		return
	}
	o := e.run(10*time.Minute, "", "mvn", "-q", "-B", "-Dstyle.color=never", "-f", filepath.Join(dir, "pom.xml"), "compile")
	if o.err != nil {
		e.javaCP, e.javaErr = "", "mvn compile failed: "+o.why()
	}
}

// installKafkajs runs `npm ci` in interop/kafkajs unless node_modules was
// installed from the current package-lock.json (npm writes
// node_modules/.package-lock.json on every install).
func (e *env) installKafkajs() {
	if _, err := exec.LookPath("node"); err != nil {
		e.nodeErr = "node not installed (the kafkajs row needs Node.js 18+ and npm)"
		return
	}
	dir := filepath.Join(e.root, "interop", "kafkajs")
	if newer(filepath.Join(dir, "node_modules", ".package-lock.json"), filepath.Join(dir, "package-lock.json")) {
		return
	}
	o := e.run(5*time.Minute, "", "npm", "ci", "--prefix", dir, "--no-audit", "--no-fund")
	if o.err != nil {
		e.nodeErr = "npm ci in interop/kafkajs failed: " + o.why()
	}
}

// newer reports whether target exists and is newer than every source.
func newer(target string, sources ...string) bool {
	t, err := os.Stat(target)
	if err != nil {
		return false
	}
	for _, s := range sources {
		st, err := os.Stat(s)
		if err != nil || !st.ModTime().Before(t.ModTime()) {
			return false
		}
	}
	return true
}

var errNoKcat = errors.New("kcat not installed (scripts/interop installs it with apt-get)")
