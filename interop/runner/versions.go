package main

// The API version table: every broker column answers one ApiVersions
// request, and docs/interop.md compares, for each API key samsa
// implements, samsa's range with each Apache Kafka column's. A difference
// must be explained in rangeNotes, else the run fails: a new reference
// version that raises a range is either implemented or declined on
// purpose, never missed.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiRange is one key's advertised range.
type apiRange struct{ min, max int16 }

func (r apiRange) String() string {
	if r.min == r.max {
		return fmt.Sprint(r.min)
	}
	return fmt.Sprintf("%d–%d", r.min, r.max)
}

// rangeNotes explains, per API key, why samsa's range differs from a
// reference column's, or what the newest versions carry. A key whose
// ranges differ without a note here fails the run.
var rangeNotes = map[int16]string{
	2: "v11 (4.2+, KIP-1023) adds timestamp -6, the earliest offset still to upload to tiered storage; " +
		"without tiered storage samsa and Kafka 4.4 answer offset -1 (before v11, UNSUPPORTED_VERSION)",
	8: "v10 (4.2+, KAFKA-14690, part of KIP-848) names topics by topic ID only: " +
		"an unknown or zero ID is UNKNOWN_TOPIC_ID per partition; samsa serves it",
	9: "v10 (4.2+, KAFKA-14691, part of KIP-848) names topics by topic ID only, also in the " +
		"all-topics answer; an unknown, zero or deleted topic's ID is UNKNOWN_TOPIC_ID per partition; samsa serves it",
	18: "v5 (after 4.1, KIP-1242) lets a client send the cluster ID and node ID it expects: both or neither " +
		"(else INVALID_REQUEST), and a mismatch is REBOOTSTRAP_REQUIRED; samsa checks them against its own",
	35: "v5 (after 4.1, KIP-1066) adds IsCordoned per log dir; samsa cannot cordon a log dir, so it is always false",
	42: "v3 (after 4.1) adds an error message per group; Kafka 4.4 leaves it null for the errors DeleteGroups " +
		"returns (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP), and so does samsa",
}

// apiVersionsOf asks addr for its API ranges with ApiVersions v3 (every
// 2.4+ broker answers it) and returns them by key.
func apiVersionsOf(addr string) (map[int16]apiRange, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-interop", "1"
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("samsa-interop"))
	if _, err := c.Write(f.AppendRequest(nil, req, 1)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 1<<20 {
		return nil, fmt.Errorf("ApiVersions response of %d bytes", n)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(c, frame); err != nil {
		return nil, err
	}
	return parseApiVersions(frame, 1)
}

// parseApiVersions decodes an ApiVersions v3 response frame (after the
// size): correlation ID, then the body (its header has no tagged fields).
func parseApiVersions(frame []byte, correlation int32) (map[int16]apiRange, error) {
	if len(frame) < 4 {
		return nil, errors.New("ApiVersions response shorter than its header")
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != correlation {
		return nil, fmt.Errorf("ApiVersions response for correlation %d, want %d", got, correlation)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	if err := resp.ReadFrom(frame[4:]); err != nil {
		return nil, fmt.Errorf("decoding ApiVersions response: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("ApiVersions: %w", err)
	}
	out := make(map[int16]apiRange, len(resp.ApiKeys))
	for _, k := range resp.ApiKeys {
		if k.MinVersion < 0 || k.MaxVersion < k.MinVersion {
			return nil, fmt.Errorf("ApiVersions: key %d has range %d-%d", k.ApiKey, k.MinVersion, k.MaxVersion)
		}
		out[k.ApiKey] = apiRange{k.MinVersion, k.MaxVersion}
	}
	return out, nil
}

// versionTable renders the comparison of samsa's ranges (ranges["samsa"])
// with every other column's, and returns the keys that differ with no
// note. Nothing is rendered without samsa's ranges.
func versionTable(brokers []string, ranges map[string]map[int16]apiRange) (string, []string) {
	own := ranges["samsa"]
	if own == nil {
		return "", nil
	}
	var refs []string
	for _, b := range brokers {
		if b != "samsa" && ranges[b] != nil {
			refs = append(refs, b)
		}
	}
	keys := make([]int16, 0, len(own))
	for k := range own {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	var unexplained []string
	b.WriteString("## API versions\n\n")
	b.WriteString("The ranges each broker column advertises in ApiVersions, for every API key samsa implements.\n")
	b.WriteString("A range samsa advertises is served in full; a difference from a reference column is explained\n")
	b.WriteString("(the runner fails on one that is not).\n\n")
	b.WriteString("| key | API | samsa |")
	for _, r := range refs {
		fmt.Fprintf(&b, " %s |", columnTitle(r))
	}
	b.WriteString(" what differs and why |\n|---|---|---|")
	for range refs {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "| %d | %s | %s |", k, kmsg.NameForKey(k), own[k])
		differs := false
		for _, r := range refs {
			theirs, ok := ranges[r][k]
			if !ok {
				b.WriteString(" – |")
				differs = true
				continue
			}
			if theirs != own[k] {
				differs = true
			}
			fmt.Fprintf(&b, " %s |", theirs)
		}
		note := rangeNotes[k]
		switch {
		case differs && note == "":
			unexplained = append(unexplained, fmt.Sprintf("%s (%d)", kmsg.NameForKey(k), k))
			note = "**not explained** (add a note in interop/runner/versions.go)"
		case !differs:
			note = "same"
		}
		fmt.Fprintf(&b, " %s |\n", note)
	}
	for _, r := range refs {
		var missing []string
		for k := range ranges[r] {
			if _, ok := own[k]; !ok {
				missing = append(missing, fmt.Sprintf("%s (%d)", kmsg.NameForKey(k), k))
			}
		}
		if len(missing) == 0 {
			continue
		}
		sort.Slice(missing, func(i, j int) bool { return keyOf(missing[i]) < keyOf(missing[j]) })
		fmt.Fprintf(&b, "\n%s advertises %d keys samsa does not: %s.\n", columnTitle(r), len(missing), strings.Join(missing, ", "))
	}
	b.WriteString("\nThe raised versions are the ones clients send: against samsa, kafka-clients 4.4.0 (the java rows)\n")
	b.WriteString("sends OffsetCommit v10, OffsetFetch v10, ApiVersions v5, ListOffsets v11 and DeleteGroups v3, as\n")
	b.WriteString("does franz-go 1.22, and Kafka 4.4's log-dirs tool DescribeLogDirs v5; kafka-clients 3.9.2 stays\n")
	b.WriteString("at the 3.9 versions (OffsetCommit v9, ApiVersions v4, ...).\n")
	b.WriteString("\nsamsa advertises no key before it works: transactions (AddPartitionsToTxn, EndTxn, ...), SASL,\n")
	b.WriteString("ACLs, quotas, delegation tokens, share groups (KIP-932), streams groups (KIP-1071)\n")
	b.WriteString("and the dynamic-quorum keys (KIP-853) are not implemented. Feature levels\n")
	b.WriteString("in ApiVersions: samsa finalizes group.version 1 (KIP-848) and, on a cluster it created,\n")
	b.WriteString("eligible.leader.replicas.version 1 (KIP-966), as Kafka 4.4 does; Kafka 4.4 also finalizes\n")
	b.WriteString("transaction.version 2, share.version 2 and streams.version 1, which need those missing keys.\n")
	return b.String(), unexplained
}

// keyOf reads the key back out of "Name (key)".
func keyOf(s string) int {
	var k int
	fmt.Sscanf(s[strings.LastIndex(s, "(")+1:], "%d", &k)
	return k
}
