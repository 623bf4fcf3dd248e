package harness

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/internal/seglog"
)

// The replica audit: once the nodes are stopped, every broker's copy of
// every partition is read from its segment files with samsa's own seglog,
// up to the high watermark the node checkpointed (Kafka's
// replication-offset-checkpoint) or, where it has none, the leader's high
// watermark the final reads saw. Apache Kafka's partition directories
// hold the same record batches in the same 00000000000000000000.log
// files; its index files (preallocated, Kafka's own) are left out: the
// audit reads a copy of its .log files, which seglog recovers from
// scratch, checking every batch's CRC.

// auditReplicas writes one audit entry per broker and partition.
func auditReplicas(h *history.Writer, c *Cluster, topic string, leaderHW []int64) (records int, err error) {
	var errs []error
	for _, n := range c.Nodes {
		if !n.Broker {
			continue
		}
		cp, cerr := readHWCheckpoint(filepath.Join(n.DataDir(), "replication-offset-checkpoint"))
		for p := range leaderHW {
			op := history.Op{Process: history.Nemesis, Type: history.OK, F: history.Audit, Topic: topic, Partition: int32(p), Node: n.ID}
			hw, ok := cp[fmt.Sprintf("%s %d", topic, p)]
			if !ok {
				hw = leaderHW[p]
				if cerr != nil {
					op.Error = fmt.Sprintf("no checkpointed high watermark (%v); the leader's is used", cerr)
				} else {
					op.Error = "no checkpointed high watermark; the leader's is used"
				}
			}
			op.Offset = hw
			pdir := filepath.Join(n.DataDir(), fmt.Sprintf("%s-%d", topic, p))
			var recs []history.Record
			var rerr error
			if c.Target == Kafka {
				recs, rerr = readKafkaReplica(pdir, hw)
			} else {
				recs, rerr = readReplica(pdir, hw)
			}
			op.Records = recs
			records += len(recs)
			if rerr != nil {
				op.Type, op.Error = history.Info, rerr.Error()
				errs = append(errs, fmt.Errorf("node %d partition %d: %w", n.ID, p, rerr))
			}
			h.Add(op)
		}
	}
	return records, errors.Join(errs...)
}

// readHWCheckpoint parses a replication-offset-checkpoint file into
// "topic partition" → high watermark.
func readHWCheckpoint(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "0" {
		return nil, fmt.Errorf("%s: not a version 0 checkpoint", path)
	}
	out := map[string]int64{}
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: bad line %q", path, l)
		}
		hw, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, l)
		}
		out[f[0]+" "+f[1]] = hw
	}
	return out, nil
}

// readReplica returns a partition directory's records below hw.
func readReplica(dir string, hw int64) ([]history.Record, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	l, err := seglog.Open(dir, seglog.Options{})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	p64, err := strconv.ParseInt(dir[strings.LastIndexByte(dir, '-')+1:], 10, 32)
	if err != nil {
		return nil, err
	}
	p := int32(p64)
	var out []history.Record
	off := l.LogStartOffset()
	for off < hw {
		res, err := l.Read(off, 1<<20, hw)
		if err != nil {
			return out, err
		}
		if len(res.Records) == 0 {
			return out, fmt.Errorf("log ends at %d, below the high watermark %d", off, hw)
		}
		err = batch.Iterate(res.Records, func(hd batch.Header, b []byte) error {
			if hd.IsControl() {
				return nil
			}
			return batch.ReadRecords(&hd, b[batch.HeaderSize:], math.MaxInt32, func(r batch.Record) error {
				o := hd.BaseOffset + int64(r.OffsetDelta)
				if o < off || o >= hw {
					return nil
				}
				v, err := strconv.ParseInt(string(r.Value), 10, 64)
				if err != nil {
					return fmt.Errorf("offset %d: value %q is not a decimal int64", o, r.Value)
				}
				out = append(out, history.Record{Partition: p, Offset: o, Value: v})
				return nil
			})
		})
		if err != nil {
			return out, err
		}
		off = res.NextOffset
	}
	return out, nil
}

// corruptFile damages one file of a stopped node's data directory, chosen
// by pick among its partitions' segment and index files and its Raft log
// and snapshots: one bit flipped, or the file truncated. It says what it
// did and returns how to put the file back as it was.
func corruptFile(dataDir string, pick uint64) (string, func() error, error) {
	none := func() error { return nil }
	var files []string
	for _, pattern := range []string{Topic + "-*/*.log", Topic + "-*/*.index", Topic + "-*/*.timeindex",
		"__cluster_metadata-0/*.wal", "__cluster_metadata-0/*.snap"} {
		m, _ := filepath.Glob(filepath.Join(dataDir, pattern))
		for _, f := range m {
			if st, err := os.Stat(f); err == nil && st.Size() > 0 {
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		return "no file to corrupt", none, nil
	}
	slices.Sort(files)
	r := rand.New(rand.NewPCG(pick, 0xb17f11))
	f := files[r.IntN(len(files))]
	rel, _ := filepath.Rel(dataDir, f)
	orig, err := os.ReadFile(f)
	if err != nil {
		return "", none, err
	}
	restore := func() error { return writeSynced(f, orig) }
	size := int64(len(orig))
	if r.IntN(3) == 0 {
		to := r.Int64N(size)
		return fmt.Sprintf("%s truncated from %d to %d bytes", rel, size, to), restore, writeSynced(f, orig[:to])
	}
	at, bit := r.Int64N(size), r.IntN(8)
	damaged := slices.Clone(orig)
	damaged[at] ^= 1 << bit
	return fmt.Sprintf("%s: bit %d of byte %d of %d flipped", rel, bit, at, size), restore, writeSynced(f, damaged)
}

// writeSynced replaces the content of file f (in place: same inode) and
// syncs it.
func writeSynced(f string, b []byte) error {
	fh, err := os.OpenFile(f, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = fh.Write(b)
	return errors.Join(err, fh.Sync(), fh.Close())
}

// corruptGrace is how long a node restarted after the corrupt fault has to
// refuse its damaged data: samsa checks its Raft snapshot and log before it
// listens, and its segments' unflushed tails while it opens them.
const corruptGrace = 5 * time.Second

// restartCorrupted starts a node whose file the corrupt fault damaged. A
// node that detects damage it cannot repair may refuse to start, as
// Kafka's does for a bad metadata snapshot: that is detection, not a
// failure of the run. The harness then does what an operator with a backup
// would (puts the file back) and starts the node again, so the run ends
// with every node up. A node that exits within grace without naming
// corruption is an error; one still running after grace (it repaired the
// damage or has not read it yet) is left to the audit.
func restartCorrupted(n *Node, restore func() error, grace time.Duration) (string, error) {
	if err := n.start(); err != nil {
		return "", err
	}
	select {
	case <-n.exitedChan():
	case <-time.After(grace):
		return "", nil
	}
	why := lastLogLine(n.LogPath())
	if !strings.Contains(strings.ToLower(why), "corrupt") {
		return "", fmt.Errorf("node %d exited after its restart: %s", n.ID, why)
	}
	n.mu.Lock()
	if n.crashes > 0 {
		n.crashes-- // its refusal was the detection asked for
	}
	n.mu.Unlock()
	if err := restore(); err != nil {
		return "", err
	}
	if err := n.start(); err != nil {
		return "", err
	}
	return fmt.Sprintf("node %d refused to start (%s): detected; the damaged file restored and the node started again", n.ID, why), nil
}

// lastLogLine is the last non-empty line of a node's log.
func lastLogLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
