package controller

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/samsa-io/samsa/internal/metadata"
)

// randomCluster registers n brokers spread over racks (0: no racks), some
// fenced, some in controlled shutdown.
func randomCluster(rng *rand.Rand, n, racks int) *metadata.Image {
	im := metadata.Empty()
	for id := int32(1); id <= int32(n); id++ {
		rec := &metadata.RegisterBrokerRecord{BrokerID: id, BrokerEpoch: int64(id), Fenced: rng.IntN(5) == 0}
		if racks > 0 {
			r := fmt.Sprintf("r%d", rng.IntN(racks))
			rec.Rack = &r
		}
		im = im.Apply(metadata.Record{Type: metadata.TypeRegisterBroker, RegisterBroker: rec})
		if rng.IntN(8) == 0 {
			im = im.Apply(metadata.Record{Type: metadata.TypeBrokerRegistrationChange, BrokerRegistrationChange: &metadata.BrokerRegistrationChangeRecord{
				BrokerID: id, BrokerEpoch: int64(id), InControlledShutdown: metadata.ChangeInControlledShutdown}})
		}
	}
	return im
}

// TestPlacementInvariants checks the placer's constraints and goals on
// random clusters: distinct brokers per partition, an unfenced leader, no
// broker in controlled shutdown, fenced brokers only when the unfenced
// ones run out, rack diversity as high as the racks allow, and even
// replica and leader counts where the cluster is uniform.
func TestPlacementInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 2000; iter++ {
		im := randomCluster(rng, 1+rng.IntN(12), rng.IntN(5))
		rf := 1 + rng.IntN(5)
		n := 1 + rng.IntN(40)
		var usable, unfenced int
		racks := map[string]bool{}
		for _, b := range im.Brokers() {
			if b.InControlledShutdown {
				continue
			}
			usable++
			if !b.Fenced {
				unfenced++
			}
			if b.Rack != nil {
				racks[*b.Rack] = true
			} else {
				racks[""] = true
			}
		}
		out, err := place(im, rand.New(rand.NewPCG(uint64(iter), 7)), n, rf)
		if rf > usable || unfenced == 0 {
			if CodeOf(err) != 38 { // INVALID_REPLICATION_FACTOR
				t.Fatalf("iter %d: rf %d usable %d unfenced %d: err %v", iter, rf, usable, unfenced, err)
			}
			continue
		}
		if err != nil || len(out) != n {
			t.Fatalf("iter %d: %v (%d partitions)", iter, err, len(out))
		}
		for _, reps := range out {
			if len(reps) != rf {
				t.Fatalf("iter %d: %v has %d replicas, want %d", iter, reps, len(reps), rf)
			}
			sorted := slices.Clone(reps)
			slices.Sort(sorted)
			if len(slices.Compact(sorted)) != rf {
				t.Fatalf("iter %d: duplicate broker in %v", iter, reps)
			}
			fenced, perRack := 0, map[string]int{}
			for i, r := range reps {
				b := im.Broker(r)
				if b == nil || b.InControlledShutdown {
					t.Fatalf("iter %d: %v uses broker %d", iter, reps, r)
				}
				if b.Fenced {
					fenced++
					if i == 0 {
						t.Fatalf("iter %d: fenced leader in %v", iter, reps)
					}
				}
				rk := ""
				if b.Rack != nil {
					rk = *b.Rack
				}
				perRack[rk]++
			}
			// Rack spreading outranks avoiding fenced brokers (the
			// StripedReplicaPlacer's order of goals): within a rack, a fenced
			// broker is used only when every unfenced one of it is.
			for _, r := range reps {
				b := im.Broker(r)
				if !b.Fenced {
					continue
				}
				for _, o := range im.Brokers() {
					if !o.Fenced && !o.InControlledShutdown && sameRack(o, b) && !slices.Contains(reps, o.ID) {
						t.Fatalf("iter %d: %v uses fenced broker %d while unfenced %d of its rack is free", iter, reps, r, o.ID)
					}
				}
			}
			if want := min(rf, len(racks)); len(perRack) < want && fenced == 0 {
				t.Fatalf("iter %d: %v spans %d racks, %d available", iter, reps, len(perRack), want)
			}
		}
	}
}

func sameRack(a, b *metadata.Broker) bool {
	if a.Rack == nil || b.Rack == nil {
		return a.Rack == nil && b.Rack == nil
	}
	return *a.Rack == *b.Rack
}

// TestPlacementSpreadsEvenly: on uniform clusters (every broker unfenced,
// racks of equal size) each broker holds n*rf/brokers replicas and leads
// n/brokers partitions, within one.
func TestPlacementSpreadsEvenly(t *testing.T) {
	for _, tc := range []struct{ brokers, racks, rf, n int }{
		{3, 0, 3, 30}, {3, 0, 1, 7}, {6, 3, 2, 12}, {6, 3, 3, 60}, {6, 2, 2, 24}, {9, 3, 3, 50}, {4, 4, 2, 40}, {5, 0, 2, 50},
	} {
		im := metadata.Empty()
		for id := int32(1); id <= int32(tc.brokers); id++ {
			rec := &metadata.RegisterBrokerRecord{BrokerID: id, BrokerEpoch: int64(id)}
			if tc.racks > 0 {
				r := fmt.Sprintf("r%d", int(id-1)%tc.racks)
				rec.Rack = &r
			}
			im = im.Apply(metadata.Record{Type: metadata.TypeRegisterBroker, RegisterBroker: rec})
		}
		out, err := place(im, placementSeed(Uuid{byte(tc.n), byte(tc.rf)}, 0), tc.n, tc.rf)
		if err != nil {
			t.Fatal(err)
		}
		replicas, leaders := map[int32]int{}, map[int32]int{}
		for _, reps := range out {
			leaders[reps[0]]++
			for _, r := range reps {
				replicas[r]++
			}
		}
		for id := int32(1); id <= int32(tc.brokers); id++ {
			wantR, wantL := tc.n*tc.rf/tc.brokers, tc.n/tc.brokers
			if r := replicas[id]; r < wantR || r > wantR+1 {
				t.Errorf("%+v: broker %d holds %d replicas, want %d or %d", tc, id, r, wantR, wantR+1)
			}
			if l := leaders[id]; l < wantL || l > wantL+1 {
				t.Errorf("%+v: broker %d leads %d, want %d or %d", tc, id, l, wantL, wantL+1)
			}
		}
	}
}

// TestLeadersSpreadAcrossTopics: successive topics' leaders balance
// against the image (one-partition rf=3 topics on three brokers).
func TestLeadersSpreadAcrossTopics(t *testing.T) {
	c, _ := newTest(t, 1, 2, 3)
	for i := 0; i < 9; i++ {
		if _, err := c.CreateTopic(TopicSpec{Name: fmt.Sprintf("t%d", i), NumPartitions: 1, ReplicationFactor: 3}, false); err != nil {
			t.Fatal(err)
		}
	}
	leaders := map[int32]int{}
	for _, tp := range c.Image().Topics() {
		leaders[tp.Partitions[0].Leader]++
	}
	if leaders[1] != 3 || leaders[2] != 3 || leaders[3] != 3 {
		t.Fatalf("leaders per broker: %v", leaders)
	}
}
