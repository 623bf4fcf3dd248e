package broker

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/vfs"
)

func TestHWCheckpointFormat(t *testing.T) {
	hws := map[partKey]int64{{"orders", 1}: 987, {"orders", 0}: 1234, {"a.b-c", 10}: 0}
	body := encodeHWCheckpoint(hws)
	const want = "0\n3\na.b-c 10 0\norders 0 1234\norders 1 987\n"
	if string(body) != want {
		t.Fatalf("encoded %q, want %q", body, want)
	}
	got, err := parseHWCheckpoint(body)
	if err != nil || len(got) != 3 || got[partKey{"orders", 0}] != 1234 || got[partKey{"a.b-c", 10}] != 0 {
		t.Fatalf("parsed %v, %v", got, err)
	}
	if got, err := parseHWCheckpoint([]byte("0\n0\n")); err != nil || len(got) != 0 {
		t.Fatalf("empty checkpoint: %v, %v", got, err)
	}
	for _, bad := range []string{"", "0\n", "1\n0\n", "0\n2\nt 0 5\n", "0\n1\nt 0\n", "0\n1\nt x 5\n", "0\n1\nt 0 -1\n", "0\nx\n"} {
		if _, err := parseHWCheckpoint([]byte(bad)); err == nil {
			t.Errorf("parsed %q without error", bad)
		}
	}
}

type testTopicConfigs struct{ cfg *config.Config }

func (c testTopicConfigs) Defaults() []ConfigEntry { return nil }
func (c testTopicConfigs) Validate(name, value string) error {
	return config.ValidateTopicConfig(name, value)
}
func (c testTopicConfigs) Effective(ov map[string]string) (config.TopicConfig, error) {
	return c.cfg.TopicConfig(ov)
}

// hwNode is node 1 with log dir dir, hosting "r" (id 7) partition 0 on
// replicas [1 2] led by leader at epoch 1, opened by the partition
// manager as at start (scanDirs, then the image).
func hwNode(t *testing.T, dir string, leader int32) (*Broker, *partition) {
	t.Helper()
	// Kafka's flush policy: the leader's own log end counts at once.
	return hwNodeOn(t, nil, dir, leader, "log.flush.interval.messages=9223372036854775807")
}

// hwNodeOn is hwNode with its log dir on fsys (nil: the OS) and the
// given config overrides.
func hwNodeOn(t testing.TB, fsys vfs.FS, dir string, leader int32, overrides ...string) (*Broker, *partition) {
	t.Helper()
	cfg, _, err := config.Load(config.LoadOptions{Overrides: overrides})
	if err != nil {
		t.Fatal(err)
	}
	id := metadata.Uuid{7}
	recs := []metadata.Record{{Type: metadata.TypeTopic, Topic: &metadata.TopicRecord{Name: "r", ID: id}},
		{Type: metadata.TypePartition, Partition: &metadata.PartitionRecord{TopicID: id, Partition: 0,
			Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: leader, LeaderEpoch: 1}}}
	for _, n := range []int32{1, 2} {
		recs = append(recs, metadata.Record{Type: metadata.TypeRegisterBroker, RegisterBroker: &metadata.RegisterBrokerRecord{
			BrokerID: n, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 1}}}})
	}
	im := metadata.Empty().Apply(recs...)
	b := &Broker{opts: Options{NodeID: 1, LogDirs: []string{dir}, FS: fsys, TopicConfigs: testTopicConfigs{cfg},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, pub: metadata.NewPublisher(im)}
	b.opts.setDefaults()
	b.opts.LogDirs = []string{dir}
	b.log = b.opts.Logger
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.initDynamic()
	b.parts = newPartitionManager(b)
	b.fetchers = newFetcherManager(b)
	b.isrWake = make(chan struct{}, 1)
	if err := b.parts.scanDirs(); err != nil {
		t.Fatal(err)
	}
	b.parts.onImage(nil, im, nil)
	p := b.parts.get("r", 0)
	if p == nil {
		t.Fatalf("partition not opened: %v", b.parts.err())
	}
	return b, p
}

// closeNode is a clean shutdown's checkpoint, then the partitions close.
func closeNode(t *testing.T, b *Broker) {
	t.Helper()
	b.fetchers.close()
	if err := b.parts.writeHWCheckpoints(); err != nil {
		t.Fatal(err)
	}
	b.cancel()
	if err := b.parts.close(); err != nil {
		t.Fatal(err)
	}
}

// TestHWCheckpointAcrossRestart: a leader whose follower fetched 3 of its 5
// records checkpoints high watermark 3; reopened as leader it starts there
// (not at its log end: the follower has not fetched in the new run), and
// reopened as a follower it knows 3 at once (serves consumers below it)
// instead of waiting for its leader. A checkpoint above the log end is
// capped at it; without a checkpoint a follower knows no high watermark.
func TestHWCheckpointAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	b, p := hwNode(t, dir, 1)
	leaderAppend(t, p, 1, 3)
	if ok, _ := p.followerFetched(2, 3, p.log.LogEndOffset(), 0, b.opts.Now(), -1); !ok {
		t.Fatal("follower fetch refused")
	}
	leaderAppend(t, p, 1, 2)
	if hw, leo := p.hw.Load(), p.log.LogEndOffset(); hw != 3 || leo != 5 {
		t.Fatalf("hw %d, log end %d; want 3 and 5", hw, leo)
	}
	closeNode(t, b)
	ckpt := filepath.Join(dir, hwCheckpointFile)
	if body, err := b.parts.fs.ReadFile(ckpt); err != nil || string(body) != "0\n1\nr 0 3\n" {
		t.Fatalf("checkpoint %q, %v", body, err)
	}

	b, p = hwNode(t, dir, 1)
	if hw := p.hw.Load(); hw != 3 || !p.hwKnown.Load() {
		t.Fatalf("restarted leader: hw %d (known %v), want the checkpointed 3", hw, p.hwKnown.Load())
	}
	closeNode(t, b)

	b, p = hwNode(t, dir, 2)
	if hw := p.consumerHW(); hw != 3 || !p.hwKnown.Load() {
		t.Fatalf("restarted follower: consumer hw %d (known %v), want the checkpointed 3", hw, p.hwKnown.Load())
	}
	closeNode(t, b)

	if err := vfs.WriteFileAtomic(b.parts.fs, ckpt, []byte("0\n1\nr 0 99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, p = hwNode(t, dir, 2)
	if hw := p.hw.Load(); hw != 5 {
		t.Fatalf("checkpoint above the log end: hw %d, want the log end 5", hw)
	}
	closeNode(t, b)

	if err := b.parts.fs.Remove(ckpt); err != nil {
		t.Fatal(err)
	}
	b, p = hwNode(t, dir, 2)
	if p.hwKnown.Load() || p.consumerHW() != 0 {
		t.Fatalf("follower without checkpoint: known %v, consumer hw %d; want unknown, 0", p.hwKnown.Load(), p.consumerHW())
	}
	// It is not written either (its hw is only its recovered log end).
	closeNode(t, b)
	if body, err := b.parts.fs.ReadFile(ckpt); err != nil || string(body) != "0\n0\n" {
		t.Fatalf("checkpoint %q, %v", body, err)
	}
}
