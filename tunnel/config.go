package tunnel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// FileConfig is the JSON config file of `samsa tunnel server` and `samsa tunnel
// local`. Field names follow shadowsocks' own config.json where one exists. Example
// (server):
//
//	{
//	  "listen": ":8388",
//	  "method": "2022-blake3-aes-256-gcm",
//	  "key": "<openssl rand -base64 32>",
//	  "allow": ["kafka-1:19092", "kafka-2:19092"],
//	  "hosts": {"kafka-1": "172.18.0.5"},
//	  "idle_timeout": "15m"
//	}
type FileConfig struct {
	Listen string `json:"listen,omitempty"`
	// Server is the tunnel server's host:port (local side only).
	Server string `json:"server,omitempty"`
	Method string `json:"method,omitempty"`
	// Password: an EVP_BytesToKey password for SIP004 methods, the base64 PSK for
	// the 2022 methods (shadowsocks' convention).
	Password string `json:"password,omitempty"`
	// Key is a raw base64 key for any method; it wins over Password.
	Key string `json:"key,omitempty"`
	// Allow is the server's destination allowlist (see Allowlist).
	Allow []string `json:"allow,omitempty"`
	// Hosts overrides name resolution on the server: name → IP (comma separated).
	Hosts            map[string]string `json:"hosts,omitempty"`
	HandshakeTimeout Duration          `json:"handshake_timeout,omitempty"`
	IdleTimeout      Duration          `json:"idle_timeout,omitempty"`
	DialTimeout      Duration          `json:"dial_timeout,omitempty"`
	MaxConns         int               `json:"max_conns,omitempty"`
	MaxConnsPerIP    int               `json:"max_conns_per_ip,omitempty"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level,omitempty"`
}

// Duration is a time.Duration that reads "15s" or a number of seconds from JSON.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		*d = Duration(v)
		return err
	}
	secs, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration %s: want \"10s\" or seconds", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// LoadFileConfig reads a JSON config file. Unknown fields are an error, so a typo
// in "allow" cannot silently leave the allowlist empty or, worse, a key unused.
func LoadFileConfig(path string) (FileConfig, error) {
	var f FileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Cipher builds the cipher from Method and Key or Password.
func (f *FileConfig) Cipher() (*Cipher, error) {
	if f.Method == "" {
		return nil, errors.New("tunnel: no method")
	}
	if f.Key != "" {
		key, err := DecodeKey(f.Key)
		if err != nil {
			return nil, fmt.Errorf("tunnel: key: %w", err)
		}
		return NewCipherKey(f.Method, key)
	}
	if f.Password == "" {
		return nil, errors.New("tunnel: no key or password")
	}
	return NewCipher(f.Method, f.Password)
}

// ServerConfig builds a ServerConfig.
func (f *FileConfig) ServerConfig(logger *slog.Logger) (ServerConfig, error) {
	c, err := f.Cipher()
	if err != nil {
		return ServerConfig{}, err
	}
	allow, err := ParseAllowlist(f.Allow)
	if err != nil {
		return ServerConfig{}, err
	}
	cfg := ServerConfig{
		Cipher: c, Allow: allow, Logger: logger,
		HandshakeTimeout: time.Duration(f.HandshakeTimeout), IdleTimeout: time.Duration(f.IdleTimeout),
		DialTimeout: time.Duration(f.DialTimeout), MaxConns: f.MaxConns, MaxConnsPerIP: f.MaxConnsPerIP,
	}
	if len(f.Hosts) > 0 {
		if cfg.Resolve, err = StaticResolver(f.Hosts, systemResolve); err != nil {
			return ServerConfig{}, err
		}
	}
	return cfg, nil
}

// LocalConfig builds a LocalConfig and its Dialer.
func (f *FileConfig) LocalConfig(logger *slog.Logger) (LocalConfig, error) {
	c, err := f.Cipher()
	if err != nil {
		return LocalConfig{}, err
	}
	d, err := NewDialer(DialerConfig{Server: f.Server, Cipher: c})
	if err != nil {
		return LocalConfig{}, err
	}
	return LocalConfig{
		Dialer: d, Logger: logger, MaxConns: f.MaxConns,
		HandshakeTimeout: time.Duration(f.HandshakeTimeout), IdleTimeout: time.Duration(f.IdleTimeout),
	}, nil
}
