package client

import (
	"errors"
	"fmt"
	"testing"

	fkerr "github.com/twmb/franz-go/pkg/kerr" // the package has a kerr of its own
)

// TestErrorTableMatchesKafka: every code in the client's table has the
// name Kafka's Errors gives it, checked against franz-go's kerr (another
// transcription of the same enum), and every code kerr knows is in the
// table. A gap in the table shifts the names of every later code (FENCED_MEMBER_EPOCH
// read as another error is a member that never rejoins).
func TestErrorTableMatchesKafka(t *testing.T) {
	renamed := map[int16]string{6: "NOT_LEADER_FOR_PARTITION"} // kerr keeps the pre-KIP-392 name
	for code := int16(-1); code < 200; code++ {
		if code == 0 {
			continue
		}
		ke, known := kafkaErrors[code]
		theirs := fkerr.TypedErrorForCode(code)
		theirsKnown := theirs != fkerr.UnknownServerError || code == -1
		if known != theirsKnown {
			t.Fatalf("code %d: in the client's table %v (%v), in kerr's %v (%v)", code, known, ke, theirsKnown, theirs)
		}
		if !known {
			continue
		}
		want := theirs.Message
		if n, ok := renamed[code]; ok && want == n {
			want = ke.Name
		}
		if ke.Name != want {
			t.Errorf("code %d is %s in the client's table, %s in Kafka's", code, ke.Name, want)
		}
	}
}

// TestNamedErrors: the named values match whatever wraps them, by code,
// and unknown codes still get an error.
func TestNamedErrors(t *testing.T) {
	for _, named := range []*KafkaError{ErrUnknownMemberID, ErrIllegalGeneration, ErrRebalanceInProgress,
		ErrFencedInstanceID, ErrFencedMemberEpoch, ErrStaleMemberEpoch, ErrMemberIDRequired, ErrGroupIDNotFound} {
		wrapped := fmt.Errorf("join group: %w", errorWithMessage(named.Code, new(string)))
		if !errors.Is(wrapped, named) {
			t.Errorf("%v does not match %s", wrapped, named.Name)
		}
		if errors.Is(wrapped, ErrNotCoordinator) {
			t.Errorf("%v matches NOT_COORDINATOR", wrapped)
		}
		if ErrorForCode(named.Code) != error(named) {
			t.Errorf("ErrorForCode(%d) is not %s", named.Code, named.Name)
		}
	}
	msg := "member epoch 3 is fenced"
	if err := errorWithMessage(ErrFencedMemberEpoch.Code, &msg); !errors.Is(err, ErrFencedMemberEpoch) || err.Error() != "FENCED_MEMBER_EPOCH (kafka error 110): "+msg {
		t.Errorf("with a message: %v", err)
	}
	if err := ErrorForCode(9999); err == nil || err.(*KafkaError).Name != "UNKNOWN_CODE_9999" || IsRetriable(err) {
		t.Errorf("unknown code: %v", err)
	}
}
