package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrCrashed is returned by every operation of a crashed Mem's old handles,
// and by every operation while a Mem is frozen (see Mem.Freeze).
var ErrCrashed = errors.New("vfs: filesystem crashed")

// Mem is the crashable in-memory twin of OS. It keeps two states of
// everything: what the process sees now, and what is durable, following
// the package's durability rules exactly:
//
//   - a file's durable contents (and size) are its contents at its last
//     File.Sync;
//   - a directory's durable names are its names at its last SyncDir, each
//     naming the file or directory it named then; a directory made by
//     MkdirAll is a name in its parent like any other.
//
// Crash is a power cut: afterwards the filesystem is its durable state, and
// every File opened before fails with ErrCrashed. The same Mem is then used
// to reopen and recover.
//
// Crash tests need to stop a workload at one exact sync point. OnSync
// installs a hook called at every sync point (each File.Sync and SyncDir),
// before it takes effect, with the point's number. A hook that calls Freeze
// kills the "process" right there: that sync does not happen, and every
// later operation, on a handle or by name, fails with ErrCrashed until
// Crash. Running a workload once counts its sync points (SyncCount); a
// crash test then reruns it freezing at point k for every k, crashes,
// recovers and checks what survived.
//
// Paths are slash-separated; a relative path is taken from the root, so
// "d/f" and "/d/f" name the same file. Every method is safe for concurrent
// use.
type Mem struct {
	mu     sync.Mutex
	root   *memNode
	gen    uint64 // bumped by Crash: older handles are dead
	frozen bool
	syncs  int
	onSync func(n int, path string)
	crash  CrashMode
	locks  map[string]bool // cleaned paths held by Lock in this generation
	now    func() time.Time
}

// NewCrashableMem returns an empty crashable filesystem (only the root
// directory exists, and always will).
func NewCrashableMem() *Mem {
	return &Mem{root: newDirNode(0o755, time.Now()), locks: map[string]bool{}, now: time.Now}
}

var _ FS = (*Mem)(nil)

// memNode is a file or a directory.
type memNode struct {
	dir     bool
	mode    fs.FileMode
	modTime time.Time

	// A file: its contents, and its durable contents. After a Sync, data
	// and synced share one array (shared) until a write lands below
	// len(synced); mutable copies data first.
	data   []byte
	synced []byte
	shared bool

	// A directory: its names, its durable names, and the name changes
	// made since its last SyncDir, in order (CrashMode.UnsyncedNames).
	children map[string]*memNode
	durable  map[string]*memNode
	pending  []nameOp
}

// nameOp is one namespace operation on a directory: the names it set (a
// nil node removes the name). A rename within the directory is one
// operation of two changes, so it survives a crash whole or not at all.
type nameOp []nameChange

type nameChange struct {
	name string
	node *memNode
}

// changeNames applies an operation to d's names and records it.
func (d *memNode) changeNames(op ...nameChange) {
	for _, c := range op {
		if c.node == nil {
			delete(d.children, c.name)
		} else {
			d.children[c.name] = c.node
		}
	}
	d.pending = append(d.pending, op)
}

