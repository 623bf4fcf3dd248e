package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/purgatory"
	"github.com/samsa-io/samsa/internal/replica"
	"github.com/samsa-io/samsa/internal/seglog"
)

// partition is one partition hosted on this node.
//
// Ordering rule (style.md habit 2): append → fsync (when fsyncOnAck) →
// high watermark → wake waiters → ack. Consumers read only below the high
// watermark, so with fsync-on-ack they never see data a crash could lose.
type partition struct {
	topic   string
	index   int32
	topicID metadata.Uuid
	dir     string
	log     *seglog.Log

	// cfg is the topic's effective config, replaced on config changes
	// (the produce path reads it without building it each time).
	cfg atomic.Pointer[topicConfig]

	leaderEpoch atomic.Int32
	// Replication role (leaderstate.go): leading is set while this node
	// leads at leaderEpoch; followLeader is the leader it knows (itself
	// when leading, -1 none); hasFollowers: leading with other replicas,
	// so appends wake parked follower fetches.
	leading      atomic.Bool
	followLeader atomic.Int32
	hasFollowers atomic.Bool
	// repMu guards rl, replicas, partEpoch and fetchEpochs (a leaf after
	// appendMu).
	repMu       sync.Mutex
	rl          *replica.Leader // nil unless leading
	replicas    []int32
	partEpoch   int32
	fetchEpochs map[int32]int64 // follower → broker epoch its last fetch named
	fetchStarts map[int32]int64 // follower → log start its last fetch named
	// hwKnown: hw is a committed offset (this node led, or a follower
	// learned it from its leader's fetch answers). A partition opened as a
	// follower starts without it (its hw is only its recovered log end), and
	// serves consumers (KIP-392) nothing until it learns it.
	hwKnown atomic.Bool
	// leoBytes counts bytes appended at the log end since open (totalBytes
	// as an atomic): parked follower fetches wait on it, not on hwBytes.
	leoBytes atomic.Int64
	// hw is the high watermark: the first offset not yet visible to
	// consumers and not yet acknowledged to acks=all producers.
	hw atomic.Int64
	// hwBytes counts bytes appended below hw since the partition opened;
	// Fetch uses it to tell whether min_bytes can be met.
	hwBytes atomic.Int64

	// waiters are parked Fetch and acks=all Produce operations, woken in
	// arrival order when hw moves.
	waiters purgatory.List

	// appendMu serializes appends so byte marks are recorded in offset order.
	appendMu sync.Mutex
	// marksMu guards the following.
	marksMu    sync.Mutex
	marks      []byteMark // appended but not yet below hw
	totalBytes int64      // bytes appended since open

	// The durability policy; atomics because a config change can land
	// while appends run (each append sees one policy or the other).
	fsyncOnAck atomic.Bool
	flushMsgs  atomic.Int64 // with !fsyncOnAck: flush after this many messages
	// flushEvery (flush.ms) is read when the flusher starts; the manager
	// restarts the flusher when it changes. Guarded by the manager's mu.
	flushEvery time.Duration
	unflushed  atomic.Int64
	flushReq   chan struct{}
	stop       chan struct{}
	flusherWG  sync.WaitGroup
	storageErr atomic.Pointer[error] // sticky fsync failure: KAFKA_STORAGE_ERROR
}

type byteMark struct {
	end   int64 // offset after the append
	bytes int64 // totalBytes after the append
}

func (p *partition) startFlusher(log func(msg string, args ...any)) {
	if p.flushReq == nil {
		// Created once: appenders send on it without a lock.
		p.flushReq = make(chan struct{}, 1)
	}
	p.stop = make(chan struct{})
	p.flusherWG.Add(1)
	every := p.flushEvery
	go func() {
		defer p.flusherWG.Done()
		// tick drives flush.ms; nil (never fires) when it is off.
		var tick <-chan time.Time
		if every > 0 {
			t := time.NewTicker(every)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-p.stop:
				return
			case <-p.flushReq:
			case <-tick:
			}
			// Group commit: every append that requested a flush before
			// this Sync started is covered by it.
			synced, err := p.log.Sync()
			if err != nil {
				log("fsync failed; partition stops acknowledging", "topic", p.topic, "partition", p.index, "err", err)
				p.storageErr.Store(&err)
				p.waiters.Progress()
				continue
			}
			if p.fsyncOnAck.Load() {
				p.localDurable(synced)
			}
		}
	}()
}

func (p *partition) stopFlusher() {
	if p.stop != nil {
		close(p.stop)
		p.flusherWG.Wait()
		p.stop = nil
	}
}

func (p *partition) requestFlush() {
	select {
	case p.flushReq <- struct{}{}:
	default: // a flush is already pending; it will cover this append
	}
}

// appended records an append of n bytes and messages ending at end
// (exclusive) and moves the high watermark as the durability policy says.
func (p *partition) appended(end int64, n int, msgs int64) {
	p.marksMu.Lock()
	p.totalBytes += int64(n)
	p.marks = append(p.marks, byteMark{end: end, bytes: p.totalBytes})
	p.leoBytes.Store(p.totalBytes)
	p.marksMu.Unlock()
	if p.hasFollowers.Load() {
		p.localWritten(end)
		p.waiters.Progress() // parked follower fetches wait for new data
	}
	if p.fsyncOnAck.Load() {
		p.requestFlush()
		return
	}
	p.localDurable(end)
	if fm := p.flushMsgs.Load(); fm > 0 && p.unflushed.Add(msgs) >= fm {
		p.unflushed.Store(0)
		p.requestFlush()
	}
}

// advanceHW moves the high watermark forward to hw (never back) and wakes
// the waiters.
func (p *partition) advanceHW(hw int64) {
	for {
		cur := p.hw.Load()
		if hw <= cur {
			return
		}
		if p.hw.CompareAndSwap(cur, hw) {
			break
		}
	}
	p.marksMu.Lock()
	i := 0
	for ; i < len(p.marks) && p.marks[i].end <= hw; i++ {
		p.hwBytes.Store(p.marks[i].bytes)
	}
	p.marks = append(p.marks[:0], p.marks[i:]...)
	p.marksMu.Unlock()
	p.waiters.Progress()
}

func (p *partition) storageError() error {
	if e := p.storageErr.Load(); e != nil {
		return *e
	}
	return nil
}
