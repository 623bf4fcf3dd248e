package broker

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/seglog"
	"github.com/samsa-io/samsa/internal/uuid"
	"github.com/samsa-io/samsa/internal/vfs"
)

// partitionManager opens, reconfigures and deletes the partitions this
// node hosts, following the metadata image: it is a controller listener,
// so it sees every image in log order.
type partitionManager struct {
	b  *Broker
	fs vfs.FS

	mu       sync.RWMutex
	parts    map[partKey]*partition // mu guards parts, byID, onDisk, firstErr
	onDisk   map[string]string      // dir name → path, found at start and not yet claimed
	firstErr error
	// hwCkpt is each log dir's high-watermark checkpoint as read at start
	// (hwcheckpoint.go); ckptMu serializes the writes, ckptLast is what each
	// dir's file holds (ckptMu guards it). ckptMu is taken before mu.
	hwCkpt   map[string]map[partKey]int64
	ckptMu   sync.Mutex
	ckptLast map[string][]byte
}

type partKey struct {
	topic string
	index int32
}

func newPartitionManager(b *Broker) *partitionManager {
	return &partitionManager{b: b, fs: vfs.Or(b.opts.FS), parts: map[partKey]*partition{}, onDisk: map[string]string{}}
}

// get returns a hosted partition (nil if not hosted).
func (m *partitionManager) get(topic string, index int32) *partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.parts[partKey{topic, index}]
}

func (m *partitionManager) all() []*partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*partition, 0, len(m.parts))
	for _, p := range m.parts {
		out = append(out, p)
	}
	return out
}

func (m *partitionManager) err() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.firstErr
}

// scanDirs finds existing partition directories in every log dir.
func (m *partitionManager) scanDirs() error {
	for _, dir := range m.b.opts.LogDirs {
		ents, err := m.fs.ReadDir(dir) // made and locked by Broker.New
		if err != nil {
			return fmt.Errorf("log.dirs %s: %w", dir, err)
		}
		for _, e := range ents {
			if !e.IsDir() || strings.HasPrefix(e.Name(), "__cluster_metadata") {
				continue
			}
			if _, ok := parsePartitionDir(e.Name()); ok {
				m.onDisk[e.Name()] = filepath.Join(dir, e.Name())
			}
		}
	}
	m.readHWCheckpoints()
	return nil
}

func parsePartitionDir(name string) (partKey, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return partKey{}, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || n < 0 {
		return partKey{}, false
	}
	return partKey{name[:i], int32(n)}, true
}

