package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/internal/config"
)

func TestStorageCLI(t *testing.T) {
	var out, errb bytes.Buffer
	if code := storageMain([]string{"random-uuid"}, &out, &errb); code != 0 {
		t.Fatalf("random-uuid exit %d: %s", code, errb.String())
	}
	id := strings.TrimSpace(out.String())
	if err := config.ValidateClusterID(id); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "server.properties")
	os.WriteFile(cfg, []byte(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
controller.listener.names=CONTROLLER
log.dirs=`+data+"\n"), 0o644)

	out.Reset()
	errb.Reset()
	if code := storageMain([]string{"format", "-t", id, "-c", cfg, "--standalone"}, &out, &errb); code != 0 {
		t.Fatalf("format exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "Formatting metadata directory "+data+" with metadata.version") {
		t.Errorf("format output %q", out.String())
	}
	// Second format fails without --ignore-formatted, succeeds with it.
	errb.Reset()
	if code := storageMain([]string{"format", "--cluster-id", id, "--config", cfg}, &out, &errb); code == 0 ||
		!strings.Contains(errb.String(), "already formatted") {
		t.Errorf("reformat exit %d: %s", code, errb.String())
	}
	if code := storageMain([]string{"format", "--cluster-id=" + id, "--config=" + cfg, "--ignore-formatted"}, &out, &errb); code != 0 {
		t.Errorf("ignore-formatted exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := storageMain([]string{"info", "-c", cfg}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "cluster.id="+id) || !strings.Contains(out.String(), "node.id=1") {
		t.Errorf("info exit %d: %s", code, out.String())
	}
	// Missing flags and bad subcommands are usage errors.
	if code := storageMain([]string{"format", "-c", cfg}, &out, &errb); code != 2 {
		t.Errorf("missing -t: exit %d", code)
	}
	if code := storageMain([]string{"bogus"}, &out, &errb); code != 2 {
		t.Errorf("bogus: exit %d", code)
	}
	if code := storageMain(nil, &out, &errb); code != 2 {
		t.Errorf("no args: exit %d", code)
	}
	// info on an unformatted dir reports the problem and fails.
	os.WriteFile(cfg, []byte(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
controller.listener.names=CONTROLLER
log.dirs=`+filepath.Join(dir, "empty")+"\n"), 0o644)
	out.Reset()
	if code := storageMain([]string{"info", "-c", cfg}, &out, &errb); code != 1 || !strings.Contains(out.String(), "is not formatted") {
		t.Errorf("info unformatted exit %d: %s", code, out.String())
	}
}
