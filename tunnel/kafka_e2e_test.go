package tunnel

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/client"
	"github.com/samsa-io/samsa/samsatest"
)

// The classic Kafka-in-docker failure, end to end: the broker advertises a host
// name that only the tunnel server can resolve (kafka-internal.test, mapped to
// 127.0.0.1 by the server's resolver override). The clients bootstrap with that
// name too, so every byte, metadata included, goes client → SOCKS5 → Local →
// Shadowsocks → Server → broker.

const internalHost = "kafka-internal.test"

// startKafkaTunnel starts a broker advertising internalHost and a tunnel in front of
// it, and returns the SOCKS5 dial function and the broker's internal address.
func startKafkaTunnel(t *testing.T, method string) (func(ctx context.Context, network, addr string) (net.Conn, error), string) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	if _, err := net.LookupHost(internalHost); err == nil {
		t.Fatalf("%s resolves on this machine; the test would not prove anything", internalHost)
	}
	node := samsatest.Start(t, samsatest.AdvertisedHost(internalHost))
	internal := net.JoinHostPort(internalHost, strconv.Itoa(node.Port()))
	c := testCipher(t, method)
	srv, addr := startServer(t, ServerConfig{Cipher: c, Allow: allow(t, internal)})
	t.Cleanup(func() {
		if s := srv.Stats(); s.Relayed == 0 || s.NotAllowed+s.AuthFailed+s.Replayed != 0 {
			t.Errorf("tunnel stats %+v", s)
		}
	})
	local := startLocal(t, newDialer(t, c, addr))
	dial, err := SOCKS5Dialer("socks5://" + local)
	if err != nil {
		t.Fatal(err)
	}
	return dial, internal
}

func TestKafkaFranzGoThroughTunnel(t *testing.T) {
	for _, m := range []string{MethodAES256GCM, Method2022AES128GCM} {
		t.Run(m, func(t *testing.T) {
			dial, internal := startKafkaTunnel(t, m)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const topic = "tunnelled"
			cl, err := kgo.NewClient(
				kgo.SeedBrokers(internal),
				kgo.Dialer(dial),
				kgo.DefaultProduceTopic(topic),
				kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchMaxWait(200*time.Millisecond),
			)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
				t.Fatal("create topic:", err)
			}
			const n = 200
			for i := 0; i < n; i++ {
				cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record-%d-%s", i, pattern(1000))}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := 0
			for got < n {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("fetch after %d records: %v", got, err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if want := fmt.Sprintf("record-%d-", got); string(r.Value[:len(want)]) != want {
						t.Fatalf("record %d: %q", got, r.Value[:20])
					}
					got++
				})
			}
		})
	}
}

// saramaDialer adapts the SOCKS5 dial function to golang.org/x/net/proxy.Dialer,
// which is what sarama's Net.Proxy takes.
type saramaDialer func(ctx context.Context, network, addr string) (net.Conn, error)

func (d saramaDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d(ctx, network, addr)
}

func TestKafkaSaramaThroughTunnel(t *testing.T) {
	dial, internal := startKafkaTunnel(t, MethodChacha20Poly1305)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = saramaDialer(dial)
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond

	admin, err := sarama.NewClusterAdmin([]string{internal}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const topic = "tunnelled-sarama"
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal("create topic:", err)
	}
	prod, err := sarama.NewSyncProducer([]string{internal}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 50
	for i := 0; i < n; i++ {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("msg-%d", i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	cons, err := sarama.NewConsumer([]string{internal}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case m := <-pc.Messages():
			if want := fmt.Sprintf("msg-%d", i); string(m.Value) != want {
				t.Fatalf("message %d = %q", i, m.Value)
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("consumed %d of %d", i, n)
		}
	}
}

// TestKafkaSamsaClientThroughTunnel: samsa's own producer with the tunnel's
// SOCKS5 dialer (what `samsa produce -proxy` uses), read back with franz-go
// through the same tunnel.
func TestKafkaSamsaClientThroughTunnel(t *testing.T) {
	dial, internal := startKafkaTunnel(t, Method2022AES256GCM)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic, n = "tunnelled-samsa", 100
	p, err := client.NewProducer(client.SeedBrokers(internal), client.Dialer(dial), client.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	var recs []*client.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &client.Record{Topic: topic, Value: fmt.Appendf(nil, "samsa-%d", i)})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(internal), kgo.Dialer(dial), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records through the tunnel", got, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != fmt.Sprintf("samsa-%d", got) {
				t.Fatalf("record %d: %q", got, r.Value)
			}
			got++
		})
	}
}
