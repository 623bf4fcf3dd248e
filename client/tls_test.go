package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/samsatest"
)

// selfSigned returns a certificate for 127.0.0.1 signed by itself, and a
// pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "samsa test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// tlsFront terminates TLS on ln and forwards each connection to backend.
func tlsFront(t *testing.T, ln net.Listener, cert tls.Certificate, backend string) {
	tl := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	var wg sync.WaitGroup
	t.Cleanup(func() { tl.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				go func() { io.Copy(b, c); b.Close() }()
				io.Copy(c, b)
			}()
		}
	}()
}

// TestTLS: the producer and the consumer reach a broker through a TLS
// listener (a terminating front; the broker advertises the front's
// address) with the server certificate verified, and a client that does
// not trust the certificate gets a clear certificate error, not a hang.
func TestTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := samsatest.Start(t, samsatest.Config("advertised.listeners", "PLAINTEXT://"+ln.Addr().String()))
	tlsFront(t, ln, cert, n.Addr())
	front := backend{name: "samsa-tls", addrs: []string{ln.Addr().String()}}
	topic := newTopicName() // created on first use, through the front

	p := newTestProducer(t, front, AllowAutoTopicCreation(), TLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	var recs []*Record
	for i := range 100 {
		recs = append(recs, &Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := p.ProduceSync(testCtx(t), recs...); err != nil {
		t.Fatalf("produce over TLS: %v", err)
	}
	c := newTestConsumer(t, front, ConsumeTopics(topic), TLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if got := pollN(t, c, len(recs), 30*time.Second); len(got) != len(recs) {
		t.Fatalf("consumed %d records over TLS, want %d", len(got), len(recs))
	}

	// Without the CA: the handshake fails and says why.
	cl, err := New(SeedBrokers(front.addrs...), TLS(&tls.Config{MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cl.TopicPartitions(ctx2, topic)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: got %v, want a certificate error", err)
	}
}
