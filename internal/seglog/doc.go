// Package seglog stores one Kafka partition's log on disk: record batches
// (magic v2) kept byte for byte in segment files, with sparse indexes, log
// start offset, recovery point, leader-epoch cache and idempotent-producer
// state.
//
// # Files in the partition directory
//
//	%020d.log        batches back to back, named by the segment's base offset
//	                 (the base offset of its first batch).
//	%020d.index      sparse offset index: 8-byte entries, big endian
//	                 relOffset u32 | position u32. relOffset is the BASE offset
//	                 of a batch minus the segment base (Kafka stores the last
//	                 offset; the base offset lets a lookup land directly on the
//	                 batch that contains the target). One entry whenever more
//	                 than IndexIntervalBytes were appended since the previous
//	                 entry; position 0 is implied and never stored.
//	%020d.timeindex  12-byte entries: timestamp i64 | relOffset u32. Appended
//	                 together with an offset-index entry (and once more when the
//	                 segment is rolled or synced) whenever the segment's largest
//	                 timestamp grew; relOffset names the base offset of the batch
//	                 holding that largest timestamp. Timestamps and offsets are
//	                 non-decreasing, so every batch before an entry's moment of
//	                 writing has maxTimestamp <= entry.timestamp.
//	%020d.gaps       gap marker, "0\n": offsets may jump forward between the
//	                 batches of this segment (a compacted leader's gaps copied
//	                 by a follower, see Replication); durable before the first
//	                 such batch is written.
//	log-start-offset         "0\n<offset>\n"
//	recovery-point           "0\n<offset>\n<clean 0|1>\n"
//	leader-epoch-checkpoint  "0\n<count>\n<epoch> <startOffset>\n..." (Kafka's format)
//
// Index files are not preallocated: the indexes live in memory and a file is
// rewritten whole from memory when its segment is rolled-and-synced, when the
// log is closed, and after recovery. The append path therefore costs exactly one
// write(2) per Append call. An index file is only trusted for segments below the
// recovery point; every other index is rebuilt by scanning its segment.
//
// Checkpoint files are replaced atomically (vfs.WriteFileAtomic): write a
// temporary file, fsync it, rename it, fsync the directory.
//
// Every file operation goes through the vfs.FS given in Options.FS (the real
// filesystem by default), so the crash tests run the log on vfs's crashable
// twin and crash it at every sync point. The rules the code keeps, which
// the twin enforces: Sync of a file makes its data durable, not its name;
// a name (a segment created, a checkpoint renamed, a segment removed) is
// durable only once the directory is synced; Open makes the partition
// directory's own name durable in its parent before anything is written in
// it.
//
// # Durability and recovery
//
// Append writes into the page cache. Sync fdatasyncs the active segment and
// every segment rolled since the previous Sync; it returns the offset below
// which data is durable. After a Sync that covered a rolled segment, the index
// files of those segments are written and synced and the recovery point is
// moved to the synced offset: from then on, every segment before the one that
// contains the recovery point is complete and durable, together with its index
// files.
//
// Open trusts segments before the one containing the recovery point (only
// their batch headers are walked, to rebuild producer state and to check that
// the offsets chain), and recovers the segment containing it and all later
// ones: ParseHeader + CheckCRC for every batch, base offsets contiguous
// (only increasing in a segment with a gap marker), the
// file truncated after the last good batch, later segments removed, indexes
// rebuilt. Close writes recovery-point = log end offset with clean=1, so a
// clean restart scans no CRCs at all; Open rewrites it with clean=0 before it
// returns, so that a crash after the restart is recovered again.
//
// Read verifies the CRC of every batch it returns: corruption of
// already-recovered data surfaces as ErrCorrupt, never as bytes.
//
// # Compaction
//
// Compact is Kafka's log cleaner for cleanup.policy=compact. The cleanable
// segments are the oldest ones up to, excluding, the first that is active,
// not yet below the recovery point (so no Sync touches it and its index files
// exist), reaching CompactOptions.MaxOffset (the high watermark), or holding a
// record newer than min.compaction.lag.ms. A run happens when dirty bytes
// (segments reaching past the first dirty offset, persisted in
// cleaner-offset-checkpoint) / cleanable bytes >= min.cleanable.dirty.ratio,
// or when a kept tombstone's delete horizon has passed.
//
// A run maps each key of the dirty part to its highest offset, then rewrites
// every cleanable segment. Kept: per key, the record with the highest offset
// (offsets never change; a rewritten batch keeps its base offset and its
// lastOffsetDelta, so the gaps are inside or between batches); tombstones
// until their delete horizon (KIP-534: the first run that keeps a tombstone
// rewrites its batch with the DeleteHorizon attribute and baseTimestamp = now
// + delete.retention.ms, record timestamps unchanged; a later run past it
// drops the tombstone); control and transactional batches as they are; the
// last batch of every idempotent producer, emptied (header only, same offsets
// and sequences) if no record of it survives, because producer state is
// rebuilt from batch headers at Open. Dropped: superseded records, expired
// tombstones, keyless records. Compressed batches are decompressed, filtered
// and recompressed with the same codec; a batch that loses nothing is copied
// byte for byte. Consecutive sources are merged into one cleaned segment
// while their combined size fits segment.bytes (Kafka groups by source size,
// so shrunken segments merge on the next run); the cleaned segment is named
// after its first source and may start or end with a gap, or be empty.
// Segment base offsets are therefore <= their first batch's offset, and a
// segment may end before the next one begins: Read serves an offset in a gap
// from the next batch, and recovery accepts increasing (not contiguous)
// offsets and gaps between segments below the recovery point only.
//
// Swap protocol (files of one run; B = a group's first source):
//
//  1. B.log.cleaned written and fsynced (indexes in memory). A crash here:
//     Open removes every *.cleaned (roll back).
//  2. every B.log.cleaned renamed to B.log.swap; dir fsynced. Committed: Open
//     completes the swap (roll forward).
//  3. the sources' index files and their .log files except B.log removed;
//     dir fsynced.
//  4. B.log.swap renamed over B.log; dir fsynced.
//  5. the cleaned segments replace the sources in the segment list under
//     one mu critical section; index files written; checkpoint moved.
//
// Open completes a B.log.swap by removing the .log files whose base lies in
// [B, end of the swap's data) and every index file of that range, syncing
// the directory (a removed source surviving next to the renamed swap would
// overlap it), then renaming it to B.log; missing index files are rebuilt by
// recovery. A
// source that the cleaning emptied entirely lies past that range and may
// survive such a crash: it only holds records that later ones supersede, so
// the log stays consistent and the next run cleans it again. The heavy work
// (steps 1) runs without appendMu: appends, reads and syncs go on; steps 2-5
// hold appendMu, and are abandoned if retention or Close changed the sources
// meanwhile. Readers keep the old segments they pinned (their files stay
// open) and never see a mix within one segment; the list switches at once.
//
// # Replication (a follower's log)
//
// AppendReplicated stores the leader's batches unchanged (offsets, leader
// epochs, timestamps, CRCs), learning new leader epochs from their
// PartitionLeaderEpoch (at the batch's base offset) and producer state
// from their headers. Offsets may jump forward, as a compacted leader's do:
// the first batch at or after the log end offset, each next one after the
// previous one's last offset; an overlap or a step back is
// ErrOffsetMismatch. The base offset is not covered by the CRC, and
// recovery relies on contiguous offsets above the recovery point to tell a
// corrupt base offset, so a gap is allowed only where it is declared: before
// the first batch with a gap is written to a segment, that segment's gap
// marker (%020d.gaps) is written and made durable (vfs.WriteFileAtomic), and
// recovery accepts increasing offsets in marked segments, as it does below
// the recovery point for compacted ones. Gaps lie inside segments only (a
// roll starts the new segment at the log end offset, as always), so the
// chaining of segments stays as strict as before. A marker goes with its
// segment's files (retention, truncation, compaction's sources after the
// first). TruncateTo and
// TruncateFullyAndStartAt cut a diverged log; both are durable on return.
// TruncateTo first moves the recovery point below the cut (so a crash
// recovers every affected segment from its batches and re-learns its
// epochs), persists the shorter epoch cache, removes later segments at once
// (a segment created later at the same base must not collide with them;
// one that a crash brings back no longer chains and is dropped), cuts and
// fsyncs the segment holding the cut, and syncs the rest. A batch is never
// split: the new end is the offset after the last batch below the cut
// (below the cut's offset if a gap precedes it). If the segment holding the
// cut has gaps (compacted) it gets a gap marker before the recovery point
// moves into it.
// TruncateFullyAndStartAt moves the recovery point to the first segment,
// empties the epoch cache, cuts every segment file to zero and fsyncs it
// from the last to the first (a crash leaves a prefix of the old log), then
// removes the files, creates the new segment and persists the log start.
// A reader that pinned a segment before a cut gets the whole batches before
// the cut. SyncedOffset is the offset the last Sync (or truncation) made
// durable, what a follower reports as its fetch offset.
//
// # Concurrency
//
// Every method is safe for concurrent use. Lock order: cleanMu (Compact,
// Delete, TruncateTo, TruncateFullyAndStartAt), then appendMu, then syncMu, then mu; a segment's refs are taken
// under mu. Writers (Append, retention,
// DeleteRecordsBefore, Close) serialize on appendMu and hold mu only to publish
// their results, never across a write(2) or fsync. Readers take mu shared just
// long enough to pin the segments they need (a reference count keeps a segment's
// file open until its last reader is done, even if retention removed it), then
// read with pread and no lock. Sync holds only syncMu while it fsyncs, so reads
// never wait for the disk to flush and appends continue meanwhile.
package seglog
