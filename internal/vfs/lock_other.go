//go:build !unix

package vfs

import (
	"io"
	"os"
)

type fileLock struct{ f *os.File }

func (l fileLock) Close() error { return l.f.Close() }

// lockFile only creates the file where flock(2) is not available.
func lockFile(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return fileLock{f}, nil
}
