package client

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the client and the producer.
var (
	// ErrClosed is returned by calls on a closed Client or Producer, and
	// given to records that were still buffered when Close gave up.
	ErrClosed = errors.New("samsa/client: closed")
	// ErrDeliveryTimeout is given to a record that was not acknowledged
	// within the producer's DeliveryTimeout.
	ErrDeliveryTimeout = errors.New("samsa/client: delivery timeout")
	// ErrRecordTooLarge is given to a record whose encoded size alone
	// exceeds MaxRecordBatchBytes or MaxBufferedBytes.
	ErrRecordTooLarge = errors.New("samsa/client: record too large")
	// ErrNoTopic is given to a record with an empty Topic.
	ErrNoTopic = errors.New("samsa/client: record has no topic")
	// ErrInvalidPartition is given to a record whose partitioner chose a
	// partition that does not exist.
	ErrInvalidPartition = errors.New("samsa/client: invalid partition")
	// ErrNoSeedBrokers is returned by New when no seed broker is given.
	ErrNoSeedBrokers = errors.New("samsa/client: no seed brokers")
	// ErrBufferFull is returned by TryProduce when the buffer is full.
	ErrBufferFull = errors.New("samsa/client: producer buffer full")
	// ErrConnDead is the cause given to requests in flight on a
	// connection that failed; it is retriable.
	ErrConnDead = errors.New("samsa/client: broker connection died")
	// ErrAssignmentLost is returned by a group consumer's commit of a
	// partition it lost (the coordinator fenced the member, or its session
	// timed out) and has not been assigned again: the partition may be
	// another member's now, so the commit is not sent. The error also
	// wraps the loss's cause, e.g. ErrUnknownMemberID.
	ErrAssignmentLost = errors.New("samsa/client: partition lost by the group member")
)

// KafkaError is an error code returned by a broker. Per-record errors
// wrap it, so errors.As(err, &kerr) yields the code.
type KafkaError struct {
	Code      int16
	Name      string
	Retriable bool
	// Message is the broker's error message, if it sent one.
	Message string
}

func (e *KafkaError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s (kafka error %d): %s", e.Name, e.Code, e.Message)
	}
	return fmt.Sprintf("%s (kafka error %d)", e.Name, e.Code)
}

// Is reports whether target is a *KafkaError with the same code, so
// errors.Is(err, client.ErrNotLeaderOrFollower) works whatever the message.
func (e *KafkaError) Is(target error) bool {
	t, ok := target.(*KafkaError)
	return ok && t.Code == e.Code
}

// kafkaErrors is the one table of Kafka error codes: name and whether a
// request failing with it may be retried (as in Kafka's Errors.java,
// RetriableException subclasses).
var kafkaErrors = map[int16]*KafkaError{}

func kerr(code int16, name string, retriable bool) *KafkaError {
	e := &KafkaError{Code: code, Name: name, Retriable: retriable}
	kafkaErrors[code] = e
	return e
}

