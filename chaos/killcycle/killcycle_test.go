package killcycle

import (
	"context"
	"testing"
	"time"
)

// TestKillCycles runs a few kill -9 cycles against a real `samsa serve`
// (built with the race detector) and asserts that nothing acknowledged was
// lost, duplicated or moved, that sends were acknowledged at all, and that
// kills hit sends in flight.
func TestKillCycles(t *testing.T) {
	bin, err := Build(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{Bin: bin, Dir: t.TempDir(), Cycles: 15, Seed: 14, CheckEvery: 5,
		MinRun: 30 * time.Millisecond, MaxRun: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Line())
	if !res.OK() {
		t.Fatalf("anomalies: %v", res.Examples)
	}
	if res.Cycles != 15 || res.Rounds != 3 || len(res.Restarts) != 15 {
		t.Fatalf("cycles %d, read rounds %d, restarts %d", res.Cycles, res.Rounds, len(res.Restarts))
	}
	if res.Acked == 0 {
		t.Fatal("nothing acknowledged")
	}
	if res.KillsInFlight == 0 || res.Indeterminate == 0 {
		t.Fatalf("no kill hit sends in flight (kills in flight %d, indeterminate %d)", res.KillsInFlight, res.Indeterminate)
	}
	if res.SamsaCycles == 0 {
		t.Fatal("samsa's client never produced")
	}
	if res.Pending != 0 {
		t.Fatalf("%d sends never completed", res.Pending)
	}
}
