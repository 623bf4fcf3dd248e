package main

import (
	"math"
	"slices"
	"time"
)

// percentile is the nearest-rank percentile (0 < p ≤ 100) of xs: the
// smallest sample with at least p% of the samples at or below it. It does
// not interpolate, so every figure reported is one that was measured (p99 of
// 20 samples is the largest; p50 of 20 the 10th). ok is false for no
// samples.
func percentile(xs []float64, p float64) (v float64, ok bool) {
	if len(xs) == 0 || p <= 0 || p > 100 || math.IsNaN(p) {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	return s[rank-1], true
}

// summary is p50, p99 and the extremes of a sample.
type summary struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	p50, _ := percentile(xs, 50)
	p99, _ := percentile(xs, 99)
	return summary{N: len(xs), P50: p50, P99: p99, Min: slices.Min(xs), Max: slices.Max(xs)}
}

func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// split divides total units over n parts as evenly as possible, the
// larger parts first (20 over 3 is 7, 7, 6).
func split(total, n int) []int {
	if n <= 0 {
		return nil
	}
	out := make([]int, n)
	for i := range out {
		out[i] = total / n
		if i < total%n {
			out[i]++
		}
	}
	return out
}

// ratio is a/b, or NaN when either side is missing.
func ratio(a, b float64, okA, okB bool) float64 {
	if !okA || !okB || b == 0 {
		return math.NaN()
	}
	return a / b
}