func newDirNode(perm fs.FileMode, now time.Time) *memNode {
	return &memNode{dir: true, mode: fs.ModeDir | perm&fs.ModePerm, modTime: now,
		children: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// mutable makes data private before bytes at from or later are written.
func (n *memNode) mutable(from int64) {
	if n.shared && from < int64(len(n.synced)) {
		n.data = bytes.Clone(n.data)
		n.shared = false
	}
}

// OnSync sets the hook called at every sync point (File.Sync, SyncDir)
// before it takes effect, with the point's number (1-based, counted since
// the Mem was made) and the path of the file or directory. fn runs without
// the Mem's lock held, so it may call Freeze, SyncCount or Crash. nil
// removes the hook.
func (m *Mem) OnSync(fn func(n int, path string)) {
	m.mu.Lock()
	m.onSync = fn
	m.mu.Unlock()
}

// SyncCount returns how many sync points were reached so far.
func (m *Mem) SyncCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs
}

// Freeze kills the process using the filesystem at this instant: every
// later operation (on an open file or by name) fails with ErrCrashed, so
// what a crash preserves cannot change any more, until Crash.
func (m *Mem) Freeze() {
	m.mu.Lock()
	m.frozen = true
	m.mu.Unlock()
}

// CrashMode says what unsynced state may survive a Crash besides the
// durable state. The zero value keeps nothing unsynced.
type CrashMode struct {
	// Rand draws every random choice; TornWrites and UnsyncedNames need it.
	Rand *rand.Rand
	// TornWrites: part of a file's unsynced writes survives, as on a disk
	// that wrote some pages before the power went. Past the prefix its
	// current and synced contents share, the file keeps a random prefix
	// of its current contents (possibly none, possibly all); where the
	// current contents do not extend the synced ones (a truncate, an
	// overwrite), it keeps its synced contents instead half of the time.
	// A file truncated and rewritten may so come back empty or cut short.
	TornWrites bool
	// UnsyncedNames: each namespace operation (create, rename, remove,
	// mkdir) done since its directory's last SyncDir survives or not,
	// independently of the others, as POSIX allows: a filesystem may have
	// written any of them already, in any order. A rename within one
	// directory survives whole or not at all.
	UnsyncedNames bool
}

// SetCrashMode sets what later crashes may keep (see CrashMode).
func (m *Mem) SetCrashMode(c CrashMode) {
	if (c.TornWrites || c.UnsyncedNames) && c.Rand == nil {
		panic("vfs: CrashMode needs Rand")
	}
	m.mu.Lock()
	m.crash = c
	m.mu.Unlock()
}

// Crash cuts the power: the filesystem becomes its durable state (see Mem),
// files opened before fail with ErrCrashed, locks are released, and a
// frozen Mem works again.
func (m *Mem) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.root = m.crashCopy(m.root)
	m.gen++
	m.frozen = false
	m.locks = map[string]bool{}
}

// CrashClone returns a new Mem holding what a Crash of m would leave now
// (under m's CrashMode), without changing m. The clone has no hook, no
// locks and the default CrashMode.
func (m *Mem) CrashClone() *Mem {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewCrashableMem()
	c.root = m.crashCopy(m.root)
	c.now = m.now
	return c
}

// crashCopy returns what survives of n: a new tree of its durable names.
// Caller holds mu.
func (m *Mem) crashCopy(n *memNode) *memNode {
	if n.dir {
		names := n.durable
		if m.crash.UnsyncedNames && len(n.pending) > 0 {
			names = maps.Clone(n.durable)
			for _, op := range n.pending {
				if m.crash.Rand.IntN(2) == 0 {
					continue
				}
				for _, c := range op {
					if c.node == nil {
						delete(names, c.name)
					} else {
						names[c.name] = c.node
					}
				}
			}
		}
		c := newDirNode(n.mode, n.modTime)
		for name, child := range names {
			cc := m.crashCopy(child)
			c.children[name], c.durable[name] = cc, cc
		}
		return c
	}
	keep := n.synced
	if m.crash.TornWrites && !bytes.Equal(n.data, n.synced) {
		// c bytes are the same in both; past them the file was extended,
		// or truncated and rewritten. Some of that reached the disk.
		c := 0
		for c < len(n.data) && c < len(n.synced) && n.data[c] == n.synced[c] {
			c++
		}
		if c == len(n.synced) || m.crash.Rand.IntN(2) == 0 {
			keep = n.data[:c+m.crash.Rand.IntN(len(n.data)-c+1)]
		}
	}
	data := bytes.Clone(keep)
	return &memNode{mode: n.mode, modTime: n.modTime, data: data, synced: data[:len(data):len(data)], shared: true}
}

