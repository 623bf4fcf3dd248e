package client

import (
	"slices"
	"testing"
	"time"
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

// Each option reaches its field (the defaults differ from the values set).
func TestOptionsSetFields(t *testing.T) {
	var c config
	for _, o := range []Option{DialTimeout(time.Second), RequestTimeout(2 * time.Second),
		MetadataMaxAge(3 * time.Second), MaxRequestBytes(4096), ProduceRequestTimeout(5 * time.Second)} {
		o(&c)
	}
	if c.dialTimeout != time.Second || c.requestTimeout != 2*time.Second || c.metadataMaxAge != 3*time.Second ||
		c.maxRequestBytes != 4096 || c.produceTimeout != 5*time.Second {
		t.Fatalf("options not applied: %+v", c)
	}
	var cc consumerConfig
	ReadCommitted()(&cc)
	ServerAssignor("range")(&cc)
	if !cc.readCommitted || cc.serverAssignor != "range" {
		t.Fatalf("consumer options not applied: readCommitted=%v serverAssignor=%q", cc.readCommitted, cc.serverAssignor)
	}
}
