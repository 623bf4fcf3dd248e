package tunnel

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestFileConfig(t *testing.T) {
	f, err := LoadFileConfig("testdata/server.json")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := f.ServerConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Cipher.Method() != Method2022AES256GCM || sc.HandshakeTimeout != 5*time.Second ||
		sc.IdleTimeout != 10*time.Minute || sc.MaxConnsPerIP != 32 {
		t.Fatalf("server config %+v", sc)
	}
	k1, _ := ParseAddr("kafka-1:19092")
	k3, _ := ParseAddr("kafka-3:19092")
	if ok, _ := sc.Allow.Allowed(k1); !ok {
		t.Error("kafka-1 not allowed")
	}
	if ok, _ := sc.Allow.Allowed(k3); ok {
		t.Error("kafka-3 allowed")
	}
	ips, err := sc.Resolve(context.Background(), "KAFKA-2")
	if err != nil || len(ips) != 2 || ips[1] != netip.MustParseAddr("::1") {
		t.Fatalf("resolve kafka-2: %v %v", ips, err)
	}

	f, err = LoadFileConfig("testdata/local.json")
	if err != nil {
		t.Fatal(err)
	}
	lc, err := f.LocalConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if lc.Dialer.cfg.Server != "tunnel.example.com:8388" || lc.Dialer.cfg.Cipher.Method() != MethodAES256GCM {
		t.Fatalf("local config %+v", lc.Dialer.cfg)
	}

	if _, err := LoadFileConfig("testdata/typo.json"); err == nil || !strings.Contains(err.Error(), "alow") {
		t.Fatalf("unknown field accepted: %v", err)
	}
}

func TestNewCipherErrors(t *testing.T) {
	for _, tc := range []struct{ method, secret string }{
		{"rc4-md5", "pw"},                                        // stream ciphers are not offered
		{Method2022AES128GCM, "not base64!"},                     // 2022 needs a key
		{Method2022AES128GCM, testKeys2022[Method2022AES256GCM]}, // wrong length
		{MethodAES128GCM, ""},
	} {
		if _, err := NewCipher(tc.method, tc.secret); err == nil {
			t.Errorf("NewCipher(%q, %q) accepted", tc.method, tc.secret)
		}
	}
	if c, err := NewCipher("AEAD_CHACHA20_POLY1305", "pw"); err != nil || c.Method() != MethodChacha20Poly1305 {
		t.Errorf("alias: %v %v", c, err)
	}
}
