package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/samsa-io/samsa/tunnel"
)

func init() {
	register("tunnel", "encrypted tunnel to brokers' internal addresses (server | local | genkey)", runTunnel)
}

const tunnelUsage = `usage: samsa tunnel <server|local|genkey> [flags]

  samsa tunnel server   run inside the private network: decrypt, resolve the broker's
                        advertised name there, dial it if the allowlist permits
  samsa tunnel local    run next to the client: a SOCKS5 server (CONNECT, no auth)
                        whose connections go through the tunnel server
  samsa tunnel genkey   print a random base64 key for -key

The wire protocol is Shadowsocks (SIP004 AEAD and SIP022 2022 edition), so other
Shadowsocks clients and servers interoperate. Point Kafka clients at the local side
with a SOCKS5 proxy setting (samsa's own: --proxy socks5://127.0.0.1:1080).

Secrets may also come from SAMSA_TUNNEL_KEY or SAMSA_TUNNEL_PASSWORD, which keeps
them out of the process list. Flags override the -config file.
`

func runTunnel(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, tunnelUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "server":
		return runTunnelSide("server", args[1:])
	case "local":
		return runTunnelSide("local", args[1:])
	case "genkey":
		return runTunnelGenkey(args[1:])
	}
	fmt.Fprintf(os.Stderr, "samsa tunnel: unknown subcommand %q\n\n%s", args[0], tunnelUsage)
	return 2
}

// tunnelList collects repeatable, comma-separable flag values.
type tunnelList []string

