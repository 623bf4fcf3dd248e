//go:build !linux

package broker

import (
	"syscall"
	"time"
)

// setUserTimeout: no TCP_USER_TIMEOUT here; connections rely on the
// callers' read deadlines alone.
func setUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
