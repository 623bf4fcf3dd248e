package controller

// The feature levels a new cluster starts with, as Kafka 4.4's storage
// format bootstraps them (kafka-storage format without --feature): here
// eligible.leader.replicas.version 1 (KIP-966). They are the first records
// of a new metadata log (the broker hands them to the quorum as its
// bootstrap entry), so every node's image holds them from the start; a
// cluster whose log began without them (an older samsa) keeps the
// unfinalized default ELREnabled describes.

import (
	"maps"
	"slices"

	"github.com/samsa-io/samsa/internal/metadata"
)

// newClusterFeatures are the levels BootstrapFeatures finalizes.
var newClusterFeatures = map[string]int16{FeatureELR: 1}

// BootstrapFeatures returns the FeatureLevel records of a new cluster, in
// name order.
func BootstrapFeatures() []metadata.Record {
	var recs []metadata.Record
	for _, name := range slices.Sorted(maps.Keys(newClusterFeatures)) {
		recs = append(recs, metadata.Record{Type: metadata.TypeFeatureLevel,
			FeatureLevel: &metadata.FeatureLevelRecord{Name: name, FeatureLevel: newClusterFeatures[name]}})
	}
	return recs
}
