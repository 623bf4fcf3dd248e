package broker

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFrameUseFollowsRequestBytes: kmsg decodes []byte fields as slices of
// the request frame, so an API whose request has any must be registered
// keepsFrame, unless its handler is done with those bytes when it returns
// (Produce writes its records to the log first). Strings are copies.
func TestFrameUseFollowsRequestBytes(t *testing.T) {
	// The premise: a decoded produce request's records alias the frame.
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = []byte("records")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	frame := req.AppendTo(nil)
	got := kmsg.NewPtrProduceRequest()
	got.SetVersion(9)
	if err := got.ReadFrom(frame); err != nil {
		t.Fatal(err)
	}
	frame[bytes.Index(frame, []byte("records"))] = 'R'
	if string(got.Topics[0].Partitions[0].Records) != "Records" {
		t.Fatal("kmsg copied the records; the frame rule can be relaxed")
	}

	doneWithBytes := map[kmsg.Key]bool{kmsg.Produce: true}
	released := 0
	for key, h := range handlers {
		if h.key != key {
			t.Errorf("%s registered under key %d", h.key.Name(), key)
		}
		if h.frame != releasesFrame {
			continue
		}
		released++
		if hasBytes(reflect.TypeOf(key.Request()).Elem(), map[reflect.Type]bool{}) && !doneWithBytes[key] {
			t.Errorf("%s: its request has []byte fields into the frame, yet it is registered releasesFrame", key.Name())
		}
	}
	if released == 0 || handlers[kmsg.Produce].frame != releasesFrame {
		t.Error("the produce path must recycle its frames (BenchmarkProduceRequest)")
	}
}

// hasBytes reports whether t has an exported []byte anywhere inside (kmsg's
// unknown tags are not read by any handler).
func hasBytes(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8 || hasBytes(t.Elem(), seen)
	case reflect.Pointer, reflect.Array:
		return hasBytes(t.Elem(), seen)
	case reflect.Struct:
		if t == reflect.TypeOf(kmsg.Tags{}) {
			return false
		}
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() && hasBytes(f.Type, seen) {
				return true
			}
		}
	}
	return false
}
