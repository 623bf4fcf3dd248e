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
// Checkpoint files are replaced atomically: write a temporary file, fsync it,
// rename it, fsync the directory.
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
// ones: ParseHeader + CheckCRC for every batch, base offsets contiguous, the
// file truncated after the last good batch, later segments removed, indexes
// rebuilt. Close writes recovery-point = log end offset with clean=1, so a
// clean restart scans no CRCs at all; Open rewrites it with clean=0 before it
// returns, so that a crash after the restart is recovered again.
//
// Read verifies the CRC of every batch it returns: corruption of
// already-recovered data surfaces as ErrCorrupt, never as bytes.
//
// # Concurrency
//
// Every method is safe for concurrent use. Lock order: appendMu, then syncMu,
// then mu; a segment's refs are taken under mu. Writers (Append, retention,
// DeleteRecordsBefore, Close) serialize on appendMu and hold mu only to publish
// their results, never across a write(2) or fsync. Readers take mu shared just
// long enough to pin the segments they need (a reference count keeps a segment's
// file open until its last reader is done, even if retention removed it), then
// read with pread and no lock. Sync holds only syncMu while it fsyncs, so reads
// never wait for the disk to flush and appends continue meanwhile.
package seglog
