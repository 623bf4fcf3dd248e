// Package uuid is Kafka's UUID (org.apache.kafka.common.Uuid): 16 bytes,
// written as 22 characters of URL-safe base64 without padding. Topic ids,
// cluster ids, directory ids and broker incarnation ids are all of this
// kind.
//
// UUID deliberately has no MarshalText or MarshalJSON: the metadata log
// stores ids as JSON arrays of 16 numbers, and must keep reading them.
package uuid

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// UUID is a Kafka UUID.
type UUID [16]byte

// Reserved ids, never returned by Random (Kafka's Uuid.ZERO_UUID and
// Uuid.ONE_UUID, the latter being the metadata topic's id).
var (
	Zero = UUID{}
	One  = UUID{15: 1}
)

// Random returns a random id as Kafka's Uuid.randomUuid does: a version-4
// UUID (random bits, version and IETF variant set), drawn again when it is
// reserved or its text starts with '-' (it would look like a command-line
// flag).
func Random() UUID {
	for {
		var u UUID
		if _, err := rand.Read(u[:]); err != nil {
			panic("uuid: crypto/rand failed: " + err.Error())
		}
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		if !u.IsReserved() && u[0]>>2 != 62 { // 62 is '-' in URL-safe base64
			return u
		}
	}
}

// IsReserved says u is Zero or One.
func (u UUID) IsReserved() bool { return u == Zero || u == One }

// String is Kafka's Uuid.toString: URL-safe base64 without padding.
func (u UUID) String() string { return base64.RawURLEncoding.EncodeToString(u[:]) }

// ErrSyntax is wrapped by every Parse error.
var ErrSyntax = errors.New("not a Kafka UUID")

// Parse reads the 22-character form String writes. Like Kafka's
// Uuid.fromString, it ignores the 4 unused low bits of the last character,
// so a hand-written id whose last character has them set (the Kafka
// documentation's example cluster id does) is accepted; String then gives
// the canonical text.
func Parse(s string) (UUID, error) {
	var u UUID
	if len(s) != 22 {
		return u, fmt.Errorf("%q: %w: want 22 characters of URL-safe base64, got %d", s, ErrSyntax, len(s))
	}
	if strings.ContainsAny(s, "=\r\n") { // the decoder skips newlines; Kafka's does not
		return u, fmt.Errorf("%q: %w: not URL-safe base64", s, ErrSyntax)
	}
	n, err := base64.RawURLEncoding.Decode(u[:], []byte(s))
	if err != nil || n != 16 {
		return UUID{}, fmt.Errorf("%q: %w: not URL-safe base64 of 16 bytes", s, ErrSyntax)
	}
	return u, nil
}
