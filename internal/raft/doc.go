// Package raft is samsa's controller quorum: the metadata log replicated
// with etcd's raft library (go.etcd.io/raft/v3, its RawNode), with samsa's
// own storage, transport and observers. It is KRaft's quorum in role (one
// voter set from controller.quorum.voters, the leader is the active
// controller, brokers follow as observers) but not in wire format: voters
// speak raft's messages over samsa-private API keys.
//
// # Node
//
// Start opens the log, hands the newest snapshot to the StateMachine and
// starts the node goroutine (Node.run), which owns the RawNode, the
// storage and the StateMachine: nothing else calls them. It selects on
// the ticker, messages from peers (recvc), proposals (propc), control
// calls (ctlc: Status, TransferLeadership) and peer reports (reportc:
// unreachable, snapshot sent), takes whatever else is queued, then handles
// every Ready, in raft's order:
//
//  1. a snapshot from the leader, the new entries and the HardState are
//     written and, when raft says MustSync, fsynced;
//  2. only then are the Ready's messages queued on the peers (a vote or
//     an append acknowledgement is never sent before it is durable);
//  3. the snapshot is restored and committed entries are applied to the
//     StateMachine, in log order, each once; a proposal completes when
//     its entry is applied on the leader;
//  4. Advance; then, past the snapshot threshold, the StateMachine's
//     snapshot is written and the log compacted below it.
//
// Raft ids are node ids + 1 (raft reserves 0). Every voter is bootstrapped
// with the same snapshot at index 1, term 1 holding the voter set as
// raft's ConfState (so a dynamic quorum can later change it through
// ConfChange entries) and no data; Config.Bootstrap entries follow it.
// Entry data carries a small envelope (the proposal number) that the
// StateMachine never sees.
//
// Timings: a 100 ms tick, ElectionTicks 10 (controller.quorum.election.
// timeout.ms 1000; raft picks each timeout in [1 s, 2 s)), a heartbeat per
// tick; reconnects back off from 50 ms to 1 s (controller.quorum.election.
// backoff.max.ms). PreVote and CheckQuorum are on: a node cut off from the
// quorum does not bump the term, and a leader that loses the quorum steps
// down. When a peer's address refuses connections (its process is gone)
// and it was the leader, a follower forgets it and campaigns at once
// instead of waiting for the election timeout (raft's ForgetLeader).
//
// # Storage
//
// diskStorage keeps, in Config.Dir (<metadata.log.dir>/__cluster_metadata-0),
// one WAL segment (raft-<seq>.wal: records with a CRC-32C each) and one
// snapshot file (snapshot-<index>-<term>.snap), mirrored into the
// raft.MemoryStorage raft reads. A segment begins with a marker naming
// its snapshot and holds every entry retained, so a snapshot rolls the WAL:
// the snapshot file is written atomically, a new segment is written whole
// (temp file, fsync, rename, directory fsync), and only then are the old
// segment and snapshot removed. Recovery reads the newest segment,
// truncates a torn tail and refuses anything a crash cannot produce.
//
// # Transport
//
// Requests are Kafka frames (request header v1, response header v0) with
// private keys (KeyRaftMessage, KeyMetadataFetch, KeyFetchSnapshot) that
// ApiVersions never advertises. The broker hands them to Node.HandleRPC
// when they arrive on a controller listener; Config.Listener serves them
// without a broker. One peer goroutine per voter owns one long-lived
// connection, writes batches without waiting for answers, and reads the
// answers on a second goroutine; the node goroutine only enqueues (a full
// queue drops the message and tells raft the peer is unreachable), so a
// slow or dead peer never blocks it. Snapshots travel to voters in one
// MsgSnap.
//
// Malformed bodies close the connection; messages of types no peer sends
// are refused. Beyond that the controller listener is trusted, as Kafka's
// is: a well-formed message that breaks one of raft's invariants (raft
// panics on some, such as a commit index beyond the log) stops that node
// with an error (Node.Done, Node.Err), not the process.
//
// # Observers
//
// Observer (a broker-only node) fetches committed entries with
// KeyMetadataFetch from any voter, long-polling until one exists, and
// prefers the leader every answer names; below the voter's log it fetches
// the snapshot in chunks (KeyFetchSnapshot). A voter serves entries up to
// its applied index, so an observer never sees an uncommitted entry.
// Voters record each observer's position for Status (DescribeQuorum).
//
// # Locks
//
// Node.mu guards what the node goroutine publishes (applied, commit,
// leader, epoch, the current snapshot, observer positions) for handlers
// and callers; Observer.mu the same for an observer. Both are leaves:
// nothing is called while they are held. raft.MemoryStorage has its own
// mutex; handlers read committed entries from it.
package raft
