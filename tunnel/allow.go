package tunnel

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// Allowlist decides which destinations the tunnel server may dial. Without it the
// server would resolve and dial any name inside the private network for anyone
// holding the key: an open proxy (SSRF). The zero Allowlist allows nothing.
//
// Each pattern is HOST:PORT:
//
//	HOST  an exact host name ("kafka-1"), a glob over the name ("kafka-*",
//	      "*.broker.internal"; path.Match syntax, case-insensitive), an IP literal
//	      ("10.0.0.5", "[fd00::5]") or a CIDR ("10.0.0.0/8", "[fd00::/8]").
//	      Names are compared with the name the client sent, before resolution; IP
//	      and CIDR patterns match only destinations sent as IP literals.
//	PORT  a number ("9092"), a range ("19092-19094") or "*".
//
// "*:*" allows everything and is accepted only because someone may mean it.
type Allowlist struct {
	rules []allowRule
}

type allowRule struct {
	pattern string       // as written, for logs
	glob    string       // host-name glob, lower case; "" for IP rules
	prefix  netip.Prefix // valid for IP rules
	lo, hi  uint16
}

// ParseAllowlist parses patterns (see Allowlist). An empty list allows nothing.
func ParseAllowlist(patterns []string) (*Allowlist, error) {
	a := &Allowlist{}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		r, err := parseAllowRule(p)
		if err != nil {
			return nil, fmt.Errorf("tunnel: allow pattern %q: %w", p, err)
		}
		a.rules = append(a.rules, r)
	}
	return a, nil
}

func parseAllowRule(p string) (allowRule, error) {
	r := allowRule{pattern: p}
	i := strings.LastIndexByte(p, ':')
	if i <= 0 {
		return r, fmt.Errorf("want HOST:PORT")
	}
	host, port := p[:i], p[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	var err error
	if r.lo, r.hi, err = parsePortRange(port); err != nil {
		return r, err
	}
	switch {
	case strings.Contains(host, "/"):
		if r.prefix, err = netip.ParsePrefix(host); err != nil {
			return r, err
		}
		r.prefix = r.prefix.Masked()
	default:
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			r.prefix = netip.PrefixFrom(ip, ip.BitLen())
			break
		}
		r.glob = strings.TrimSuffix(strings.ToLower(host), ".")
		if r.glob == "" || strings.ContainsAny(r.glob, ":") {
			return r, fmt.Errorf("bad host %q", host)
		}
		if _, err := path.Match(r.glob, ""); err != nil {
			return r, err
		}
	}
	return r, nil
}

func parsePortRange(s string) (lo, hi uint16, err error) {
	if s == "*" {
		return 0, 65535, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	l, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, fmt.Errorf("bad port %q", s)
	}
	h := l
	if isRange {
		if h, err = strconv.ParseUint(b, 10, 16); err != nil || h < l {
			return 0, 0, fmt.Errorf("bad port range %q", s)
		}
	}
	return uint16(l), uint16(h), nil
}

// Allowed reports whether the server may dial target, and the pattern that allowed it.
func (a *Allowlist) Allowed(target Addr) (bool, string) {
	if a == nil {
		return false, ""
	}
	port := target.Port()
	ip, isIP := target.IP()
	name := strings.TrimSuffix(strings.ToLower(target.Host()), ".")
	if !isIP {
		// A name that is an IP literal is dialled as that IP: judge it as one.
		if p, err := netip.ParseAddr(name); err == nil {
			ip, isIP = p, true
		}
	}
	for _, r := range a.rules {
		if port < r.lo || port > r.hi {
			continue
		}
		if r.glob == "" {
			if isIP && r.prefix.Contains(ip.Unmap()) {
				return true, r.pattern
			}
			continue
		}
		if ok, _ := path.Match(r.glob, name); ok {
			return true, r.pattern
		}
	}
	return false, ""
}

// Empty reports whether the list allows nothing.
func (a *Allowlist) Empty() bool { return a == nil || len(a.rules) == 0 }

// String returns the patterns, comma separated.
func (a *Allowlist) String() string {
	if a == nil {
		return ""
	}
	s := make([]string, len(a.rules))
	for i, r := range a.rules {
		s[i] = r.pattern
	}
	return strings.Join(s, ",")
}
