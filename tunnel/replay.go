package tunnel

import (
	"sync"
	"time"
)

// saltFilter remembers salts so that a replayed first flight is refused. It is an
// exact set (never a Bloom filter: SIP022 forbids false positives, and with an exact
// set a legitimate client can never be refused by bad luck) kept in two
// generations: lookups consult both, inserts go to the current one, and rotation
// drops the older one.
//
//   - SIP004 has no timestamps, so a salt must be remembered for as long as memory
//     allows: rotate when the current generation holds capacity salts. The filter
//     then remembers at least the last capacity salts.
//   - SIP022 rejects timestamps more than 30 s off, so a salt only has to be
//     remembered for 60 s: rotate when the current generation is period old. A salt
//     is then remembered for at least period and at most 2×period.
//
// Salts are added only after the first chunk authenticated, so an attacker without
// the key cannot fill the filter.
type saltFilter struct {
	capacity int           // rotate when cur holds this many salts (0: no limit)
	period   time.Duration // rotate when cur is this old (0: never)

	// mu guards the following.
	mu       sync.Mutex
	cur      map[string]struct{}
	prev     map[string]struct{}
	curStart time.Time
}

func newSaltFilter(capacity int, period time.Duration) *saltFilter {
	return &saltFilter{capacity: capacity, period: period, cur: map[string]struct{}{}}
}

// rotateLocked applies the time-based rotation. Every operation calls it first, so
// every salt in cur was added less than period after curStart.
func (f *saltFilter) rotateLocked(now time.Time) {
	if f.period <= 0 {
		return
	}
	if f.curStart.IsZero() {
		f.curStart = now
		return
	}
	switch age := now.Sub(f.curStart); {
	case age >= 2*f.period:
		f.prev, f.cur = nil, map[string]struct{}{}
		f.curStart = now
	case age >= f.period:
		f.prev, f.cur = f.cur, map[string]struct{}{}
		f.curStart = now
	}
}

// testAndAdd adds salt and reports whether it was new. Test and add happen under one
// lock so two concurrent connections with the same salt cannot both pass
// (shadowsocks-libev #1948).
func (f *saltFilter) testAndAdd(salt []byte, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rotateLocked(now)
	k := string(salt)
	if _, ok := f.cur[k]; ok {
		return false
	}
	if _, ok := f.prev[k]; ok {
		return false
	}
	f.addLocked(k)
	return true
}

// add records salt without testing it (our own outgoing SIP004 salts, so that a
// reflected server stream is refused as a replay).
func (f *saltFilter) add(salt []byte, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rotateLocked(now)
	f.addLocked(string(salt))
}

func (f *saltFilter) addLocked(k string) {
	if f.capacity > 0 && len(f.cur) >= f.capacity {
		f.prev, f.cur = f.cur, map[string]struct{}{}
	}
	f.cur[k] = struct{}{}
}

// len returns the number of remembered salts (tests).
func (f *saltFilter) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.cur) + len(f.prev)
}
