package broker

// DescribeConfigs (key 32, v1-4), AlterConfigs (key 33, v0-2) and
// IncrementalAlterConfigs (key 44, v0-1).
//
// Topics report every topic config with its effective value and source:
// DYNAMIC_TOPIC_CONFIG (1) when set on the topic, else the source of the
// broker key its default comes from (DYNAMIC_BROKER_CONFIG 2,
// DYNAMIC_DEFAULT_BROKER_CONFIG 3, STATIC_BROKER_CONFIG 4 or DEFAULT_CONFIG
// 5). Synonyms (v1+) list that chain. The broker resource named by this
// node's id reports every broker key with its effective value, dynamic ones
// included (dynconfig.go); the one with the empty name, the cluster-wide
// default, reports only the keys set there. Altering a BROKER resource is
// decided by the controller (controller.DecideAlterBrokerConfigs); a
// BROKER_LOGGER resource gets INVALID_REQUEST (samsa has no log4j loggers).

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
)

const (
	resourceTopic        int8 = 2
	resourceBroker       int8 = 4
	resourceBrokerLogger int8 = 8

	sourceDynamicTopic int8 = 1
)

func init() {
	register(kmsg.DescribeConfigs, 1, 4, keepsFrame, (*Broker).handleDescribeConfigs)
	registerOn(onBoth, kmsg.AlterConfigs, 0, 2, keepsFrame, (*Broker).handleAlterConfigs)
	registerOn(onBoth, kmsg.IncrementalAlterConfigs, 0, 1, keepsFrame, (*Broker).handleIncrementalAlterConfigs)
}

