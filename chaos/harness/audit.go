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
// did.
func corruptFile(dataDir string, pick uint64) (string, error) {
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
		return "no file to corrupt", nil
	}
	slices.Sort(files)
	r := rand.New(rand.NewPCG(pick, 0xb17f11))
	f := files[r.IntN(len(files))]
	rel, _ := filepath.Rel(dataDir, f)
	st, err := os.Stat(f)
	if err != nil {
		return "", err
	}
	if r.IntN(3) == 0 {
		to := r.Int64N(st.Size())
		return fmt.Sprintf("%s truncated from %d to %d bytes", rel, st.Size(), to), os.Truncate(f, to)
	}
	fh, err := os.OpenFile(f, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	at, bit := r.Int64N(st.Size()), r.IntN(8)
	b := make([]byte, 1)
	if _, err := fh.ReadAt(b, at); err != nil {
		return "", err
	}
	b[0] ^= 1 << bit
	if _, err := fh.WriteAt(b, at); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: bit %d of byte %d of %d flipped", rel, bit, at, st.Size()), fh.Sync()
}
