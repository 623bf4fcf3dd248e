package metadata

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/samsa-io/samsa/internal/vfs"
)

// FileLog is the single-node metadata log: `__cluster_metadata-0/
// metadata.log` under metadata.log.dir, a sequence of frames
// [len u32][crc32c u32][payload], one frame per Append. The payload is the
// record (Record.Encode) when the Append held one, else a JSON array of
// the records, so that an Append survives a crash whole or not at all
// (CreateTopics never leaves a topic without its partitions), as a Kafka
// record batch does. Append returns only after the frame is fsynced, so an
// acknowledged metadata change survives a crash. A torn tail frame is
// truncated on open.
type FileLog struct {
	mu     sync.Mutex
	f      vfs.File // mu guards f, size and failed
	size   int64
	failed error // sticky: after a failed write or sync the file's end is in doubt
}

// MaxFrameSize bounds one Append's frame; a larger Append is refused.
const MaxFrameSize = 64 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// FileLogName is the single-node log's file in its directory.
const FileLogName = "metadata.log"

// OpenFileLog opens (creating) the log in dir on the real filesystem and
// returns every stored record.
func OpenFileLog(dir string) (*FileLog, []Record, error) { return OpenFileLogFS(nil, dir) }

// OpenFileLogFS is OpenFileLog on fsys (nil: vfs.Default). The directory
// and the file are made durable names before it returns, and a torn tail
// is cut off durably, so that later appends follow the last good frame.
func OpenFileLogFS(fsys vfs.FS, dir string) (*FileLog, []Record, error) {
	fsys = vfs.Or(fsys)
	if err := vfs.MkdirAllSync(fsys, dir, 0o755); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, FileLogName)
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	recs, good, err := readFrames(f)
	if err == nil {
		err = truncateTo(f, good)
	}
	if err == nil {
		err = fsys.SyncDir(dir)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return &FileLog{f: f, size: good}, recs, nil
}

// truncateTo cuts f after its good prefix, makes that durable and puts the
// write position there.
func truncateTo(f vfs.File, good int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != good {
		if err := f.Truncate(good); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	_, err = f.Seek(good, io.SeekStart)
	return err
}

// readFrames reads frames until the end or the first torn/corrupt frame
// and returns the records and the size of the good prefix. A record that
// passes its CRC but does not decode is an error: that is corruption in
// the middle, not a torn tail.
func readFrames(f vfs.File) ([]Record, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	r := bufio.NewReader(f)
	var recs []Record
	var good int64
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return recs, good, nil
		}
		n := binary.BigEndian.Uint32(hdr[0:])
		if n > MaxFrameSize || int64(n) > st.Size()-good-8 { // a torn length: allocate nothing for it
			return recs, good, nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return recs, good, nil
		}
		if crc32.Checksum(buf, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			return recs, good, nil
		}
		if recs, err = decodeFrame(recs, buf); err != nil {
			return nil, 0, fmt.Errorf("metadata log %s at byte %d: %w", f.Name(), good, err)
		}
		good += 8 + int64(n)
	}
}

// encodeFrame returns the payload of one Append.
func encodeFrame(recs []Record) ([]byte, error) {
	if len(recs) == 1 {
		return recs[0].Encode()
	}
	raw := make([]json.RawMessage, len(recs))
	for i := range recs {
		b, err := recs[i].Encode()
		if err != nil {
			return nil, err
		}
		raw[i] = b
	}
	return json.Marshal(raw)
}

// decodeFrame appends the records of one frame's payload to recs.
func decodeFrame(recs []Record, b []byte) ([]Record, error) {
	if len(b) == 0 || b[0] != '[' {
		rec, err := DecodeRecord(b)
		if err != nil {
			return nil, err
		}
		return append(recs, rec), nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("metadata: decode frame: %w", err)
	}
	for _, r := range raw {
		rec, err := DecodeRecord(r)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// Append writes recs as one frame and fsyncs it. After a failed write or
// sync the log refuses every later Append (what the file holds past the
// last acknowledged frame is unknown until it is reopened and its tail
// checked).
func (l *FileLog) Append(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	b, err := encodeFrame(recs)
	if err != nil {
		return err
	}
	if len(b) > MaxFrameSize {
		return fmt.Errorf("metadata: %d records encode to %d bytes, over the %d-byte frame limit", len(recs), len(b), MaxFrameSize)
	}
	buf := make([]byte, 0, 8+len(b))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(b, crcTable))
	buf = append(buf, b...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("metadata: log closed")
	}
	if l.failed != nil {
		return fmt.Errorf("metadata: log failed earlier: %w", l.failed)
	}
	if _, err := l.f.Write(buf); err != nil {
		l.failed = err
		return err
	}
	if err := l.f.Sync(); err != nil {
		l.failed = err
		return err
	}
	l.size += int64(len(buf))
	return nil
}

// Close closes the file.
func (l *FileLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
