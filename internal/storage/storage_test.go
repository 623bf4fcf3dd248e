package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/config"
)

const cid = "4L6g3nShT-eMCtK--X86sw"

func TestRandomUUID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		u := RandomUUID()
		if err := config.ValidateClusterID(u); err != nil {
			t.Fatal(err)
		}
		if seen[u] {
			t.Fatal("duplicate uuid")
		}
		seen[u] = true
	}
}

func TestFormatCheck(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b", "nested")
	var out bytes.Buffer
	fixed := func() time.Time { return time.Date(2024, 10, 15, 10, 0, 0, 0, time.UTC) }
	err := FormatWith(FormatOptions{Dirs: []string{a, b}, MetadataDir: a, ClusterID: cid, NodeID: 3, Out: &out, Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	want := "Formatting metadata directory " + a + " with metadata.version " + MetadataVersion + ".\n" +
		"Formatting data directory " + b + " with metadata.version " + MetadataVersion + ".\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	data, _ := os.ReadFile(filepath.Join(a, MetaPropertiesFile))
	lines := strings.Split(string(data), "\n")
	if lines[0] != "#" || lines[1] != "#Tue Oct 15 10:00:00 UTC 2024" || lines[2] != "node.id=3" ||
		!strings.HasPrefix(lines[3], "directory.id=") || lines[4] != "version=1" || lines[5] != "cluster.id="+cid {
		t.Errorf("meta.properties:\n%s", data)
	}
	ma, _ := ReadMetaProperties(a)
	mb, _ := ReadMetaProperties(b)
	if ma.DirectoryID == mb.DirectoryID || config.ValidateClusterID(ma.DirectoryID) != nil {
		t.Errorf("directory ids %q %q", ma.DirectoryID, mb.DirectoryID)
	}
	if _, err := os.Stat(filepath.Join(a, MetaPropertiesFile+".tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Error("temp file left behind")
	}

	got, err := Check([]string{a, b}, cid, 3)
	if err != nil || got != cid {
		t.Fatalf("Check = %q, %v", got, err)
	}
	if got, err := Check([]string{a, b}, "", 3); err != nil || got != cid {
		t.Fatalf("Check any = %q, %v", got, err)
	}

	// Already formatted.
	err = Format([]string{a, b}, cid, 3, false)
	if !errors.Is(err, ErrAlreadyFormatted) || !strings.Contains(err.Error(), "--ignore-formatted") {
		t.Errorf("reformat: %v", err)
	}
	out.Reset()
	if err := FormatWith(FormatOptions{Dirs: []string{a, b}, ClusterID: cid, NodeID: 3, IgnoreFormatted: true, Out: &out}); err != nil {
		t.Errorf("ignore-formatted: %v", err)
	}
	if !strings.Contains(out.String(), "already formatted") {
		t.Errorf("output %q", out.String())
	}
	if m2, _ := ReadMetaProperties(a); m2 != ma {
		t.Error("ignore-formatted rewrote a formatted dir")
	}

	// Mismatches name the file and both values.
	other := "5L6g3nShT-eMCtK--X86sw"
	_, err = Check([]string{a}, other, 3)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(a, MetaPropertiesFile)) || !strings.Contains(err.Error(), cid) || !strings.Contains(err.Error(), other) {
		t.Errorf("cluster mismatch: %v", err)
	}
	_, err = Check([]string{a}, cid, 4)
	if err == nil || !strings.Contains(err.Error(), "node id 3") || !strings.Contains(err.Error(), "node.id 4") || !strings.Contains(err.Error(), a) {
		t.Errorf("node mismatch: %v", err)
	}

	// Unformatted, and a partially formatted set.
	c := filepath.Join(root, "c")
	os.MkdirAll(c, 0o755)
	if _, err := Check([]string{c}, cid, 3); !errors.Is(err, ErrUnformatted) {
		t.Errorf("unformatted: %v", err)
	}
	if got, err := Check([]string{a, c}, "", 3); !errors.Is(err, ErrUnformatted) || got != cid {
		t.Errorf("partial: %q, %v (want the formatted dir's id with ErrUnformatted)", got, err)
	}
	// Format with ignore fills in c only.
	if err := Format([]string{a, c}, cid, 3, true); err != nil {
		t.Fatal(err)
	}
	if _, err := Check([]string{a, b, c}, cid, 3); err != nil {
		t.Errorf("after fill-in: %v", err)
	}

	// Two dirs with different cluster ids.
	d := filepath.Join(root, "d")
	if err := Format([]string{d}, other, 3, false); err != nil {
		t.Fatal(err)
	}
	if _, err := Check([]string{a, d}, "", 3); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("dir disagreement: %v", err)
	}
	// A copied directory (same directory.id).
	e := filepath.Join(root, "e")
	os.MkdirAll(e, 0o755)
	data, _ = os.ReadFile(filepath.Join(a, MetaPropertiesFile))
	os.WriteFile(filepath.Join(e, MetaPropertiesFile), data, 0o644)
	if _, err := Check([]string{a, e}, cid, 3); err == nil || !strings.Contains(err.Error(), "directory.id") {
		t.Errorf("copied dir: %v", err)
	}
}

func TestFormatRejects(t *testing.T) {
	dir := t.TempDir()
	if err := Format([]string{dir}, "nope", 1, false); err == nil {
		t.Error("bad cluster id accepted")
	}
	if err := Format([]string{dir}, cid, -1, false); err == nil {
		t.Error("negative node id accepted")
	}
	if err := Format(nil, cid, 1, false); err == nil {
		t.Error("no dirs accepted")
	}
}

func TestReadMetaPropertiesVersions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, MetaPropertiesFile)
	os.WriteFile(p, []byte("version=0\nbroker.id=1\ncluster.id=x\n"), 0o644)
	if _, err := ReadMetaProperties(dir); err == nil || !strings.Contains(err.Error(), "ZooKeeper") {
		t.Errorf("v0: %v", err)
	}
	// Keys in any order, as Java's hash order varies.
	os.WriteFile(p, []byte("cluster.id="+cid+"\nversion=1\nnode.id=7\n"), 0o644)
	mp, err := ReadMetaProperties(dir)
	if err != nil || mp.NodeID != 7 || mp.ClusterID != cid || mp.DirectoryID != "" {
		t.Errorf("%+v %v", mp, err)
	}
}