// Kafka error codes the client handles by name: match them with
// errors.Is(err, ErrRebalanceInProgress), never by number. The rest of the
// table is in the init below.
var (
	ErrUnknownServerError           = kerr(-1, "UNKNOWN_SERVER_ERROR", false)
	ErrOffsetOutOfRange             = kerr(1, "OFFSET_OUT_OF_RANGE", false)
	ErrCorruptMessage               = kerr(2, "CORRUPT_MESSAGE", true)
	ErrUnknownTopicOrPartition      = kerr(3, "UNKNOWN_TOPIC_OR_PARTITION", true)
	ErrInvalidFetchSize             = kerr(4, "INVALID_FETCH_SIZE", false)
	ErrLeaderNotAvailable           = kerr(5, "LEADER_NOT_AVAILABLE", true)
	ErrNotLeaderOrFollower          = kerr(6, "NOT_LEADER_OR_FOLLOWER", true)
	ErrRequestTimedOut              = kerr(7, "REQUEST_TIMED_OUT", true)
	ErrBrokerNotAvailable           = kerr(8, "BROKER_NOT_AVAILABLE", false)
	ErrReplicaNotAvailable          = kerr(9, "REPLICA_NOT_AVAILABLE", true)
	ErrMessageTooLarge              = kerr(10, "MESSAGE_TOO_LARGE", false)
	ErrOffsetMetadataTooLarge       = kerr(12, "OFFSET_METADATA_TOO_LARGE", false)
	ErrNetworkException             = kerr(13, "NETWORK_EXCEPTION", true)
	ErrCoordinatorLoadInProgress    = kerr(14, "COORDINATOR_LOAD_IN_PROGRESS", true)
	ErrCoordinatorNotAvailable      = kerr(15, "COORDINATOR_NOT_AVAILABLE", true)
	ErrNotCoordinator               = kerr(16, "NOT_COORDINATOR", true)
	ErrInvalidTopicException        = kerr(17, "INVALID_TOPIC_EXCEPTION", false)
	ErrRecordListTooLarge           = kerr(18, "RECORD_LIST_TOO_LARGE", false)
	ErrNotEnoughReplicas            = kerr(19, "NOT_ENOUGH_REPLICAS", true)
	ErrNotEnoughReplicasAfterAppend = kerr(20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true)
	ErrInvalidRequiredAcks          = kerr(21, "INVALID_REQUIRED_ACKS", false)
	ErrIllegalGeneration            = kerr(22, "ILLEGAL_GENERATION", false)
	ErrInconsistentGroupProtocol    = kerr(23, "INCONSISTENT_GROUP_PROTOCOL", false)
	ErrInvalidGroupID               = kerr(24, "INVALID_GROUP_ID", false)
	ErrUnknownMemberID              = kerr(25, "UNKNOWN_MEMBER_ID", false)
	ErrInvalidSessionTimeout        = kerr(26, "INVALID_SESSION_TIMEOUT", false)
	ErrRebalanceInProgress          = kerr(27, "REBALANCE_IN_PROGRESS", false)
	ErrInvalidCommitOffsetSize      = kerr(28, "INVALID_COMMIT_OFFSET_SIZE", false)
	ErrTopicAuthorizationFailed     = kerr(29, "TOPIC_AUTHORIZATION_FAILED", false)
	ErrGroupAuthorizationFailed     = kerr(30, "GROUP_AUTHORIZATION_FAILED", false)
	ErrClusterAuthorizationFailed   = kerr(31, "CLUSTER_AUTHORIZATION_FAILED", false)
	ErrInvalidTimestamp             = kerr(32, "INVALID_TIMESTAMP", false)
	ErrUnsupportedVersion           = kerr(35, "UNSUPPORTED_VERSION", false)
	ErrOutOfOrderSequenceNumber     = kerr(45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false)
	ErrDuplicateSequenceNumber      = kerr(46, "DUPLICATE_SEQUENCE_NUMBER", false)
	ErrInvalidProducerEpoch         = kerr(47, "INVALID_PRODUCER_EPOCH", false)
	ErrKafkaStorageError            = kerr(56, "KAFKA_STORAGE_ERROR", true)
	ErrUnknownProducerID            = kerr(59, "UNKNOWN_PRODUCER_ID", false)
	ErrNonEmptyGroup                = kerr(68, "NON_EMPTY_GROUP", false)
	ErrGroupIDNotFound              = kerr(69, "GROUP_ID_NOT_FOUND", false)
	ErrFencedLeaderEpoch            = kerr(74, "FENCED_LEADER_EPOCH", true)
	ErrUnknownLeaderEpoch           = kerr(75, "UNKNOWN_LEADER_EPOCH", true)
	ErrUnsupportedCompressionType   = kerr(76, "UNSUPPORTED_COMPRESSION_TYPE", false)
	ErrOffsetNotAvailable           = kerr(78, "OFFSET_NOT_AVAILABLE", true)
	ErrMemberIDRequired             = kerr(79, "MEMBER_ID_REQUIRED", false)
	ErrGroupMaxSizeReached          = kerr(81, "GROUP_MAX_SIZE_REACHED", false)
	ErrFencedInstanceID             = kerr(82, "FENCED_INSTANCE_ID", false)
	ErrInvalidRecord                = kerr(87, "INVALID_RECORD", false)
	ErrUnstableOffsetCommit         = kerr(88, "UNSTABLE_OFFSET_COMMIT", true)
	ErrThrottlingQuotaExceeded      = kerr(89, "THROTTLING_QUOTA_EXCEEDED", true)
	ErrProducerFenced               = kerr(90, "PRODUCER_FENCED", false)
	ErrUnknownTopicID               = kerr(100, "UNKNOWN_TOPIC_ID", true)
	ErrInconsistentTopicID          = kerr(103, "INCONSISTENT_TOPIC_ID", true)
	ErrFencedMemberEpoch            = kerr(110, "FENCED_MEMBER_EPOCH", false)
	ErrUnreleasedInstanceID         = kerr(111, "UNRELEASED_INSTANCE_ID", false)
	ErrUnsupportedAssignor          = kerr(112, "UNSUPPORTED_ASSIGNOR", false)
	ErrStaleMemberEpoch             = kerr(113, "STALE_MEMBER_EPOCH", false)
)

