//go:build crashfs

package main

import (
	"log/slog"

	"github.com/samsa-io/samsa/internal/vfs"
)

// serveFS is the filesystem of `samsa serve` in a -tags crashfs build:
// vfs.CrashDisk, which keeps every write not yet synced in memory, so a
// node killed with SIGKILL loses it as after a power cut. For fault
// injection only (chaos -crashfs).
func serveFS(logger *slog.Logger) vfs.FS {
	logger.Warn("crash filesystem in use (built with -tags crashfs): unsynced writes are lost when the process is killed")
	return vfs.NewCrashDisk()
}
