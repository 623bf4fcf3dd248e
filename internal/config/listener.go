package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Listener is one endpoint of listeners or advertised.listeners. The Name is
// what the broker records per connection so that Metadata answers with the
// endpoints registered under the same name (Kafka's KRaftMetadataCache does the same).
type Listener struct {
	Name             string // upper-cased, as Kafka normalises listener names
	Host             string // "" = all interfaces; IPv6 without brackets
	Port             int
	SecurityProtocol string // from listener.security.protocol.map
}

// Addr is host:port for net.Listen / net.Dial (IPv6 bracketed).
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// String renders the listener the way it is written in a config file.
func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// ParseListener parses "NAME://host:port". The host may be empty (all
// interfaces), a name, an IPv4 address or a bracketed IPv6 address.
func ParseListener(s string) (Listener, error) {
	s = strings.TrimSpace(s)
	name, rest, ok := strings.Cut(s, "://")
	if !ok || name == "" {
		return Listener{}, fmt.Errorf("listener %q: want NAME://host:port", s)
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return Listener{}, fmt.Errorf("listener %q: %v", s, err)
	}
	return Listener{Name: strings.ToUpper(name), Host: host, Port: port}, nil
}

// ParseListeners parses a comma-separated listener list; empty entries are
// skipped as Kafka's CSV parsing does.
func ParseListeners(s string) ([]Listener, error) {
	var out []Listener
	for _, part := range splitList(s) {
		l, err := ParseListener(part)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func splitHostPort(s string) (string, int, error) {
	var host, portStr string
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return "", 0, fmt.Errorf("bad IPv6 address in %q", s)
		}
		host, portStr = s[1:end], s[end+2:]
	} else {
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return "", 0, fmt.Errorf("missing port in %q", s)
		}
		host, portStr = s[:i], s[i+1:]
		if strings.Contains(host, ":") {
			return "", 0, fmt.Errorf("IPv6 address %q must be in brackets", host)
		}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q (want 0..65535)", portStr)
	}
	return host, port, nil
}

// Voter is one entry of controller.quorum.voters ("id@host:port").
type Voter struct {
	ID   int32
	Host string
	Port int
}

// Addr is host:port for dialing the voter.
func (v Voter) Addr() string { return net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

// ParseVoters parses controller.quorum.voters: "id@host:port,...". Kafka
// rejects duplicate ids and an empty host; so do we.
func ParseVoters(s string) ([]Voter, error) {
	var out []Voter
	seen := map[int32]bool{}
	for _, part := range splitList(s) {
		idStr, addr, ok := strings.Cut(part, "@")
		if !ok {
			return nil, fmt.Errorf("voter %q: want id@host:port", part)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("voter %q: bad node id %q", part, idStr)
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("voter %q: %v", part, err)
		}
		if host == "" {
			return nil, fmt.Errorf("voter %q: empty host", part)
		}
		if seen[int32(id)] {
			return nil, fmt.Errorf("voter %q: duplicate node id %d", part, id)
		}
		seen[int32(id)] = true
		out = append(out, Voter{ID: int32(id), Host: host, Port: port})
	}
	return out, nil
}

// ParseBootstrapServers parses controller.quorum.bootstrap.servers
// ("host:port,...") into host:port strings, checking each.
func ParseBootstrapServers(s string) ([]string, error) {
	var out []string
	for _, part := range splitList(s) {
		host, port, err := splitHostPort(part)
		if err != nil {
			return nil, fmt.Errorf("bootstrap server %q: %v", part, err)
		}
		if host == "" {
			return nil, fmt.Errorf("bootstrap server %q: empty host", part)
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return out, nil
}

// ParseProtocolMap parses listener.security.protocol.map ("NAME:PROTO,...").
// Names and protocols are upper-cased; the protocol must be one Kafka knows.
func ParseProtocolMap(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, part := range splitList(s) {
		name, proto, ok := strings.Cut(part, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" {
			return nil, fmt.Errorf("entry %q: want NAME:PROTOCOL", part)
		}
		if !isSecurityProtocol(proto) {
			return nil, fmt.Errorf("entry %q: unknown security protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", part, proto)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("entry %q: listener name %s appears twice", part, name)
		}
		m[name] = proto
	}
	return m, nil
}

func isSecurityProtocol(p string) bool {
	switch p {
	case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
		return true
	}
	return false
}

// splitList splits a Kafka LIST value: comma-separated, entries trimmed,
// empty entries dropped.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
