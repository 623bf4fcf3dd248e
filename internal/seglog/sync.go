package seglog

// Sync makes durable everything appended before it was called: it
// fdatasyncs every segment rolled since the previous Sync, writes and syncs
// their index files, fdatasyncs the active segment, syncs the directory if a
// segment file was created, and moves the recovery point when a roll was
// covered. It returns the offset below which the log is durable.
//
// Sync holds only syncMu while it waits for the disk, so Read and Append go
// on meanwhile; data appended during the call may or may not be covered. The
// caller implements group commit by calling Sync once for every append
// waiting at that moment.
func (l *Log) Sync() (syncedTo int64, err error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.syncLocked()
}

// syncLocked is Sync; the caller holds syncMu.
func (l *Log) syncLocked() (syncedTo int64, err error) {
	work, err := l.takeSyncWork()
	if err != nil {
		return l.syncedTo, err
	}
	defer work.release()
	if err := l.syncSegments(work); err != nil {
		return l.syncedTo, l.fail(err)
	}
	l.syncedTo = max(l.syncedTo, work.target)
	l.syncedMirror.Store(l.syncedTo)
	return l.syncedTo, nil
}

// syncWork is what one Sync call covers, pinned under mu.
type syncWork struct {
	target   int64 // log end offset when Sync began
	active   *segment
	rolled   []rolledSegment
	dirDirty bool
}

type rolledSegment struct {
	s         *segment
	index     []indexEntry
	timeIndex []timeEntry
}

func (w *syncWork) release() {
	w.active.release()
	for _, r := range w.rolled {
		r.s.release()
	}
}

// takeSyncWork pins the segments to sync. The references held by l.unsynced
// pass to the returned work.
func (l *Log) takeSyncWork() (*syncWork, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkUsableLocked(); err != nil {
		return nil, err
	}
	act := l.active()
	act.acquire()
	w := &syncWork{target: act.next, active: act, dirDirty: l.dirDirty}
	for _, s := range l.unsynced {
		// Rolled segments no longer change: their indexes can be read later
		// without mu.
		w.rolled = append(w.rolled, rolledSegment{s, s.index, s.timeIndex})
	}
	l.unsynced, l.dirDirty = nil, false
	return w, nil
}

func (l *Log) syncSegments(w *syncWork) error {
	for _, r := range w.rolled {
		if err := r.s.f.Sync(); err != nil {
			return err
		}
		if r.s.deleted.Load() {
			continue // retention removed it meanwhile: no index files to leave behind
		}
		if err := writeIndexes(r.s, r.index, r.timeIndex); err != nil {
			return err
		}
	}
	if err := w.active.f.Sync(); err != nil {
		return err
	}
	if w.dirDirty {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return err
		}
	}
	if w.active.base == l.recoveryBase {
		return nil
	}
	// Every segment before the active one is now durable with its indexes.
	if err := l.writeRecoveryPoint(w.target, false); err != nil {
		return err
	}
	l.recoveryBase = w.active.base
	return nil
}
