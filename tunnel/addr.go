package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
)

// Address types of the SOCKS5 address format (RFC 1928 §5), which Shadowsocks uses
// verbatim for its target address.
const (
	atypIPv4   = 0x01
	atypDomain = 0x03
	atypIPv6   = 0x04
)

// MaxAddrLen is the longest encoded target address: ATYP, length, 255-byte name, port.
const MaxAddrLen = 1 + 1 + 255 + 2

// ErrBadAddr is returned for a malformed target address.
var ErrBadAddr = errors.New("tunnel: malformed target address")

// Addr is a target address in SOCKS5 wire format: [ATYP][address][port u16be].
// A host name travels unresolved (ATYP 0x03); the tunnel server resolves it.
type Addr []byte

// ParseAddr encodes "host:port". An IP literal becomes ATYP 1 or 4, anything else a
// domain name.
func ParseAddr(hostport string) (Addr, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAddr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: port %q", ErrBadAddr, portStr)
	}
	var a Addr
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() == "" {
		ip = ip.Unmap()
		if ip.Is4() {
			a = append(Addr{atypIPv4}, ip.AsSlice()...)
		} else {
			a = append(Addr{atypIPv6}, ip.AsSlice()...)
		}
	} else {
		if len(host) == 0 || len(host) > 255 {
			return nil, fmt.Errorf("%w: host name length %d", ErrBadAddr, len(host))
		}
		a = append(Addr{atypDomain, byte(len(host))}, host...)
	}
	return binary.BigEndian.AppendUint16(a, uint16(port)), nil
}

// addrLen returns the length of the encoded address that starts b, reading no more
// than the ATYP and name-length bytes. It returns 0 when the type is unknown.
func addrLen(atyp, nameLen byte) int {
	switch atyp {
	case atypIPv4:
		return 1 + 4 + 2
	case atypIPv6:
		return 1 + 16 + 2
	case atypDomain:
		if nameLen == 0 {
			return 0
		}
		return 1 + 1 + int(nameLen) + 2
	}
	return 0
}

// SplitAddr returns the address at the start of b and the rest, or an error when b
// does not start with a complete, well-formed address.
func SplitAddr(b []byte) (Addr, []byte, error) {
	if len(b) < 2 {
		return nil, nil, ErrBadAddr
	}
	n := addrLen(b[0], b[1])
	if n == 0 || len(b) < n {
		return nil, nil, ErrBadAddr
	}
	return Addr(b[:n:n]), b[n:], nil
}

// ReadAddr reads one encoded address from r.
func ReadAddr(r io.Reader) (Addr, error) {
	buf := make([]byte, MaxAddrLen)
	if _, err := io.ReadFull(r, buf[:2]); err != nil {
		return nil, err
	}
	n := addrLen(buf[0], buf[1])
	if n == 0 {
		return nil, ErrBadAddr
	}
	if _, err := io.ReadFull(r, buf[2:n]); err != nil {
		return nil, err
	}
	return Addr(buf[:n:n]), nil
}

// Host returns the host part: a name or an IP literal.
func (a Addr) Host() string {
	switch a[0] {
	case atypIPv4:
		return netip.AddrFrom4([4]byte(a[1:5])).String()
	case atypIPv6:
		return netip.AddrFrom16([16]byte(a[1:17])).String()
	default:
		return string(a[2 : 2+int(a[1])])
	}
}

// IP returns the address for ATYP 1 and 4, and false for a host name.
func (a Addr) IP() (netip.Addr, bool) {
	switch a[0] {
	case atypIPv4:
		return netip.AddrFrom4([4]byte(a[1:5])), true
	case atypIPv6:
		return netip.AddrFrom16([16]byte(a[1:17])), true
	}
	return netip.Addr{}, false
}

// Port returns the port.
func (a Addr) Port() uint16 { return binary.BigEndian.Uint16(a[len(a)-2:]) }

// String returns "host:port".
func (a Addr) String() string {
	if len(a) < 2 || addrLen(a[0], a[1]) != len(a) {
		return "<malformed>"
	}
	return net.JoinHostPort(a.Host(), strconv.Itoa(int(a.Port())))
}
