package broker

import (
	"net"
	"time"
)

// A connection to another node (a raft peer, the active controller, a
// partition leader) whose sent data goes unacknowledged for longer than
// the user timeout is dead: the kernel aborts it and the caller redials.
// Without it, a connection that lived through a one-way network cut keeps
// retransmitting on TCP's exponential backoff, so after the heal the next
// retransmission can be as far away as the cut was long, and a raft
// leader steps down for want of a quorum that is in fact reachable again.
// A fresh dial is on the wire within the dialers' own backoff (50 ms to
// 1 s). Only sent, unacknowledged data counts: an idle connection is not
// affected, and kernels acknowledge whatever the peer process is doing,
// so only a cut network or a stopped host (or a receiver that has left
// its window shut for that long) trips it.
func interNodeUserTimeout(electionTimeout time.Duration) time.Duration {
	return max(2*electionTimeout, 2*time.Second)
}

// interNodeDialer is the default Options.Dial: net.Dialer with the user
// timeout set where the platform has one (setUserTimeout).
func interNodeDialer(userTimeout time.Duration) *net.Dialer {
	return &net.Dialer{Control: setUserTimeout(userTimeout)}
}
