package tunnel

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
	"lukechampine.com/blake3"
)

// Method names. The SIP004 names are the ones shadowsocks-libev, go-shadowsocks2 and
// the Outline SDK accept; the AEAD_* spellings are accepted as aliases.
const (
	MethodAES128GCM        = "aes-128-gcm"
	MethodAES256GCM        = "aes-256-gcm"
	MethodChacha20Poly1305 = "chacha20-ietf-poly1305"

	Method2022AES128GCM        = "2022-blake3-aes-128-gcm"
	Method2022AES256GCM        = "2022-blake3-aes-256-gcm"
	Method2022Chacha20Poly1305 = "2022-blake3-chacha20-poly1305"
)

// ErrUnknownMethod is returned by NewCipher for a method name it does not know.
// Stream (non-AEAD) ciphers are deliberately absent: without integrity the target
// address can be rewritten (shadowsocks-org#154).
var ErrUnknownMethod = errors.New("tunnel: unknown cipher method")

// method describes one AEAD construction.
type method struct {
	name     string
	keySize  int  // master key / PSK length; the salt has the same length
	sip022   bool // Shadowsocks 2022 edition (BLAKE3 subkeys, headers, timestamps)
	makeAEAD func(key []byte) (cipher.AEAD, error)
}

func aesGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var methods = map[string]*method{
	MethodAES128GCM:            {name: MethodAES128GCM, keySize: 16, makeAEAD: aesGCM},
	MethodAES256GCM:            {name: MethodAES256GCM, keySize: 32, makeAEAD: aesGCM},
	MethodChacha20Poly1305:     {name: MethodChacha20Poly1305, keySize: 32, makeAEAD: chacha20poly1305.New},
	Method2022AES128GCM:        {name: Method2022AES128GCM, keySize: 16, sip022: true, makeAEAD: aesGCM},
	Method2022AES256GCM:        {name: Method2022AES256GCM, keySize: 32, sip022: true, makeAEAD: aesGCM},
	Method2022Chacha20Poly1305: {name: Method2022Chacha20Poly1305, keySize: 32, sip022: true, makeAEAD: chacha20poly1305.New},
}

var methodAliases = map[string]string{
	"aead_aes_128_gcm":       MethodAES128GCM,
	"aead_aes_256_gcm":       MethodAES256GCM,
	"aead_chacha20_poly1305": MethodChacha20Poly1305,
	"chacha20-poly1305":      MethodChacha20Poly1305,
}

func lookupMethod(name string) (*method, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := methodAliases[n]; ok {
		n = a
	}
	m, ok := methods[n]
	if !ok {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownMethod, name, strings.Join(Methods(), ", "))
	}
	return m, nil
}

// Methods lists the supported method names.
func Methods() []string {
	return []string{MethodAES128GCM, MethodAES256GCM, MethodChacha20Poly1305,
		Method2022AES128GCM, Method2022AES256GCM, Method2022Chacha20Poly1305}
}

// KeySize returns the key length of a method (16 or 32 bytes).
func KeySize(methodName string) (int, error) {
	m, err := lookupMethod(methodName)
	if err != nil {
		return 0, err
	}
	return m.keySize, nil
}

// Cipher is a method together with its master key (SIP004) or pre-shared key
// (SIP022). It is immutable and safe for concurrent use.
type Cipher struct {
	m   *method
	key []byte
}

// NewCipher returns the cipher for method and secret. For the SIP004 methods the
// secret is a password, stretched with EVP_BytesToKey(MD5) as every Shadowsocks
// implementation does. For the 2022 methods the secret is the base64 PSK (SIP022
// forbids deriving keys from passwords), exactly as shadowsocks-rust reads its
// "password" field.
func NewCipher(methodName, secret string) (*Cipher, error) {
	m, err := lookupMethod(methodName)
	if err != nil {
		return nil, err
	}
	if m.sip022 {
		key, err := DecodeKey(secret)
		if err != nil {
			return nil, fmt.Errorf("tunnel: %s needs a base64 key: %w", m.name, err)
		}
		return NewCipherKey(m.name, key)
	}
	if secret == "" {
		return nil, errors.New("tunnel: empty password")
	}
	return &Cipher{m: m, key: evpBytesToKey(secret, m.keySize)}, nil
}

