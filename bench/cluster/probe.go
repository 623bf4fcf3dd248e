package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic is the KRaft metadata log, the one partition DescribeQuorum
// describes.
const metadataTopic = "__cluster_metadata"

// prober holds one connection per broker address and redials after any
// error: each probe attempt is one request with its own deadline.
type prober struct {
	mu      sync.Mutex
	conns   map[string]*wireConn
	attempt time.Duration // deadline of one request
	every   time.Duration // pause between failed attempts
}

func newProber(attempt, every time.Duration) *prober {
	return &prober{conns: map[string]*wireConn{}, attempt: attempt, every: every}
}

// do sends req to addr on the cached connection (dialling if needed) and
// drops the connection on any error.
func (p *prober) do(ctx context.Context, addr string, req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, p.attempt)
	defer cancel()
	p.mu.Lock()
	c := p.conns[addr]
	delete(p.conns, addr) // owned by this attempt; several goroutines may probe one address
	p.mu.Unlock()
	if c == nil {
		var err error
		if c, err = dialWire(ctx, addr); err != nil {
			return nil, err
		}
	}
	resp, err := c.request(ctx, req)
	if err != nil {
		c.Close()
		return nil, err
	}
	p.mu.Lock()
	if old := p.conns[addr]; old != nil {
		old.Close()
	}
	p.conns[addr] = c
	p.mu.Unlock()
	return resp, nil
}

func (p *prober) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		c.Close()
		delete(p.conns, a)
	}
}

// brokers returns the broker ids a Metadata request to addr lists (KRaft
// lists only unfenced brokers).
func (p *prober) brokers(ctx context.Context, addr string) ([]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none (null would be all)
	resp, err := p.do(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids, nil
}

// createTopic sends one CreateTopics for name (one partition, rf replicas)
// to addr; nil means it was created (or an earlier attempt of the same
// name was: TOPIC_ALREADY_EXISTS).
func (p *prober) createTopic(ctx context.Context, addr, name string, rf int16) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(p.attempt / time.Millisecond)
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, 1, rf
	req.Topics = append(req.Topics, t)
	resp, err := p.do(ctx, addr, req)
	if err != nil {
		return err
	}
	return createTopicsErr(resp.(*kmsg.CreateTopicsResponse), name)
}

// createTopicsErr is the outcome for topic name in a CreateTopics response.
func createTopicsErr(resp *kmsg.CreateTopicsResponse, name string) error {
	for _, t := range resp.Topics {
		if t.Topic != name {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			if t.ErrorMessage != nil {
				return fmt.Errorf("%w: %s", err, *t.ErrorMessage)
			}
			return err
		}
		return nil
	}
	return fmt.Errorf("CreateTopics response without topic %q", name)
}

// quorum is what DescribeQuorum says about the metadata partition.
type quorum struct {
	Leader, Epoch int32
	HighWatermark int64
	Voters        []kmsg.DescribeQuorumResponseTopicPartitionReplicaState
}

func (p *prober) describeQuorum(ctx context.Context, addr string) (quorum, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = metadataTopic
	pt := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, pt)
	req.Topics = append(req.Topics, t)
	resp, err := p.do(ctx, addr, req)
	if err != nil {
		return quorum{}, err
	}
	return parseQuorum(resp.(*kmsg.DescribeQuorumResponse))
}

// parseQuorum picks partition 0 of the metadata topic out of a
// DescribeQuorum response and checks its error codes.
func parseQuorum(r *kmsg.DescribeQuorumResponse) (quorum, error) {
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return quorum{}, fmt.Errorf("DescribeQuorum: %w", err)
	}
	for _, t := range r.Topics {
		if t.Topic != metadataTopic {
			continue
		}
		for _, pt := range t.Partitions {
			if pt.Partition != 0 {
				continue
			}
			if err := kerr.ErrorForCode(pt.ErrorCode); err != nil {
				return quorum{}, fmt.Errorf("DescribeQuorum partition: %w", err)
			}
			return quorum{Leader: pt.LeaderID, Epoch: pt.LeaderEpoch, HighWatermark: pt.HighWatermark,
				Voters: pt.CurrentVoters}, nil
		}
	}
	return quorum{}, errors.New("DescribeQuorum: no partition 0 of " + metadataTopic)
}

// rejoined reports whether q shows voter id back in the quorum after a
// restart at restartMs (Unix ms): its last fetch (when the system reports
// it) is from after the restart, and its log has caught up with the high
// watermark (or it caught up after the restart).
func (q quorum) rejoined(id int32, restartMs int64) bool {
	if q.Leader < 0 {
		return false
	}
	if q.Leader == id {
		return true
	}
	for _, v := range q.Voters {
		if v.ReplicaID != id {
			continue
		}
		if v.LastFetchTimestamp > 0 && v.LastFetchTimestamp < restartMs {
			return false // the leader's view is from before the kill
		}
		return v.LogEndOffset >= q.HighWatermark ||
			(v.LastCaughtUpTimestamp > 0 && v.LastCaughtUpTimestamp >= restartMs)
	}
	return false
}

// hasAll reports whether got (sorted) holds every id of want.
func hasAll(got []int32, want []int32) bool {
	for _, id := range want {
		if _, ok := slices.BinarySearch(got, id); !ok {
			return false
		}
	}
	return true
}

// race runs try against every address, each in its own goroutine, over and
// over (pausing p.every after a failure) until one succeeds; it returns
// that success's value and moment. The others are cancelled. It fails when
// ctx ends first, with the last error of each address.
func race[T any](ctx context.Context, p *prober, addrs []string, try func(ctx context.Context, addr string, attempt int) (T, error)) (T, time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   T
		at  time.Time
		err error
	}
	done := make(chan result, len(addrs))
	var wg sync.WaitGroup
	for _, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last error
			for i := 0; ; i++ {
				v, err := try(ctx, a, i)
				if err == nil {
					done <- result{v: v, at: time.Now()}
					return
				}
				last = err
				select {
				case <-ctx.Done():
					done <- result{err: fmt.Errorf("%s: %w", a, last)}
					return
				case <-time.After(p.every):
				}
			}
		}()
	}
	var errs []error
	for range addrs {
		r := <-done
		if r.err == nil {
			cancel()
			wg.Wait()
			return r.v, r.at, nil
		}
		errs = append(errs, r.err)
	}
	wg.Wait()
	var zero T
	if len(errs) == 0 {
		return zero, time.Time{}, errors.New("no addresses to probe")
	}
	return zero, time.Time{}, errors.Join(errs...)
}