// alive is nil unless the Mem is frozen. Caller holds mu.
func (m *Mem) alive(op, name string) error {
	if m.frozen {
		return &fs.PathError{Op: op, Path: name, Err: ErrCrashed}
	}
	return nil
}

// split turns a path into its components from the root.
func split(name string) []string {
	p := path.Clean("/" + filepath.ToSlash(name))
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// walk returns the node at parts. Caller holds mu.
func (m *Mem) walk(parts []string) (*memNode, error) {
	n := m.root
	for _, p := range parts {
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		c, ok := n.children[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
		n = c
	}
	return n, nil
}

// lookup returns the node named name.
func (m *Mem) lookup(op, name string) (*memNode, error) {
	n, err := m.walk(split(name))
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return n, nil
}

// parent returns the directory holding name, and name's last component.
// The root has no parent: base is "" for it.
func (m *Mem) parent(op, name string) (dir *memNode, base string, err error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", nil
	}
	d, err := m.walk(parts[:len(parts)-1])
	if err == nil && !d.dir {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return d, parts[len(parts)-1], nil
}

// OpenFile opens a file (not a directory) with os.O_* flags.
func (m *Mem) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive("open", name); err != nil {
		return nil, err
	}
	d, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	f := &memFile{m: m, name: name, gen: m.gen, append: flag&os.O_APPEND != 0,
		read: acc == os.O_RDONLY || acc == os.O_RDWR, write: acc == os.O_WRONLY || acc == os.O_RDWR}
	n, ok := d.children[base]
	switch {
	case ok && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case ok && n.dir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		n = &memNode{mode: perm & fs.ModePerm, modTime: m.now()}
		d.changeNames(nameChange{base, n})
		d.modTime = n.modTime
	}
	if flag&os.O_TRUNC != 0 && f.write && len(n.data) > 0 {
		n.data = n.data[:0]
		n.modTime = m.now()
	}
	f.n = n
	return f, nil
}

// Open opens name read-only.
func (m *Mem) Open(name string) (File, error) { return m.OpenFile(name, os.O_RDONLY, 0) }

// ReadFile returns a copy of a file's contents.
func (m *Mem) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive("open", name); err != nil {
		return nil, err
	}
	n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: syscall.EISDIR}
	}
	return bytes.Clone(n.data), nil
}

// Stat describes name.
func (m *Mem) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive("stat", name); err != nil {
		return nil, err
	}
	n, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return n.info(path.Base("/" + filepath.ToSlash(name))), nil
}

// ReadDir lists a directory, sorted by name.
func (m *Mem) ReadDir(dir string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive("open", dir); err != nil {
		return nil, err
	}
	n, err := m.lookup("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: syscall.ENOTDIR}
	}
	names := slices.Sorted(maps.Keys(n.children))
	out := make([]fs.DirEntry, len(names))
	for i, name := range names {
		out[i] = fs.FileInfoToDirEntry(n.children[name].info(name))
	}
	return out, nil
}

// MkdirAll makes dir and any missing parents.
func (m *Mem) MkdirAll(dir string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive("mkdir", dir); err != nil {
		return err
	}
	n := m.root
	for _, p := range split(dir) {
		c, ok := n.children[p]
		if !ok {
			c = newDirNode(perm, m.now())
			n.changeNames(nameChange{p, c})
			n.modTime = c.modTime
		} else if !c.dir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		n = c
	}
	return nil
}

