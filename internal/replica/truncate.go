package replica

// TruncationOffset is where a follower truncates its log after the leader
// answered OffsetForLeaderEpoch(myLatestEpoch) with (leaderEpoch,
// leaderEndOffset); the same rule answers a Fetch response's DivergingEpoch
// (epoch, endOffset). localEndFor is the local log's EndOffsetForEpoch and
// localLEO its log end offset. The result is never above localLEO.
//
// An undefined answer (-1 epoch or offset), or a local log without leader
// epochs, says nothing about divergence: Kafka then truncates to the
// follower's high watermark, which TruncationState takes; TruncationOffset
// leaves the log as it is.
func TruncationOffset(localLEO int64, localEndFor func(epoch int32) (int32, int64),
	myLatestEpoch int32, leaderEpoch int32, leaderEndOffset int64) int64 {
	off, _ := TruncationState(localLEO, localLEO, localEndFor, myLatestEpoch, leaderEpoch, leaderEndOffset)
	return off
}

// DivergingOffset is TruncationOffset for a Fetch response's DivergingEpoch.
func DivergingOffset(localLEO int64, localEndFor func(epoch int32) (int32, int64),
	myLatestEpoch int32, divergingEpoch int32, divergingEndOffset int64) int64 {
	return TruncationOffset(localLEO, localEndFor, myLatestEpoch, divergingEpoch, divergingEndOffset)
}

// TruncationState is the whole rule (Kafka's fetcher):
//   - a follower whose log has no leader epoch (myLatestEpoch -1; it need
//     not ask), or an undefined answer: truncate to localHW;
//   - the follower knows the leader's epoch (its largest epoch <= the
//     leader's is that epoch): truncate to the smaller of both end offsets
//     of that epoch; done;
//   - the follower does not know it (its largest epoch <= the leader's is
//     older): truncate to the end of that older epoch and ask again with
//     the new latest epoch (done is false);
//   - the follower has no epoch at or below the leader's: truncate to the
//     leader's end offset; done.
//
// Every result is capped at localLEO.
func TruncationState(localLEO, localHW int64, localEndFor func(epoch int32) (int32, int64),
	myLatestEpoch int32, leaderEpoch int32, leaderEndOffset int64) (offset int64, done bool) {
	if myLatestEpoch < 0 || leaderEpoch < 0 || leaderEndOffset < 0 {
		return min(localHW, localLEO), true
	}
	e, end := localEndFor(leaderEpoch)
	switch {
	case e < 0 || end < 0:
		return min(leaderEndOffset, localLEO), true
	case e != leaderEpoch:
		return min(end, localLEO), false
	default:
		return min(end, leaderEndOffset, localLEO), true
	}
}
