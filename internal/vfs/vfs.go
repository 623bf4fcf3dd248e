// Package vfs is the filesystem samsa's storage writes through: partition
// logs (seglog), the metadata log, the Raft log, checkpoints,
// meta.properties and partition.metadata. Three implementations share one
// interface:
//
//   - OS, the real filesystem;
//   - Mem (NewCrashableMem), a crashable in-memory twin for tests, which
//     keeps only what was synced and, on Crash, drops every unsynced write
//     and every create, rename or remove whose directory was not synced.
//     Package vfstest crashes a workload on it at every sync point;
//   - CrashDisk (NewCrashDisk), the same rules on the real disk for a real
//     process: what it did not sync is lost when it is killed (SIGKILL)
//     and the next one runs Recover. samsa built with -tags crashfs uses it.
//
// Durability rules the interface keeps explicit, because the twin enforces
// them and the OS does not forgive them:
//   - File.Sync makes a file's data and size durable (fdatasync). It does
//     not make the file's name durable.
//   - A name (a create, rename or remove in a directory) is durable only
//     after SyncDir on that directory. A directory made by MkdirAll is a
//     name in its parent.
//   - WriteFileAtomic is the one way to replace a small file: temp file,
//     Sync, Rename, SyncDir. A crash leaves the old contents or the new,
//     never a mix and never nothing.
package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an open file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Seeker
	io.Closer
	// Sync makes the data written so far and the file's size durable
	// (fdatasync where the OS has it).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	// Name is the path the file was opened with.
	Name() string
}

// FS is a filesystem.
type FS interface {
	// OpenFile opens name with os.O_* flags (O_RDONLY, O_WRONLY, O_RDWR,
	// O_CREATE, O_EXCL, O_TRUNC, O_APPEND).
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Open opens name read-only.
	Open(name string) (File, error)
	// ReadFile returns a whole file.
	ReadFile(name string) ([]byte, error)
	// Stat describes name.
	Stat(name string) (fs.FileInfo, error)
	// ReadDir lists a directory, sorted by name.
	ReadDir(dir string) ([]fs.DirEntry, error)
	// MkdirAll makes dir and any missing parents.
	MkdirAll(dir string, perm fs.FileMode) error
	// Rename moves oldpath to newpath, replacing it.
	Rename(oldpath, newpath string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes path and everything under it (nil if missing).
	RemoveAll(path string) error
	// SyncDir makes the names in dir durable.
	SyncDir(dir string) error
	// Lock takes an exclusive advisory lock on the file name (creating it),
	// so that a second process cannot open the same data directory. The
	// lock is held until the returned Closer is closed or the process
	// exits.
	Lock(name string) (io.Closer, error)
}

// ErrLocked is returned by Lock when another holder has the lock.
var ErrLocked = errors.New("vfs: locked by another process")

// Default is the filesystem used when a caller passes nil.
var Default FS = OS{}

// Or returns fsys, or Default when fsys is nil.
func Or(fsys FS) FS {
	if fsys == nil {
		return Default
	}
	return fsys
}

// WriteFileAtomic replaces path with data durably: it writes path.tmp,
// syncs it, renames it over path and syncs the directory. After a crash
// path holds either its old contents or data.
func WriteFileAtomic(fsys FS, path string, data []byte, perm fs.FileMode) (err error) {
	tmp := path + ".tmp"
	if err = WriteFileSync(fsys, tmp, data, perm); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err = fsys.Rename(tmp, path); err != nil {
		fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(filepath.Dir(path))
}

// WriteFileSync writes a whole file in place (creating or truncating it)
// and syncs its contents. Its name is not synced, and a crash during the
// call may leave the file empty or torn: use it only for files that
// something durable written later vouches for (seglog's index files, which
// are trusted only below the recovery point), and WriteFileAtomic for
// everything else.
func WriteFileSync(fsys FS, path string, data []byte, perm fs.FileMode) error {
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// MkdirAllSync makes dir (and missing parents) and makes each new name
// durable by syncing its parent.
func MkdirAllSync(fsys FS, dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, perm); err != nil {
		return err
	}
	for _, d := range missing {
		if err := fsys.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}