func (l *tunnelList) String() string { return strings.Join(*l, ",") }
func (l *tunnelList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func runTunnelSide(side string, args []string) int {
	fs := flag.NewFlagSet("tunnel "+side, flag.ContinueOnError)
	var f tunnel.FileConfig
	configPath := fs.String("config", "", "JSON config file (see below); flags override it")
	fs.StringVar(&f.Listen, "listen", "", "listen address (server default :8388, local default 127.0.0.1:1080)")
	fs.StringVar(&f.Method, "method", "", "cipher: "+strings.Join(tunnel.Methods(), ", ")+" (default 2022-blake3-aes-256-gcm)")
	fs.StringVar(&f.Password, "password", "", "SIP004 password, or the base64 PSK for 2022 methods (or SAMSA_TUNNEL_PASSWORD)")
	fs.StringVar(&f.Key, "key", "", "raw base64 key, any method (or SAMSA_TUNNEL_KEY); see samsa tunnel genkey")
	handshake := fs.Duration("handshake-timeout", 0, "time allowed for the handshake (server default 20s, local 10s)")
	idle := fs.Duration("idle-timeout", 0, "close connections idle in both directions this long (default 15m)")
	maxConns := fs.Int("max-conns", 0, "concurrent connection cap (default 1024)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default info)")
	var allowList, hosts tunnelList
	var dialTimeout *time.Duration
	var perIP *int
	if side == "server" {
		fs.Var(&allowList, "allow", "allowed destination HOST:PORT (globs, IPs, CIDRs, port ranges; repeatable or comma separated). Default: nothing")
		fs.Var(&hosts, "host", "resolver override NAME=IP (repeatable)")
		dialTimeout = fs.Duration("dial-timeout", 0, "time allowed to resolve and dial a destination (default 10s)")
		perIP = fs.Int("max-conns-per-ip", 0, "concurrent connections per client IP (default 256)")
	} else {
		fs.StringVar(&f.Server, "server", "", "tunnel server host:port (required)")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: samsa tunnel %s [flags]\n\n", side)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nconfig file: JSON with keys listen, server, method, password, key, allow, hosts,\n"+
			"handshake_timeout, idle_timeout, dial_timeout, max_conns, max_conns_per_ip, log_level.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "samsa tunnel %s: unexpected arguments %q\n", side, fs.Args())
		return 2
	}
	cfg := tunnel.FileConfig{}
	if *configPath != "" {
		var err error
		if cfg, err = tunnel.LoadFileConfig(*configPath); err != nil {
			fmt.Fprintf(os.Stderr, "samsa tunnel %s: %v\n", side, err)
			return 1
		}
	}
	// Flags given on the command line win over the file.
	var flagErr error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "listen":
			cfg.Listen = f.Listen
		case "server":
			cfg.Server = f.Server
		case "method":
			cfg.Method = f.Method
		case "password":
			cfg.Password = f.Password
		case "key":
			cfg.Key = f.Key
		case "handshake-timeout":
			cfg.HandshakeTimeout = tunnel.Duration(*handshake)
		case "idle-timeout":
			cfg.IdleTimeout = tunnel.Duration(*idle)
		case "dial-timeout":
			cfg.DialTimeout = tunnel.Duration(*dialTimeout)
		case "max-conns":
			cfg.MaxConns = *maxConns
		case "max-conns-per-ip":
			cfg.MaxConnsPerIP = *perIP
		case "log-level":
			cfg.LogLevel = *logLevel
		case "allow":
			cfg.Allow = allowList
		case "host":
			cfg.Hosts = map[string]string{}
			for _, h := range hosts {
				name, ip, ok := strings.Cut(h, "=")
				if !ok {
					flagErr = fmt.Errorf("-host %q: want NAME=IP", h)
				}
				cfg.Hosts[name] = ip
			}
		}
	})
	if flagErr != nil {
		fmt.Fprintf(os.Stderr, "samsa tunnel %s: %v\n", side, flagErr)
		return 2
	}
	if cfg.Key == "" && cfg.Password == "" {
		cfg.Key, cfg.Password = os.Getenv("SAMSA_TUNNEL_KEY"), os.Getenv("SAMSA_TUNNEL_PASSWORD")
	}
	if cfg.Method == "" {
		cfg.Method = tunnel.Method2022AES256GCM
	}
	if cfg.Listen == "" {
		cfg.Listen = map[string]string{"server": ":8388", "local": "127.0.0.1:1080"}[side]
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: tunnelLogLevel(cfg.LogLevel)}))
	if err := checkTunnelSecret(cfg, logger); err != nil {
		fmt.Fprintf(os.Stderr, "samsa tunnel %s: %v\n", side, err)
		return 1
	}
	var (
		serve func() error
		stop  func() error
	)
	switch side {
	case "server":
		sc, err := cfg.ServerConfig(logger)
		if err != nil {
			fmt.Fprintf(os.Stderr, "samsa tunnel server: %v\n", err)
			return 1
		}
		switch {
		case sc.Allow.Empty():
			logger.Warn("tunnel: the allowlist is empty: every destination will be refused; add -allow kafka-1:19092 ...")
		case strings.Contains(","+sc.Allow.String()+",", ",*:*,"):
			logger.Warn("tunnel: -allow *:* makes this an open proxy into the private network")
		}
		srv, err := tunnel.NewServer(sc)
		if err != nil {
			fmt.Fprintf(os.Stderr, "samsa tunnel server: %v\n", err)
			return 1
		}
		logger.Info("tunnel server listening", "addr", cfg.Listen, "method", sc.Cipher.Method(), "allow", sc.Allow.String())
		serve, stop = func() error { return srv.ListenAndServe(cfg.Listen) }, srv.Close
	case "local":
		if cfg.Server == "" {
			fmt.Fprintln(os.Stderr, "samsa tunnel local: -server host:port is required")
			return 2
		}
		lc, err := cfg.LocalConfig(logger)
		if err != nil {
			fmt.Fprintf(os.Stderr, "samsa tunnel local: %v\n", err)
			return 1
		}
		l, err := tunnel.NewLocal(lc)
		if err != nil {
			fmt.Fprintf(os.Stderr, "samsa tunnel local: %v\n", err)
			return 1
		}
		logger.Info("tunnel local: SOCKS5 listening", "addr", cfg.Listen, "server", cfg.Server, "method", cfg.Method)
		serve, stop = func() error { return l.ListenAndServe(cfg.Listen) }, l.Close
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		logger.Info("tunnel: shutting down")
		stop()
	}()
	if err := serve(); err != nil && !errors.Is(err, tunnel.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "samsa tunnel %s: %v\n", side, err)
		return 1
	}
	return 0
}

// checkTunnelSecret refuses a missing secret and warns about a weak SIP004
// password: with a guessable password, recorded traffic can be brute-forced
// offline, and non-committing AEADs make that cheaper (partitioning oracles).
func checkTunnelSecret(cfg tunnel.FileConfig, logger *slog.Logger) error {
	if cfg.Key == "" && cfg.Password == "" {
		return errors.New("no secret: give -key (see samsa tunnel genkey) or -password")
	}
	if cfg.Key == "" && !strings.HasPrefix(cfg.Method, "2022-") && len(cfg.Password) < 16 {
		logger.Warn("tunnel: password shorter than 16 characters; prefer -key from samsa tunnel genkey")
	}
	return nil
}

func runTunnelGenkey(args []string) int {
	fs := flag.NewFlagSet("tunnel genkey", flag.ContinueOnError)
	method := fs.String("method", tunnel.Method2022AES256GCM, "cipher the key is for (sets its length)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	size, err := tunnel.KeySize(*method)
	if err != nil {
		fmt.Fprintf(os.Stderr, "samsa tunnel genkey: %v\n", err)
		return 2
	}
	key := make([]byte, size)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		fmt.Fprintf(os.Stderr, "samsa tunnel genkey: %v\n", err)
		return 1
	}
	fmt.Println(base64.StdEncoding.EncodeToString(key))
	return 0
}

func tunnelLogLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
