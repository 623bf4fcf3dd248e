package controller

// Scenario tests: scripts in testdata/*.txt drive a Controller (over an
// in-memory batch log, with deterministic ids and time passed in) and
// compare what it prints with the transcript. A case is a command line,
// "----", and the expected output up to a blank line; lines starting with
// '#' are comments. `go test ./internal/controller -rewrite` writes the
// current output back into the files.
//
// Commands (times in milliseconds; most set the current time with time=):
//
//	config key=value...        rebalance=on|off imbalance-pct=N session-timeout=MS
//	                           default-rf=N default-partitions=N cluster-id=S
//	register id=N [rack=R] [incarnation=L] [listeners=NAME:host:port,...]
//	                           [previous-epoch=E] [cluster-id=S] [features=name:min-max,...]
//	heartbeat id=N[,N...] [epoch=E] [offset=N] [want-fence] [want-shutdown]
//	                           (epoch: the registered one; offset: caught up)
//	controlled-shutdown id=N   a heartbeat with want-shutdown
//	tick time=T                fence stale brokers, rebalance when due
//	activate                   start sessions as the active controller
//	failover                   a new active controller over the same log (no sessions), activated
//	create-topic name=T [partitions=N] [rf=N] [assign=1,2;2,3] [validate-only]
//	create-partitions name=T total=N [assign=...]
//	delete-topic name=T
//	unregister id=N
//	rebalance                  a preferred-leader rebalance now
//	allocate-producer-ids id=N [epoch=E]
//	set-feature name=N level=L a FeatureLevel record, as the quorum finalizes one
//	                           (eligible.leader.replicas.version level=0 turns ELR off)
//	topic-config name=T key=value...   set topic configs (min.insync.replicas=2 ...)
//	alter-partition id=N topic=T [partition=P] isr=1,2 [leader-epoch=E] [partition-epoch=E]
//	                           [epochs=1:E,2:E] [epoch=E]   an AlterPartition from broker N
//	                           (epochs default to the current ones: -1 when not given)
//	catch-up id=N              broker N has caught up everywhere: each leader of a partition it
//	                           replicates outside the ISR adds it (AlterPartition)
//	elect-leaders type=preferred|unclean [topic=T partitions=0,1]   (no topic: all)
//	reassign topic=T partition=P replicas=1,2,3|cancel [no-rf-change]
//	list-reassignments [topic=T partitions=0,1]
//	partitions [topic=T]       the partition table
//	brokers                    the broker table
//	load                       replicas, leaders and preferred leaderships per broker
//	sessions                   the session tracker
//	snapshot                   snapshot the image, restore it, compare

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the scenario transcripts in testdata/ with the current output")

// batchLog is an in-memory Raft-like log: each batch is one entry.
type batchLog struct {
	entries [][]metadata.Record
}

func (l *batchLog) Append(recs []metadata.Record) error { _, err := l.AppendBatch(recs); return err }

func (l *batchLog) AppendBatch(recs []metadata.Record) (int64, error) {
	// The stored form goes through the batch codec, as a Raft entry would.
	b, err := metadata.EncodeBatch(recs)
	if err != nil {
		return 0, err
	}
	back, err := metadata.DecodeBatch(b)
	if err != nil {
		return 0, err
	}
	l.entries = append(l.entries, back)
	return int64(len(l.entries)), nil
}

type scenario struct {
	t      *testing.T
	cfg    Config
	c      *Controller
	log    *batchLog
	now    time.Time
	ids    int
	labels map[metadata.Uuid]string // incarnation id → label
	incs   map[string]metadata.Uuid
	topics map[metadata.Uuid]string
	out    *strings.Builder
}

func newScenario(t *testing.T) *scenario {
	s := &scenario{t: t, labels: map[metadata.Uuid]string{}, incs: map[string]metadata.Uuid{}, topics: map[metadata.Uuid]string{}}
	s.cfg = Config{NodeID: 1, DefaultPartitions: 1, DefaultReplicationFactor: 1, DeleteTopicEnable: true,
		AutoLeaderRebalance: true, LeaderImbalancePerBrokerPercentage: DefaultLeaderImbalancePerBrokerPercentage,
		NewID: s.newID, Now: func() time.Time { return s.now }}
	s.reset()
	return s
}

