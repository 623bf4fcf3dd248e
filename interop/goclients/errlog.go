package main

import (
	"fmt"
	"strings"
	"sync"
)

// lastError keeps the most recent error a client logged, so that a scenario
// that times out (a group that never forms, a fetch that never returns) can
// report the Kafka error the client actually received.
type lastError struct {
	mu  sync.Mutex
	msg string
}

func (l *lastError) set(msg string) {
	l.mu.Lock()
	l.msg = msg
	l.mu.Unlock()
}

func (l *lastError) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msg
}

// Printf implements the kafka-go and sarama logger interfaces.
func (l *lastError) Printf(format string, args ...any) { l.set(fmt.Sprintf(format, args...)) }

// Print and Println implement sarama.StdLogger.
func (l *lastError) Print(args ...any)   { l.set(fmt.Sprint(args...)) }
func (l *lastError) Println(args ...any) { l.set(strings.TrimSpace(fmt.Sprintln(args...))) }

// wrap adds the last logged error to err, if there is one.
func (l *lastError) wrap(err error) error {
	if msg := l.get(); msg != "" && err != nil {
		return fmt.Errorf("%w (last client error: %s)", err, msg)
	}
	return err
}
