package raft

import (
	"encoding/binary"
	"fmt"
)

// Entry data on the log is an envelope around the state machine's bytes:
//
//	version u8 (1) | seq uvarint | payload
//
// seq is the proposing leader's proposal number. Every entry of term T was
// proposed by the one leader of T, so (term, seq) names a proposal
// uniquely and the leader completes the right Propose call when the entry
// is applied. Entries whose data is empty (a new leader's empty entry) and
// configuration changes carry no envelope and reach no state machine.
const envelopeV1 = 1

func wrap(seq uint64, payload []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(payload))
	b = append(b, envelopeV1)
	b = binary.AppendUvarint(b, seq)
	return append(b, payload...)
}

// unwrap returns the proposal number and payload of an entry's data.
func unwrap(data []byte) (seq uint64, payload []byte, err error) {
	if len(data) < 2 || data[0] != envelopeV1 {
		return 0, nil, fmt.Errorf("%w: entry envelope", errCorrupt)
	}
	seq, n := binary.Uvarint(data[1:])
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: entry envelope sequence", errCorrupt)
	}
	return seq, data[1+n:], nil
}
