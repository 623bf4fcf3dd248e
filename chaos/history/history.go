// Package history is the record of one fault-injection run: every client
// operation (its invocation and its completion) and every fault, in the
// order they happened, one JSON object per line. The harness writes it; the
// checker reads it back and judges it.
//
// The model follows Jepsen's: an operation is invoked by a process, and
// completes as ok (it happened), fail (it certainly did not happen) or info
// (indeterminate: it may or may not have happened). A process whose
// operation ended in info is never reused for another operation in Jepsen;
// here a process is one client goroutine, and it may go on, because the
// checker keys everything on the unique value a send carries, not on the
// process.
package history

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Type says what an entry is: the start of an operation or how it ended.
type Type string

const (
	Invoke Type = "invoke" // the operation started
	OK     Type = "ok"     // it happened
	Fail   Type = "fail"   // it certainly did not happen
	Info   Type = "info"   // it may or may not have happened
)

// F is the function an operation performs.
type F string

const (
	// Send produces one record whose Value is unique in the run. On ok it
	// carries the Partition and Offset the broker acknowledged.
	Send F = "send"
	// Poll consumes; on ok it carries the Records it returned, in order.
	// Mode tells whether the consumer was assigned its partitions or
	// subscribed to the topic through a group.
	Poll F = "poll"
	// FinalRead is a poll of the final reads after the run has healed: it
	// reads each partition from its start to its end.
	FinalRead F = "final-read"
	// Fault is a fault starting (Invoke) or healed (OK), by the nemesis.
	Fault F = "fault"
	// Audit is one replica's content after the run, for the replica audit:
	// the Records a node holds for Partition, below its high watermark
	// (Offset).
	Audit F = "audit"
)

// Mode is how a consumer got its partitions.
type Mode string

const (
	Assign    Mode = "assign"
	Subscribe Mode = "subscribe"
)

// Record is one record as a consumer (or a replica audit) saw it.
type Record struct {
	Partition int32 `json:"p"`
	Offset    int64 `json:"o"`
	Value     int64 `json:"v"`
}

// Op is one line of a history.
type Op struct {
	Index   int64 `json:"index"`
	Time    int64 `json:"time"` // nanoseconds since the run started
	Process int   `json:"process"`
	Type    Type  `json:"type"`
	F       F     `json:"f"`

	Topic     string   `json:"topic,omitempty"`
	Partition int32    `json:"partition,omitempty"`
	Offset    int64    `json:"offset,omitempty"`
	Value     int64    `json:"value,omitempty"`
	Mode      Mode     `json:"mode,omitempty"`
	Records   []Record `json:"records,omitempty"`
	Node      int32    `json:"node,omitempty"`

	// Fault names the fault kind ("partition-halves", "kill", ...) and
	// Detail says which nodes and how, for Fault entries.
	Fault  string `json:"fault,omitempty"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`

	// Targets are the nodes a fault's start acts on (killed, paused, cut
	// off, or whose packets are dropped), and Leaders the leader of each
	// partition of the topic (Leaders[p], -1 if unknown) as the cluster's
	// metadata said just before the fault started. Histories written
	// before these fields existed lack them; readers must cope.
	Targets []int32 `json:"targets,omitempty"`
	Leaders []int32 `json:"leaders,omitempty"`
}

// Nemesis is the process number of fault entries.
const Nemesis = -1

// Writer appends entries to a history, numbering and timing them. It is
// safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	w     *bufio.Writer
	enc   *json.Encoder
	start time.Time
	next  int64
	err   error
}

// NewWriter starts a history on w; times count from now.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriter(w)
	return &Writer{w: bw, enc: json.NewEncoder(bw), start: time.Now()}
}

// Add appends op, setting its Index and Time, and returns it as written.
func (w *Writer) Add(op Op) Op {
	w.mu.Lock()
	defer w.mu.Unlock()
	op.Index = w.next
	w.next++
	op.Time = time.Since(w.start).Nanoseconds()
	if w.err == nil {
		w.err = w.enc.Encode(&op)
	}
	return op
}

// Flush writes out what is buffered and returns the first write error.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// MaxLine bounds one entry of a history being read (a poll of many records
// is the longest).
const MaxLine = 64 << 20

// ReadFile reads the history in the file at path (Read).
func ReadFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f)
}

// Read parses a history. It rejects, with the line number, a line that is
// not an entry, an unknown type or function, and indexes out of order.
func Read(r io.Reader) ([]Op, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	var ops []Op
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var op Op
		if err := json.Unmarshal(b, &op); err != nil {
			return ops, fmt.Errorf("history line %d: %w", line, err)
		}
		if err := op.validate(); err != nil {
			return ops, fmt.Errorf("history line %d: %w", line, err)
		}
		if n := len(ops); n > 0 && op.Index <= ops[n-1].Index {
			return ops, fmt.Errorf("history line %d: index %d after %d", line, op.Index, ops[n-1].Index)
		}
		ops = append(ops, op)
	}
	if err := sc.Err(); err != nil {
		return ops, fmt.Errorf("history line %d: %w", line+1, err)
	}
	return ops, nil
}

func (op *Op) validate() error {
	switch op.Type {
	case Invoke, OK, Fail, Info:
	default:
		return fmt.Errorf("unknown type %q", op.Type)
	}
	switch op.F {
	case Send, Poll, FinalRead, Fault, Audit:
	default:
		return fmt.Errorf("unknown f %q", op.F)
	}
	if op.Index < 0 {
		return errors.New("negative index")
	}
	return nil
}
