//go:build !crashfs

package main

import (
	"log/slog"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/vfs"
)

// serveFS is the filesystem of `samsa serve`: the real one (nil). A build
// with -tags crashfs uses vfs.CrashDisk instead (fs_crashfs.go).
func serveFS(*slog.Logger, *config.Config) (vfs.FS, error) { return nil, nil }
