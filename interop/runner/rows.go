package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runJava runs every Java scenario in one JVM (JVM start-up is the cost),
// with interop/java built against kafka-clients version.
func runJava(version string) func(e *env, br *broker) []result {
	return func(e *env, br *broker) []result {
		jb := e.java[version]
		if jb == nil || jb.cp == "" {
			why := "interop/java was not built"
			if jb != nil {
				why = jb.err
			}
			return failAll(javaScenarios, why)
		}
		o := e.run(4*time.Minute, "", "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-Dorg.slf4j.simpleLogger.defaultLogLevel=error", "-cp", jb.cp,
			"Scenario", "--bootstrap", br.bootstrap, "--scenario", "all")
		rs := parseResults(o.stdout)
		if o.err != nil {
			rs = fillMissing(rs, javaScenarios, "Scenario "+o.why())
		}
		return rs
	}
}

// runGoClient runs one Go client's scenarios with interop/goclients.
func runGoClient(client string) func(e *env, br *broker) []result {
	return func(e *env, br *broker) []result {
		o := e.run(4*time.Minute, "", e.goclients, "-bootstrap", br.bootstrap, "-clients", client)
		rs := parseResults(o.stdout)
		if o.err != nil {
			rs = fillMissing(rs, goScenarios, "goclients "+o.why())
		}
		return rs
	}
}

// runKafkajs runs interop/kafkajs (kafkajs 2.2.4 on Node), which prints the
// same RESULT lines as goclients.
func runKafkajs(e *env, br *broker) []result {
	if e.nodeErr != "" {
		return failAll(goScenarios, e.nodeErr)
	}
	o := e.run(4*time.Minute, "", "node", "interop/kafkajs/scenario.js", "--bootstrap", br.bootstrap)
	rs := parseResults(o.stdout)
	if o.err != nil {
		rs = fillMissing(rs, goScenarios, "kafkajs "+o.why())
	}
	return rs
}

func failAll(scenarios []string, reason string) []result {
	var out []result
	for _, s := range scenarios {
		out = append(out, result{Scenario: s, Reason: reason})
	}
	return out
}

func fillMissing(rs []result, scenarios []string, reason string) []result {
	for _, s := range scenarios {
		if !slices.ContainsFunc(rs, func(r result) bool { return r.Scenario == s }) {
			rs = append(rs, result{Scenario: s, Reason: reason})
		}
	}
	return rs
}

// sequence runs scenario functions in order; once create fails the rest
// fail with its reason rather than time out one by one.
type sequence struct {
	out       []result
	createErr string
}

func (q *sequence) step(scenario string, fn func() error) {
	if q.createErr != "" {
		q.out = append(q.out, result{Scenario: scenario, Reason: "create failed: " + q.createErr})
		return
	}
	err := fn()
	r := result{Scenario: scenario, Pass: err == nil}
	if err != nil {
		r.Reason = clip(err.Error())
		if scenario == "create" {
			q.createErr = r.Reason
		}
	}
	q.out = append(q.out, r)
}

const cliRecords = 10

// runCLI drives Kafka's own command-line tools (the classes behind
// kafka-topics.sh, kafka-console-producer.sh, kafka-console-consumer.sh,
// kafka-consumer-groups.sh, kafka-producer-perf-test.sh) of the given
// version through scripts/kafka-reference tool.
func runCLI(version string) func(e *env, br *broker) []result {
	return func(e *env, br *broker) []result { return runCLIOf(e, version, br.bootstrap) }
}

