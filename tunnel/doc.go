// Package tunnel is samsa's encrypted tunnel: it lets Kafka clients outside a
// private network (a docker network, a VPC) reach brokers at the internal
// addresses the brokers advertise, such as kafka-1:19092.
//
// The classic failure it answers: a client bootstraps through a published port,
// receives metadata naming the brokers by internal host names, and cannot resolve
// or reach them. With the tunnel, the client talks SOCKS5 to `samsa tunnel local`
// on its own machine; the SOCKS5 request carries the broker's host name
// unresolved; Local encrypts it and the bytes that follow to `samsa tunnel server`
// inside the private network, which resolves the name there, dials it (only if the
// allowlist says so) and copies bytes both ways.
//
// The wire protocol is Shadowsocks, byte-compatible with other implementations:
//
//   - SIP004 AEAD (aes-128-gcm, aes-256-gcm, chacha20-ietf-poly1305): master key
//     from a password by EVP_BytesToKey(MD5) or given raw; per-direction subkey
//     HKDF-SHA1(key, salt, "ss-subkey"); chunks [Seal(u16 len)][Seal(payload)]
//     with len ≤ 0x3FFF; the client stream starts with the SOCKS5-format target
//     address, which the server parses from the decrypted stream whether it is a
//     chunk of its own or shares one with the payload.
//   - SIP022 "Shadowsocks 2022" (2022-blake3-aes-128-gcm, 2022-blake3-aes-256-gcm,
//     and the optional 2022-blake3-chacha20-poly1305): base64 PSK, subkey
//     BLAKE3-derive_key("shadowsocks 2022 session subkey", PSK||salt), request
//     header [type 0][timestamp][len] + [addr][padding][initial payload], response
//     header [type 1][timestamp][request salt][len], payload ≤ 0xFFFF.
//
// Defences on the server, all of which matter because the server sits inside the
// private network: salts are tested and added after the first chunk authenticates
// (exact store; 60 s for SIP022 with the ±30 s timestamp check); the server's own
// SIP004 salts go into the same filter (reflection); a failed handshake is never
// answered: it is drained until the handshake deadline (SIP004) or reset (SIP022);
// handshake and idle timeouts; a destination allowlist that allows nothing by
// default, so the tunnel is never an open proxy; per-IP and global connection
// caps; and one log line with the reason for every refusal.
//
// Typical use, brokers in a docker network advertising kafka-1:19092 and kafka-2:19092:
//
//	samsa tunnel genkey                                   # once; share the key
//	samsa tunnel server -listen :8388 -key $KEY \         # a container in the network
//	    -allow kafka-1:19092,kafka-2:19092
//	samsa tunnel local -server docker-host:8388 -key $KEY  # next to the client, SOCKS5 on 127.0.0.1:1080
//	samsa produce --proxy socks5://127.0.0.1:1080 --bootstrap kafka-1:19092 ...
//
// Any Kafka client with a SOCKS5 setting works the same way (franz-go via kgo.Dialer
// and SOCKS5Dialer, sarama via Net.Proxy); see kafka_e2e_test.go.
//
// The main types are Server, Local (SOCKS5 in front of a Dialer) and Dialer (the
// Shadowsocks client, usable directly as a Kafka client's dial function).
// SOCKS5Dialer is the other half for clients that point at a SOCKS5 proxy.
package tunnel
