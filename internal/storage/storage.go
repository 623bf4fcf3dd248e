// Package storage formats and checks samsa's log directories the way
// `kafka-storage.sh format` does: every directory gets a meta.properties
// with version=1, cluster.id, node.id and a fresh directory.id
// (AK MetaProperties). A broker refuses to start on an unformatted
// directory or on one that belongs to another cluster or node, because
// auto-formatting could let a node with an empty log win an election
// (docs/ops.html "Provisioning Nodes").
package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"time"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/uuid"
	"github.com/samsa-io/samsa/internal/vfs"
)

// MetaPropertiesFile is the file name AK and samsa use in every log dir.
const MetaPropertiesFile = "meta.properties"

// MetadataVersion is the metadata.version samsa formats with: AK 4.1's
// latest production level, printed by format exactly as AK prints it.
const MetadataVersion = "4.1-IV1"

// ErrUnformatted means a log directory has no meta.properties: the operator
// must run `samsa storage format` (the image does it on every start).
var ErrUnformatted = errors.New("log directory is not formatted")

// ErrAlreadyFormatted means Format found meta.properties and was not told
// to ignore formatted directories.
var ErrAlreadyFormatted = errors.New("log directory is already formatted")

// RandomUUID returns a random KRaft UUID as AK's Uuid.randomUuid does, in
// its text form (uuid.Random).
func RandomUUID() string { return uuid.Random().String() }

// MetaProperties is the content of one meta.properties.
type MetaProperties struct {
	Version     int
	ClusterID   string
	NodeID      int32
	DirectoryID string
}

// FormatOptions is the full form of Format, for the CLI.
type FormatOptions struct {
	Dirs            []string // log.dirs plus metadata.log.dir; duplicates are fine
	MetadataDir     string   // printed as the "metadata directory"; "" = Dirs[0]
	ClusterID       string
	NodeID          int32
	IgnoreFormatted bool
	Out             io.Writer // progress lines as kafka-storage prints them; nil = none
	Now             func() time.Time
	FS              vfs.FS // nil: vfs.Default
}

// Format writes meta.properties into every directory, creating missing
// directories. An already formatted directory is an ErrAlreadyFormatted
// error unless ignoreFormatted, in which case it is left untouched (Check
// at start-up catches an id mismatch there).
func Format(dirs []string, clusterID string, nodeID int32, ignoreFormatted bool) error {
	return FormatWith(FormatOptions{Dirs: dirs, ClusterID: clusterID, NodeID: nodeID, IgnoreFormatted: ignoreFormatted})
}

// FormatWith is Format with progress output and an explicit metadata dir.
func FormatWith(o FormatOptions) error {
	if err := config.ValidateClusterID(o.ClusterID); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	if o.NodeID < 0 {
		return fmt.Errorf("format: node.id must be non-negative, got %d", o.NodeID)
	}
	dirs := dedupe(append([]string{o.MetadataDir}, o.Dirs...))
	if len(dirs) == 0 {
		return errors.New("format: no log directories given")
	}
	metaDir := o.MetadataDir
	if metaDir == "" {
		metaDir = dirs[0]
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	fsys := vfs.Or(o.FS)
	var todo []string
	for _, d := range dirs {
		_, err := fsys.Stat(filepath.Join(d, MetaPropertiesFile))
		switch {
		case err == nil && o.IgnoreFormatted:
			continue
		case err == nil:
			return fmt.Errorf("Log directory %s is already formatted. Use --ignore-formatted to ignore this directory and format the others: %w", d, ErrAlreadyFormatted)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("format: %w", err)
		}
		todo = append(todo, d)
	}
	if len(todo) == 0 {
		fmt.Fprintln(out, "All of the log directories are already formatted.")
		return nil
	}
	for _, d := range todo {
		kind := "data"
		if filepath.Clean(d) == filepath.Clean(metaDir) {
			kind = "metadata"
		}
		fmt.Fprintf(out, "Formatting %s directory %s with metadata.version %s.\n", kind, d, MetadataVersion)
		if err := vfs.MkdirAllSync(fsys, d, 0o755); err != nil {
			return fmt.Errorf("format: %w", err)
		}
		mp := MetaProperties{Version: 1, ClusterID: o.ClusterID, NodeID: o.NodeID, DirectoryID: RandomUUID()}
		if err := WriteMetaPropertiesFS(fsys, d, mp, o.Now); err != nil {
			return err
		}
	}
	return nil
}

func dedupe(dirs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		if d == "" || seen[filepath.Clean(d)] {
			continue
		}
		seen[filepath.Clean(d)] = true
		out = append(out, d)
	}
	return out
}

