package client

import (
	"testing"

	"github.com/samsa-io/samsa/samsatest"
)

// The e2e suite also runs against a real samsa broker started in-process
// (go test -tags samsa ./client/; a tag so that the client tests still
// build while the broker is being changed).
func init() {
	samsaBackend = func(t testing.TB) backend {
		n := samsatest.Start(t)
		return backend{name: "samsa", addrs: []string{n.Addr()}}
	}
}
