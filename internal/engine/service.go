package engine

import (
	"context"
	"errors"
	"sync"
)

// Service is a background loop of a started engine (the waker, the lease
// renewer, the sweeper, the resumer, retention, the run-done listener and
// notifier). Start returns once the loop runs; Stop cancels it and waits for
// it to return; Stop before Start, or twice, does nothing.
type Service interface {
	Start(ctx context.Context) error
	Stop()
}

// loop is a Service that runs one function until its context is cancelled.
type loop struct {
	run func(context.Context)

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

var _ Service = (*loop)(nil)

// newLoop returns a Service that runs run in a goroutine of its own.
func newLoop(run func(context.Context)) *loop { return &loop{run: run} }

// Start starts the loop with a context derived from ctx.
func (l *loop) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done != nil {
		return errors.New("flow: service already started")
	}
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		l.run(ctx)
	}(l.done)
	return nil
}

// halt cancels the loop without waiting for it, and returns the channel
// closed when it has returned (nil if it never started).
func (l *loop) halt() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		l.cancel()
	}
	return l.done
}

// Stop cancels the loop and waits for it to return.
func (l *loop) Stop() {
	if done := l.halt(); done != nil {
		<-done
	}
}

// stopAll cancels every service first, then waits for each: the loops stop
// together, as one cancelled context stopped them before.
func stopAll(services []*loop) {
	dones := make([]<-chan struct{}, 0, len(services))
	for _, s := range services {
		if done := s.halt(); done != nil {
			dones = append(dones, done)
		}
	}
	for _, done := range dones {
		<-done
	}
}
