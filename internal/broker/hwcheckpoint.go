package broker

// The high-watermark checkpoint, Kafka's replication-offset-checkpoint: one
// file per log dir naming the high watermark of every partition in that dir
// whose high watermark is known (led here, or learned from the leader), in
// Kafka's text form:
//
//	0                 (version)
//	2                 (entries)
//	orders 0 1234     (topic, partition, high watermark)
//	orders 1 987
//
// It is replaced through vfs.WriteFileAtomic every
// replica.high.watermark.checkpoint.interval.ms (5 s; only when it changed)
// and on a clean Close, and read once at start: a partition whose
// directory was already there (same topic id) starts with its checkpointed
// high watermark, bounded by its log start and log end, and counts as
// knowing it. A partition without an entry (none written yet, or a
// checkpoint samsa cannot read, which is logged and ignored) starts as
// before: its recovered log end when it leads, its leader's on the first
// fetch when it follows.

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/samsa-io/samsa/internal/vfs"
)

// hwCheckpointFile is the checkpoint's name in each log dir.
const hwCheckpointFile = "replication-offset-checkpoint"

// encodeHWCheckpoint is the checkpoint's text, entries in topic, partition
// order.
func encodeHWCheckpoint(hws map[partKey]int64) []byte {
	keys := make([]partKey, 0, len(hws))
	for k := range hws {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].index < keys[j].index
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(keys))
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d %d\n", k.topic, k.index, hws[k])
	}
	return b.Bytes()
}

// parseHWCheckpoint reads the checkpoint's text as Kafka's
// CheckpointFileWithFailureHandler does: version 0, the entry count, then
// exactly that many "topic partition offset" lines.
func parseHWCheckpoint(b []byte) (map[partKey]int64, error) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 2 {
		return nil, errors.New("no version and entry count")
	}
	if strings.TrimSpace(lines[0]) != "0" {
		return nil, fmt.Errorf("unsupported version %q", lines[0])
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("bad entry count %q", lines[1])
	}
	if len(lines)-2 != n {
		return nil, fmt.Errorf("%d entries, the header says %d", len(lines)-2, n)
	}
	out := make(map[partKey]int64, n)
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("malformed entry %q", line)
		}
		idx, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || idx < 0 || off < 0 {
			return nil, fmt.Errorf("malformed entry %q", line)
		}
		out[partKey{f[0], int32(idx)}] = off
	}
	return out, nil
}

// readHWCheckpoints loads every log dir's checkpoint (at start, before any
// partition opens).
func (m *partitionManager) readHWCheckpoints() {
	m.hwCkpt = map[string]map[partKey]int64{}
	for _, dir := range m.b.opts.LogDirs {
		path := filepath.Join(dir, hwCheckpointFile)
		b, err := m.fs.ReadFile(path)
		if err != nil {
			continue // none yet
		}
		hws, err := parseHWCheckpoint(b)
		if err != nil {
			m.b.log.Warn("ignoring the high-watermark checkpoint", "file", path, "err", err)
			continue
		}
		m.hwCkpt[filepath.Clean(dir)] = hws
	}
}

// checkpointedHW is the high watermark the checkpoint of the log dir of
// partition directory path holds for k.
func (m *partitionManager) checkpointedHW(path string, k partKey) (int64, bool) {
	hw, ok := m.hwCkpt[filepath.Dir(filepath.Clean(path))][k]
	return hw, ok
}

// writeHWCheckpoints writes each log dir's checkpoint when it changed.
func (m *partitionManager) writeHWCheckpoints() error {
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	byDir := map[string]map[partKey]int64{}
	for _, dir := range m.b.opts.LogDirs {
		byDir[filepath.Clean(dir)] = map[partKey]int64{}
	}
	m.mu.RLock()
	// A directory found at start and not opened yet keeps its entry.
	for name, path := range m.onDisk {
		k, ok := parsePartitionDir(name)
		if !ok {
			continue
		}
		if hw, ok := m.checkpointedHW(path, k); ok {
			if hws := byDir[filepath.Dir(filepath.Clean(path))]; hws != nil {
				hws[k] = hw
			}
		}
	}
	for _, p := range m.parts {
		if !p.hwKnown.Load() {
			continue // its hw is only its recovered log end
		}
		if hws := byDir[filepath.Dir(filepath.Clean(p.dir))]; hws != nil {
			hws[partKey{p.topic, p.index}] = p.hw.Load()
		}
	}
	m.mu.RUnlock()
	if m.ckptLast == nil {
		m.ckptLast = map[string][]byte{}
	}
	var errs []error
	for dir, hws := range byDir {
		body := encodeHWCheckpoint(hws)
		if last, ok := m.ckptLast[dir]; ok && bytes.Equal(last, body) {
			continue
		}
		if err := vfs.WriteFileAtomic(m.fs, filepath.Join(dir, hwCheckpointFile), body, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("high-watermark checkpoint in %s: %w", dir, err))
			continue
		}
		m.ckptLast[dir] = body
	}
	return errors.Join(errs...)
}

// hwCheckpointLoop writes the checkpoints every
// replica.high.watermark.checkpoint.interval.ms.
func (b *Broker) hwCheckpointLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.opts.HWCheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			if err := b.parts.writeHWCheckpoints(); err != nil {
				b.log.Error("high-watermark checkpoint", "err", err)
			}
		}
	}
}