func (s *scenario) reset() {
	s.log = &batchLog{}
	s.c = New(s.cfg, s.log, nil)
	s.c.Subscribe(s.onImage)
}

func (s *scenario) newID() metadata.Uuid {
	s.ids++
	var u metadata.Uuid
	binary.BigEndian.PutUint64(u[8:], uint64(s.ids)+1) // never the reserved 0 and 1
	return u
}

func (s *scenario) incarnation(label string) metadata.Uuid {
	if u, ok := s.incs[label]; ok {
		return u
	}
	u := s.newID()
	s.incs[label], s.labels[u] = u, label
	return u
}

// onImage prints every committed batch.
func (s *scenario) onImage(prev, next *metadata.Image, recs []metadata.Record) {
	if prev == nil || s.out == nil {
		return
	}
	fmt.Fprintf(s.out, "entry %d:\n", next.Offset)
	for i := range recs {
		fmt.Fprintf(s.out, "  %s\n", s.format(&recs[i]))
	}
}

func ints(v []int32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.Itoa(int(x))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (s *scenario) format(r *metadata.Record) string {
	switch r.Type {
	case metadata.TypeTopic:
		s.topics[r.Topic.ID] = r.Topic.Name
		return "Topic " + r.Topic.Name
	case metadata.TypePartition:
		p := r.Partition
		out := fmt.Sprintf("Partition %s-%d replicas=%s isr=%s leader=%d", s.topics[p.TopicID], p.Partition, ints(p.Replicas), ints(p.ISR), p.Leader)
		return out + listsIfSet(p.AddingReplicas, p.RemovingReplicas, p.ELR, p.LastKnownELR)
	case metadata.TypePartitionChange:
		c := r.PartitionChange
		out := fmt.Sprintf("PartitionChange %s-%d", s.topics[c.TopicID], c.Partition)
		if c.Leader != metadata.NoLeaderChange {
			out += fmt.Sprintf(" leader=%d", c.Leader)
		}
		if c.ISR != nil {
			out += " isr=" + ints(c.ISR)
		}
		if c.Replicas != nil {
			out += " replicas=" + ints(c.Replicas)
		}
		for _, l := range []struct {
			name string
			v    []int32
		}{{"adding", c.AddingReplicas}, {"removing", c.RemovingReplicas}, {"elr", c.ELR}, {"last-known-elr", c.LastKnownELR}} {
			if l.v != nil {
				out += " " + l.name + "=" + ints(l.v)
			}
		}
		return out
	case metadata.TypeRemoveTopic:
		return "RemoveTopic " + s.topics[r.RemoveTopic.TopicID]
	case metadata.TypeConfig:
		c := r.Config
		if c.Value == nil {
			return fmt.Sprintf("Config %d/%s %s deleted", c.ResourceType, c.ResourceName, c.Name)
		}
		return fmt.Sprintf("Config %d/%s %s=%s", c.ResourceType, c.ResourceName, c.Name, *c.Value)
	case metadata.TypeRegisterBroker:
		b := r.RegisterBroker
		out := fmt.Sprintf("RegisterBroker id=%d epoch=%d incarnation=%s", b.BrokerID, b.BrokerEpoch, s.labels[b.IncarnationID])
		if b.Rack != nil {
			out += " rack=" + *b.Rack
		}
		if b.Fenced {
			out += " fenced"
		}
		if b.InControlledShutdown {
			out += " in-controlled-shutdown"
		}
		for _, e := range b.Endpoints {
			out += fmt.Sprintf(" %s://%s:%d", e.Name, e.Host, e.Port)
		}
		return out
	case metadata.TypeUnregisterBroker:
		return fmt.Sprintf("UnregisterBroker id=%d epoch=%d", r.UnregisterBroker.BrokerID, r.UnregisterBroker.BrokerEpoch)
	case metadata.TypeFenceBroker:
		return fmt.Sprintf("FenceBroker id=%d epoch=%d", r.FenceBroker.ID, r.FenceBroker.Epoch)
	case metadata.TypeUnfenceBroker:
		return fmt.Sprintf("UnfenceBroker id=%d epoch=%d", r.UnfenceBroker.ID, r.UnfenceBroker.Epoch)
	case metadata.TypeBrokerRegistrationChange:
		c := r.BrokerRegistrationChange
		out := fmt.Sprintf("BrokerRegistrationChange id=%d epoch=%d", c.BrokerID, c.BrokerEpoch)
		switch c.Fenced {
		case metadata.ChangeFence:
			out += " fence"
		case metadata.ChangeUnfence:
			out += " unfence"
		}
		if c.InControlledShutdown == metadata.ChangeInControlledShutdown {
			out += " in-controlled-shutdown"
		}
		return out
	case metadata.TypeProducerIDs:
		return fmt.Sprintf("ProducerIds broker=%d epoch=%d next=%d", r.ProducerIDs.BrokerID, r.ProducerIDs.BrokerEpoch, r.ProducerIDs.NextProducerID)
	case metadata.TypeFeatureLevel:
		return fmt.Sprintf("FeatureLevel %s=%d", r.FeatureLevel.Name, r.FeatureLevel.FeatureLevel)
	}
	return string(r.Type)
}

// args parses key=value words (a bare word is key=""), in order.
type args map[string]string

func parseArgs(words []string) args {
	a := args{}
	for _, w := range words {
		k, v, _ := strings.Cut(w, "=")
		a[k] = v
	}
	return a
}

func (s *scenario) fail(format string, v ...any) {
	s.t.Helper()
	s.t.Fatalf(format, v...)
}

func (a args) int(s *scenario, key string, def int64) int64 {
	v, ok := a[key]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		s.fail("%s=%q: %v", key, v, err)
	}
	return n
}