// NewCipherKey returns the cipher for method with a raw key of exactly the method's
// key size (16 or 32 bytes).
func NewCipherKey(methodName string, key []byte) (*Cipher, error) {
	m, err := lookupMethod(methodName)
	if err != nil {
		return nil, err
	}
	if len(key) != m.keySize {
		return nil, fmt.Errorf("tunnel: %s needs a %d-byte key, got %d bytes", m.name, m.keySize, len(key))
	}
	return &Cipher{m: m, key: append([]byte(nil), key...)}, nil
}

// DecodeKey decodes a base64 key (standard or URL alphabet, padded or not).
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not valid base64")
}

// Method returns the canonical method name.
func (c *Cipher) Method() string { return c.m.name }

// KeySize returns the key length, which is also the salt length.
func (c *Cipher) KeySize() int { return c.m.keySize }

// Is2022 reports whether the cipher speaks the Shadowsocks 2022 edition (SIP022).
func (c *Cipher) Is2022() bool { return c.m.sip022 }

// maxPayload is the largest plaintext of one payload chunk.
func (c *Cipher) maxPayload() int {
	if c.m.sip022 {
		return maxPayload2022
	}
	return maxPayloadAEAD
}

// subkey derives the per-direction session key for salt.
func (c *Cipher) subkey(salt []byte) []byte {
	out := make([]byte, c.m.keySize)
	if c.m.sip022 {
		material := make([]byte, 0, len(c.key)+len(salt))
		material = append(append(material, c.key...), salt...)
		blake3.DeriveKey(out, sip022SubkeyContext, material)
		return out
	}
	r := hkdf.New(sha1.New, c.key, salt, []byte("ss-subkey"))
	if _, err := io.ReadFull(r, out); err != nil {
		panic(err) // cannot happen: L is far below HKDF-SHA1's limit
	}
	return out
}

// session returns a fresh AEAD state (nonce 0) for the direction that uses salt.
func (c *Cipher) session(salt []byte) (*aeadState, error) {
	a, err := c.m.makeAEAD(c.subkey(salt))
	if err != nil {
		return nil, err
	}
	return &aeadState{aead: a}, nil
}

const sip022SubkeyContext = "shadowsocks 2022 session subkey"

// evpBytesToKey is OpenSSL's EVP_BytesToKey with MD5, one iteration and no salt:
// D_i = MD5(D_{i-1} || password), concatenated and cut to n bytes.
func evpBytesToKey(password string, n int) []byte {
	var out, prev []byte
	for len(out) < n {
		h := md5.New()
		h.Write(prev)
		h.Write([]byte(password))
		out = h.Sum(out)
		prev = out[len(out)-md5.Size:]
	}
	return out[:n]
}

// aeadState is one direction's AEAD with its nonce counter: a 96-bit little-endian
// integer that starts at zero and is incremented after every Seal or Open.
type aeadState struct {
	aead  cipher.AEAD
	nonce [12]byte
}

func (s *aeadState) inc() {
	for i := range s.nonce {
		s.nonce[i]++
		if s.nonce[i] != 0 {
			return
		}
	}
}

// seal appends the sealed plaintext to dst.
func (s *aeadState) seal(dst, plaintext []byte) []byte {
	out := s.aead.Seal(dst, s.nonce[:], plaintext, nil)
	s.inc()
	return out
}

// open decrypts ciphertext in place and returns the plaintext.
func (s *aeadState) open(ciphertext []byte) ([]byte, error) {
	out, err := s.aead.Open(ciphertext[:0], s.nonce[:], ciphertext, nil)
	s.inc()
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}
