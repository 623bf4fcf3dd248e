package seglog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/internal/vfs"
)

// File names of the partition's checkpoints.
const (
	logStartFile      = "log-start-offset"
	recoveryPointFile = "recovery-point"
	epochFile         = "leader-epoch-checkpoint"
	checkpointVersion = "0"
)

// writeCheckpoint replaces dir/name atomically and durably
// (vfs.WriteFileAtomic: temp file, sync, rename, sync of the directory).
func writeCheckpoint(fsys vfs.FS, dir, name string, lines []string) error {
	var buf bytes.Buffer
	buf.WriteString(checkpointVersion + "\n")
	for _, l := range lines {
		buf.WriteString(l + "\n")
	}
	return vfs.WriteFileAtomic(fsys, filepath.Join(dir, name), buf.Bytes(), 0o644)
}

// readCheckpoint returns the lines after the version line; nil, nil if the
// file does not exist.
func readCheckpoint(fsys vfs.FS, dir, name string) ([]string, error) {
	b, err := fsys.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if lines[0] != checkpointVersion {
		return nil, fmt.Errorf("seglog: %s: unknown version %q", name, lines[0])
	}
	return lines[1:], nil
}

// readOffsetCheckpoint reads a checkpoint whose first line is an offset;
// def if the file is missing.
func readOffsetCheckpoint(fsys vfs.FS, dir, name string, def int64) (off int64, rest []string, err error) {
	lines, err := readCheckpoint(fsys, dir, name)
	if err != nil || lines == nil {
		return def, nil, err
	}
	if len(lines) == 0 {
		return 0, nil, fmt.Errorf("seglog: %s: empty", name)
	}
	off, err = strconv.ParseInt(lines[0], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("seglog: %s: %w", name, err)
	}
	return off, lines[1:], nil
}