// Rename moves oldpath to newpath, replacing a file or an empty directory
// there as rename(2) does.
func (m *Mem) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	lerr := func(err error) error { return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err} }
	if m.frozen {
		return lerr(ErrCrashed)
	}
	od, obase, err := m.parent("rename", oldpath)
	if err != nil {
		return lerr(errors.Unwrap(err))
	}
	nd, nbase, err := m.parent("rename", newpath)
	if err != nil {
		return lerr(errors.Unwrap(err))
	}
	if od == nil || nd == nil {
		return lerr(syscall.EBUSY) // the root
	}
	n, ok := od.children[obase]
	if !ok {
		return lerr(fs.ErrNotExist)
	}
	if n.dir && isUnder(split(newpath), split(oldpath)) && path.Clean("/"+oldpath) != path.Clean("/"+newpath) {
		return lerr(syscall.EINVAL) // into its own subtree
	}
	if t, ok := nd.children[nbase]; ok {
		switch {
		case t == n:
			return nil
		case t.dir && !n.dir:
			return lerr(syscall.EISDIR)
		case !t.dir && n.dir:
			return lerr(syscall.ENOTDIR)
		case t.dir && len(t.children) > 0:
			return lerr(syscall.ENOTEMPTY)
		}
	}
	if od == nd {
		od.changeNames(nameChange{obase, nil}, nameChange{nbase, n})
	} else {
		od.changeNames(nameChange{obase, nil})
		nd.changeNames(nameChange{nbase, n})
	}
	now := m.now()
	od.modTime, nd.modTime = now, now
	return nil
}

// isUnder says p lies in or below dir.
func isUnder(p, dir []string) bool {
	return len(p) >= len(dir) && slices.Equal(p[:len(dir)], dir)
}

// Remove removes a file or an empty directory.
func (m *Mem) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive("remove", name); err != nil {
		return err
	}
	d, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	if d == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.EBUSY}
	}
	n, ok := d.children[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	d.changeNames(nameChange{base, nil})
	d.modTime = m.now()
	return nil
}

// RemoveAll removes path and everything under it; nil if it is missing.
// The names under it stay durable as they were: only its own name is
// removed from its parent (and is durable once the parent is synced).
func (m *Mem) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.alive("unlinkat", name); err != nil {
		return err
	}
	d, base, err := m.parent("unlinkat", name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if d == nil {
		return &fs.PathError{Op: "unlinkat", Path: name, Err: syscall.EBUSY}
	}
	if _, ok := d.children[base]; ok {
		d.changeNames(nameChange{base, nil})
		d.modTime = m.now()
	}
	return nil
}

// SyncDir makes dir's current names durable: a sync point.
func (m *Mem) SyncDir(dir string) error {
	var n *memNode
	return m.syncPoint(dir, func() error {
		if err := m.alive("sync", dir); err != nil {
			return err
		}
		var err error
		if n, err = m.lookup("sync", dir); err == nil && !n.dir {
			err = &fs.PathError{Op: "sync", Path: dir, Err: syscall.ENOTDIR}
		}
		return err
	}, func() { n.durable, n.pending = maps.Clone(n.children), nil })
}

// syncPoint runs a sync of name: check, the hook, check again (the hook
// may have frozen or crashed the Mem), apply. check and apply run under mu.
func (m *Mem) syncPoint(name string, check func() error, apply func()) error {
	m.mu.Lock()
	if err := check(); err != nil {
		m.mu.Unlock()
		return err
	}
	m.syncs++
	n, hook := m.syncs, m.onSync
	m.mu.Unlock()
	if hook != nil {
		hook(n, name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := check(); err != nil {
		return err
	}
	apply()
	return nil
}

// Lock takes an in-memory exclusive lock on name (creating the file). A
// second Lock of the same path fails with ErrLocked until the first is
// closed or the Mem crashes (the process holding it died).
func (m *Mem) Lock(name string) (io.Closer, error) {
	f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	f.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	key := path.Clean("/" + filepath.ToSlash(name))
	if m.locks[key] {
		return nil, fmt.Errorf("%s: %w", name, ErrLocked)
	}
	m.locks[key] = true
	return &memLock{m: m, key: key, gen: m.gen}, nil
}

type memLock struct {
	m    *Mem
	key  string
	gen  uint64
	once sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.m.mu.Lock()
		if l.m.gen == l.gen {
			delete(l.m.locks, l.key)
		}
		l.m.mu.Unlock()
	})
	return nil
}

