package client

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestAsyncProducer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		topic := newTopic(t, b, 2)
		a := NewAsyncProducer(newTestProducer(t, b), ReturnSuccesses(true), AsyncBufferSize(1000))
		for i := 0; i < 500; i++ {
			a.Input() <- &Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte("v"), Metadata: i}
		}
		seen := map[int]bool{}
		timeout := time.After(30 * time.Second)
		for len(seen) < 500 {
			select {
			case r := <-a.Successes():
				if r.Offset < 0 {
					t.Fatalf("success without offset: %+v", r)
				}
				seen[r.Metadata.(int)] = true
			case err := <-a.Errors():
				t.Fatal(err)
			case <-timeout:
				t.Fatalf("%d successes", len(seen))
			}
		}
		if err := a.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-a.Successes(); ok {
			t.Fatal("Successes not closed")
		}
		if _, ok := <-a.Errors(); ok {
			t.Fatal("Errors not closed")
		}
	})
}

// Nobody reads Successes or Errors: sarama deadlocks here; samsa drops and
// counts the overflow, and Close still returns.
func TestAsyncProducerUndrained(t *testing.T) {
	b := newFake(t, 1)
	topic := newTopic(t, b, 1)
	a := NewAsyncProducer(newTestProducer(t, b), ReturnSuccesses(true), AsyncBufferSize(10))
	for i := 0; i < 300; i++ {
		a.Input() <- &Record{Topic: topic, Value: []byte("v")}
	}
	a.Input() <- &Record{Topic: "", Value: []byte("no topic")} // an error nobody reads
	done := make(chan error)
	go func() { done <- a.Close(testCtx(t)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close deadlocked with undrained channels")
	}
	if a.DroppedSuccesses() != 290 {
		t.Fatalf("dropped %d successes, want 290", a.DroppedSuccesses())
	}
	if a.DroppedErrors() != 0 {
		t.Fatalf("dropped %d errors; the one error fits the buffer", a.DroppedErrors())
	}
	if a.Producer() == nil {
		t.Fatal("Producer() is nil")
	}
	n := 0
	for range a.Successes() {
		n++
	}
	var errs []error
	for e := range a.Errors() {
		errs = append(errs, e)
	}
	if n != 10 || len(errs) != 1 || !errors.Is(errs[0], ErrNoTopic) {
		t.Fatalf("buffered %d successes, errors %v", n, errs)
	}
}