func (b *Broker) handleDescribeConfigs(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := kmsg.NewPtrDescribeConfigsResponse()
	resp.SetVersion(r.hdr.Version)
	im := b.image()
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []ConfigEntry
		switch {
		case int8(rr.ResourceType) == resourceTopic:
			if im.Topic(rr.ResourceName) == nil {
				setErr(&sr.ErrorCode, &sr.ErrorMessage, kerr.UnknownTopicOrPartition, "topic "+rr.ResourceName+" does not exist")
			} else {
				entries = b.topicEntries(im, rr.ResourceName)
			}
		case int8(rr.ResourceType) == resourceBroker:
			d := b.dynamic()
			switch rr.ResourceName {
			case "":
				entries = d.defaultEntries
			case strconv.Itoa(int(b.opts.NodeID)):
				if d.brokerEntries != nil {
					entries = d.brokerEntries()
				}
			default:
				setErr(&sr.ErrorCode, &sr.ErrorMessage, kerr.InvalidRequest, "Unexpected broker id, expected "+strconv.Itoa(int(b.opts.NodeID))+" or empty string, but received "+rr.ResourceName)
			}
		default:
			setErr(&sr.ErrorCode, &sr.ErrorMessage, kerr.InvalidRequest, "unsupported resource type "+strconv.Itoa(int(rr.ResourceType)))
		}
		for _, e := range filterEntries(entries, rr.ConfigNames) {
			sr.Configs = append(sr.Configs, describeEntry(e, req.IncludeSynonyms, req.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	r.respond(resp)
}

// topicEntries returns a topic's configs with values and sources.
func (b *Broker) topicEntries(im *metadata.Image, topic string) []ConfigEntry {
	dyn := im.Configs(metadata.ResourceTopic, topic)
	defs := b.dynamic().topicDefaults
	out := make([]ConfigEntry, 0, len(defs))
	for _, e := range defs {
		// Synonyms, most specific first, as Kafka lists them: the topic's
		// own value, then the broker key its default comes from.
		var syn []configSynonym
		if v, ok := dyn[e.Name]; ok {
			syn = append(syn, configSynonym{e.Name, &v, sourceDynamicTopic})
		}
		if e.Synonym != "" {
			syn = append(syn, configSynonym{e.Synonym, e.Value, e.Source})
		} else {
			syn = append(syn, configSynonym{e.Name, e.Value, e.Source})
		}
		if v, ok := dyn[e.Name]; ok {
			e.Value, e.Source = &v, sourceDynamicTopic
		}
		e.Synonyms = syn
		out = append(out, e)
	}
	return out
}

type configSynonym = ConfigSynonym

func filterEntries(entries []ConfigEntry, names []string) []ConfigEntry {
	if names == nil {
		return entries
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []ConfigEntry
	for _, e := range entries {
		if want[e.Name] {
			out = append(out, e)
		}
	}
	return out
}

func describeEntry(e ConfigEntry, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, kmsg.ConfigSource(e.Source), e.Sensitive
	if e.Sensitive {
		c.Value = nil
	}
	c.ConfigType = kmsg.ConfigType(e.Type)
	if docs {
		c.Documentation = e.Doc
	}
	if synonyms {
		syn := e.Synonyms
		if syn == nil {
			syn = []configSynonym{{e.Name, e.Value, e.Source}}
		}
		for _, sy := range syn {
			s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			s.Name, s.Value, s.Source = sy.Name, sy.Value, kmsg.ConfigSource(sy.Source)
			if e.Sensitive {
				s.Value = nil
			}
			c.ConfigSynonyms = append(c.ConfigSynonyms, s)
		}
	}
	return c
}

func (b *Broker) handleAlterConfigs(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	if r.conn.listener.controller {
		b.toController(r, kreq, b.decideAlterConfigs)
		return
	}
	// A broker listener answers BROKER resources naming another broker
	// itself, as Kafka's ConfigAdminManager does before forwarding: a
	// broker's own configs are altered through that broker.
	own, foreign := splitForeign(b, req.Resources,
		func(rr kmsg.AlterConfigsRequestResource) (int8, string) {
			return int8(rr.ResourceType), rr.ResourceName
		},
		func(rr kmsg.AlterConfigsRequestResource, msg string) kmsg.AlterConfigsResponseResource {
			sr := kmsg.NewAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
			setErr(&sr.ErrorCode, &sr.ErrorMessage, kerr.InvalidRequest, msg)
			return sr
		})
	if len(foreign) == 0 {
		b.toController(r, kreq, b.decideAlterConfigs)
		return
	}
	req.Resources = own
	b.toControllerThen(r, req, b.decideAlterConfigs, func(resp kmsg.Response) kmsg.Response {
		ar := resp.(*kmsg.AlterConfigsResponse)
		ar.Resources = append(ar.Resources, foreign...)
		return ar
	})
}

// splitForeign separates the resources of an alter-configs request this
// broker forwards from those naming another broker, answered here with
// Kafka's error.
func splitForeign[Req, Resp any](b *Broker, rs []Req, key func(Req) (int8, string), refuse func(Req, string) Resp) (own []Req, foreign []Resp) {
	for _, rr := range rs {
		if msg, bad := b.foreignBroker(key(rr)); bad {
			foreign = append(foreign, refuse(rr, msg))
			continue
		}
		own = append(own, rr)
	}
	return own, foreign
}

// foreignBroker reports whether a BROKER resource names something other
// than this broker or the cluster default, with Kafka's message.
func (b *Broker) foreignBroker(typ int8, name string) (string, bool) {
	if typ != resourceBroker || name == "" {
		return "", false
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return "Node id must be an integer, but it is: " + name, true
	}
	if int32(id) == b.opts.NodeID {
		return "", false
	}
	return "Unexpected broker id, expected " + strconv.Itoa(int(b.opts.NodeID)) + ", but received " + name, true
}

func (b *Broker) decideAlterConfigs(kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := kmsg.NewPtrAlterConfigsResponse()
	resp.SetVersion(kreq.GetVersion())
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var ops []controller.ConfigOp
		for _, c := range rr.Configs {
			ops = append(ops, controller.ConfigOp{Name: c.Name, Op: 0, Value: c.Value})
		}
		b.alterConfigs(int8(rr.ResourceType), rr.ResourceName, ops, true, req.ValidateOnly, &sr.ErrorCode, &sr.ErrorMessage)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (b *Broker) handleIncrementalAlterConfigs(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	if r.conn.listener.controller {
		b.toController(r, kreq, b.decideIncrementalAlterConfigs)
		return
	}
	own, foreign := splitForeign(b, req.Resources,
		func(rr kmsg.IncrementalAlterConfigsRequestResource) (int8, string) {
			return int8(rr.ResourceType), rr.ResourceName
		},
		func(rr kmsg.IncrementalAlterConfigsRequestResource, msg string) kmsg.IncrementalAlterConfigsResponseResource {
			sr := kmsg.NewIncrementalAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
			setErr(&sr.ErrorCode, &sr.ErrorMessage, kerr.InvalidRequest, msg)
			return sr
		})
	if len(foreign) == 0 {
		b.toController(r, kreq, b.decideIncrementalAlterConfigs)
		return
	}
	req.Resources = own
	b.toControllerThen(r, req, b.decideIncrementalAlterConfigs, func(resp kmsg.Response) kmsg.Response {
		ir := resp.(*kmsg.IncrementalAlterConfigsResponse)
		ir.Resources = append(ir.Resources, foreign...)
		return ir
	})
}

func (b *Broker) decideIncrementalAlterConfigs(kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	resp.SetVersion(kreq.GetVersion())
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var ops []controller.ConfigOp
		for _, c := range rr.Configs {
			ops = append(ops, controller.ConfigOp{Name: c.Name, Op: int8(c.Op), Value: c.Value})
		}
		b.alterConfigs(int8(rr.ResourceType), rr.ResourceName, ops, false, req.ValidateOnly, &sr.ErrorCode, &sr.ErrorMessage)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (b *Broker) alterConfigs(typ int8, name string, ops []controller.ConfigOp, replace, validateOnly bool, code *int16, msg **string) {
	switch typ {
	case resourceTopic:
		if err := b.ctl.AlterTopicConfigs(name, ops, replace, validateOnly); err != nil {
			*code, *msg = controller.CodeOf(err), controller.MessageOf(err)
		}
	case resourceBroker:
		if err := b.ctl.AlterBrokerConfigs(name, ops, replace, validateOnly); err != nil {
			*code, *msg = controller.CodeOf(err), controller.MessageOf(err)
		}
	case resourceBrokerLogger:
		setErr(code, msg, kerr.InvalidRequest, "samsa has no log4j loggers to change (BROKER_LOGGER)")
	default:
		setErr(code, msg, kerr.InvalidRequest, "unsupported resource type "+strconv.Itoa(int(typ)))
	}
}
