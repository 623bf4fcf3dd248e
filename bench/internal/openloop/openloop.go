// Package openloop is the benchmarks' fixed-rate producer: records are
// sent on a schedule, not when the previous one is answered, and each
// latency is measured from its scheduled send time, so a stalled broker
// shows in the tail instead of slowing the offered load (no coordinated
// omission).
package openloop

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Result of one run. Latencies are sorted.
type Result struct {
	Latencies []time.Duration
	Sent      time.Duration // from the first scheduled send to the last send
	Errors    int64
}

// Run produces total records of val at rate records/s with cl and waits
// for every answer.
func Run(ctx context.Context, cl *kgo.Client, val []byte, rate float64, total int) Result {
	lat := make([]time.Duration, total)
	var errs atomic.Int64
	var wg sync.WaitGroup
	wg.Add(total)
	interval := float64(time.Second) / rate
	start := time.Now()
	for i := 0; i < total; {
		due := min(int(float64(time.Since(start))/interval)+1, total)
		for ; i < due; i++ {
			intended := start.Add(time.Duration(float64(i) * interval))
			idx := i
			cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
				lat[idx] = time.Since(intended)
				if err != nil {
					errs.Add(1)
				}
				wg.Done()
			})
		}
		if i < total {
			if w := time.Until(start.Add(time.Duration(float64(i) * interval))); w > 0 {
				time.Sleep(w)
			}
		}
	}
	sent := time.Since(start)
	wg.Wait()
	slices.Sort(lat)
	return Result{Latencies: lat, Sent: sent, Errors: errs.Load()}
}

// QuantileMs is the f-quantile latency in milliseconds (nearest rank).
func (r Result) QuantileMs(f float64) float64 {
	i := min(int(f*float64(len(r.Latencies))), len(r.Latencies)-1)
	return float64(r.Latencies[i]) / 1e6
}
