//go:build unix

package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// CrashDisk is a filesystem on the real disk that loses, when its process
// is killed (kill -9), every file write not yet made durable by File.Sync,
// as a power cut would. It is for running a real samsa binary under fault
// injection (cmd/samsa built with -tags crashfs): a killed node then comes
// back with only what it synced, not with everything the kernel's page
// cache kept for it.
//
// Each file's bytes on disk are its contents at its last Sync. Writes and
// truncations since are held in this process's memory, as dirty pages over
// the on-disk bytes, and every handle reads through them (read your
// writes). Sync writes the dirty pages and the size to the file and
// fdatasyncs it; a process killed before that leaves the file as it was
// synced, and one killed during it leaves some of the pages written (a torn
// write, as POSIX allows). Handles of one file share its state, however it
// is opened or renamed: files are known by device and inode. A file closed
// with unsynced writes keeps them in memory until it is synced through a
// later handle, or removed.
//
// Names follow the package's rules too: a create (OpenFile with O_CREATE
// of a missing file, each directory MkdirAll makes), a remove and a rename
// within one directory are done on disk at once but written first to an
// undo journal in their directory (.crashdisk-undo); a removed or replaced
// name is moved to a hidden .crashdisk-trash-* name there, not deleted.
// SyncDir commits the directory's journal: it deletes the journal and the
// trash. Recover, which the next process runs over its directories before
// using them, undoes every journal it finds, newest operation first, so
// only the names that were synced survive a kill, and deletes leftover
// trash. Hidden names are left out of ReadDir. A rename across
// directories is not journaled (samsa does none): it survives, as POSIX
// allows.
//
// Crash drops the in-memory state of every file, as a kill would, for
// tests that cannot kill their own process; with Recover after it, the
// filesystem is what the next process would find.
//
// Every method is safe for concurrent use.
type CrashDisk struct {
	mu    sync.Mutex // guards nodes and each node's refs
	nodes map[fileID]*diskNode

	nsMu  sync.Mutex // serializes namespace operations and their journals; taken before mu
	trash uint64     // names made for trash, guarded by nsMu
}

// NewCrashDisk returns a crash disk filesystem over the real one.
func NewCrashDisk() *CrashDisk { return &CrashDisk{nodes: map[fileID]*diskNode{}} }

var _ FS = (*CrashDisk)(nil)

// cdPage is the unit of unsynced data held in memory.
const cdPage = 4096

type fileID struct{ dev, ino uint64 }

func idOf(st fs.FileInfo) (fileID, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(s.Dev), uint64(s.Ino)}, true
}

// diskNode is one file's state: the disk holds its synced contents, pages
// what was written since.
type diskNode struct {
	f    *os.File // read-write (read-only if the file's mode forbids more); closed when the node is dropped
	refs int      // open handles; CrashDisk.mu guards it

	mu sync.Mutex
	// size is the file's size as the process sees it. Bytes below keep
	// that no dirty page covers are the disk's (keep <= size, keep <=
	// disk); bytes at keep or later that no page covers are zeros. A
	// dirty page's bytes at size or later are zeros.
	size, keep, disk int64
	pages            map[int64]*[cdPage]byte // by page number
	dead             bool                    // dropped by Crash
}

func (n *diskNode) clean() bool { return len(n.pages) == 0 && n.keep == n.size && n.size == n.disk }

// drop forgets n's unsynced state and closes its file. Caller holds
// CrashDisk.mu.
func (d *CrashDisk) drop(id fileID, n *diskNode) {
	n.mu.Lock()
	n.dead, n.pages = true, nil
	n.f.Close()
	n.mu.Unlock()
	delete(d.nodes, id)
}

// Crash drops every file's unsynced writes, as killing the process would:
// the files are what they were at their last Sync, and every open handle
// fails with ErrCrashed. Names are untouched until Recover undoes the
// unsynced ones, as the next process would; the CrashDisk can be used
// again at once.
func (d *CrashDisk) Crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, n := range d.nodes {
		d.drop(id, n)
	}
}

