package client

import (
	"context"
	"sync"
	"sync/atomic"
)

// AsyncProducer is a sarama-style facade for code migrating from
// sarama.AsyncProducer: send records on Input, read outcomes from Successes
// and Errors.
//
// Unlike sarama it never deadlocks when Successes or Errors are not drained:
// each is a buffered channel (AsyncBufferSize, default 256) and an outcome
// that finds its channel full is dropped and counted (DroppedSuccesses,
// DroppedErrors) instead of blocking. Successes are only delivered when
// ReturnSuccesses(true) was given (sarama's Return.Successes); errors are
// always delivered (subject to the same drop rule).
//
// Input is buffered (same size). Sending on Input after Close panics, as in
// sarama.
type AsyncProducer struct {
	p         *Producer
	input     chan *Record
	successes chan *Record
	errors    chan *ProducerError
	retSucc   bool

	droppedSucc atomic.Int64
	droppedErr  atomic.Int64

	inputDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// ProducerError is a record that failed, with its error.
type ProducerError struct {
	Record *Record
	Err    error
}

func (e *ProducerError) Error() string { return "samsa/client: producing record: " + e.Err.Error() }
func (e *ProducerError) Unwrap() error { return e.Err }

// AsyncOption configures NewAsyncProducer.
type AsyncOption func(*AsyncProducer, *int)

// ReturnSuccesses makes successes appear on Successes (default false).
func ReturnSuccesses(on bool) AsyncOption { return func(a *AsyncProducer, _ *int) { a.retSucc = on } }

// AsyncBufferSize sets the buffer of Input, Successes and Errors (default 256).
func AsyncBufferSize(n int) AsyncOption { return func(_ *AsyncProducer, size *int) { *size = n } }

// NewAsyncProducer wraps p (which it closes on Close).
func NewAsyncProducer(p *Producer, opts ...AsyncOption) *AsyncProducer {
	a := &AsyncProducer{p: p, inputDone: make(chan struct{})}
	size := 256
	for _, o := range opts {
		o(a, &size)
	}
	a.input = make(chan *Record, size)
	a.successes = make(chan *Record, size)
	a.errors = make(chan *ProducerError, size)
	go a.pump()
	return a
}

// pump moves records from Input into the producer. Produce blocks on the
// buffer budget; ctx is background because backpressure here is wanted.
func (a *AsyncProducer) pump() {
	defer close(a.inputDone)
	for r := range a.input {
		_ = a.p.Produce(context.Background(), r, a.result)
	}
}

// result runs on the producer's result goroutine: it must never block.
func (a *AsyncProducer) result(r *Record, err error) {
	if err != nil {
		select {
		case a.errors <- &ProducerError{Record: r, Err: err}:
		default:
			a.droppedErr.Add(1)
		}
		return
	}
	if !a.retSucc {
		return
	}
	select {
	case a.successes <- r:
	default:
		a.droppedSucc.Add(1)
	}
}

// Input is where records to produce are sent.
func (a *AsyncProducer) Input() chan<- *Record { return a.input }

// Successes yields acknowledged records (with ReturnSuccesses(true)). It is
// closed by Close after the last outcome.
func (a *AsyncProducer) Successes() <-chan *Record { return a.successes }

// Errors yields failed records. It is closed by Close after the last outcome.
func (a *AsyncProducer) Errors() <-chan *ProducerError { return a.errors }

// DroppedSuccesses counts successes dropped because Successes was full.
func (a *AsyncProducer) DroppedSuccesses() int64 { return a.droppedSucc.Load() }

// DroppedErrors counts errors dropped because Errors was full.
func (a *AsyncProducer) DroppedErrors() int64 { return a.droppedErr.Load() }

// Close closes Input, produces what was sent on it, flushes, closes the
// producer and finally closes Successes and Errors. ctx bounds the flush as
// in Producer.Close.
func (a *AsyncProducer) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		close(a.input)
		select {
		case <-a.inputDone:
		case <-ctx.Done():
			// Give up on what is still queued in Input: Produce calls
			// will fail fast once the producer is closed.
		}
		a.closeErr = a.p.Close(ctx)
		<-a.inputDone
		close(a.successes)
		close(a.errors)
	})
	return a.closeErr
}

// Producer returns the underlying producer.
func (a *AsyncProducer) Producer() *Producer { return a.p }
