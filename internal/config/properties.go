package config

import (
	"errors"
	"fmt"
	"strings"
)

// Property is one key/value pair of a Java properties file, in file order.
// Order matters because a later duplicate key wins, as in java.util.Properties.
type Property struct {
	Key, Value string
	Line       int // 1-based line where the logical line starts
}

// ErrMalformedEscape is returned for a \u escape that is not followed by four
// hex digits; java.util.Properties.load rejects such files too.
var ErrMalformedEscape = errors.New("malformed \\uxxxx escape")

// ParseProperties parses data with the rules of java.util.Properties.load,
// because operators hand samsa the server.properties they already use with
// Kafka: comments start with # or !, the key ends at the first unescaped '=',
// ':' or whitespace, a line ending in an odd number of backslashes continues
// on the next line (whose leading whitespace is dropped), and \t \n \r \f
// \uXXXX and \<any> escapes are decoded. Unlike Java, keys and values are
// trimmed, as Kafka's ConfigDef does when it reads them.
func ParseProperties(data []byte) ([]Property, error) {
	var props []Property
	lines := splitLogicalLines(string(data))
	for _, ll := range lines {
		key, value, err := parseLogicalLine(ll.text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", ll.line, err)
		}
		key = strings.TrimSpace(key)
		if key == "" && value == "" {
			continue
		}
		props = append(props, Property{Key: key, Value: strings.TrimSpace(value), Line: ll.line})
	}
	return props, nil
}

type logicalLine struct {
	text string
	line int
}

func isPropSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// splitLogicalLines joins continued natural lines and drops comments and
// blank lines. The returned text still holds its escapes (except the
// continuation backslashes), so parseLogicalLine can tell an escaped '='
// from a separator.
func splitLogicalLines(s string) []logicalLine {
	var out []logicalLine
	var cur strings.Builder
	inLogical := false
	start := 0
	lineNo := 0
	for len(s) > 0 || inLogical {
		if len(s) == 0 {
			// File ended on a continuation: Java keeps what it has.
			out = append(out, logicalLine{cur.String(), start})
			break
		}
		// Take one natural line.
		end := strings.IndexAny(s, "\r\n")
		var nat string
		if end < 0 {
			nat, s = s, ""
		} else {
			nat = s[:end]
			if s[end] == '\r' && end+1 < len(s) && s[end+1] == '\n' {
				s = s[end+2:]
			} else {
				s = s[end+1:]
			}
		}
		lineNo++
		i := 0
		for i < len(nat) && isPropSpace(nat[i]) {
			i++
		}
		nat = nat[i:]
		if !inLogical {
			if nat == "" || nat[0] == '#' || nat[0] == '!' {
				continue // blank or comment; comments never continue
			}
			start = lineNo
		}
		// Count trailing backslashes: odd means continuation.
		n := 0
		for n < len(nat) && nat[len(nat)-1-n] == '\\' {
			n++
		}
		if n%2 == 1 {
			cur.WriteString(nat[:len(nat)-1])
			inLogical = true
			continue
		}
		cur.WriteString(nat)
		out = append(out, logicalLine{cur.String(), start})
		cur.Reset()
		inLogical = false
	}
	return out
}

// parseLogicalLine splits one logical line into its unescaped key and value.
func parseLogicalLine(l string) (key, value string, err error) {
	i := 0
	for i < len(l) {
		c := l[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || isPropSpace(c) {
			break
		}
		i++
	}
	if i > len(l) {
		i = len(l)
	}
	rawKey := l[:i]
	j := i
	for j < len(l) && isPropSpace(l[j]) {
		j++
	}
	if j < len(l) && (l[j] == '=' || l[j] == ':') {
		j++
	}
	for j < len(l) && isPropSpace(l[j]) {
		j++
	}
	if key, err = unescape(rawKey); err != nil {
		return "", "", err
	}
	if value, err = unescape(l[j:]); err != nil {
		return "", "", err
	}
	return key, value, nil
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break // a lone trailing backslash is dropped, as Java does
		}
		switch c = s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 > len(s)-1 {
				return "", ErrMalformedEscape
			}
			var r rune
			for k := 1; k <= 4; k++ {
				d := hexVal(s[i+k])
				if d < 0 {
					return "", ErrMalformedEscape
				}
				r = r<<4 | rune(d)
			}
			b.WriteRune(r)
			i += 4
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// EscapeProperty renders s so that ParseProperties reads it back unchanged,
// escaping like java.util.Properties.store: separators, comment characters,
// backslashes, control whitespace and a leading space. Non-ASCII runes are
// written as UTF-8 (Kafka reads properties files as UTF-8 since Java 9).
func EscapeProperty(s string, isKey bool) string {
	var b strings.Builder
	for i, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\f':
			b.WriteString(`\f`)
		case '=', ':', '#', '!':
			b.WriteByte('\\')
			b.WriteRune(r)
		case ' ':
			if i == 0 || isKey {
				b.WriteString(`\ `)
			} else {
				b.WriteByte(' ')
			}
		default:
			if r < 0x20 || r == 0x7f || r == 0xFFFD {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}
