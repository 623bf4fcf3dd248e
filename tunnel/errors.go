package tunnel

import "errors"

// Refusal reasons. The server logs them and counts them in Stats; none is ever sent
// to the peer: a Shadowsocks server has no way to answer a bad handshake, and must
// not, or it becomes a fingerprint.
var (
	// ErrAuth: a chunk failed AEAD authentication (wrong key, a probe, tampering).
	ErrAuth = errors.New("tunnel: authentication failed")
	// ErrReplay: a first flight whose salt was seen before.
	ErrReplay = errors.New("tunnel: replayed salt")
	// ErrClockSkew: a SIP022 header whose timestamp is more than 30 s off.
	ErrClockSkew = errors.New("tunnel: timestamp more than 30 s off")
	// ErrBadHeader: a SIP022 header of the wrong type, with neither payload nor
	// padding, or whose address or padding runs past the header chunk.
	ErrBadHeader = errors.New("tunnel: malformed header")
	// ErrNotAllowed: the destination is not on the server's allowlist.
	ErrNotAllowed = errors.New("tunnel: destination not allowed")
	// ErrSaltMismatch: a SIP022 response that does not echo the request salt.
	ErrSaltMismatch = errors.New("tunnel: response does not echo the request salt")
)
