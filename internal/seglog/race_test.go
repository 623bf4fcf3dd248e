//go:build race

package seglog

// The race detector slows the crash tests about fivefold: they run fewer
// random rounds under it (every sync point is still crashed in each).
const raceEnabled = true