// sweep drops the state of files that no handle holds and no name links
// any more (removed, or renamed over). Caller holds mu.
func (d *CrashDisk) sweep() {
	for id, n := range d.nodes {
		if n.refs > 0 {
			continue
		}
		if !linked(n.f) {
			d.drop(id, n)
		}
	}
}

// linked says some name still links f's file.
func linked(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && s.Nlink > 0
}

func (d *CrashDisk) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	osFlag := os.O_RDWR | flag&(os.O_CREATE|os.O_EXCL)
	var f *os.File
	var err error
	if flag&os.O_CREATE != 0 {
		d.nsMu.Lock()
		if _, lerr := os.Lstat(name); errors.Is(lerr, fs.ErrNotExist) {
			if err = journal(name, "C", base(name)); errors.Is(err, fs.ErrNotExist) {
				err = nil // no directory: the open fails, naming the file
			}
		}
		if err == nil {
			f, err = os.OpenFile(name, osFlag, perm)
		}
		d.nsMu.Unlock()
	} else {
		f, err = os.OpenFile(name, osFlag, perm)
	}
	if errors.Is(err, fs.ErrPermission) && flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		f, err = os.OpenFile(name, os.O_RDONLY, 0)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	id, ok := idOf(st)
	if !ok {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.ErrUnsupported}
	}
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	h := &diskFile{d: d, name: name, append: flag&os.O_APPEND != 0,
		read: acc == os.O_RDONLY || acc == os.O_RDWR, write: acc == os.O_WRONLY || acc == os.O_RDWR}
	d.mu.Lock()
	n, ok := d.nodes[id]
	if ok {
		f.Close()
	} else {
		n = &diskNode{f: f, size: st.Size(), keep: st.Size(), disk: st.Size(), pages: map[int64]*[cdPage]byte{}}
		d.nodes[id] = n
	}
	n.refs++
	h.n, h.id = n, id
	d.mu.Unlock()
	if flag&os.O_TRUNC != 0 && h.write {
		n.mu.Lock()
		n.truncate(0)
		n.mu.Unlock()
	}
	return h, nil
}

func (d *CrashDisk) Open(name string) (File, error) { return d.OpenFile(name, os.O_RDONLY, 0) }

// ReadFile reads a whole file as the process sees it.
func (d *CrashDisk) ReadFile(name string) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := f.(*diskFile)
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	if h.n.dead {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrCrashed}
	}
	b := make([]byte, h.n.size)
	if _, err := h.n.readAt(b, 0); err != nil && err != io.EOF {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

// info gives st the size the process sees, if its file has a node.
func (d *CrashDisk) info(st fs.FileInfo) fs.FileInfo {
	if !st.Mode().IsRegular() {
		return st
	}
	id, ok := idOf(st)
	if !ok {
		return st
	}
	d.mu.Lock()
	n := d.nodes[id]
	d.mu.Unlock()
	if n == nil {
		return st
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dead {
		return st
	}
	return sizedInfo{st, n.size}
}

type sizedInfo struct {
	fs.FileInfo
	size int64
}

func (i sizedInfo) Size() int64 { return i.size }

func (d *CrashDisk) Stat(name string) (fs.FileInfo, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	return d.info(st), nil
}

func (d *CrashDisk) ReadDir(dir string) ([]fs.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	out := ents[:0]
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), hiddenPrefix):
			continue
		case e.Type().IsRegular():
			e = diskEntry{e, d}
		}
		out = append(out, e)
	}
	return out, err
}

// diskEntry is a directory entry whose Info has the size the process sees.
type diskEntry struct {
	fs.DirEntry
	d *CrashDisk
}

func (e diskEntry) Info() (fs.FileInfo, error) {
	st, err := e.DirEntry.Info()
	if err != nil {
		return nil, err
	}
	return e.d.info(st), nil
}