func (a args) ids(s *scenario) []int32 {
	var out []int32
	for _, f := range strings.Split(a["id"], ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			s.fail("id=%q: %v", a["id"], err)
		}
		out = append(out, int32(n))
	}
	return out
}

func parseAssign(s *scenario, v string) [][]int32 {
	var out [][]int32
	for _, p := range strings.Split(v, ";") {
		var reps []int32
		for _, f := range strings.Split(p, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				s.fail("assign=%q: %v", v, err)
			}
			reps = append(reps, int32(n))
		}
		out = append(out, reps)
	}
	return out
}

func (s *scenario) errorLine(err error) {
	if err != nil {
		fmt.Fprintf(s.out, "error: %s: %s\n", codeName(err), *MessageOf(err))
	}
}

func codeName(err error) string {
	if ce, ok := err.(*Error); ok {
		return ce.Code.Message
	}
	return "?"
}

func (s *scenario) run(cmd string) string {
	s.out = &strings.Builder{}
	words := strings.Fields(cmd)
	a := parseArgs(words[1:])
	if _, ok := a["time"]; ok {
		s.now = time.UnixMilli(a.int(s, "time", 0))
	}
	im := s.c.Image()
	switch words[0] {
	case "config":
		for k, v := range a {
			n, _ := strconv.Atoi(v)
			switch k {
			case "rebalance":
				s.cfg.AutoLeaderRebalance = v == "on"
			case "imbalance-pct":
				s.cfg.LeaderImbalancePerBrokerPercentage = n
			case "session-timeout":
				s.cfg.SessionTimeout = time.Duration(n) * time.Millisecond
			case "default-rf":
				s.cfg.DefaultReplicationFactor = int16(n)
			case "default-partitions":
				s.cfg.DefaultPartitions = int32(n)
			case "cluster-id":
				s.cfg.ClusterID = v
			case "time":
			default:
				s.fail("config: unknown key %q", k)
			}
		}
		if len(s.log.entries) > 0 {
			s.fail("config after the first entry")
		}
		s.reset()
		s.out.WriteString("ok\n")
	case "register":
		id := int32(a.int(s, "id", 0))
		label, ok := a["incarnation"]
		if !ok {
			label = fmt.Sprintf("b%d.%d", id, s.ids+1)
		}
		req := Registration{BrokerID: id, ClusterID: s.cfg.ClusterID, IncarnationID: s.incarnation(label),
			PreviousBrokerEpoch: a.int(s, "previous-epoch", -1)}
		if v, ok := a["cluster-id"]; ok {
			req.ClusterID = v
		}
		if v, ok := a["rack"]; ok {
			req.Rack = &v
		}
		for _, l := range strings.Split(a["listeners"], ",") {
			if l == "" {
				continue
			}
			f := strings.Split(l, ":")
			port, _ := strconv.Atoi(f[2])
			req.Endpoints = append(req.Endpoints, metadata.Endpoint{Name: f[0], Host: f[1], Port: int32(port)})
		}
		for _, f := range strings.Split(a["features"], ",") {
			if f == "" {
				continue
			}
			name, rng, _ := strings.Cut(f, ":")
			lo, hi, _ := strings.Cut(rng, "-")
			l, _ := strconv.Atoi(lo)
			h, _ := strconv.Atoi(hi)
			req.Features = append(req.Features, metadata.FeatureRange{Name: name, Min: int16(l), Max: int16(h)})
		}
		res, err := s.c.BrokerRegistration(req, s.now)
		s.errorLine(err)
		if err == nil {
			fmt.Fprintf(s.out, "registered: epoch=%d new-incarnation=%t clean-shutdown=%t\n", res.BrokerEpoch, res.NewIncarnation, res.CleanShutdown)
		}
	case "heartbeat", "controlled-shutdown":
		for _, id := range a.ids(s) {
			epoch := int64(-1)
			if b := s.c.Image().Broker(id); b != nil {
				epoch = b.Epoch
			}
			req := Heartbeat{BrokerID: id, BrokerEpoch: a.int(s, "epoch", epoch),
				CurrentMetadataOffset: a.int(s, "offset", s.c.Image().Offset)}
			_, req.WantFence = a["want-fence"]
			_, req.WantShutDown = a["want-shutdown"]
			if words[0] == "controlled-shutdown" {
				req.WantShutDown = true
			}
			res, err := s.c.BrokerHeartbeat(req, s.now)
			s.errorLine(err)
			if err == nil {
				fmt.Fprintf(s.out, "broker %d: caught-up=%t fenced=%t in-controlled-shutdown=%t should-shut-down=%t\n",
					id, res.IsCaughtUp, res.IsFenced, res.InControlledShutdown, res.ShouldShutDown)
			}
		}
	case "tick":
		next, err := s.c.Tick(s.now)
		s.errorLine(err)
		if next.IsZero() {
			s.out.WriteString("next: none\n")
		} else {
			fmt.Fprintf(s.out, "next: %d\n", next.UnixMilli())
		}
	case "activate":
		s.c.Activate(s.now)
		s.out.WriteString("ok\n")
	case "failover":
		// A new active controller: the same log and image, no sessions.
		s.c = NewFromImage(s.cfg, s.log, s.c.Image())
		s.c.Subscribe(s.onImage)
		s.c.Activate(s.now)
		s.out.WriteString("ok\n")
	case "create-topic":
		spec := TopicSpec{Name: a["name"], NumPartitions: int32(a.int(s, "partitions", -1)), ReplicationFactor: int16(a.int(s, "rf", -1))}
		if v, ok := a["assign"]; ok {
			spec.Assignment = parseAssign(s, v)
		}
		_, validateOnly := a["validate-only"]
		res, err := s.c.CreateTopic(spec, validateOnly)
		s.errorLine(err)
		if err == nil {
			fmt.Fprintf(s.out, "created: partitions=%d rf=%d\n", res.NumPartitions, res.ReplicationFactor)
		}
	case "create-partitions":
		var assign [][]int32
		if v, ok := a["assign"]; ok {
			assign = parseAssign(s, v)
		}
		s.errorLine(s.c.CreatePartitions(a["name"], int32(a.int(s, "total", 0)), assign, false))
	case "delete-topic":
		_, _, err := s.c.DeleteTopic(a["name"], metadata.Uuid{})
		s.errorLine(err)
	case "unregister":
		s.errorLine(s.c.UnregisterBroker(int32(a.int(s, "id", 0))))
	case "rebalance":
		s.errorLine(s.c.Rebalance())
	case "allocate-producer-ids":
		id := int32(a.int(s, "id", 0))
		epoch := int64(-1)
		if b := im.Broker(id); b != nil {
			epoch = b.Epoch
		}
		first, n, err := s.c.AllocateProducerIDBlock(id, a.int(s, "epoch", epoch))
		s.errorLine(err)
		if err == nil {
			fmt.Fprintf(s.out, "block: [%d, %d)\n", first, first+n)
		}
	case "set-feature":
		rec := metadata.Record{Type: metadata.TypeFeatureLevel, FeatureLevel: &metadata.FeatureLevelRecord{Name: a["name"], FeatureLevel: int16(a.int(s, "level", 0))}}
		s.c.mu.Lock()
		err := s.c.commitLocked([]metadata.Record{rec})
		s.c.mu.Unlock()
		s.errorLine(err)
	case "topic-config":
		var ops []ConfigOp
		for _, w := range words[1:] {
			k, v, _ := strings.Cut(w, "=")
			if k == "name" || k == "time" {
				continue
			}
			ops = append(ops, ConfigOp{Name: k, Value: &v})
		}
		s.errorLine(s.c.AlterTopicConfigs(a["name"], ops, false, false))
	case "alter-partition":
		s.alterPartition(im, a)
	case "catch-up":
		id := int32(a.int(s, "id", 0))
		for _, t := range im.Topics() {
			for i, p := range t.Partitions {
				if p.Leader < 0 || !slices.Contains(p.Replicas, id) || slices.Contains(p.ISR, id) {
					continue
				}
				var isr []string
				for _, r := range p.Replicas {
					if r == id || slices.Contains(p.ISR, r) {
						isr = append(isr, strconv.Itoa(int(r)))
					}
				}
				fmt.Fprintf(s.out, "%s-%d: AlterPartition from %d\n", t.Name, i, p.Leader)
				s.alterPartition(s.c.Image(), args{"id": strconv.Itoa(int(p.Leader)), "topic": t.Name,
					"partition": strconv.Itoa(i), "isr": strings.Join(isr, ",")})
			}
		}
	case "elect-leaders":
		typ := ElectionPreferred
		if a["type"] == "unclean" {
			typ = ElectionUnclean
		}
		var topics []ElectTopic
		if t, ok := a["topic"]; ok {
			topics = []ElectTopic{{Topic: t, Partitions: parseInts(s, a["partitions"])}}
		}
		res, err := s.c.ElectLeaders(typ, topics)
		s.errorLine(err)
		for _, r := range res {
			if r.Err != nil {
				fmt.Fprintf(s.out, "%s-%d: %s\n", r.Topic, r.Partition, r.Err.Code.Message)
			} else {
				fmt.Fprintf(s.out, "%s-%d: elected\n", r.Topic, r.Partition)
			}
		}
	case "reassign":
		m := Reassignment{Topic: a["topic"], Partition: int32(a.int(s, "partition", 0))}
		if v := a["replicas"]; v != "cancel" {
			m.Replicas = parseInts(s, v)
		}
		_, noRF := a["no-rf-change"]
		errs, err := s.c.AlterPartitionReassignments([]Reassignment{m}, !noRF)
		s.errorLine(err)
		for _, e := range errs {
			if e != nil {
				fmt.Fprintf(s.out, "error: %s: %s\n", e.Code.Message, e.Message)
			} else {
				s.out.WriteString("accepted\n")
			}
		}
	case "list-reassignments":
		var topics []ElectTopic
		if t, ok := a["topic"]; ok {
			topics = []ElectTopic{{Topic: t, Partitions: parseInts(s, a["partitions"])}}
		}
		for _, r := range ListPartitionReassignments(im, topics) {
			fmt.Fprintf(s.out, "%s-%d replicas=%s adding=%s removing=%s\n", r.Topic, r.Partition, ints(r.Replicas), ints(r.Adding), ints(r.Removing))
		}
		if s.out.Len() == 0 {
			s.out.WriteString("none\n")
		}
	case "partitions":
		s.printPartitions(im, a["topic"])
	case "brokers":
		s.printBrokers(im)
	case "load":
		s.printLoad(im)
	case "sessions":
		for _, ss := range s.c.Sessions() {
			fmt.Fprintf(s.out, "broker %d: epoch=%d last-contact=%d offset=%d confirmed=%t\n", ss.BrokerID, ss.BrokerEpoch, ss.LastContact.UnixMilli(), ss.MetadataOffset, ss.Confirmed)
		}
	case "snapshot":
		snap := im.Snapshot()
		back, err := metadata.DecodeSnapshot(snap)
		if err != nil {
			s.fail("snapshot does not decode: %v", err)
		}
		if !bytes.Equal(back.Snapshot(), snap) {
			s.fail("restored image snapshots differently")
		}
		// The restored image must also equal the replay of the log.
		replay := metadata.Empty()
		for i, e := range s.log.entries {
			if replay, err = replay.ApplyBatch(int64(i+1), e); err != nil {
				s.fail("replay: %v", err)
			}
		}
		if !bytes.Equal(replay.Snapshot(), snap) {
			s.fail("snapshot differs from the replayed log")
		}
		fmt.Fprintf(s.out, "restored: offset=%d topics=%d brokers=%d, equal to the replayed log\n", back.Offset, len(back.Topics()), len(back.Brokers()))
	default:
		s.fail("unknown command %q", words[0])
	}
	if s.out.Len() == 0 {
		s.out.WriteString("ok\n")
	}
	out := s.out.String()
	s.out = nil
	return out
}

