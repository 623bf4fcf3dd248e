package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/proxy"
)

var errTooManyFiles = syscall.EMFILE

// SOCKS5 (RFC 1928), the subset a Kafka client needs: no authentication, CONNECT.
const (
	socksVersion      = 0x05
	socksNoAuth       = 0x00
	socksNoAcceptable = 0xFF
	socksCmdConnect   = 0x01

	socksSucceeded          = 0x00
	socksGeneralFailure     = 0x01
	socksCmdNotSupported    = 0x07
	socksAddrTypeNotSupport = 0x08
)

var errSOCKS = errors.New("tunnel: bad SOCKS5 request")

// socksReply writes a reply with the bound address 0.0.0.0:0 (clients ignore it;
// Shadowsocks cannot know the server's outgoing address anyway).
func socksReply(w io.Writer, rep byte) error {
	_, err := w.Write([]byte{socksVersion, rep, 0x00, atypIPv4, 0, 0, 0, 0, 0, 0})
	return err
}

// socksHandshake runs the server side of the greeting and the request and returns
// the requested destination, whose wire bytes are exactly a Shadowsocks target
// address, so a host name is forwarded unresolved. It replies to errors itself;
// the success reply is left to the caller.
func socksHandshake(rw io.ReadWriter) (Addr, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(rw, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != socksVersion {
		return nil, fmt.Errorf("%w: version %d", errSOCKS, hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(rw, methods); err != nil {
		return nil, err
	}
	if !strings.ContainsRune(string(methods), socksNoAuth) {
		rw.Write([]byte{socksVersion, socksNoAcceptable})
		return nil, fmt.Errorf("%w: client does not offer no-auth", errSOCKS)
	}
	if _, err := rw.Write([]byte{socksVersion, socksNoAuth}); err != nil {
		return nil, err
	}
	var req [3]byte // VER CMD RSV
	if _, err := io.ReadFull(rw, req[:]); err != nil {
		return nil, err
	}
	if req[0] != socksVersion {
		return nil, fmt.Errorf("%w: version %d", errSOCKS, req[0])
	}
	addr, err := ReadAddr(rw)
	if errors.Is(err, ErrBadAddr) {
		socksReply(rw, socksAddrTypeNotSupport)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if req[1] != socksCmdConnect {
		socksReply(rw, socksCmdNotSupported)
		return nil, fmt.Errorf("%w: command %d (only CONNECT)", errSOCKS, req[1])
	}
	return addr, nil
}

// SOCKS5Dialer returns a dial function that connects through the SOCKS5 proxy at
// proxyURL ("socks5://host:port", "socks5h://host:port", optionally with
// user:password@, or a bare "host:port"). Host names are sent to the proxy
// unresolved, so a broker's advertised internal name is resolved by the tunnel
// server, not by the client. It fits kgo.Dialer and net.Dialer.DialContext's shape.
func SOCKS5Dialer(proxyURL string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	if !strings.Contains(proxyURL, "://") {
		proxyURL = "socks5://" + proxyURL
	}
	u, err := url.Parse(proxyURL)
	if err != nil {
		return nil, fmt.Errorf("tunnel: proxy URL: %w", err)
	}
	if u.Scheme != "socks5" && u.Scheme != "socks5h" {
		return nil, fmt.Errorf("tunnel: proxy URL %q: scheme must be socks5 or socks5h", proxyURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "1080")
	}
	var auth *proxy.Auth
	if u.User != nil {
		pw, _ := u.User.Password()
		auth = &proxy.Auth{User: u.User.Username(), Password: pw}
	}
	d, err := proxy.SOCKS5("tcp", host, auth, &net.Dialer{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return nil, errors.New("tunnel: SOCKS5 dialer has no DialContext")
	}
	return cd.DialContext, nil
}
