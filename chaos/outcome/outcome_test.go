package outcome

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/chaos/history"
	"github.com/samsa-io/samsa/client"
)

// samsaCode is samsa's client's form of Kafka error code c, as a record's
// callback gets it (wrapped).
func samsaCode(c int16) error {
	return fmt.Errorf("produce chaos[0]: %w", &client.KafkaError{Code: c, Name: fmt.Sprintf("CODE_%d", c)})
}

func TestKafkaCodes(t *testing.T) {
	for _, tc := range []struct {
		code int16
		want history.Type
	}{
		// Refused for what the request is, on every attempt.
		{2, history.Fail},  // CORRUPT_MESSAGE
		{10, history.Fail}, // MESSAGE_TOO_LARGE
		{17, history.Fail}, // INVALID_TOPIC_EXCEPTION
		{18, history.Fail}, // RECORD_LIST_TOO_LARGE
		{21, history.Fail}, // INVALID_REQUIRED_ACKS
		{29, history.Fail}, // TOPIC_AUTHORIZATION_FAILED
		{31, history.Fail}, // CLUSTER_AUTHORIZATION_FAILED
		{87, history.Fail}, // INVALID_RECORD
		// Refused for the moment: an earlier attempt may be in the log.
		{-1, history.Info}, // UNKNOWN_SERVER_ERROR
		{3, history.Info},  // UNKNOWN_TOPIC_OR_PARTITION
		{5, history.Info},  // LEADER_NOT_AVAILABLE
		{6, history.Info},  // NOT_LEADER_OR_FOLLOWER
		{7, history.Info},  // REQUEST_TIMED_OUT
		{13, history.Info}, // NETWORK_EXCEPTION
		{19, history.Info}, // NOT_ENOUGH_REPLICAS
		{20, history.Info}, // NOT_ENOUGH_REPLICAS_AFTER_APPEND
		{32, history.Info}, // INVALID_TIMESTAMP
		{45, history.Info}, // OUT_OF_ORDER_SEQUENCE_NUMBER
		{46, history.Info}, // DUPLICATE_SEQUENCE_NUMBER
		{47, history.Info}, // INVALID_PRODUCER_EPOCH
		{56, history.Info}, // KAFKA_STORAGE_ERROR
	} {
		if got := Definite(tc.code); got != (tc.want == history.Fail) {
			t.Errorf("Definite(%d) = %v", tc.code, got)
		}
		fe := kerr.ErrorForCode(tc.code)
		if got := Of(fmt.Errorf("wrapped: %w", fe)); got != tc.want {
			t.Errorf("franz-go %v: %s, want %s", fe, got, tc.want)
		}
		if got := Of(samsaCode(tc.code)); got != tc.want {
			t.Errorf("samsa's client code %d: %s, want %s", tc.code, got, tc.want)
		}
	}
}

func TestClientErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want history.Type
	}{
		{nil, history.OK},
		// Refused by the client before sending.
		{client.ErrRecordTooLarge, history.Fail},
		{client.ErrNoTopic, history.Fail},
		{fmt.Errorf("x: %w", client.ErrInvalidPartition), history.Fail},
		{client.ErrMessageTooLarge, history.Fail},
		{kerr.MessageTooLarge, history.Fail},
		// Anything else may have been written.
		{client.ErrNotEnoughReplicas, history.Info},
		{client.ErrNotEnoughReplicasAfterAppend, history.Info},
		{client.ErrDeliveryTimeout, history.Info},
		{client.ErrClosed, history.Info},
		{client.ErrConnDead, history.Info},
		{kgo.ErrRecordTimeout, history.Info},
		{kgo.ErrClientClosed, history.Info},
		{kerr.NotLeaderForPartition, history.Info},
		{context.DeadlineExceeded, history.Info},
		{io.EOF, history.Info},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, history.Info},
		{errors.New("something else"), history.Info},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("Of(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
