import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java row of the interop matrix: the official producer (idempotent, otherwise defaults),
 * consumer and admin client against one broker.
 *
 * <pre>java -cp target/classes:target/lib/* Scenario --bootstrap host:port --scenario NAME[,NAME...]</pre>
 *
 * NAME is one of create, describe, produce, group, group-consumer (KIP-848, group.protocol=consumer),
 * delete, or all (in that order; later scenarios
 * use the topic the earlier ones made). Each scenario prints one line on stdout:
 * {@code RESULT java NAME PASS|FAIL reason}; the exit code is 0 even when scenarios fail, so that
 * the runner reads every result. Timeouts are short: a broker that does not answer fails fast.
 */
public final class Scenario {
    static final List<String> ALL = List.of("create", "describe", "produce", "group", "group-consumer", "delete");
    static final int PARTITIONS = 3;
    static final int RECORDS = 30;
    static final long BASE_TIMESTAMP = 1_700_000_000_000L;

    private final String bootstrap;
    private final String topic;
    private final Admin admin;
    /** Why create failed, so that later scenarios say so instead of timing out. */
    private String createFailure;

    Scenario(String bootstrap, String topic) {
        this.bootstrap = bootstrap;
        this.topic = topic;
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "interop-java-admin");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10000);
        this.admin = Admin.create(p);
    }

    public static void main(String[] args) {
        String bootstrap = null;
        String scenarios = "all";
        String topic = "interop-java-" + UUID.randomUUID().toString().substring(0, 8);
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--bootstrap" -> bootstrap = args[i + 1];
                case "--scenario" -> scenarios = args[i + 1];
                case "--topic" -> topic = args[i + 1];
                default -> usage("unknown flag " + args[i]);
            }
        }
        if (bootstrap == null || args.length % 2 != 0) {
            usage("--bootstrap is required");
        }
        List<String> names = scenarios.equals("all") ? ALL : Arrays.asList(scenarios.split(","));
        Scenario s = new Scenario(bootstrap, topic);
        try {
            for (String name : names) {
                s.run(name);
            }
        } finally {
            s.admin.close(Duration.ofSeconds(2));
        }
        System.exit(0);
    }

    static void usage(String why) {
        System.err.println("Scenario: " + why);
        System.err.println("usage: Scenario --bootstrap host:port [--scenario all|create,describe,produce,group,group-consumer,delete] [--topic T]");
        System.exit(2);
    }

    void run(String name) {
        String reason;
        try {
            if (createFailure != null && !name.equals("create")) {
                throw new Failure("create failed: " + createFailure);
            }
            switch (name) {
                case "create" -> create();
                case "describe" -> describe();
                case "produce" -> produceAndRead();
                case "group" -> groupConsume("classic");
                case "group-consumer" -> groupConsume("consumer");
                case "delete" -> delete();
                default -> throw new Failure("unknown scenario " + name);
            }
            System.out.println("RESULT java " + name + " PASS");
            System.out.flush();
            return;
        } catch (Failure f) {
            reason = f.getMessage();
        } catch (ExecutionException e) {
            reason = describe(e.getCause());
        } catch (Exception e) {
            reason = describe(e);
        }
        if (name.equals("create")) {
            createFailure = reason;
        }
        System.out.println("RESULT java " + name + " FAIL " + oneLine(reason));
        System.out.flush();
    }

    // --- scenarios ------------------------------------------------------------------------

    void create() throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get(15, TimeUnit.SECONDS);
        waitFor("topic listed after create", () -> admin.listTopics().names().get().contains(topic));
    }

    void describe() throws Exception {
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic);
        check(d != null, "no description for " + topic);
        check(d.name().equals(topic), "name " + d.name());
        check(!d.topicId().equals(org.apache.kafka.common.Uuid.ZERO_UUID), "zero topic id");
        check(d.partitions().size() == PARTITIONS, "partitions " + d.partitions().size() + ", want " + PARTITIONS);
        for (TopicPartitionInfo p : d.partitions()) {
            check(p.leader() != null && p.leader().id() >= 0, "partition " + p.partition() + " has no leader");
            check(!p.isr().isEmpty(), "partition " + p.partition() + " has an empty ISR");
        }
        Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
        for (int p = 0; p < PARTITIONS; p++) {
            specs.put(new TopicPartition(topic, p), OffsetSpec.latest());
        }
        admin.listOffsets(specs).all().get(10, TimeUnit.SECONDS).forEach((tp, info) ->
                check(info.offset() == 0, tp + " end offset " + info.offset() + " on an empty topic"));
    }

    void produceAndRead() throws Exception {
        List<ProducerRecord<byte[], byte[]>> want = expected();
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "interop-java-producer");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 15000);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        long[] nextOffset = new long[PARTITIONS];
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            List<java.util.concurrent.Future<RecordMetadata>> acks = new ArrayList<>();
            for (ProducerRecord<byte[], byte[]> r : want) {
                acks.add(producer.send(r));
            }
            producer.flush();
            for (int i = 0; i < acks.size(); i++) {
                RecordMetadata md = acks.get(i).get(15, TimeUnit.SECONDS);
                int part = want.get(i).partition();
                check(md.partition() == part, "record " + i + " acked on partition " + md.partition());
                check(md.offset() == nextOffset[part], "record " + i + " acked at offset " + md.offset() + ", want " + nextOffset[part]);
                nextOffset[part]++;
            }
        }
        List<ConsumerRecord<byte[], byte[]>> got;
        try (KafkaConsumer<byte[], byte[]> c = consumer(null)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < PARTITIONS; i++) {
                tps.add(new TopicPartition(topic, i));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            got = poll(c, want.size());
        }
        compare(want, got);
    }

    /** Reads the records through a consumer group with the given group.protocol (classic, or
     *  consumer for KIP-848), commits, and checks the committed offsets through the admin API. */
    void groupConsume(String protocol) throws Exception {
        List<ProducerRecord<byte[], byte[]>> want = expected();
        String group = "interop-java-" + protocol + "-" + UUID.randomUUID().toString().substring(0, 8);
        List<ConsumerRecord<byte[], byte[]>> got;
        try (KafkaConsumer<byte[], byte[]> c = consumer(group, protocol)) {
            c.subscribe(List.of(topic));
            got = poll(c, want.size());
            c.commitSync(Duration.ofSeconds(10));
        }
        compare(want, got);
        Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
        long[] perPartition = new long[PARTITIONS];
        for (ProducerRecord<byte[], byte[]> r : want) {
            perPartition[r.partition()]++;
        }
        for (int i = 0; i < PARTITIONS; i++) {
            OffsetAndMetadata om = committed.get(new TopicPartition(topic, i));
            check(om != null, "no committed offset for partition " + i);
            check(om.offset() == perPartition[i], "partition " + i + " committed " + om.offset() + ", want " + perPartition[i]);
        }
        admin.deleteConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS);
    }

    void delete() throws Exception {
        admin.deleteTopics(List.of(topic)).all().get(15, TimeUnit.SECONDS);
        waitFor("topic gone after delete", () -> !admin.listTopics().names().get().contains(topic));
    }

    // --- helpers --------------------------------------------------------------------------

    /** The records every producing scenario writes: spread over the partitions in a fixed
     *  pattern, with a null key, a null value, empty values and repeated header keys. */
    List<ProducerRecord<byte[], byte[]>> expected() {
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            byte[] key = i == 0 ? null : ("key-" + i).getBytes(StandardCharsets.UTF_8);
            byte[] value = i == 1 ? null : ("value-" + i + "-" + "x".repeat(i)).getBytes(StandardCharsets.UTF_8);
            List<Header> headers = new ArrayList<>();
            headers.add(new RecordHeader("h-index", Integer.toString(i).getBytes(StandardCharsets.UTF_8)));
            headers.add(new RecordHeader("h-empty", new byte[0]));
            if (i % 5 == 0) {
                headers.add(new RecordHeader("h-index", "again".getBytes(StandardCharsets.UTF_8)));
            }
            out.add(new ProducerRecord<>(topic, i % PARTITIONS, BASE_TIMESTAMP + i, key, value, headers));
        }
        return out;
    }

    KafkaConsumer<byte[], byte[]> consumer(String group) {
        return consumer(group, "classic");
    }

    KafkaConsumer<byte[], byte[]> consumer(String group, String protocol) {
        Properties p = new Properties();
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "interop-java-consumer");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10000);
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    static List<ConsumerRecord<byte[], byte[]>> poll(KafkaConsumer<byte[], byte[]> c, int n) {
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (got.size() < n && System.nanoTime() < deadline) {
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(250))) {
                got.add(r);
            }
        }
        if (got.size() < n) {
            throw new Failure("read " + got.size() + " of " + n + " records within 20s");
        }
        return got;
    }

    /** compare checks that got holds exactly want: per partition, in order, from offset 0. */
    static void compare(List<ProducerRecord<byte[], byte[]>> want, List<ConsumerRecord<byte[], byte[]>> got) {
        check(got.size() == want.size(), "read " + got.size() + " records, want " + want.size());
        Map<Integer, List<ProducerRecord<byte[], byte[]>>> wantBy = new LinkedHashMap<>();
        for (ProducerRecord<byte[], byte[]> r : want) {
            wantBy.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r);
        }
        Map<Integer, List<ConsumerRecord<byte[], byte[]>>> gotBy = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            gotBy.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r);
        }
        for (var e : wantBy.entrySet()) {
            List<ConsumerRecord<byte[], byte[]>> g = gotBy.getOrDefault(e.getKey(), List.of());
            check(g.size() == e.getValue().size(), "partition " + e.getKey() + ": " + g.size() + " records, want " + e.getValue().size());
            for (int i = 0; i < g.size(); i++) {
                ProducerRecord<byte[], byte[]> w = e.getValue().get(i);
                ConsumerRecord<byte[], byte[]> r = g.get(i);
                String at = "partition " + r.partition() + " offset " + r.offset() + ": ";
                check(r.offset() == i, at + "want offset " + i);
                check(Arrays.equals(w.key(), r.key()), at + "key " + show(r.key()) + ", want " + show(w.key()));
                check(Arrays.equals(w.value(), r.value()), at + "value " + show(r.value()) + ", want " + show(w.value()));
                check(r.timestampType() == TimestampType.CREATE_TIME, at + "timestamp type " + r.timestampType());
                check(r.timestamp() == w.timestamp(), at + "timestamp " + r.timestamp() + ", want " + w.timestamp());
                check(headers(w.headers()).equals(headers(r.headers())), at + "headers " + headers(r.headers()) + ", want " + headers(w.headers()));
            }
        }
    }

    static List<String> headers(Iterable<Header> hs) {
        List<String> out = new ArrayList<>();
        for (Header h : hs) {
            out.add(h.key() + "=" + show(h.value()));
        }
        return out;
    }

    static String show(byte[] b) {
        return b == null ? "null" : "\"" + new String(b, StandardCharsets.UTF_8) + "\"";
    }

    interface Condition {
        boolean holds() throws Exception;
    }

    static void waitFor(String what, Condition c) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!c.holds()) {
            if (System.nanoTime() > deadline) {
                throw new Failure(what + ": not within 10s");
            }
            Thread.sleep(100);
        }
    }

    static void check(boolean ok, String why) {
        if (!ok) {
            throw new Failure(why);
        }
    }

    /** describe names the exception class, so that the Kafka error (e.g.
     *  UnsupportedVersionException, GroupCoordinatorNotAvailableException) shows in the table. */
    static String describe(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof org.apache.kafka.common.KafkaException
                && t.getClass() == org.apache.kafka.common.KafkaException.class) && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + ": " + Objects.toString(t.getMessage(), "");
    }

    static String oneLine(String s) {
        return s.replaceAll("\\s+", " ").trim();
    }

    static final class Failure extends RuntimeException {
        Failure(String message) {
            super(message);
        }
    }
}