// alterPartition sends an AlterPartition for one partition, with the
// leader's view (epochs) taken from the image unless given.
func (s *scenario) alterPartition(im *metadata.Image, a args) {
	id := int32(a.int(s, "id", 0))
	t := im.Topic(a["topic"])
	var tid metadata.Uuid
	var p metadata.Partition
	idx := int32(a.int(s, "partition", 0))
	if t != nil {
		tid = t.ID
		if int(idx) < len(t.Partitions) {
			p = t.Partitions[idx]
		}
	} else {
		tid = metadata.Uuid{0xee}
	}
	epoch := int64(-1)
	if b := im.Broker(id); b != nil {
		epoch = b.Epoch
	}
	epochs := map[int32]int64{}
	for _, f := range strings.Split(a["epochs"], ",") {
		if f == "" {
			continue
		}
		k, v, _ := strings.Cut(f, ":")
		kn, _ := strconv.Atoi(k)
		vn, _ := strconv.ParseInt(v, 10, 64)
		epochs[int32(kn)] = vn
	}
	d := AlterPartitionData{Partition: idx, LeaderEpoch: int32(a.int(s, "leader-epoch", int64(p.LeaderEpoch))),
		PartitionEpoch: int32(a.int(s, "partition-epoch", int64(p.PartitionEpoch)))}
	for _, r := range parseInts(s, a["isr"]) {
		e, ok := epochs[r]
		if !ok {
			e = -1
		}
		d.NewISR = append(d.NewISR, ISRMember{BrokerID: r, BrokerEpoch: e})
	}
	res, err := s.c.AlterPartition(AlterPartitionRequest{BrokerID: id, BrokerEpoch: a.int(s, "epoch", epoch),
		Topics: []AlterPartitionTopic{{TopicID: tid, Partitions: []AlterPartitionData{d}}}})
	s.errorLine(err)
	for _, tr := range res.Topics {
		for _, pr := range tr.Partitions {
			if pr.Err != nil {
				fmt.Fprintf(s.out, "partition %d: %s: %s\n", pr.Partition, pr.Err.Code.Message, pr.Err.Message)
				continue
			}
			fmt.Fprintf(s.out, "partition %d: leader=%d leader-epoch=%d partition-epoch=%d isr=%s\n", pr.Partition, pr.Leader, pr.LeaderEpoch, pr.PartitionEpoch, ints(pr.ISR))
		}
	}
}

