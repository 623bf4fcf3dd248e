package seglog

// OffsetForTimestamp answers ListOffsets for a timestamp: the first offset
// at or above the log start whose record timestamp is >= ts (record
// precision for uncompressed CreateTime batches, batch precision otherwise;
// see firstRecordAtOrAfter), with that timestamp. ok is false if no batch
// has maxTimestamp >= ts, or if the data failed its checks.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	l.mu.RLock()
	logStart := l.logStart
	views := l.pinFromTimestampLocked(ts, logStart)
	l.mu.RUnlock()
	defer func() {
		for i := range views {
			views[i].release()
		}
	}()
	for i := range views {
		if off, t, found := views[i].offsetForTimestamp(ts, logStart); found {
			return off, t, true
		}
	}
	return -1, -1, false
}

// pinFromTimestampLocked pins the segments from the first one that may hold
// a batch with maxTimestamp >= ts (Kafka's choice: the first whose largest
// timestamp is >= ts; later ones are searched only if that one fails).
func (l *Log) pinFromTimestampLocked(ts, logStart int64) []segView {
	for i, s := range l.segs {
		if s.maxTs >= ts && s.next > logStart {
			views := make([]segView, 0, len(l.segs)-i)
			for _, s := range l.segs[i:] {
				views = append(views, viewLocked(s))
			}
			return views
		}
	}
	return nil
}

// offsetForTimestamp scans the segment from the time index's starting point.
func (v *segView) offsetForTimestamp(ts, logStart int64) (int64, int64, bool) {
	if v.maxTs < ts || v.next <= logStart {
		return 0, 0, false
	}
	start := max(v.s.base+int64(lookupTime(v.timeIndex, ts)), logStart)
	pos, _, err := v.find(start, findWindow(len(v.index), v.size))
	if err != nil {
		return 0, 0, false
	}
	sc := newScanner(v.s.f, v.size)
	for pos < v.size {
		h, b, err := sc.full(pos)
		if err != nil {
			return 0, 0, false
		}
		if off, t, found := firstRecordAtOrAfter(b, &h, ts, logStart); found {
			return off, t, true
		}
		pos += int64(h.Size())
	}
	return 0, 0, false
}

// MaxTimestamp answers ListOffsets MAX_TIMESTAMP (KIP-734): the largest
// timestamp in the log and the offset of the first record carrying it (the
// batch's first offset for compressed or LogAppendTime batches). (-1, -1)
// for an empty log.
func (l *Log) MaxTimestamp() (offset, timestamp int64) {
	l.mu.RLock()
	var best *segment
	for _, s := range l.segs {
		if s.maxTs >= 0 && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		l.mu.RUnlock()
		return -1, -1
	}
	v := viewLocked(best)
	l.mu.RUnlock()
	defer v.release()
	pos, _, err := v.find(v.maxTsOffset, findWindow(len(v.index), v.size))
	if err != nil {
		return v.maxTsOffset, v.maxTs
	}
	h, b, err := newScanner(v.s.f, v.size).full(pos)
	if err != nil {
		return v.maxTsOffset, v.maxTs
	}
	if off, t, ok := firstRecordAtOrAfter(b, &h, v.maxTs, h.BaseOffset); ok {
		return off, t
	}
	return v.maxTsOffset, v.maxTs
}
