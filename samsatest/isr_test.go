package samsatest_test

// rejoinISRs stands in for the replication data path: it sends, as each
// leader of a topic's partitions would once a returning follower has
// caught up, the AlterPartition that adds the follower back to the ISR.
// The controller owns no ISR growth since replication (the leader does),
// so a test that wants a returning broker back in the ISRs without
// producing through it calls this. A change the data path already made
// is left alone.

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/samsatest"
)

func rejoinISRs(t *testing.T, c *samsatest.Cluster, id int32, topic string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		active := c.ActiveController()
		if active > 0 {
			nd := c.Node(active)
			im := nd.BrokerHandle().Image()
			tp := im.Topic(topic)
			done := tp != nil && im.Broker(id) != nil && !im.Broker(id).Fenced
			if done {
				for i, p := range tp.Partitions {
					if p.Leader < 0 || !slices.Contains(p.Replicas, id) || slices.Contains(p.ISR, id) {
						continue
					}
					done = false
					req := kmsg.NewPtrAlterPartitionRequest()
					req.SetVersion(3)
					req.BrokerID, req.BrokerEpoch = p.Leader, im.Broker(p.Leader).Epoch
					rt := kmsg.NewAlterPartitionRequestTopic()
					rt.TopicID = tp.ID
					rp := kmsg.NewAlterPartitionRequestTopicPartition()
					rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = int32(i), p.LeaderEpoch, p.PartitionEpoch
					for _, r := range p.Replicas {
						if r == id || slices.Contains(p.ISR, r) {
							m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
							m.BrokerID, m.BrokerEpoch = r, im.Broker(r).Epoch
							rp.NewEpochISR = append(rp.NewEpochISR, m)
						}
					}
					rt.Partitions = append(rt.Partitions, rp)
					req.Topics = append(req.Topics, rt)
					resp := kmsg.NewPtrAlterPartitionResponse()
					if err := flexRoundTrip(nd.ControllerAddr(), req, resp); err != nil {
						t.Logf("AlterPartition: %v", err)
						continue
					}
					code := resp.ErrorCode
					if code == 0 && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
						code = resp.Topics[0].Partitions[0].ErrorCode
					}
					switch code {
					case 0, kerr.InvalidUpdateVersion.Code, kerr.NotController.Code, kerr.FencedLeaderEpoch.Code:
					default:
						t.Fatalf("AlterPartition for %s-%d: %v", topic, i, kerr.ErrorForCode(code))
					}
				}
			}
			if done {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d not back in the ISRs of %s", id, topic)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flexRoundTrip sends one request on a fresh connection and reads the
// answer, with the response header of the request's version (v1, with
// tagged fields, for a flexible one).
func flexRoundTrip(addr string, req kmsg.Request, resp kmsg.Response) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		return err
	}
	br := bufio.NewReader(nc)
	var sz [4]byte
	if _, err := io.ReadFull(br, sz[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(br, body); err != nil {
		return err
	}
	body = body[4:] // correlation id
	if req.IsFlexible() {
		body = body[1:] // empty tagged fields of the response header
	}
	resp.SetVersion(req.GetVersion())
	return resp.ReadFrom(body)
}