// MkdirAll makes dir and its missing parents, each a journaled create in
// its parent.
func (d *CrashDisk) MkdirAll(dir string, perm fs.FileMode) error {
	d.nsMu.Lock()
	defer d.nsMu.Unlock()
	var missing []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	for _, p := range slices.Backward(missing) {
		if err := journal(p, "C", base(p)); err != nil {
			return err
		}
		if err := os.Mkdir(p, perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// Rename renames oldpath to newpath as rename(2), journaled when both are
// in one directory: a replaced newpath goes to trash first.
func (d *CrashDisk) Rename(oldpath, newpath string) error {
	d.nsMu.Lock()
	defer d.nsMu.Unlock()
	defer d.sweepLocked()
	dir := filepath.Dir(filepath.Clean(oldpath))
	if dir != filepath.Dir(filepath.Clean(newpath)) {
		return os.Rename(oldpath, newpath)
	}
	lerr := func(err error) error { return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err} }
	ost, err := os.Lstat(oldpath)
	if err != nil {
		return lerr(errors.Unwrap(err))
	}
	if nst, err := os.Lstat(newpath); err == nil {
		switch {
		case os.SameFile(ost, nst):
			return nil
		case nst.IsDir() && !ost.IsDir():
			return lerr(syscall.EISDIR)
		case !nst.IsDir() && ost.IsDir():
			return lerr(syscall.ENOTDIR)
		case nst.IsDir() && !emptyDir(newpath):
			return lerr(syscall.ENOTEMPTY)
		}
		if err := d.toTrash(newpath); err != nil {
			return err
		}
	}
	if err := journal(newpath, "M", base(oldpath), base(newpath)); err != nil {
		return err
	}
	return os.Rename(oldpath, newpath)
}

// Remove removes a file or an empty directory: to trash, journaled.
func (d *CrashDisk) Remove(name string) error {
	d.nsMu.Lock()
	defer d.nsMu.Unlock()
	defer d.sweepLocked()
	st, err := os.Lstat(name)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: errors.Unwrap(err)}
	}
	if st.IsDir() && !emptyDir(name) {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	return d.toTrash(name)
}

// RemoveAll removes path and everything under it (nil if missing): its
// name goes to trash, journaled; the names under it are as they were.
func (d *CrashDisk) RemoveAll(path string) error {
	d.nsMu.Lock()
	defer d.nsMu.Unlock()
	defer d.sweepLocked()
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	return d.toTrash(path)
}

// toTrash moves name to a new trash name in its directory, journaled.
// Caller holds nsMu.
func (d *CrashDisk) toTrash(name string) error {
	d.trash++
	t := fmt.Sprintf("%strash-%d-%d", hiddenPrefix, os.Getpid(), d.trash)
	if err := journal(name, "R", base(name), t); err != nil {
		return err
	}
	return os.Rename(name, filepath.Join(filepath.Dir(name), t))
}

func (d *CrashDisk) sweepLocked() {
	d.mu.Lock()
	d.sweep()
	d.mu.Unlock()
}

// SyncDir makes dir's names durable: it commits dir's journal (deletes
// it, then the trash it names) and fsyncs dir.
func (d *CrashDisk) SyncDir(dir string) error {
	d.nsMu.Lock()
	err := commitDir(dir)
	d.nsMu.Unlock()
	if err == nil {
		d.sweepLocked()
		err = OS{}.SyncDir(dir)
	}
	return err
}

// hiddenPrefix starts the names CrashDisk keeps for itself in a
// directory: its undo journal and its trash.
const hiddenPrefix = ".crashdisk-"

const journalName = hiddenPrefix + "undo"

func base(name string) string { return filepath.Base(filepath.Clean(name)) }

// emptyDir says dir holds no name but hidden ones.
func emptyDir(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), hiddenPrefix) {
			return false
		}
	}
	return true
}

