package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-207: a new leader whose high watermark has not reached the log end
// its leader epoch started with answers a consumer's latest (and a
// timestamp lookup with nothing below the high watermark) with
// OFFSET_NOT_AVAILABLE instead of an end offset older than one the old
// leader gave; once its follower catches up, it answers again. Within one
// epoch a high watermark below the log end is normal and answered.
func TestListOffsetsHighWatermarkBelowEpochStart(t *testing.T) {
	b, p := replFixture(t, 1, 1, 5)
	leaderAppend(t, p, 5, 3) // follower 2 has fetched nothing: HW 0
	list := func(ts int64, fromReplica bool) kmsg.ListOffsetsResponseTopicPartition {
		sp := kmsg.NewListOffsetsResponseTopicPartition()
		sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
		b.listOffset(p, 7, ts, fromReplica, &sp)
		return sp
	}
	if sp := list(-1, false); sp.ErrorCode != 0 || sp.Offset != 0 {
		t.Fatalf("latest with the HW behind in the same epoch: %v offset %d, want 0", kerr.ErrorForCode(sp.ErrorCode), sp.Offset)
	}

	relead(t, b, p, 6) // the epoch starts at log end 3, the HW is still 0
	for _, ts := range []int64{-1, -3, 0} {
		if sp := list(ts, false); sp.ErrorCode != kerr.OffsetNotAvailable.Code {
			t.Errorf("timestamp %d with the HW below the epoch start: %v offset %d, want OFFSET_NOT_AVAILABLE",
				ts, kerr.ErrorForCode(sp.ErrorCode), sp.Offset)
		}
	}
	if sp := list(-2, false); sp.ErrorCode != 0 || sp.Offset != 0 {
		t.Errorf("earliest: %v offset %d", kerr.ErrorForCode(sp.ErrorCode), sp.Offset)
	}
	if sp := list(-1, true); sp.ErrorCode != 0 || sp.Offset != 3 {
		t.Errorf("a follower's latest (the log end): %v offset %d", kerr.ErrorForCode(sp.ErrorCode), sp.Offset)
	}

	if sp := fetchAs(t, b, 12, 2, 3, 5); sp.ErrorCode != 0 || sp.HighWatermark != 3 {
		t.Fatalf("follower fetch at the log end: %v HW %d", kerr.ErrorForCode(sp.ErrorCode), sp.HighWatermark)
	}
	if sp := list(-1, false); sp.ErrorCode != 0 || sp.Offset != 3 {
		t.Fatalf("latest once the follower caught up: %v offset %d, want 3", kerr.ErrorForCode(sp.ErrorCode), sp.Offset)
	}
	if sp := list(0, false); sp.ErrorCode != 0 || sp.Offset != 0 {
		t.Fatalf("timestamp 0 once caught up: %v offset %d, want 0", kerr.ErrorForCode(sp.ErrorCode), sp.Offset)
	}
}
