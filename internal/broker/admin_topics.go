package broker

// CreateTopics (key 19, v2-7), DeleteTopics (key 20, v1-6) and
// CreatePartitions (key 37, v0-3): validated and committed by the
// controller; the partition manager opens or deletes the logs as the
// new metadata image is published, before the response is sent.
//
// A topic named twice in one request gets INVALID_REQUEST (Kafka does the
// same). CreateTopics v5+ returns the created topic's configs; v7 its id.
// DeleteTopics v6 accepts topic ids.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
)

func init() {
	registerOn(onBoth, kmsg.CreateTopics, 2, 7, keepsFrame, (*Broker).handleCreateTopics)
	registerOn(onBoth, kmsg.DeleteTopics, 1, 6, keepsFrame, (*Broker).handleDeleteTopics)
	registerOn(onBoth, kmsg.CreatePartitions, 0, 3, keepsFrame, (*Broker).handleCreatePartitions)
}

func (b *Broker) handleCreateTopics(r *request, kreq kmsg.Request) {
	b.toController(r, kreq, b.decideCreateTopics)
}

func (b *Broker) decideCreateTopics(kreq kmsg.Request) kmsg.Response {
	version := kreq.GetVersion()
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := kmsg.NewPtrCreateTopicsResponse()
	resp.SetVersion(version)
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if seen[rt.Topic] > 1 {
			setErr(&st.ErrorCode, &st.ErrorMessage, kerr.InvalidRequest, "topic "+rt.Topic+" appears more than once in the request")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		spec := controller.TopicSpec{Name: rt.Topic, NumPartitions: rt.NumPartitions,
			ReplicationFactor: rt.ReplicationFactor, Configs: map[string]*string{}}
		for _, a := range rt.ReplicaAssignment {
			for int(a.Partition) >= len(spec.Assignment) {
				spec.Assignment = append(spec.Assignment, nil)
			}
			spec.Assignment[a.Partition] = a.Replicas
		}
		for _, c := range rt.Configs {
			spec.Configs[c.Name] = c.Value
		}
		res, err := b.ctl.CreateTopic(spec, req.ValidateOnly)
		if err != nil {
			st.ErrorCode = controller.CodeOf(err)
			st.ErrorMessage = controller.MessageOf(err)
		} else {
			st.TopicID = res.ID
			st.NumPartitions, st.ReplicationFactor = res.NumPartitions, res.ReplicationFactor
			if version >= 5 {
				st.Configs = b.createdTopicConfigs(rt.Topic, spec.Configs)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) createdTopicConfigs(topic string, set map[string]*string) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, e := range b.dynamic().topicDefaults {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.IsSensitive, c.Source = e.Name, e.Value, e.ReadOnly, e.Sensitive, e.Source
		if v, ok := set[e.Name]; ok {
			c.Value, c.Source = v, 1
		}
		out = append(out, c)
	}
	return out
}

func setErr(code *int16, msg **string, e *kerr.Error, text string) {
	*code = e.Code
	*msg = &text
}

func (b *Broker) handleDeleteTopics(r *request, kreq kmsg.Request) {
	b.toController(r, kreq, b.decideDeleteTopics)
}

func (b *Broker) decideDeleteTopics(kreq kmsg.Request) kmsg.Response {
	version := kreq.GetVersion()
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := kmsg.NewPtrDeleteTopicsResponse()
	resp.SetVersion(version)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for i := range req.TopicNames {
			targets = append(targets, target{&req.TopicNames[i], [16]byte{}})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		name := ""
		if tg.name != nil {
			name = *tg.name
		}
		if name != "" && tg.id != ([16]byte{}) {
			setErr(&st.ErrorCode, &st.ErrorMessage, kerr.InvalidRequest, "give a topic name or a topic id, not both")
		} else if gotName, gotID, err := b.ctl.DeleteTopic(name, tg.id); err != nil {
			st.ErrorCode = controller.CodeOf(err)
			st.ErrorMessage = controller.MessageOf(err)
		} else {
			st.Topic, st.TopicID = &gotName, gotID
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) handleCreatePartitions(r *request, kreq kmsg.Request) {
	b.toController(r, kreq, b.decideCreatePartitions)
}

func (b *Broker) decideCreatePartitions(kreq kmsg.Request) kmsg.Response {
	version := kreq.GetVersion()
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := kmsg.NewPtrCreatePartitionsResponse()
	resp.SetVersion(version)
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if seen[rt.Topic] > 1 {
			setErr(&st.ErrorCode, &st.ErrorMessage, kerr.InvalidRequest, "topic "+rt.Topic+" appears more than once in the request")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		var assign [][]int32
		if rt.Assignment != nil {
			for _, a := range rt.Assignment {
				assign = append(assign, a.Replicas)
			}
		}
		if err := b.ctl.CreatePartitions(rt.Topic, rt.Count, assign, req.ValidateOnly); err != nil {
			st.ErrorCode = controller.CodeOf(err)
			st.ErrorMessage = controller.MessageOf(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
