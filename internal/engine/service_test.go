package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoopStopWaits: Stop cancels the loop and returns only after the
// loop's function returned.
func TestLoopStopWaits(t *testing.T) {
	t.Parallel()
	cancelled, release := make(chan struct{}), make(chan struct{})
	l := newLoop(func(ctx context.Context) {
		<-ctx.Done()
		close(cancelled)
		<-release
	})
	require.NoError(t, l.Start(context.Background()))
	stopped := make(chan struct{})
	go func() {
		l.Stop()
		close(stopped)
	}()
	<-cancelled
	select {
	case <-stopped:
		t.Fatal("Stop returned while the loop was still running")
	default:
	}
	close(release)
	<-stopped
}

// TestLoopStopTwice: a second Stop does nothing, and a second Start fails.
func TestLoopStopTwice(t *testing.T) {
	t.Parallel()
	runs := 0
	l := newLoop(func(ctx context.Context) { runs++; <-ctx.Done() })
	require.NoError(t, l.Start(context.Background()))
	l.Stop()
	l.Stop()
	require.Error(t, l.Start(context.Background()))
	require.Equal(t, 1, runs)
}

// TestLoopStopBeforeStart: Stop of a loop never started returns at once and
// runs nothing.
func TestLoopStopBeforeStart(t *testing.T) {
	t.Parallel()
	l := newLoop(func(context.Context) { t.Error("the loop ran") })
	l.Stop()
	stopAll([]*loop{l})
}

// TestStopAllCancelsFirst: stopAll cancels every loop before it waits for
// any, so loops that wait on each other's end still stop.
func TestStopAllCancelsFirst(t *testing.T) {
	t.Parallel()
	secondDone := make(chan struct{})
	first := newLoop(func(ctx context.Context) {
		<-ctx.Done()
		<-secondDone // returns only once the second loop was cancelled too
	})
	second := newLoop(func(ctx context.Context) {
		<-ctx.Done()
		close(secondDone)
	})
	require.NoError(t, first.Start(context.Background()))
	require.NoError(t, second.Start(context.Background()))
	stopAll([]*loop{first, second})
}
