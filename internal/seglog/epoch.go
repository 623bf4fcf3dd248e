package seglog

import (
	"fmt"
	"strconv"
	"strings"
)

// epochEntry says leader epoch `epoch` wrote its first batch at `start`.
type epochEntry struct {
	epoch int32
	start int64
}

// epochCache is the leader-epoch cache (KIP-101): epochs and start offsets,
// both strictly increasing. Log.mu guards it; its writers also hold
// Log.appendMu, so they may read it without mu.
type epochCache struct{ entries []epochEntry }

func (c *epochCache) latest() (int32, bool) {
	if len(c.entries) == 0 {
		return -1, false
	}
	return c.entries[len(c.entries)-1].epoch, true
}

// assign records that epoch starts at offset start, if epoch is newer than the
// latest one; it reports whether the cache changed. Older or equal epochs are
// ignored, as Kafka does on the leader.
func (c *epochCache) assign(epoch int32, start int64) bool {
	if epoch < 0 {
		return false
	}
	if latest, ok := c.latest(); ok && epoch <= latest {
		return false
	}
	c.entries = append(c.entries, epochEntry{epoch, start})
	return true
}

// truncateFromEnd drops epochs that start at or after leo (their data is gone).
func (c *epochCache) truncateFromEnd(leo int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].start >= leo {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops epochs wholly below logStart; the newest of them is
// kept with its start moved up to logStart, so its end offset stays known.
func (c *epochCache) truncateFromStart(logStart int64) bool {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].start <= logStart {
		i++
	}
	changed := i > 0
	c.entries = append([]epochEntry(nil), c.entries[i:]...)
	if len(c.entries) > 0 && c.entries[0].start < logStart {
		c.entries[0].start = logStart
		changed = true
	}
	return changed
}

// endOffsetFor follows Kafka's LeaderEpochFileCache.endOffsetFor:
//   - UNDEFINED epoch, empty cache or an epoch above the latest: (-1, -1);
//   - the latest epoch: (epoch, leo);
//   - otherwise: the largest epoch <= requested and the start offset of the
//     first epoch above the requested one; if every known epoch is above the
//     requested one, (requested, start of the first known epoch), which tells
//     a follower to truncate to there.
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	latest, ok := c.latest()
	switch {
	case epoch < 0 || !ok || epoch > latest:
		return -1, -1
	case epoch == latest:
		return epoch, leo
	}
	i := 0 // first entry with epoch > requested; exists since epoch < latest
	for c.entries[i].epoch <= epoch {
		i++
	}
	if i == 0 {
		return epoch, c.entries[0].start
	}
	return c.entries[i-1].epoch, c.entries[i].start
}

func (c *epochCache) lines() []string {
	lines := []string{strconv.Itoa(len(c.entries))}
	for _, e := range c.entries {
		lines = append(lines, fmt.Sprintf("%d %d", e.epoch, e.start))
	}
	return lines
}

func parseEpochs(lines []string) (epochCache, error) {
	var c epochCache
	if len(lines) == 0 {
		return c, nil
	}
	n, err := strconv.Atoi(lines[0])
	if err != nil || n != len(lines)-1 {
		return c, fmt.Errorf("seglog: %s: bad entry count", epochFile)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 2 {
			return c, fmt.Errorf("seglog: %s: bad line %q", epochFile, l)
		}
		ep, err1 := strconv.ParseInt(f[0], 10, 32)
		start, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return c, fmt.Errorf("seglog: %s: bad line %q", epochFile, l)
		}
		if !c.assign(int32(ep), start) {
			return c, fmt.Errorf("seglog: %s: epochs not increasing", epochFile)
		}
	}
	return c, nil
}