// journal appends one operation (a kind and base names) to the undo
// journal of the directory holding name, before the operation is done.
// One write(2) of a whole line: a kill cannot tear it.
func journal(name, kind string, args ...string) error {
	line := kind
	for _, a := range args {
		line += " " + strconv.Quote(a)
	}
	f, err := os.OpenFile(filepath.Join(filepath.Dir(filepath.Clean(name)), journalName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type undoOp struct {
	kind string
	args []string
}

// readJournal parses dir's journal (nil if none). A line that does not
// parse (there should be none) ends it.
func readJournal(dir string) ([]undoOp, error) {
	b, err := os.ReadFile(filepath.Join(dir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ops []undoOp
	for line := range strings.Lines(string(b)) {
		if !strings.HasSuffix(line, "\n") {
			break
		}
		kind, rest, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		op := undoOp{kind: kind}
		for rest != "" {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return ops, nil
			}
			a, _ := strconv.Unquote(q)
			op.args = append(op.args, a)
			rest = strings.TrimPrefix(rest[len(q):], " ")
		}
		want := map[string]int{"C": 1, "M": 2, "R": 2}[kind]
		if want == 0 || len(op.args) != want {
			return ops, nil
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// commitDir makes dir's journaled operations final: the journal goes
// first (the commit), then the trash.
func commitDir(dir string) error {
	ops, err := readJournal(dir)
	if err != nil || ops == nil {
		if _, serr := os.Stat(dir); serr != nil {
			return serr
		}
		return err
	}
	if err := os.Remove(filepath.Join(dir, journalName)); err != nil {
		return err
	}
	for _, op := range ops {
		if op.kind == "R" {
			if err := os.RemoveAll(filepath.Join(dir, op.args[1])); err != nil {
				return err
			}
		}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// Recover undoes, in root and every directory under it, the namespace
// operations whose directory was never synced, newest first, and deletes
// leftover trash: what a process killed on a CrashDisk left is then what a
// power cut would have. Run it on each data directory before use. It
// returns the number of operations undone; a missing root is no error.
// Each directory is undone before its subdirectories, since undoing can
// bring a subdirectory (and its journal) back from trash.
func (d *CrashDisk) Recover(root string) (int, error) {
	d.nsMu.Lock()
	defer d.nsMu.Unlock()
	defer d.sweepLocked()
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return recoverDir(filepath.Clean(root))
}

func recoverDir(dir string) (int, error) {
	ops, err := readJournal(dir)
	if err != nil {
		return 0, err
	}
	at := func(n string) string { return filepath.Join(dir, n) }
	for _, op := range slices.Backward(ops) {
		switch op.kind {
		case "C":
			err = os.RemoveAll(at(op.args[0]))
		case "M": // renamed args[0] to args[1]
			if exists(at(op.args[1])) && !exists(at(op.args[0])) {
				err = os.Rename(at(op.args[1]), at(op.args[0]))
			}
		case "R": // moved args[0] to trash args[1]
			if exists(at(op.args[1])) {
				if err = os.RemoveAll(at(op.args[0])); err == nil {
					err = os.Rename(at(op.args[1]), at(op.args[0]))
				}
			}
		}
		if err != nil {
			return 0, fmt.Errorf("vfs: crash disk recovery of %s: %w", dir, err)
		}
	}
	undone := len(ops)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return undone, err
	}
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), hiddenPrefix):
			if err := os.RemoveAll(at(e.Name())); err != nil {
				return undone, err
			}
		case e.IsDir():
			n, err := recoverDir(at(e.Name()))
			undone += n
			if err != nil {
				return undone, err
			}
		}
	}
	return undone, nil
}

func (d *CrashDisk) Lock(name string) (io.Closer, error) { return lockFile(name) }

// readAt reads p at off (off < n.size), up to the size. Caller holds n.mu.
func (n *diskNode) readAt(p []byte, off int64) (int, error) {
	end := min(off+int64(len(p)), n.size)
	for pos := off; pos < end; {
		pg := pos / cdPage
		lim := min((pg+1)*cdPage, end)
		if b, ok := n.pages[pg]; ok {
			copy(p[pos-off:lim-off], b[pos-pg*cdPage:])
			pos = lim
			continue
		}
		if pos >= n.keep {
			clear(p[pos-off : lim-off])
			pos = lim
			continue
		}
		// A run of the disk's bytes, across pages no write touched.
		run := min(lim, n.keep)
		for run == lim && run < end && n.pages[run/cdPage] == nil {
			lim = min(run+cdPage, end)
			run = min(lim, n.keep)
		}
		m, err := n.f.ReadAt(p[pos-off:run-off], pos)
		if err != nil && err != io.EOF {
			return int(pos - off), err
		}
		clear(p[pos-off+int64(m) : run-off]) // the disk shorter than keep: cannot happen, but zeros are its truth
		pos = run
	}
	if n := int(end - off); n < len(p) {
		return n, io.EOF
	}
	return len(p), nil
}

// page returns page pg, dirty, holding the file's current bytes. Caller
// holds n.mu.
func (n *diskNode) page(pg int64) (*[cdPage]byte, error) {
	if b, ok := n.pages[pg]; ok {
		return b, nil
	}
	b := new([cdPage]byte)
	if start := pg * cdPage; start < n.keep {
		m, err := n.f.ReadAt(b[:min(cdPage, n.keep-start)], start)
		if err != nil && err != io.EOF {
			return nil, err
		}
		clear(b[m:])
	}
	n.pages[pg] = b
	return b, nil
}

// writeAt stores p at off in memory. Caller holds n.mu.
func (n *diskNode) writeAt(p []byte, off int64) error {
	end := off + int64(len(p))
	for pos := off; pos < end; {
		pg := pos / cdPage
		lim := min((pg+1)*cdPage, end)
		b, err := n.page(pg)
		if err != nil {
			return err
		}
		copy(b[pos-pg*cdPage:], p[pos-off:lim-off])
		pos = lim
	}
	n.size = max(n.size, end)
	return nil
}

// truncate sets the size in memory. Caller holds n.mu.
func (n *diskNode) truncate(size int64) {
	if size < n.size {
		n.keep = min(n.keep, size)
		for pg := range n.pages {
			if pg*cdPage >= size {
				delete(n.pages, pg)
			}
		}
		if b, ok := n.pages[size/cdPage]; ok {
			clear(b[size%cdPage:])
		}
	}
	n.size = size
}

// flush writes the dirty state to the file (not yet fdatasynced). Caller
// holds n.mu.
func (n *diskNode) flush() error {
	if n.keep < n.disk {
		if err := n.f.Truncate(n.keep); err != nil {
			return err
		}
		n.disk = n.keep
	}
	if n.size != n.disk {
		if err := n.f.Truncate(n.size); err != nil { // zeros past keep
			return err
		}
		n.disk = n.size
	}
	for pg, b := range n.pages {
		start := pg * cdPage
		if _, err := n.f.WriteAt(b[:min(cdPage, n.size-start)], start); err != nil {
			return err
		}
		delete(n.pages, pg)
	}
	n.keep = n.size
	return nil
}

// diskFile is an open file of a CrashDisk.
type diskFile struct {
	d                   *CrashDisk
	n                   *diskNode
	id                  fileID
	name                string
	read, write, append bool

	mu     sync.Mutex // guards pos and closed; taken before n.mu
	pos    int64
	closed bool
}

// lock takes f.mu and f.n.mu, or returns why f cannot be used.
func (f *diskFile) lock(op string) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	f.n.mu.Lock()
	if f.n.dead {
		f.n.mu.Unlock()
		f.mu.Unlock()
		return &fs.PathError{Op: op, Path: f.name, Err: ErrCrashed}
	}
	return nil
}

func (f *diskFile) unlock() {
	f.n.mu.Unlock()
	f.mu.Unlock()
}

func (f *diskFile) Name() string { return f.name }

func (f *diskFile) readAt(op string, p []byte, off int64) (int, error) {
	if !f.read {
		return 0, &fs.PathError{Op: op, Path: f.name, Err: syscall.EBADF}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: op, Path: f.name, Err: syscall.EINVAL}
	}
	if off >= f.n.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n, err := f.n.readAt(p, off)
	if err != nil && err != io.EOF {
		err = &fs.PathError{Op: op, Path: f.name, Err: err}
	}
	return n, err
}

func (f *diskFile) Read(p []byte) (int, error) {
	if err := f.lock("read"); err != nil {
		return 0, err
	}
	defer f.unlock()
	if len(p) == 0 && f.read {
		return 0, nil
	}
	n, err := f.readAt("read", p, f.pos)
	f.pos += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

func (f *diskFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.lock("read"); err != nil {
		return 0, err
	}
	defer f.unlock()
	return f.readAt("read", p, off)
}

func (f *diskFile) writeAt(op string, p []byte, off int64) (int, error) {
	if !f.write {
		return 0, &fs.PathError{Op: op, Path: f.name, Err: syscall.EBADF}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: op, Path: f.name, Err: syscall.EINVAL}
	}
	if err := f.n.writeAt(p, off); err != nil {
		return 0, &fs.PathError{Op: op, Path: f.name, Err: err}
	}
	return len(p), nil
}

func (f *diskFile) Write(p []byte) (int, error) {
	if err := f.lock("write"); err != nil {
		return 0, err
	}
	defer f.unlock()
	if f.append {
		f.pos = f.n.size
	}
	n, err := f.writeAt("write", p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *diskFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.lock("write"); err != nil {
		return 0, err
	}
	defer f.unlock()
	if f.append {
		return 0, errors.New("os: invalid use of WriteAt on file opened with O_APPEND")
	}
	return f.writeAt("writeat", p, off)
}

func (f *diskFile) Seek(offset int64, whence int) (int64, error) {
	if err := f.lock("seek"); err != nil {
		return 0, err
	}
	defer f.unlock()
	pos, err := seekTo(f.name, offset, whence, f.pos, f.n.size)
	if err != nil {
		return 0, err
	}
	f.pos = pos
	return pos, nil
}

func (f *diskFile) Truncate(size int64) error {
	if err := f.lock("truncate"); err != nil {
		return err
	}
	defer f.unlock()
	if !f.write || size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	f.n.truncate(size)
	return nil
}

// Sync writes the file's unsynced state to disk and fdatasyncs it. Once
// written (before the fdatasync) the state survives the process, so the
// file's lock is not held across the fdatasync.
func (f *diskFile) Sync() error {
	if err := f.lock("sync"); err != nil {
		return err
	}
	err := f.n.flush()
	osf := f.n.f
	f.unlock()
	if err == nil {
		err = fdatasync(osf)
	}
	if err != nil {
		f.n.mu.Lock()
		if f.n.dead { // Crash closed the file under the fdatasync
			err = ErrCrashed
		}
		f.n.mu.Unlock()
		return &fs.PathError{Op: "sync", Path: f.name, Err: err}
	}
	return nil
}

func (f *diskFile) Stat() (fs.FileInfo, error) {
	if err := f.lock("stat"); err != nil {
		return nil, err
	}
	defer f.unlock()
	st, err := f.n.f.Stat()
	if err != nil {
		return nil, err
	}
	return sizedInfo{renamed{st, filepath.Base(f.name)}, f.n.size}, nil
}

// renamed is a FileInfo under the name the handle was opened with.
type renamed struct {
	fs.FileInfo
	name string
}

func (r renamed) Name() string { return r.name }

// Close releases the handle. The file's unsynced writes stay in memory
// (a later handle sees and may sync them) unless no name links it any more.
func (f *diskFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	n := f.n
	n.refs--
	n.mu.Lock()
	dead, clean := n.dead, n.clean()
	n.mu.Unlock()
	if dead {
		return &fs.PathError{Op: "close", Path: f.name, Err: ErrCrashed}
	}
	if n.refs == 0 && (clean || !linked(n.f)) {
		d.drop(f.id, n)
	}
	return nil
}