// memInfo is a node's fs.FileInfo.
type memInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (n *memNode) info(name string) memInfo {
	return memInfo{name: name, size: int64(len(n.data)), mode: n.mode, modTime: n.modTime}
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return i.mode }
func (i memInfo) ModTime() time.Time { return i.modTime }
func (i memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i memInfo) Sys() any           { return nil }

// memFile is an open file of a Mem.
type memFile struct {
	m                   *Mem
	n                   *memNode
	name                string
	gen                 uint64
	read, write, append bool
	pos                 int64 // m.mu guards pos and closed
	closed              bool
}

// usable says why f cannot be used, if it cannot. Caller holds m.mu.
func (f *memFile) usable(op string) error {
	switch {
	case f.closed:
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	case f.gen != f.m.gen || f.m.frozen:
		return &fs.PathError{Op: op, Path: f.name, Err: ErrCrashed}
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Read(p []byte) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("read"); err != nil {
		return 0, err
	}
	if !f.read {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: syscall.EBADF}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.pos >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[f.pos:])
	f.pos += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("read"); err != nil {
		return 0, err
	}
	if !f.read {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: syscall.EBADF}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: syscall.EINVAL}
	}
	if off >= int64(len(f.n.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("write"); err != nil {
		return 0, err
	}
	if !f.write {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EBADF}
	}
	if f.append {
		f.pos = int64(len(f.n.data))
	}
	f.writeAt(p, f.pos)
	f.pos += int64(len(p))
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("write"); err != nil {
		return 0, err
	}
	switch {
	case !f.write:
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EBADF}
	case f.append:
		return 0, errors.New("os: invalid use of WriteAt on file opened with O_APPEND")
	case off < 0:
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: syscall.EINVAL}
	}
	f.writeAt(p, off)
	return len(p), nil
}

// writeAt stores p at off, zero-filling any hole. Caller holds m.mu.
func (f *memFile) writeAt(p []byte, off int64) {
	n := f.n
	end := off + int64(len(p))
	n.mutable(min(off, int64(len(n.data))))
	if end > int64(len(n.data)) {
		n.data = append(n.data, make([]byte, end-int64(len(n.data)))...)
	}
	copy(n.data[off:], p)
	n.modTime = f.m.now()
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("seek"); err != nil {
		return 0, err
	}
	pos, err := seekTo(f.name, offset, whence, f.pos, int64(len(f.n.data)))
	if err != nil {
		return 0, err
	}
	f.pos = pos
	return pos, nil
}

// seekTo is Seek's new position for a file at pos of size bytes, or
// EINVAL for an unknown whence or a position before the start.
func seekTo(name string, offset int64, whence int, pos, size int64) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += pos
	case io.SeekEnd:
		offset += size
	case io.SeekStart:
	default:
		return 0, &fs.PathError{Op: "seek", Path: name, Err: syscall.EINVAL}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: name, Err: syscall.EINVAL}
	}
	return offset, nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("truncate"); err != nil {
		return err
	}
	if !f.write {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	n := f.n
	if size <= int64(len(n.data)) {
		n.data = n.data[:size]
	} else {
		n.mutable(int64(len(n.data)))
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	n.modTime = f.m.now()
	return nil
}

// Sync makes the file's contents durable: a sync point.
func (f *memFile) Sync() error {
	return f.m.syncPoint(f.name, func() error { return f.usable("sync") }, func() {
		n := f.n
		n.synced = n.data[:len(n.data):len(n.data)]
		n.shared = true
	})
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("stat"); err != nil {
		return nil, err
	}
	return f.n.info(path.Base("/" + filepath.ToSlash(f.name))), nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	err := f.usable("close")
	if !f.closed {
		f.closed = true
	}
	return err
}
