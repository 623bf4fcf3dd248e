package seglog

import (
	"errors"
	"io/fs"

	"github.com/samsa-io/samsa/internal/vfs"
)

// A segment's gap marker, %020d.gaps, says that offsets may jump forward
// between the batches of that segment (and before its first one). A
// follower of a compacted leader copies such gaps (AppendReplicated), and
// TruncateTo may bring the recovery point into a segment that compaction
// rewrote. The base offset of a batch is outside its CRC, so in a segment
// without the marker recovery keeps requiring contiguous offsets above the
// recovery point: a gap there is corruption. The marker is written and made
// durable (vfs.WriteFileAtomic: its directory is synced) before the first
// batch that needs it is written, so a gap on disk always has its marker;
// it goes away with its segment's other files.

// gapsPath is the segment's gap marker.
func (s *segment) gapsPath() string { return s.path[:len(s.path)-4] + ".gaps" }

// markerContent is what a gap marker holds: a version line, like the
// checkpoints.
var markerContent = []byte(checkpointVersion + "\n")

// markGaps makes the segment's gap marker durable, once.
func markGaps(s *segment) error {
	if s.gaps {
		return nil
	}
	if err := vfs.WriteFileAtomic(s.fs, s.gapsPath(), markerContent, 0o644); err != nil {
		return err
	}
	s.gaps = true
	return nil
}

// hasGapMarker reports whether the segment's gap marker exists.
func hasGapMarker(s *segment) (bool, error) {
	_, err := s.fs.Stat(s.gapsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