func init() {
	for _, e := range []struct {
		code      int16
		name      string
		retriable bool
	}{
		{11, "STALE_CONTROLLER_EPOCH", false},
		{33, "UNSUPPORTED_SASL_MECHANISM", false},
		{34, "ILLEGAL_SASL_STATE", false},
		{36, "TOPIC_ALREADY_EXISTS", false},
		{37, "INVALID_PARTITIONS", false},
		{38, "INVALID_REPLICATION_FACTOR", false},
		{39, "INVALID_REPLICA_ASSIGNMENT", false},
		{40, "INVALID_CONFIG", false},
		{41, "NOT_CONTROLLER", true},
		{42, "INVALID_REQUEST", false},
		{43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false},
		{44, "POLICY_VIOLATION", false},
		{48, "INVALID_TXN_STATE", false},
		{49, "INVALID_PRODUCER_ID_MAPPING", false},
		{50, "INVALID_TRANSACTION_TIMEOUT", false},
		{51, "CONCURRENT_TRANSACTIONS", true},
		{52, "TRANSACTION_COORDINATOR_FENCED", false},
		{53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false},
		{54, "SECURITY_DISABLED", false},
		{55, "OPERATION_NOT_ATTEMPTED", false},
		{57, "LOG_DIR_NOT_FOUND", false},
		{58, "SASL_AUTHENTICATION_FAILED", false},
		{60, "REASSIGNMENT_IN_PROGRESS", false},
		{61, "DELEGATION_TOKEN_AUTH_DISABLED", false},
		{62, "DELEGATION_TOKEN_NOT_FOUND", false},
		{63, "DELEGATION_TOKEN_OWNER_MISMATCH", false},
		{64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false},
		{65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false},
		{66, "DELEGATION_TOKEN_EXPIRED", false},
		{67, "INVALID_PRINCIPAL_TYPE", false},
		{70, "FETCH_SESSION_ID_NOT_FOUND", true},
		{71, "INVALID_FETCH_SESSION_EPOCH", true},
		{72, "LISTENER_NOT_FOUND", true},
		{73, "TOPIC_DELETION_DISABLED", false},
		{77, "STALE_BROKER_EPOCH", false},
		{80, "PREFERRED_LEADER_NOT_AVAILABLE", true},
		{83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true},
		{84, "ELECTION_NOT_NEEDED", true},
		{85, "NO_REASSIGNMENT_IN_PROGRESS", false},
		{86, "GROUP_SUBSCRIBED_TO_TOPIC", false},
		{91, "RESOURCE_NOT_FOUND", false},
		{92, "DUPLICATE_RESOURCE", false},
		{93, "UNACCEPTABLE_CREDENTIAL", false},
		{94, "INCONSISTENT_VOTER_SET", false},
		{95, "INVALID_UPDATE_VERSION", false},
		{96, "FEATURE_UPDATE_FAILED", false},
		{97, "PRINCIPAL_DESERIALIZATION_FAILURE", false},
		{98, "SNAPSHOT_NOT_FOUND", false},
		{99, "POSITION_OUT_OF_RANGE", false},
		{101, "DUPLICATE_BROKER_REGISTRATION", false},
		{102, "BROKER_ID_NOT_REGISTERED", false},
		{104, "INCONSISTENT_CLUSTER_ID", false},
		{105, "TRANSACTIONAL_ID_NOT_FOUND", false},
		{106, "FETCH_SESSION_TOPIC_ID_ERROR", true},
		{107, "INELIGIBLE_REPLICA", false},
		{108, "NEW_LEADER_ELECTED", false},
		{109, "OFFSET_MOVED_TO_TIERED_STORAGE", false},
		{114, "MISMATCHED_ENDPOINT_TYPE", false},
		{115, "UNSUPPORTED_ENDPOINT_TYPE", false},
		{116, "UNKNOWN_CONTROLLER_ID", false},
		{117, "UNKNOWN_SUBSCRIPTION_ID", false},
		{118, "TELEMETRY_TOO_LARGE", false},
		{119, "INVALID_REGISTRATION", false},
		{120, "TRANSACTION_ABORTABLE", false},
		{121, "INVALID_RECORD_STATE", false},
		{122, "SHARE_SESSION_NOT_FOUND", true},
		{123, "INVALID_SHARE_SESSION_EPOCH", true},
		{124, "FENCED_STATE_EPOCH", false},
		{125, "INVALID_VOTER_KEY", false},
		{126, "DUPLICATE_VOTER", false},
		{127, "VOTER_NOT_FOUND", false},
		{128, "INVALID_REGULAR_EXPRESSION", false},
		{129, "REBOOTSTRAP_REQUIRED", false},
		{130, "STREAMS_INVALID_TOPOLOGY", false},
		{131, "STREAMS_INVALID_TOPOLOGY_EPOCH", false},
		{132, "STREAMS_TOPOLOGY_FENCED", false},
		{133, "SHARE_SESSION_LIMIT_REACHED", true},
		{134, "GROUP_DELETION_FAILED", false},
		{135, "STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED", false},
		{136, "CONTROLLER_ID_NOT_REGISTERED", false},
	} {
		kerr(e.code, e.name, e.retriable)
	}
}

