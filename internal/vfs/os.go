package vfs

import (
	"io"
	"io/fs"
	"os"
)

// OS is the real filesystem.
type OS struct{}

type osFile struct{ *os.File }

func (f osFile) Sync() error { return fdatasync(f.File) }

func (OS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (o OS) Open(name string) (File, error) { return o.OpenFile(name, os.O_RDONLY, 0) }

func (OS) ReadFile(name string) ([]byte, error)        { return os.ReadFile(name) }
func (OS) Stat(name string) (fs.FileInfo, error)       { return os.Stat(name) }
func (OS) ReadDir(dir string) ([]fs.DirEntry, error)   { return os.ReadDir(dir) }
func (OS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }
func (OS) Rename(oldpath, newpath string) error        { return os.Rename(oldpath, newpath) }
func (OS) Remove(name string) error                    { return os.Remove(name) }
func (OS) RemoveAll(path string) error                 { return os.RemoveAll(path) }

// SyncDir fsyncs the directory, making creates, renames and removes in it
// durable.
func (OS) SyncDir(dir string) error {
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

// Lock takes flock(LOCK_EX|LOCK_NB) on name (see lock_*.go).
func (OS) Lock(name string) (io.Closer, error) { return lockFile(name) }