func (s *scenario) printPartitions(im *metadata.Image, only string) {
	for _, t := range im.Topics() {
		if only != "" && t.Name != only {
			continue
		}
		for i, p := range t.Partitions {
			fmt.Fprintf(s.out, "%s-%d replicas=%s isr=%s leader=%d leader-epoch=%d partition-epoch=%d%s\n",
				t.Name, i, ints(p.Replicas), ints(p.ISR), p.Leader, p.LeaderEpoch, p.PartitionEpoch,
				listsIfSet(p.AddingReplicas, p.RemovingReplicas, p.ELR, p.LastKnownELR))
		}
	}
}

// listsIfSet prints the reassignment and ELR lists that are not empty.
func listsIfSet(adding, removing, elr, lastKnown []int32) string {
	out := ""
	for _, l := range []struct {
		name string
		v    []int32
	}{{"adding", adding}, {"removing", removing}, {"elr", elr}, {"last-known-elr", lastKnown}} {
		if len(l.v) > 0 {
			out += " " + l.name + "=" + ints(l.v)
		}
	}
	return out
}

func parseInts(s *scenario, v string) []int32 {
	if v == "" {
		return []int32{}
	}
	var out []int32
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			s.fail("%q: %v", v, err)
		}
		out = append(out, int32(n))
	}
	return out
}

