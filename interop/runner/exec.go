package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
// cores: the Java builds and the Go builds overlap well). kafkaVersions are
// the broker columns' versions, whose jars are fetched.
func (e *env) build(sel []row, wantSamsa bool, kafkaVersions []string) (samsaBin, samsaErr string) {
	need := map[string]bool{}
	e.java = map[string]*javaBuild{}
	fetch := slices.Clone(kafkaVersions)
	for _, r := range sel {
		need[r.client] = true
		if v := kafkaVersion(r.client, "java"); v != "" {
			e.java[v] = &javaBuild{}
		}
		// The CLI and tools rows run the tools from the reference jars.
		for _, prefix := range []string{"kafka-cli", "kafka-tools"} {
			if v := kafkaVersion(r.client, prefix); v != "" && !slices.Contains(fetch, v) {
				fetch = append(fetch, v)
			}
		}
	}
	var wg sync.WaitGroup
	if len(e.java) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One Maven at a time: two would share ~/.m2 and the two cores.
			for _, v := range slices.Sorted(maps.Keys(e.java)) {
				e.java[v] = e.buildJava(v)
			}
		}()
	}
	if need["kafkajs"] {
		wg.Add(1)
		go func() { defer wg.Done(); e.installKafkajs() }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, v := range fetch {
			if o := e.run(10*time.Minute, "", "scripts/kafka-reference", "--version", v, "fetch"); o.err != nil {
				logf("kafka-reference --version %s fetch failed: %s", v, o.why())
			}
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

// javaBuild is interop/java compiled against one kafka-clients version.
type javaBuild struct {
	cp  string // classpath; "" if the build failed
	err string
}

// buildJava compiles interop/java against kafka-clients version (into
// interop/java/target/kafka-VERSION) with Maven, unless its classes are
// newer than its sources.
func (e *env) buildJava(version string) *javaBuild {
	dir := filepath.Join(e.root, "interop", "java")
	out := filepath.Join(dir, "target", "kafka-"+version)
	class := filepath.Join(out, "classes", "Scenario.class")
	b := &javaBuild{cp: filepath.Join(out, "classes") + string(os.PathListSeparator) + filepath.Join(out, "lib", "*")}
	if newer(class, filepath.Join(dir, "pom.xml"), filepath.Join(dir, "src", "main", "java", "Scenario.java")) {
		return b
	}
	o := e.run(10*time.Minute, "", "mvn", "-q", "-B", "-Dstyle.color=never", "-Dkafka.version="+version,
		"-f", filepath.Join(dir, "pom.xml"), "compile")
	if o.err != nil {
		return &javaBuild{err: "mvn compile -Dkafka.version=" + version + " failed: " + o.why()}
	}
	return b
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
