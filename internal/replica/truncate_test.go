package replica

import "testing"

// epochs is a test leader-epoch cache: (epoch, start offset) pairs, both
// increasing. endFor answers like seglog's EndOffsetForEpoch (Kafka's
// LeaderEpochFileCache.endOffsetFor).
type epochs [][2]int64

func (c epochs) endFor(leo int64) func(int32) (int32, int64) {
	return func(epoch int32) (int32, int64) {
		if len(c) == 0 || epoch < 0 || int64(epoch) > c[len(c)-1][0] {
			return -1, -1
		}
		if int64(epoch) == c[len(c)-1][0] {
			return epoch, leo
		}
		i := 0
		for c[i][0] <= int64(epoch) {
			i++
		}
		if i == 0 {
			return epoch, c[0][1]
		}
		return int32(c[i-1][0]), c[i][1]
	}
}

func (c epochs) latest() int32 {
	if len(c) == 0 {
		return -1
	}
	return int32(c[len(c)-1][0])
}

func TestTruncation(t *testing.T) {
	for _, tc := range []struct {
		name        string
		local       epochs
		leo, hw     int64
		leaderEpoch int32 // the leader's answer to OffsetForLeaderEpoch(local latest)
		leaderEnd   int64
		want        int64
		done        bool
	}{
		{
			// The old leader of epoch 1 wrote 120..150 that nobody replicated; the
			// new leader (epoch 2) has epoch 1 up to 120.
			name: "old leader with an unreplicated tail", local: epochs{{0, 0}, {1, 100}},
			leo: 150, hw: 110, leaderEpoch: 1, leaderEnd: 120, want: 120, done: true,
		},
		{
			name: "same history, follower shorter", local: epochs{{0, 0}, {1, 100}},
			leo: 110, hw: 100, leaderEpoch: 1, leaderEnd: 120, want: 110, done: true,
		},
		{
			// The follower's latest epoch 3 is unknown to the leader, which answers
			// with its epoch 2 (ending at 180); the follower never saw epoch 2:
			// it cuts at the end of its epoch 1 and asks again.
			name: "leader's epoch unknown locally", local: epochs{{0, 0}, {1, 100}, {3, 150}},
			leo: 200, hw: 120, leaderEpoch: 2, leaderEnd: 180, want: 150, done: false,
		},
		{
			name: "second round after the intermediate cut", local: epochs{{0, 0}, {1, 100}},
			leo: 150, hw: 120, leaderEpoch: 0, leaderEnd: 130, want: 100, done: true,
		},
		{
			name: "leader answers an epoch below every local one", local: epochs{{5, 200}},
			leo: 260, hw: 200, leaderEpoch: 3, leaderEnd: 150, want: 150, done: true,
		},
		{
			name: "undefined answer falls back to the high watermark", local: epochs{{0, 0}, {1, 100}},
			leo: 150, hw: 110, leaderEpoch: -1, leaderEnd: -1, want: 110, done: true,
		},
		{
			name: "leader ahead in the same epoch: nothing to cut", local: epochs{{0, 0}, {4, 50}},
			leo: 80, hw: 60, leaderEpoch: 4, leaderEnd: 300, want: 80, done: true,
		},
		{
			name: "diverged inside the follower's latest epoch", local: epochs{{2, 0}, {4, 50}},
			leo: 80, hw: 60, leaderEpoch: 4, leaderEnd: 70, want: 70, done: true,
		},
		{
			name: "follower without epochs truncates to its high watermark", local: nil,
			leo: 40, hw: 10, leaderEpoch: 3, leaderEnd: 30, want: 10, done: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off, done := TruncationState(tc.leo, tc.hw, tc.local.endFor(tc.leo), tc.local.latest(), tc.leaderEpoch, tc.leaderEnd)
			if off != tc.want || done != tc.done {
				t.Fatalf("TruncationState = %d %v, want %d %v", off, done, tc.want, tc.done)
			}
			if off > tc.leo {
				t.Fatalf("truncation %d above the log end %d", off, tc.leo)
			}
			wantPlain := tc.want
			if tc.leaderEpoch < 0 || tc.local.latest() < 0 {
				wantPlain = tc.leo // no information: TruncationOffset leaves the log
			}
			if got := TruncationOffset(tc.leo, tc.local.endFor(tc.leo), tc.local.latest(), tc.leaderEpoch, tc.leaderEnd); got != wantPlain {
				t.Fatalf("TruncationOffset = %d, want %d", got, wantPlain)
			}
			if got := DivergingOffset(tc.leo, tc.local.endFor(tc.leo), tc.local.latest(), tc.leaderEpoch, tc.leaderEnd); got != wantPlain {
				t.Fatalf("DivergingOffset = %d, want %d", got, wantPlain)
			}
		})
	}
}

// TestTruncationRounds runs the whole exchange between a follower and a
// leader, both as epoch caches, until the follower's truncation is done:
// the follower ends at the last offset both logs agree on.
func TestTruncationRounds(t *testing.T) {
	leader := epochs{{0, 0}, {2, 100}, {5, 160}}
	const leaderLEO = 300
	follower := epochs{{0, 0}, {1, 90}, {3, 140}, {4, 170}}
	leo := int64(220)
	for round := 0; ; round++ {
		if round > 5 {
			t.Fatal("no convergence")
		}
		le, lend := leader.endFor(leaderLEO)(follower.latest())
		off, done := TruncationState(leo, 0, follower.endFor(leo), follower.latest(), le, lend)
		leo = min(leo, off)
		for len(follower) > 0 && follower[len(follower)-1][1] >= leo {
			follower = follower[:len(follower)-1]
		}
		if done {
			break
		}
	}
	// Both logs agree up to 90: epoch 0 on both; the follower's epoch 1
	// started at 90, the leader's epoch 0 ran to 100.
	if leo != 90 {
		t.Fatalf("truncated to %d, want 90", leo)
	}
}
