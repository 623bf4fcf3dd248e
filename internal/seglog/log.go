package seglog

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/vfs"
)

// Log is one partition's log. See the package documentation for the files,
// the durability rules and the lock order.
type Log struct {
	dir string
	fs  vfs.FS

	// cleanMu serializes Compact runs and keeps Delete from removing the
	// directory under one; taken before appendMu. It guards the following.
	cleanMu  sync.Mutex
	cleaner  cleanerState
	swapHook func(step int) // tests: called after each step of Compact's swap

	// appendMu serializes the writers: Append, ApplyRetention,
	// DeleteRecordsBefore, Close. It guards the following.
	appendMu  sync.Mutex
	producers producerState
	headers   []batch.Header // Append's scratch space

	// syncMu serializes Sync (and Close's final sync). It guards the following.
	syncMu   sync.Mutex
	syncedTo int64 // every offset below is durable
	// syncedMirror is syncedTo, readable without syncMu (SyncedOffset).
	syncedMirror atomic.Int64
	recoveryBase int64 // base of the segment holding the persisted recovery point

	// mu guards the following, and the segment fields marked as such. It is
	// held only to read or publish state, never across file I/O. segs,
	// logStart and epochs change only under appendMu too, so a writer holding
	// appendMu may read them without mu.
	mu       sync.RWMutex
	opts     Options
	segs     []*segment // ascending base offsets; the last is active; never empty while open
	logStart int64
	epochs   epochCache
	unsynced []*segment // rolled since the last Sync; each holds a reference
	dirDirty bool       // a segment file was created since the last Sync
	closed   bool
	failed   error // sticky: after a failed write or fsync the files are in doubt
}

// Open opens or creates the log in dir and recovers it (see the package
// documentation).
func Open(dir string, opts Options) (*Log, error) {
	fsys := vfs.Or(opts.FS)
	// The directory's own name must be durable before anything in it is.
	if err := vfs.MkdirAllSync(fsys, dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, fs: fsys, opts: opts.withDefaults(), producers: newProducerState()}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.retire(false)
		}
		return nil, err
	}
	return l, nil
}

// SetOptions applies a changed topic configuration to later appends and
// retention runs. The filesystem stays the one Open was given.
func (l *Log) SetOptions(opts Options) {
	opts.FS = nil
	l.mu.Lock()
	l.opts = opts.withDefaults()
	l.mu.Unlock()
}

// LogStartOffset is the first offset that may be read.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leoLocked()
}

func (l *Log) leoLocked() int64 { return l.segs[len(l.segs)-1].next }

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// Size is the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (KIP-101/279): the largest
// known epoch <= epoch and the offset where the epoch after it starts (or
// the log end offset for the latest epoch). (-1, -1) when epoch is undefined
// or above every known epoch; (epoch, first known start) when it is below
// every known epoch, as Kafka does.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.leoLocked())
}

// checkUsable returns why the log cannot be used, if it cannot. Caller holds mu.
func (l *Log) checkUsableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// fail makes err sticky: after a failed write, truncate or fsync nobody knows
// what the files hold (the "fsyncgate" lesson), so the log refuses further
// writes and syncs until it is reopened and recovered.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	if l.failed == nil {
		l.failed = err
	}
	l.mu.Unlock()
	return err
}

// Close syncs everything, writes the indexes and a clean recovery point, and
// closes the files. Later calls return ErrClosed.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err := l.checkUsableLocked()
	l.mu.RUnlock()
	if errors.Is(err, ErrClosed) {
		return err
	}
	if err == nil {
		err = l.closeCleanly()
	}
	l.mu.Lock()
	l.closed = true
	segs, unsynced := l.segs, l.unsynced
	l.unsynced = nil
	l.mu.Unlock()
	for _, s := range unsynced {
		s.release()
	}
	for _, s := range segs {
		s.retire(false)
	}
	return err
}

// closeCleanly makes the whole log durable, then marks it clean. The caller
// holds appendMu, so nothing changes meanwhile.
func (l *Log) closeCleanly() error {
	if _, err := l.Sync(); err != nil {
		return err
	}
	l.mu.Lock()
	act := l.active()
	act.appendTimeEntry()
	index, timeIndex, leo := act.index, act.timeIndex, act.next
	l.mu.Unlock()
	if err := writeIndexes(act, index, timeIndex); err != nil {
		return err
	}
	return l.writeRecoveryPoint(leo, true)
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	// A close error does not matter: the files are going away.
	_ = l.Close()
	// A running Compact notices the close and stops; wait for it so that it
	// creates no file in a directory being removed.
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	return l.fs.RemoveAll(l.dir)
}
