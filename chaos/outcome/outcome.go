// Package outcome says what an error a producer reports for a send proves,
// in the terms of chaos/history: Fail when it shows the record cannot
// have been written, Info (indeterminate) for everything else. The chaos
// harness and the kill cycles classify their sends with it, for
// franz-go's errors and samsa's client's alike.
//
// A send is one record retried by the client until its delivery timeout,
// and the error is only the last attempt's: an earlier attempt may have
// been appended to the leader's log (its response lost with the
// connection, or timed out) and be committed later. So an error proves
// nothing was written only when every attempt must have met it: the
// broker rejects the request for what it is (its size, its format, its
// topic, its acks, the principal's rights), before appending anything, or
// the client refuses the record before sending it. A refusal that depends
// on the moment — NOT_ENOUGH_REPLICAS (the ISR was too small for this
// attempt; an earlier one may sit in the log), NOT_LEADER_OR_FOLLOWER,
// UNKNOWN_TOPIC_OR_PARTITION (stale metadata), INVALID_TIMESTAMP (against
// the broker's clock), OUT_OF_ORDER_SEQUENCE_NUMBER — and every
// timeout, connection error or closed client are indeterminate, as is
// NOT_ENOUGH_REPLICAS_AFTER_APPEND (appended, not yet replicated).
package outcome

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/client"
)

// definite are the Kafka error codes a produce request is refused with
// before anything is appended, whatever attempt it is.
var definite = map[int16]string{
	2:  "CORRUPT_MESSAGE",
	10: "MESSAGE_TOO_LARGE",
	17: "INVALID_TOPIC_EXCEPTION",
	18: "RECORD_LIST_TOO_LARGE",
	21: "INVALID_REQUIRED_ACKS",
	29: "TOPIC_AUTHORIZATION_FAILED",
	31: "CLUSTER_AUTHORIZATION_FAILED",
	87: "INVALID_RECORD",
}

// Definite says whether a produce that ended with Kafka error code proves
// the record was not written.
func Definite(code int16) bool {
	_, ok := definite[code]
	return ok
}

// beforeSending are samsa's client's errors for a record it refuses
// before sending anything.
var beforeSending = []error{client.ErrRecordTooLarge, client.ErrNoTopic, client.ErrInvalidPartition}

// Of classifies the error a send ended with: OK for none, Fail when it
// proves the record was not written, Info otherwise.
func Of(err error) history.Type {
	if err == nil {
		return history.OK
	}
	var fe *kerr.Error
	if errors.As(err, &fe) && Definite(fe.Code) {
		return history.Fail
	}
	var se *client.KafkaError
	if errors.As(err, &se) && Definite(se.Code) {
		return history.Fail
	}
	for _, e := range beforeSending {
		if errors.Is(err, e) {
			return history.Fail
		}
	}
	return history.Info
}
