package config

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func propsMap(t *testing.T, s string) map[string]string {
	t.Helper()
	ps, err := ParseProperties([]byte(s))
	if err != nil {
		t.Fatalf("ParseProperties(%q): %v", s, err)
	}
	m := map[string]string{}
	for _, p := range ps {
		m[p.Key] = p.Value
	}
	return m
}

func TestParseProperties(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]string
	}{
		{"a=b", map[string]string{"a": "b"}},
		{"a = b  ", map[string]string{"a": "b"}},
		{"a: b", map[string]string{"a": "b"}},
		{"a b", map[string]string{"a": "b"}},
		{"a\t=\tb", map[string]string{"a": "b"}},
		{"a==b", map[string]string{"a": "=b"}},
		{"a=b=c", map[string]string{"a": "b=c"}},
		{"a", map[string]string{"a": ""}},
		{"a=", map[string]string{"a": ""}},
		{"# comment\n! also\n  # indented\n\na=1", map[string]string{"a": "1"}},
		{"a=1\na=2", map[string]string{"a": "2"}},
		{"a=1 \\\n   2", map[string]string{"a": "1 2"}},
		{"a=x\\\n\\\n y", map[string]string{"a": "xy"}},
		{"a=x\\\\\nb=y", map[string]string{"a": `x\`, "b": "y"}},
		{"# comment \\\na=1", map[string]string{"a": "1"}},
		{"a\\=b=c", map[string]string{"a=b": "c"}},
		{"a\\:b:c", map[string]string{"a:b": "c"}},
		{"a\\ b=c", map[string]string{"a b": "c"}},
		{`a=\t\u0041\q`, map[string]string{"a": "Aq"}}, // leading tab trimmed
		{"a=1\r\nb=2\rc=3", map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"listeners=PLAINTEXT://:9092,\\\n    CONTROLLER://:9093", map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093"}},
		{"a=x\\", map[string]string{"a": "x"}},
		{"a=caf\u00e9", map[string]string{"a": "café"}},
	}
	for _, tc := range cases {
		got := propsMap(t, tc.in)
		if len(got) != len(tc.want) {
			t.Errorf("%q: got %q want %q", tc.in, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: [%q] = %q, want %q", tc.in, k, got[k], v)
			}
		}
	}
	if _, err := ParseProperties([]byte(`a=\u12`)); !errors.Is(err, ErrMalformedEscape) {
		t.Errorf("short \\u: %v", err)
	}
	if _, err := ParseProperties([]byte(`a=\uXYZW`)); !errors.Is(err, ErrMalformedEscape) {
		t.Errorf("bad \\u: %v", err)
	}
	ps, _ := ParseProperties([]byte("\n\na=1\n# x\nb=\\\n2\n"))
	if ps[0].Line != 3 || ps[1].Line != 5 {
		t.Errorf("lines %+v", ps)
	}
}

// FuzzParseProperties: the parser never panics, and anything written with
// EscapeProperty reads back as written (modulo the trimming Kafka does).
func FuzzParseProperties(f *testing.F) {
	f.Add([]byte("a=b\n# c\nd : e \\\n f"), "k", "v")
	f.Add([]byte(`x\u0041=\t\\`), "a b", " lead")
	f.Add([]byte("\\"), "=:#!", "\\\n\r\t\f")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		_, _ = ParseProperties(data)
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if key == "" || !utf8.ValidString(key) || !utf8.ValidString(value) || strings.ContainsRune(key+value, utf8.RuneError) {
			return
		}
		line := EscapeProperty(key, true) + "=" + EscapeProperty(value, false) + "\n"
		ps, err := ParseProperties([]byte(line))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if len(ps) != 1 || ps[0].Key != key || ps[0].Value != value {
			t.Fatalf("round trip of %q/%q via %q gave %+v", key, value, line, ps)
		}
	})
}
