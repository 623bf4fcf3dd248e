package uuid

import (
	"errors"
	"strings"
	"testing"
)

func TestRandom(t *testing.T) {
	seen := map[UUID]bool{}
	for range 2000 {
		u := Random()
		s := u.String()
		if u.IsReserved() || strings.HasPrefix(s, "-") || len(s) != 22 || seen[u] {
			t.Fatalf("bad random id %x %q", u, s)
		}
		if u[6]>>4 != 4 || u[8]>>6 != 2 {
			t.Fatalf("%x: not a version-4 IETF-variant UUID", u)
		}
		seen[u] = true
		back, err := Parse(s)
		if err != nil || back != u {
			t.Fatalf("Parse(%q) = %x, %v", s, back, err)
		}
	}
}

func TestParse(t *testing.T) {
	for s, want := range map[string]UUID{
		"AAAAAAAAAAAAAAAAAAAAAA": Zero,
		"AAAAAAAAAAAAAAAAAAAAAQ": One,
		"AAAAAAAAAAAAAAAAAAAAAR": One, // unused low bits ignored, as Kafka does
	} {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %x, %v", s, got, err)
		}
	}
	if One.String() != "AAAAAAAAAAAAAAAAAAAAAQ" || !One.IsReserved() || !Zero.IsReserved() {
		t.Fatal("reserved ids")
	}
	// The Kafka documentation's example cluster id.
	if u, err := Parse("MkU3OEVBNTcwNTJENDM2Qk"); err != nil || u.String() != "MkU3OEVBNTcwNTJENDM2Qg" {
		t.Fatalf("documentation id: %v %v", u, err)
	}
	for _, s := range []string{"", "short", "4L6g3nShT-eMCtK--X86sw=", "4L6g3nShT+eMCtK--X86sw", "4L6g3nShT/eMCtK--X86sw",
		"4L6g3nShT-eMCtK--X86s\n", "4L6g3nShT-eMCtK--X86sw==", "4L6g3nShT-eMCtK--X86s="} {
		if _, err := Parse(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("4L6g3nShT-eMCtK--X86sw")
	f.Add("MkU3OEVBNTcwNTJENDM2Qk")
	f.Add("AAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		// The canonical text parses to the same id.
		if back, err := Parse(u.String()); err != nil || back != u {
			t.Fatalf("%q -> %x -> %q -> %x, %v", s, u, u.String(), back, err)
		}
	})
}
