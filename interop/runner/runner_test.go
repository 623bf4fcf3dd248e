package main

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsFrame encodes an ApiVersions v3 response frame (without the
// size) as a broker sends it.
func apiVersionsFrame(correlation int32, code int16, keys ...kmsg.ApiVersionsResponseApiKey) []byte {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	resp.ErrorCode, resp.ApiKeys = code, keys
	return resp.AppendTo(binary.BigEndian.AppendUint32(nil, uint32(correlation)))
}

func TestParseApiVersions(t *testing.T) {
	frame := apiVersionsFrame(1, 0,
		kmsg.ApiVersionsResponseApiKey{ApiKey: 0, MinVersion: 3, MaxVersion: 13},
		kmsg.ApiVersionsResponseApiKey{ApiKey: 18, MinVersion: 0, MaxVersion: 5})
	got, err := parseApiVersions(frame, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (apiRange{3, 13}) || got[18] != (apiRange{0, 5}) {
		t.Fatalf("got %v", got)
	}
	if _, err := parseApiVersions(frame, 2); err == nil {
		t.Fatal("wrong correlation ID accepted")
	}
	if _, err := parseApiVersions(frame[:len(frame)-3], 1); err == nil {
		t.Fatal("truncated frame accepted")
	}
	if _, err := parseApiVersions(apiVersionsFrame(1, kerr.UnsupportedVersion.Code), 1); err == nil {
		t.Fatal("error code ignored")
	}
	bad := apiVersionsFrame(1, 0, kmsg.ApiVersionsResponseApiKey{ApiKey: 1, MinVersion: 5, MaxVersion: 4})
	if _, err := parseApiVersions(bad, 1); err == nil {
		t.Fatal("inverted range accepted")
	}
}

func FuzzParseApiVersions(f *testing.F) {
	f.Add(apiVersionsFrame(1, 0, kmsg.ApiVersionsResponseApiKey{ApiKey: 0, MinVersion: 3, MaxVersion: 13}))
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, frame []byte) {
		got, err := parseApiVersions(frame, 1)
		if err != nil {
			return
		}
		for k, r := range got {
			if r.min < 0 || r.max < r.min {
				t.Fatalf("key %d: range %v accepted", k, r)
			}
		}
	})
}

func TestVersionTable(t *testing.T) {
	samsa := map[int16]apiRange{0: {0, 13}, 8: {2, 10}, 47: {0, 0}}
	kafka44 := map[int16]apiRange{0: {0, 13}, 8: {2, 10}, 47: {0, 0}, 17: {0, 1}}
	kafka41 := map[int16]apiRange{0: {0, 13}, 8: {2, 9}, 47: {0, 0}}
	brokers := []string{"samsa", "kafka-4.4.0", "kafka-4.1.2"}
	table, unexplained := versionTable(brokers, map[string]map[int16]apiRange{
		"samsa": samsa, "kafka-4.4.0": kafka44, "kafka-4.1.2": kafka41})
	if len(unexplained) != 0 {
		t.Fatalf("unexplained %v: OffsetCommit has a note", unexplained)
	}
	for _, want := range []string{
		"| key | API | samsa | Apache Kafka 4.4.0 | Apache Kafka 4.1.2 | what differs and why |",
		"| 0 | Produce | 0–13 | 0–13 | 0–13 | same |",
		"| 8 | OffsetCommit | 2–10 | 2–10 | 2–9 | v10 ",
		"| 47 | OffsetDelete | 0 | 0 | 0 | same |",
		"Apache Kafka 4.4.0 advertises 1 keys samsa does not: SASLHandshake (17).",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "Apache Kafka 4.1.2 advertises") {
		t.Error("4.1.2 has no key samsa lacks")
	}

	// A raised range with no note fails the run.
	kafka44[47] = apiRange{0, 1}
	table, unexplained = versionTable(brokers, map[string]map[int16]apiRange{
		"samsa": samsa, "kafka-4.4.0": kafka44, "kafka-4.1.2": kafka41})
	if len(unexplained) != 1 || unexplained[0] != "OffsetDelete (47)" {
		t.Fatalf("unexplained = %v, want OffsetDelete (47)", unexplained)
	}
	if !strings.Contains(table, "| 47 | OffsetDelete | 0 | 0–1 | 0 | **not explained**") {
		t.Errorf("table does not flag OffsetDelete:\n%s", table)
	}

	if table, _ := versionTable(brokers, map[string]map[int16]apiRange{"kafka-4.4.0": kafka44}); table != "" {
		t.Errorf("a table without samsa's ranges: %q", table)
	}
}

func TestSelectedRows(t *testing.T) {
	for _, c := range []struct {
		want []string
		name string
		ok   bool
	}{
		{[]string{"java"}, "java-4.4.0", true},
		{[]string{"java"}, "java-3.9.2", true},
		{[]string{"java-3.9.2"}, "java-4.4.0", false},
		{[]string{"kafka"}, "kafka-go", false},
		{[]string{"kafka-cli"}, "kafka-cli-4.4.0", true},
		{[]string{"kafka-go"}, "kafka-go", true},
		{[]string{"samsa"}, "sarama", false},
	} {
		if got := selected(c.want, c.name); got != c.ok {
			t.Errorf("selected(%v, %s) = %v, want %v", c.want, c.name, got, c.ok)
		}
	}
	if v := kafkaVersion("kafka-4.1.2", "kafka"); v != "4.1.2" {
		t.Errorf("kafkaVersion(kafka-4.1.2) = %q", v)
	}
	if v := kafkaVersion("kafka-go", "kafka"); v != "" {
		t.Errorf("kafkaVersion(kafka-go) = %q", v)
	}
}

// TestMarkdownIsDeterministic: the tracked file depends on the outcomes
// only, so a run that changes none leaves the tree clean.
func TestMarkdownIsDeterministic(t *testing.T) {
	sel := []row{{client: "franz-go", scenarios: []string{"create", "produce"}}}
	brokers := []string{"samsa", "kafka-4.4.0"}
	results := []result{
		{Client: "franz-go", Scenario: "create", Broker: "samsa", Pass: true},
		{Client: "franz-go", Scenario: "produce", Broker: "samsa", Reason: "read 3 of 4 records from interop-franz-go-a1b2c3d4"},
		{Client: "franz-go", Scenario: "create", Broker: "kafka-4.4.0", Pass: true},
		{Client: "franz-go", Scenario: "produce", Broker: "kafka-4.4.0", Pass: true},
	}
	a := markdown(sel, brokers, results, "")
	results[1].Reason = "read 3 of 4 records from interop-franz-go-e5f6a7b8"
	b := markdown(sel, brokers, results, "")
	if a != b {
		t.Fatalf("two runs with the same outcomes differ:\n%s\n---\n%s", a, b)
	}
	for _, want := range []string{
		"| client | scenario | samsa | Apache Kafka 4.4.0 |",
		"| franz-go | produce | FAIL: read 3 of 4 records from <name> | PASS |",
		"samsa: 1 of 2 cells pass. Apache Kafka 4.4.0: 2 of 2 cells pass.",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("markdown lacks %q:\n%s", want, a)
		}
	}
	if strings.Contains(a, "took") {
		t.Errorf("markdown names a run time:\n%s", a)
	}
}
