package seglog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File names of the partition's checkpoints.
const (
	logStartFile      = "log-start-offset"
	recoveryPointFile = "recovery-point"
	epochFile         = "leader-epoch-checkpoint"
	checkpointVersion = "0"
)

// writeCheckpoint replaces dir/name atomically and durably: temp file, fsync,
// rename, fsync of the directory (without which the rename may not survive).
func writeCheckpoint(dir, name string, lines []string) error {
	var buf bytes.Buffer
	buf.WriteString(checkpointVersion + "\n")
	for _, l := range lines {
		buf.WriteString(l + "\n")
	}
	tmp := filepath.Join(dir, name+".tmp")
	if err := writeFileSync(tmp, buf.Bytes()); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// readCheckpoint returns the lines after the version line; nil, nil if the
// file does not exist.
func readCheckpoint(dir, name string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if os.IsNotExist(err) {
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
func readOffsetCheckpoint(dir, name string, def int64) (off int64, rest []string, err error) {
	lines, err := readCheckpoint(dir, name)
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
