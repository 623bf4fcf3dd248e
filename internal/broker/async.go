package broker

import "sync"

// asyncGroup owns short-lived goroutines started from purgatory
// completions (a parked fetch's read, a group write's answer). Those
// completions run on flushers and timers that keep going while the broker
// closes, so a plain WaitGroup would see Add race with Wait. Go refuses
// new work once Stop has begun; the caller then finishes inline.
type asyncGroup struct {
	mu     sync.Mutex // mu guards closed and every wg.Add
	closed bool
	wg     sync.WaitGroup
}

// Go runs f on its own goroutine and reports true, or reports false
// without running f when the group has stopped.
func (g *asyncGroup) Go(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// Stop refuses new goroutines and waits for the running ones.
func (g *asyncGroup) Stop() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