// ErrorForCode returns the error for a Kafka error code, nil for 0. Unknown
// codes yield a non-retriable *KafkaError named UNKNOWN_CODE_n.
func ErrorForCode(code int16) error {
	if code == 0 {
		return nil
	}
	if e, ok := kafkaErrors[code]; ok {
		return e
	}
	return &KafkaError{Code: code, Name: fmt.Sprintf("UNKNOWN_CODE_%d", code)}
}

// errorWithMessage returns the error for code carrying the broker's message.
func errorWithMessage(code int16, msg *string) error {
	err := ErrorForCode(code)
	if err == nil || msg == nil || *msg == "" {
		return err
	}
	e := *err.(*KafkaError)
	e.Message = *msg
	return &e
}

// IsRetriable is the one classifier of retriable errors: Kafka codes by the
// table above, and connection failures (which are always retriable, since
// the request may be resent on a new connection).
func IsRetriable(err error) bool {
	var ke *KafkaError
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	return errors.Is(err, ErrConnDead)
}

// isLeaderError reports whether err means the client's metadata is stale.
func isLeaderError(err error) bool {
	var ke *KafkaError
	if !errors.As(err, &ke) {
		return errors.Is(err, ErrConnDead)
	}
	switch ke.Code {
	case ErrUnknownTopicOrPartition.Code, ErrLeaderNotAvailable.Code, ErrNotLeaderOrFollower.Code,
		ErrReplicaNotAvailable.Code, ErrFencedLeaderEpoch.Code, ErrUnknownLeaderEpoch.Code,
		ErrUnknownTopicID.Code, ErrInconsistentTopicID.Code:
		return true
	}
	return false
}
