// Package samsatest is a temporary alias of the public package
// github.com/samsa-io/samsa/samsatest, kept while code moves to it.
package samsatest

import pub "github.com/samsa-io/samsa/samsatest"

// Node is samsatest.Node.
type Node = pub.Node

// Option is samsatest.Option.
type Option = pub.Option

// Aliases of the public functions.
var (
	Start          = pub.Start
	New            = pub.New
	Config         = pub.Config
	Dir            = pub.Dir
	AdvertisedHost = pub.AdvertisedHost
	Port           = pub.Port
	Logger         = pub.Logger
)
