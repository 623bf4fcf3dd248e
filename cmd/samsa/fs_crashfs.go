//go:build crashfs

package main

import (
	"log/slog"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/vfs"
)

// serveFS is the filesystem of `samsa serve` in a -tags crashfs build:
// vfs.CrashDisk, which keeps every write not yet synced in memory and
// journals every name change not yet synced, so a node killed with SIGKILL
// comes back as after a power cut. First it undoes what the last process
// left unsynced in the log dirs and the metadata dir. For fault injection
// only (chaos -crashfs).
func serveFS(logger *slog.Logger, cfg *config.Config) (vfs.FS, error) {
	d := vfs.NewCrashDisk()
	dirs := append([]string(nil), cfg.LogDirs...)
	if cfg.MetadataLogDir != "" {
		dirs = append(dirs, cfg.MetadataLogDir)
	}
	undone := 0
	for _, dir := range dirs {
		n, err := d.Recover(dir)
		undone += n
		if err != nil {
			return nil, err
		}
	}
	logger.Warn("crash filesystem in use (built with -tags crashfs): unsynced writes and names are lost when the process is killed",
		"names.undone", undone)
	return d, nil
}
