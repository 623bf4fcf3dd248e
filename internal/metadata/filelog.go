package metadata

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// FileLog is the single-node metadata log: `__cluster_metadata-0/
// metadata.log` under metadata.log.dir, a sequence of frames
// [len u32][crc32c u32][record]. Append returns only after the records
// are fsynced, so an acknowledged metadata change (a created topic)
// survives a crash. A torn tail frame is truncated on open.
type FileLog struct {
	mu   sync.Mutex
	f    *os.File // mu guards f and size
	size int64
}

// MaxRecordSize bounds one stored record when reading it back.
const MaxRecordSize = 1 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// OpenFileLog opens (creating) the log in dir and returns every stored record.
func OpenFileLog(dir string) (*FileLog, []Record, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "metadata.log")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	recs, good, err := readFrames(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &FileLog{f: f, size: good}, recs, nil
}

// readFrames reads frames until the end or the first torn/corrupt frame
// and returns the records and the size of the good prefix. A record that
// passes its CRC but does not decode is an error: that is corruption in
// the middle, not a torn tail.
func readFrames(f *os.File) ([]Record, int64, error) {
	r := bufio.NewReader(f)
	var recs []Record
	var good int64
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return recs, good, nil
		}
		n := binary.BigEndian.Uint32(hdr[0:])
		if n > MaxRecordSize {
			return recs, good, nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return recs, good, nil
		}
		if crc32.Checksum(buf, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			return recs, good, nil
		}
		rec, err := DecodeRecord(buf)
		if err != nil {
			return nil, 0, fmt.Errorf("metadata log %s at byte %d: %w", f.Name(), good, err)
		}
		recs = append(recs, rec)
		good += 8 + int64(n)
	}
}

// Append writes recs and fsyncs them.
func (l *FileLog) Append(recs []Record) error {
	var buf []byte
	for i := range recs {
		b, err := recs[i].Encode()
		if err != nil {
			return err
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(b, crcTable))
		buf = append(buf, b...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("metadata: log closed")
	}
	if _, err := l.f.Write(buf); err != nil {
		// Cut back to the last good frame so a partial write is not followed by good ones.
		_ = l.f.Truncate(l.size)
		_, _ = l.f.Seek(l.size, io.SeekStart)
		return err
	}
	if err := l.f.Sync(); err != nil {
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