// onImage is the controller listener: it makes the hosted partitions match
// next. It is a metadata listener (metadata.Publisher): it runs on the
// metadata log's goroutine, before the entry's proposal returns.
func (m *partitionManager) onImage(prev, next *metadata.Image, recs []metadata.Record) {
	changedConfigs := map[string]bool{}
	for _, r := range recs {
		if r.Type == metadata.TypeConfig && r.Config.ResourceType == metadata.ResourceTopic {
			changedConfigs[r.Config.ResourceName] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Remove partitions whose topic is gone (or was re-created with a new
	// id), and replicas no longer assigned here.
	for k, p := range m.parts {
		t := next.Topic(k.topic)
		if t == nil || t.ID != p.topicID || int(k.index) >= len(t.Partitions) ||
			!hosts(t.Partitions[k.index].Replicas, m.b.opts.NodeID) {
			m.removeLocked(k, p)
		}
	}
	for _, t := range next.Topics() {
		for i, pm := range t.Partitions {
			if !hosts(pm.Replicas, m.b.opts.NodeID) {
				continue
			}
			k := partKey{t.Name, int32(i)}
			p := m.parts[k]
			opened := p == nil
			if p == nil {
				var err error
				if p, err = m.openLocked(next, t, int32(i)); err != nil {
					m.b.log.Error("cannot open partition", "topic", t.Name, "partition", i, "err", err)
					if m.firstErr == nil {
						m.firstErr = err
					}
					continue
				}
				m.parts[k] = p
			} else if changedConfigs[t.Name] || recs == nil {
				// recs is nil for a snapshot: anything may have changed.
				m.configureLocked(next, p)
			}
			m.applyRoleLocked(next, p, &t.Partitions[i], opened)
		}
	}
}

// removeStray deletes the partition directories no topic of the image
// claims: left over from a topic deleted while this node was down, or
// from a deletion a crash interrupted. It runs once the broker has caught
// up with the metadata log (it was unfenced), never on an image that may
// still lack topics created while it was down.
func (m *partitionManager) removeStray() {
	m.mu.Lock()
	defer m.mu.Unlock()
	im := m.b.image()
	for name, path := range m.onDisk {
		if k, ok := parsePartitionDir(name); ok {
			if t := im.Topic(k.topic); t != nil && int(k.index) < len(t.Partitions) && hosts(t.Partitions[k.index].Replicas, m.b.opts.NodeID) {
				continue // claimed by a partition being opened
			}
		}
		m.b.log.Warn("deleting partition directory of a deleted topic", "dir", path)
		m.fs.RemoveAll(path)
		delete(m.onDisk, name)
	}
}

func hosts(replicas []int32, id int32) bool {
	for _, r := range replicas {
		if r == id {
			return true
		}
	}
	return false
}

func (m *partitionManager) openLocked(im *metadata.Image, t *metadata.Topic, index int32) (*partition, error) {
	name := fmt.Sprintf("%s-%d", t.Name, index)
	path, found := m.onDisk[name]
	if found {
		delete(m.onDisk, name)
		if id, err := readPartitionMetadata(m.fs, path); err != nil || id != t.ID {
			// Same name, other topic id (or partition.metadata never made
			// durable): a deleted topic's leftovers.
			m.b.log.Warn("replacing partition directory of an older topic with the same name", "dir", path)
			if err := m.fs.RemoveAll(path); err != nil {
				return nil, err
			}
			found = false
		}
	}
	if !found {
		path = filepath.Join(m.pickLogDir(), name)
		// The directory's name must be durable before anything in it is.
		if err := vfs.MkdirAllSync(m.fs, path, 0o755); err != nil {
			return nil, err
		}
		if err := writePartitionMetadata(m.fs, path, t.ID); err != nil {
			return nil, err
		}
	}
	tc := m.b.topicConfig(im, t.Name)
	segOpts := tc.segOpts
	segOpts.FS = m.fs
	l, err := seglog.Open(path, segOpts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	p := &partition{topic: t.Name, index: index, topicID: t.ID, dir: path, log: l}
	p.followLeader.Store(-1)
	p.applyConfig(tc)
	if hw, ok := m.checkpointedHW(path, partKey{t.Name, index}); found && ok {
		// The checkpointed high watermark (hwcheckpoint.go), within the
		// recovered log.
		p.hw.Store(min(max(hw, l.LogStartOffset()), l.LogEndOffset()))
		p.hwKnown.Store(true)
		if end := l.LogEndOffset(); p.hw.Load() < end {
			// The recovered tail counts as one byte, so a parked consumer
			// wakes when the high watermark passes it.
			p.totalBytes = 1
			p.marks = append(p.marks, byteMark{end: end, bytes: 1})
			p.leoBytes.Store(1)
		}
	} else {
		// Without a checkpoint: everything recovered from disk was durable
		// before the restart (recovery truncated what was not), so a leader
		// shows it all at once; a follower takes its leader's.
		p.hw.Store(l.LogEndOffset())
	}
	p.startFlusher(m.b.log.Error)
	return p, nil
}

func (p *partition) applyConfig(tc topicConfig) {
	p.cfg.Store(&tc)
	p.fsyncOnAck.Store(tc.FsyncOnAck())
	fm := tc.FlushMessages
	if fm >= 1<<62 {
		fm = 0
	}
	p.flushMsgs.Store(fm)
	p.flushEvery = 0
	if !tc.FsyncOnAck() && tc.FlushMs > 0 && tc.FlushMs < 1<<40 {
		p.flushEvery = time.Duration(tc.FlushMs) * time.Millisecond
	}
}

func (m *partitionManager) configureLocked(im *metadata.Image, p *partition) {
	tc := m.b.topicConfig(im, p.topic)
	p.log.SetOptions(tc.segOpts)
	// fsyncOnAck is read by concurrent appenders; changing it while they
	// run is benign: each append sees one policy or the other, and
	// switching to Kafka's policy publishes everything appended so far.
	oldEvery := p.flushEvery
	p.applyConfig(tc)
	if p.flushEvery != oldEvery {
		// The flusher reads flush.ms when it starts.
		p.stopFlusher()
		p.startFlusher(m.b.log.Error)
	}
	if !p.fsyncOnAck.Load() {
		p.localDurable(p.log.LogEndOffset())
	}
}

func (m *partitionManager) removeLocked(k partKey, p *partition) {
	delete(m.parts, k)
	m.b.fetchers.remove(p)
	p.appendMu.Lock()
	p.becomeFollowerLocked(-1, p.leaderEpoch.Load())
	p.appendMu.Unlock()
	p.waiters.CompleteAll()
	p.stopFlusher()
	if err := p.log.Delete(); err != nil {
		m.b.log.Error("deleting partition", "dir", p.dir, "err", err)
	}
}

// pickLogDir returns the log dir hosting the fewest partitions.
func (m *partitionManager) pickLogDir() string {
	count := map[string]int{}
	for _, p := range m.parts {
		count[filepath.Dir(p.dir)]++
	}
	best := m.b.opts.LogDirs[0]
	for _, d := range m.b.opts.LogDirs[1:] {
		if count[d] < count[best] {
			best = d
		}
	}
	return best
}

func (m *partitionManager) applyRetention() {
	for _, p := range m.all() {
		if _, err := p.log.ApplyRetention(); err != nil {
			m.b.log.Error("retention", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
}

// compact runs the log cleaner over every partition of a compacted topic
// (cleaner.go), below the high watermark. It stops early when stop closes.
func (m *partitionManager) compact(stop <-chan struct{}) {
	for _, p := range m.all() {
		select {
		case <-stop:
			return
		default:
		}
		tc := p.cfg.Load()
		if !tc.compact {
			continue
		}
		opts := tc.cleanOpts
		opts.MaxOffset = p.hw.Load()
		st, err := p.log.Compact(opts)
		switch {
		case errors.Is(err, seglog.ErrClosed):
		case err != nil:
			m.b.log.Error("log cleaner", "topic", p.topic, "partition", p.index, "err", err)
		case st.SegmentsWritten > 0:
			m.b.log.Debug("log cleaner", "topic", p.topic, "partition", p.index, "segments", st.SegmentsWritten,
				"bytes.read", st.BytesRead, "bytes.written", st.BytesWritten, "records.removed", st.RecordsRemoved)
		}
	}
}

func (m *partitionManager) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for k, p := range m.parts {
		p.waiters.CompleteAll()
		p.stopFlusher()
		if err := p.log.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w", k.topic, k.index, err))
		}
	}
	m.parts = map[partKey]*partition{}
	return errors.Join(errs...)
}

// partitionMetadataFile holds the partition's topic id, as Kafka writes
// it (PartitionMetadataFile): "version: 0\ntopic_id: <id>\n".
const partitionMetadataFile = "partition.metadata"

// writePartitionMetadata writes dir's partition.metadata durably
// (vfs.WriteFileAtomic).
func writePartitionMetadata(fsys vfs.FS, dir string, id metadata.Uuid) error {
	body := fmt.Sprintf("version: 0\ntopic_id: %s\n", id)
	return vfs.WriteFileAtomic(fsys, filepath.Join(dir, partitionMetadataFile), []byte(body), 0o644)
}

func readPartitionMetadata(fsys vfs.FS, dir string) (metadata.Uuid, error) {
	path := filepath.Join(dir, partitionMetadataFile)
	b, err := fsys.ReadFile(path)
	if err != nil {
		return metadata.Uuid{}, err
	}
	id, err := parsePartitionMetadata(b)
	if err != nil {
		return id, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// parsePartitionMetadata reads partition.metadata as Kafka's
// PartitionMetadataReadBuffer does: "version: 0", then "topic_id: <id>".
func parsePartitionMetadata(b []byte) (metadata.Uuid, error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) != 2 {
		return metadata.Uuid{}, fmt.Errorf("want 2 lines, got %d", len(lines))
	}
	if v, ok := strings.CutPrefix(lines[0], "version: "); !ok || strings.TrimSpace(v) != "0" {
		return metadata.Uuid{}, fmt.Errorf("unsupported version line %q", lines[0])
	}
	v, ok := strings.CutPrefix(lines[1], "topic_id: ")
	if !ok {
		return metadata.Uuid{}, fmt.Errorf("no topic_id in %q", lines[1])
	}
	id, err := uuid.Parse(strings.TrimSpace(v))
	if err != nil {
		return id, fmt.Errorf("bad topic_id: %w", err)
	}
	return id, nil
}
