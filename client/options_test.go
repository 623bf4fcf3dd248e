package client

import (
	"slices"
	"testing"
)

// SeedBrokers takes Kafka's bootstrap.servers form (comma-separated) as
// well as one address per argument.
func TestSeedBrokersCommaList(t *testing.T) {
	var c config
	SeedBrokers("a:1, b:2,", "c:3")(&c)
	if want := []string{"a:1", "b:2", "c:3"}; !slices.Equal(c.seeds, want) {
		t.Fatalf("seeds %q, want %q", c.seeds, want)
	}
}