func (s *scenario) printBrokers(im *metadata.Image) {
	for _, b := range im.Brokers() {
		line := fmt.Sprintf("broker %d: epoch=%d incarnation=%s registered-at=%d", b.ID, b.Epoch, s.labels[b.IncarnationID], b.RegistrationOffset)
		if b.Rack != nil {
			line += " rack=" + *b.Rack
		}
		switch {
		case b.Fenced:
			line += " fenced"
		default:
			line += " unfenced"
		}
		if b.InControlledShutdown {
			line += fmt.Sprintf(" in-controlled-shutdown@%d", b.ControlledShutdownOffset)
		}
		for _, e := range b.Endpoints {
			line += fmt.Sprintf(" %s://%s:%d", e.Name, e.Host, e.Port)
		}
		s.out.WriteString(line + "\n")
	}
}

// printLoad prints, per broker, the replicas it holds, the partitions it
// leads and those it is the preferred leader of, and the racks each
// partition spans at most once.
func (s *scenario) printLoad(im *metadata.Image) {
	replicas, leaders, preferred := map[int32]int{}, map[int32]int{}, map[int32]int{}
	offline := 0
	sameRack := 0
	for _, t := range im.Topics() {
		for _, p := range t.Partitions {
			racks := map[string]int{}
			for _, r := range p.Replicas {
				replicas[r]++
				if b := im.Broker(r); b != nil && b.Rack != nil {
					racks[*b.Rack]++
				}
			}
			for _, n := range racks {
				if n > 1 {
					sameRack++
				}
			}
			if p.Leader >= 0 {
				leaders[p.Leader]++
			} else {
				offline++
			}
			if len(p.Replicas) > 0 {
				preferred[p.Replicas[0]]++
			}
		}
	}
	var ids []int32
	for _, b := range im.Brokers() {
		ids = append(ids, b.ID)
	}
	for id := range replicas {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		fmt.Fprintf(s.out, "broker %d: replicas=%d leaders=%d preferred=%d\n", id, replicas[id], leaders[id], preferred[id])
	}
	fmt.Fprintf(s.out, "offline=%d partitions-with-two-replicas-in-one-rack=%d\n", offline, sameRack)
}

type scenarioCase struct {
	pre      []string // comment and blank lines before the command
	cmd      string
	expected string
}

func parseScenario(t *testing.T, path string, data string) []scenarioCase {
	var cases []scenarioCase
	lines := strings.Split(data, "\n")
	var pre []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			continue
		}
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command %q is not followed by ----", path, i+1, l)
		}
		i += 2
		var exp []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			exp = append(exp, lines[i])
		}
		cases = append(cases, scenarioCase{pre: pre, cmd: l, expected: strings.Join(exp, "\n") + "\n"})
		pre = []string{""}
	}
	return cases
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s := newScenario(t)
			var out strings.Builder
			for _, c := range parseScenario(t, path, string(data)) {
				got := s.run(c.cmd)
				if !*rewrite && got != c.expected {
					t.Errorf("%s: %s\n got:\n%s want:\n%s", path, c.cmd, got, c.expected)
				}
				for i, p := range c.pre {
					if i == 0 && p == "" && out.Len() == 0 {
						continue
					}
					out.WriteString(p + "\n")
				}
				out.WriteString(c.cmd + "\n----\n" + got)
			}
			if *rewrite {
				if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