// WriteMetaPropertiesFS writes dir/meta.properties on fsys (nil: vfs.Default) atomically
// (vfs.WriteFileAtomic: temp file, fsync, rename, fsync of the directory),
// so a crash leaves the old file (or none) or the new one, whole. The
// layout matches what AK writes (java.util.Properties.store: a blank
// comment, a date comment, then the keys).
func WriteMetaPropertiesFS(fsys vfs.FS, dir string, mp MetaProperties, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	body := fmt.Sprintf("#\n#%s\nnode.id=%d\ndirectory.id=%s\nversion=%d\ncluster.id=%s\n",
		now().Format("Mon Jan 02 15:04:05 MST 2006"), mp.NodeID,
		config.EscapeProperty(mp.DirectoryID, false), mp.Version, config.EscapeProperty(mp.ClusterID, false))
	path := filepath.Join(dir, MetaPropertiesFile)
	if err := vfs.WriteFileAtomic(vfs.Or(fsys), path, []byte(body), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadMetaProperties reads dir/meta.properties. A missing file is
// ErrUnformatted (wrapped with the directory).
func ReadMetaProperties(dir string) (MetaProperties, error) { return ReadMetaPropertiesFS(nil, dir) }

// ReadMetaPropertiesFS is ReadMetaProperties on fsys (nil: vfs.Default).
func ReadMetaPropertiesFS(fsys vfs.FS, dir string) (MetaProperties, error) {
	path := filepath.Join(dir, MetaPropertiesFile)
	data, err := vfs.Or(fsys).ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return MetaProperties{}, fmt.Errorf("no %s found in %s (run `samsa storage format` first): %w", MetaPropertiesFile, dir, ErrUnformatted)
	}
	if err != nil {
		return MetaProperties{}, err
	}
	props, err := config.ParseProperties(data)
	if err != nil {
		return MetaProperties{}, fmt.Errorf("%s: %w", path, err)
	}
	m := map[string]string{}
	for _, p := range props {
		m[p.Key] = p.Value
	}
	var mp MetaProperties
	if mp.Version, err = strconv.Atoi(m["version"]); err != nil {
		return mp, fmt.Errorf("%s: bad version %q", path, m["version"])
	}
	if mp.Version != 1 {
		return mp, fmt.Errorf("%s: unsupported version %d (version 0 is a ZooKeeper-mode directory; samsa runs KRaft only)", path, mp.Version)
	}
	mp.ClusterID = m["cluster.id"]
	if mp.ClusterID == "" {
		return mp, fmt.Errorf("%s: cluster.id is missing", path)
	}
	id, err := strconv.ParseInt(m["node.id"], 10, 32)
	if err != nil || id < 0 {
		return mp, fmt.Errorf("%s: bad node.id %q", path, m["node.id"])
	}
	mp.NodeID = int32(id)
	mp.DirectoryID = m["directory.id"]
	return mp, nil
}

// Check verifies that every directory is formatted for this cluster and
// node, and returns the cluster id found. clusterID "" accepts any id but
// still requires all directories to agree. Errors name the file and both
// values. Unformatted directories give an error wrapping ErrUnformatted,
// reported only after the formatted ones passed, together with the cluster
// id those hold, so a caller can format the rest with the same id.
func Check(dirs []string, clusterID string, nodeID int32) (string, error) {
	return CheckFS(nil, dirs, clusterID, nodeID)
}

// CheckFS is Check on fsys (nil: vfs.Default).
func CheckFS(fsys vfs.FS, dirs []string, clusterID string, nodeID int32) (string, error) {
	dirs = dedupe(dirs)
	if len(dirs) == 0 {
		return "", errors.New("check: no log directories given")
	}
	found := clusterID
	foundIn := "the configuration"
	dirIDs := map[string]string{}
	var unformatted error
	for _, d := range dirs {
		mp, err := ReadMetaPropertiesFS(fsys, d)
		if errors.Is(err, ErrUnformatted) {
			if unformatted == nil {
				unformatted = err
			}
			continue
		}
		if err != nil {
			return "", err
		}
		path := filepath.Join(d, MetaPropertiesFile)
		if found == "" {
			found, foundIn = mp.ClusterID, path
		} else if mp.ClusterID != found {
			return "", fmt.Errorf("invalid cluster.id in %s: expected %s (from %s), but read %s", path, found, foundIn, mp.ClusterID)
		}
		if mp.NodeID != nodeID {
			return "", fmt.Errorf("stored node id %d in %s doesn't match the configured node.id %d; if you moved your data, make sure the configured node.id matches, and to create a new node, remove the data in the log directories", mp.NodeID, path, nodeID)
		}
		if mp.DirectoryID != "" {
			if other, dup := dirIDs[mp.DirectoryID]; dup {
				return "", fmt.Errorf("directory.id %s appears in both %s and %s; a directory was copied, re-format one of them", mp.DirectoryID, other, path)
			}
			dirIDs[mp.DirectoryID] = path
		}
	}
	return found, unformatted
}