func runCLIOf(e *env, version, bootstrap string) []result {
	topic := "interop-cli-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	group := topic + "-group"
	tool := func(timeout time.Duration, stdin, class string, args ...string) output {
		return e.run(timeout, stdin, "scripts/kafka-reference", append([]string{"--version", version, "tool", class}, args...)...)
	}
	const topics = "org.apache.kafka.tools.TopicCommand"
	const consumer = "org.apache.kafka.tools.consumer.ConsoleConsumer"
	bs := []string{"--bootstrap-server", bootstrap}

	var lines []string
	for i := 0; i < cliRecords; i++ {
		lines = append(lines, fmt.Sprintf("h-index:%d,h-empty:\tkey-%d\tvalue-%d", i, i, i))
	}
	// consume reads the topic with the console consumer: by partition (no
	// group), or with extra = --group G.
	consume := func(extra ...string) error {
		from := []string{"--partition", "0", "--offset", "earliest"}
		if len(extra) > 0 {
			from = []string{"--from-beginning"}
		}
		args := append(append(append([]string{}, bs...), "--topic", topic), from...)
		// --formatter-property and --reader-property (KIP-1147) replace
		// --property, which 4.4's console consumer warns about on stdout.
		args = append(args, "--max-messages", strconv.Itoa(cliRecords), "--timeout-ms", "20000",
			"--formatter-property", "print.key=true", "--formatter-property", "print.headers=true")
		o := tool(time.Minute, "", consumer, append(args, extra...)...)
		got := strings.Split(strings.TrimRight(o.stdout, "\n"), "\n")
		if o.err != nil || !slices.Equal(got, lines) {
			if o.err == nil && len(got) == len(lines) {
				return fmt.Errorf("read %q, want %q", got, lines)
			}
			return fmt.Errorf("read %d of %d records: %s", len(strings.Fields(o.stdout))/3, cliRecords, o.why())
		}
		return nil
	}

	var q sequence
	q.step("create", func() error {
		o := tool(time.Minute, "", topics, append(bs, "--create", "--topic", topic, "--partitions", "1", "--replication-factor", "1")...)
		if o.err != nil || !strings.Contains(o.stdout, "Created topic "+topic) {
			return fmt.Errorf("%s", o.why())
		}
		return nil
	})
	q.step("describe", func() error {
		o := tool(time.Minute, "", topics, append(bs, "--describe", "--topic", topic)...)
		ok := regexp.MustCompile(`PartitionCount: 1\b`).MatchString(o.stdout) &&
			regexp.MustCompile(`Partition: 0\s+Leader: \d+`).MatchString(o.stdout)
		if o.err != nil || !ok {
			return fmt.Errorf("%s", o.why())
		}
		return nil
	})
	q.step("produce", func() error {
		o := tool(time.Minute, strings.Join(lines, "\n")+"\n", "org.apache.kafka.tools.ConsoleProducer",
			append(bs, "--topic", topic, "--reader-property", "parse.key=true", "--reader-property", "parse.headers=true",
				"--producer-property", "acks=all")...)
		if o.err != nil || strings.Contains(o.stderr, "ERROR") {
			return fmt.Errorf("console producer: %s", o.why())
		}
		return consume()
	})
	q.step("group", func() error {
		if err := consume("--group", group); err != nil {
			return err
		}
		o := tool(time.Minute, "", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
			append(bs, "--describe", "--group", group)...)
		re := regexp.MustCompile(regexp.QuoteMeta(group) + `\s+` + regexp.QuoteMeta(topic) + `\s+0\s+(\d+)\s+(\d+)`)
		m := re.FindStringSubmatch(o.stdout)
		if o.err != nil || m == nil {
			return fmt.Errorf("consumer-groups --describe: %s", o.why())
		}
		if m[1] != strconv.Itoa(cliRecords) {
			return fmt.Errorf("committed offset %s, want %d", m[1], cliRecords)
		}
		return nil
	})
	q.step("perf", func() error {
		o := tool(2*time.Minute, "", "org.apache.kafka.tools.ProducerPerformance",
			"--topic", topic, "--num-records", "5000", "--record-size", "100", "--throughput", "-1",
			"--producer-props", "bootstrap.servers="+bootstrap, "acks=all")
		if o.err != nil || !strings.Contains(o.stdout, "5000 records sent") {
			return fmt.Errorf("%s", o.why())
		}
		return nil
	})
	q.step("delete", func() error {
		o := tool(time.Minute, "", topics, append(bs, "--delete", "--topic", topic)...)
		if o.err != nil {
			return fmt.Errorf("%s", o.why())
		}
		for try := 0; ; try++ {
			o = tool(time.Minute, "", topics, append(bs, "--list")...)
			if o.err == nil && !slices.Contains(strings.Fields(o.stdout), topic) {
				return nil
			}
			if try == 3 {
				return fmt.Errorf("topic still listed after delete: %s", o.why())
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
	return q.out
}

// runKcat drives kcat (librdkafka). kcat cannot create or delete topics: the
// topic is made and removed with franz-go through goclients -admin.
func runKcat(e *env, br *broker) []result {
	bootstrap := br.bootstrap
	scenarios := []string{"describe", "produce", "group"}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		return failAll(scenarios, errNoKcat.Error())
	}
	topic := "interop-kcat-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	if o := e.run(time.Minute, "", e.goclients, "-bootstrap", bootstrap, "-admin", "create", "-topic", topic, "-partitions", "1"); o.err != nil {
		return failAll(scenarios, "setup (create topic with franz-go): "+o.why())
	}
	defer e.run(time.Minute, "", e.goclients, "-bootstrap", bootstrap, "-admin", "delete", "-topic", topic)

	var input, want []string
	for i := 0; i < cliRecords; i++ {
		input = append(input, fmt.Sprintf("key-%d\tvalue-%d", i, i))
		want = append(want, fmt.Sprintf("0|%d|key-%d|value-%d|h-a=1,h-empty=", i, i, i))
	}
	const format = "%p|%o|%k|%s|%h\n"
	check := func(o output, sorted bool) error {
		got := strings.Split(strings.TrimRight(o.stdout, "\n"), "\n")
		if sorted {
			slices.Sort(got)
			w := slices.Clone(want)
			slices.Sort(w)
			if slices.Equal(got, w) {
				return nil
			}
		} else if slices.Equal(got, want) {
			return nil
		}
		if o.err != nil || len(got) != len(want) {
			return fmt.Errorf("read %d of %d records: %s", len(strings.Fields(o.stdout)), cliRecords, o.why())
		}
		return fmt.Errorf("read %q, want %q", got, want)
	}

	var q sequence
	q.step("describe", func() error {
		o := e.run(time.Minute, "", kcat, "-b", bootstrap, "-m", "10", "-L", "-t", topic, "-J")
		if o.err != nil {
			return fmt.Errorf("%s", o.why())
		}
		var md struct {
			Topics []struct {
				Topic      string `json:"topic"`
				Err        string `json:"error"`
				Partitions []struct {
					Partition int    `json:"partition"`
					Leader    int    `json:"leader"`
					Err       string `json:"error"`
				} `json:"partitions"`
			} `json:"topics"`
		}
		if err := json.Unmarshal([]byte(o.stdout), &md); err != nil {
			return fmt.Errorf("kcat -L -J output: %v", err)
		}
		if len(md.Topics) != 1 || md.Topics[0].Topic != topic || md.Topics[0].Err != "" {
			return fmt.Errorf("metadata: %s", clip(o.stdout))
		}
		if ps := md.Topics[0].Partitions; len(ps) != 1 || ps[0].Leader < 0 || ps[0].Err != "" {
			return fmt.Errorf("metadata: %s", clip(o.stdout))
		}
		return nil
	})
	q.step("produce", func() error {
		o := e.run(time.Minute, strings.Join(input, "\n")+"\n", kcat, "-b", bootstrap, "-P", "-t", topic, "-p", "0",
			"-K", "\t", "-H", "h-a=1", "-H", "h-empty=", "-X", "enable.idempotence=true", "-X", "message.timeout.ms=15000")
		if o.err != nil || strings.Contains(o.stderr, "ERROR") {
			return fmt.Errorf("kcat -P: %s", o.why())
		}
		o = e.run(time.Minute, "", kcat, "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
			"-c", strconv.Itoa(cliRecords), "-f", format)
		return check(o, false)
	})
	q.step("group", func() error {
		// -d cgrp: librdkafka says why a group does not form only in its debug log.
		o := e.run(25*time.Second, "", kcat, "-b", bootstrap, "-G", topic+"-group", topic, "-q", "-d", "cgrp",
			"-X", "auto.offset.reset=earliest", "-c", strconv.Itoa(cliRecords), "-f", format)
		err := check(output{stdout: o.stdout, err: o.err}, true)
		if err != nil {
			if ev := lastGroupEvent(o.stderr); ev != "" {
				err = fmt.Errorf("%v; last group event: %s", err, ev)
			}
		}
		return err
	})
	return q.out
}

// lastGroupEvent returns the message of the last librdkafka cgrp debug line
// ("%7|ts|FAC|name| [thrd:main]: message").
func lastGroupEvent(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if _, msg, ok := strings.Cut(lines[i], "]: "); ok && strings.HasPrefix(lines[i], "%") {
			return clip(msg)
		}
	}
	return ""
}
