package report

import (
	"fmt"
	"strings"

	"github.com/samsa-io/samsa/chaos/checker"
)

// KafkaTarget is the target name of runs against the Apache Kafka
// reference (chaos/cmd/chaos -target kafka, recorded in config.json).
const KafkaTarget = "kafka"

// splitKafka parts runs into those against samsa (the report's subject)
// and those against the Kafka reference (its comparison).
func splitKafka(runs []*Run) (samsa, kafka []*Run) {
	for _, r := range runs {
		if r.Config != nil && r.Config.Target == KafkaTarget {
			kafka = append(kafka, r)
		} else {
			samsa = append(samsa, r)
		}
	}
	return samsa, kafka
}

// compareMarkdown is the section that sets the runs against the Kafka
// reference beside samsa's: the same harness, schedule kinds, workload
// and checker.
func (a *Aggregate) compareMarkdown(p func(string, ...any)) {
	if a.KafkaOnly {
		return // the report is of Kafka's runs
	}
	p("## Comparison: the same harness against Apache Kafka\n\n")
	k := a.Kafka
	if k == nil || k.Runs == 0 {
		p("No run against the Kafka reference among the inputs: `go run ./chaos/cmd/chaos -target kafka -seed N -out OUT` (or `make chaos TARGET=kafka`) makes them, and the report sets them here, apart from samsa's.\n\n")
		return
	}
	p("Runs of `-target kafka`: three Apache Kafka 4.4.0 nodes with the same server.properties, schedule, workload, final reads, replica audit and checker (no corrupt fault). Seeds %s. They are not pooled with samsa's figures above.\n\n", Seeds(k.Seeds))
	p("| | samsa | kafka |\n|---|---:|---:|\n")
	p("| Runs (valid / invalid / errored) | %d / %d / %d | %d / %d / %d |\n",
		len(a.ByStatus[Valid]), len(a.ByStatus[Invalid]), len(a.ByStatus[Errored]),
		len(k.ByStatus[Valid]), len(k.ByStatus[Invalid]), len(k.ByStatus[Errored]))
	faults := func(x *Aggregate) int {
		n := 0
		for _, c := range x.Faults {
			n += c
		}
		return n
	}
	p("| Faults injected | %d | %d |\n", faults(a), faults(k))
	p("| Sends acknowledged / indeterminate / failed | %d / %d / %d | %d / %d / %d |\n", a.Sends.OK, a.Sends.Info, a.Sends.Fail, k.Sends.OK, k.Sends.Info, k.Sends.Fail)
	p("| Anomalies | %s | %s |\n", anomalyList(a), anomalyList(k))
	pc := func(x checker.Percentiles) string {
		if x.N == 0 {
			return "–"
		}
		return fmt.Sprintf("%s / %s (%d)", Dur(x.P50Nanos), Dur(x.P99Nanos), x.N)
	}
	p("| Unavailability after leader faults alone, p50 / p99 (samples) | %s | %s |\n", pc(a.Leader.Alone), pc(k.Leader.Alone))
	p("| ... compound, p50 / p99 (samples) | %s | %s |\n", pc(a.Leader.Compound), pc(k.Leader.Compound))
	p("| ... all, p50 / p99 (samples) | %s | %s |\n", pc(a.Leader.Percentiles), pc(k.Leader.Percentiles))
	p("| Recovery after kill-all, p50 / p99 (samples) | %s | %s |\n\n", pc(a.KillAll.Percentiles), pc(k.KillAll.Percentiles))
}

// anomalyList names the anomaly kinds an aggregate found, "0" if none.
func anomalyList(a *Aggregate) string {
	var parts []string
	for _, kind := range checker.Kinds {
		if t := a.Anomalies[kind]; t.Count > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", kind, t.Count))
		}
	}
	if a.Malformed.Count > 0 {
		parts = append(parts, fmt.Sprintf("malformed %d", a.Malformed.Count))
	}
	if len(parts) == 0 {
		return "0"
	}
	return "**" + strings.Join(parts, ", ") + "**"
}
