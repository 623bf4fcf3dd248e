package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

// TestConsumerGroupRegexMatchesInternalTopic: a KIP-848 member whose regex
// names __consumer_offsets is assigned its partitions, as Kafka's group
// coordinator resolves a regex against every topic; an invalid regex is
// INVALID_REGULAR_EXPRESSION.
func TestConsumerGroupRegexMatchesInternalTopic(t *testing.T) {
	n := samsatest.Start(t, samsatest.Config("offsets.topic.num.partitions", "3"))
	c := rawConn(t, n.Addr())
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(3)
	fc.CoordinatorKey = "regex-group"
	deadline := time.Now().Add(15 * time.Second)
	for { // the first FindCoordinator creates __consumer_offsets
		resp := kmsg.NewPtrFindCoordinatorResponse()
		c.roundTrip(t, fc, resp)
		if resp.ErrorCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FindCoordinator: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		time.Sleep(50 * time.Millisecond)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	mdt := kmsg.NewMetadataRequestTopic()
	mdt.Topic = kmsg.StringPtr("__consumer_offsets")
	md.Topics = append(md.Topics, mdt)
	mresp := kmsg.NewPtrMetadataResponse()
	c.roundTrip(t, md, mresp)
	if len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != 0 || len(mresp.Topics[0].Partitions) != 3 {
		t.Fatalf("metadata of __consumer_offsets: %+v", mresp.Topics)
	}
	offsetsID := mresp.Topics[0].TopicID

	heartbeat := func(regex string) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.SetVersion(1)
		req.Group = "regex-group"
		req.MemberID = "member-" + regex
		req.RebalanceTimeoutMillis = 5000
		req.SubscribedTopicRegex = &regex
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		// COORDINATOR_LOAD_IN_PROGRESS leaves the group untouched: retry
		// as clients do.
		for deadline := time.Now().Add(10 * time.Second); ; {
			resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
			c.roundTrip(t, req, resp)
			if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
				return resp
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	resp := heartbeat(`__consumer_offsets`)
	if resp.ErrorCode != 0 || resp.Assignment == nil {
		t.Fatalf("heartbeat: %v %+v", kerr.ErrorForCode(resp.ErrorCode), resp)
	}
	got := 0
	for _, tp := range resp.Assignment.Topics {
		if tp.TopicID == offsetsID {
			got += len(tp.Partitions)
		}
	}
	if got != 3 {
		t.Fatalf("regex __consumer_offsets assigned %d of its 3 partitions: %+v", got, resp.Assignment.Topics)
	}
	if resp := heartbeat(`(`); resp.ErrorCode != kerr.InvalidRegularExpression.Code || resp.ErrorMessage == nil {
		t.Fatalf("invalid regex: %v %+v", kerr.ErrorForCode(resp.ErrorCode), resp)
	}
}
