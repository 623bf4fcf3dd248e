package samsatest_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/samsa-io/samsa/samsatest"
)

// BenchmarkMetadataPropagation measures how long a committed metadata
// change takes to reach every broker: three controllers and three
// broker-only nodes (observers of the log); each op creates a topic through
// the active controller's admin path and waits until all three brokers'
// images hold it, timed from the CreateTopics answer (the change is
// committed and applied on the controller by then).
//
//	go test -run '^$' -bench MetadataPropagation -benchtime 200x ./samsatest/
func BenchmarkMetadataPropagation(b *testing.B) {
	c := samsatest.StartCluster(b, 6, samsatest.Separate(3))
	adm := adminB(b, c.Bootstrap()...)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("prop-%d", i)
		if _, err := adm.CreateTopic(ctxB(b), 1, 1, nil, name); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		for _, id := range []int32{4, 5, 6} {
			br := c.Node(id).BrokerHandle()
			for br.Image().Topic(name) == nil {
				time.Sleep(20 * time.Microsecond)
			}
		}
		lat = append(lat, time.Since(committed))
	}
	b.StopTimer()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	b.ReportMetric(float64(p(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(p(0.99).Microseconds()), "p99-µs")
	b.Logf("change reaches every broker: p50 %v, p99 %v, max %v over %d changes", p(0.5), p(0.99), lat[len(lat)-1], len(lat))
}
