package flow

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/engine"
)

// Sleep pauses the run for d, durably: the run's segment ends, and it
// resumes from a scheduled River job once d has passed, in whichever process
// is running then. A sleeping run holds no worker, goroutine or connection.
// The wake time is fixed when the step first runs. Functions must return a
// non-nil error from Sleep unchanged.
func Sleep(ctx context.Context, id string, d time.Duration) error {
	s, err := engine.FromContext(ctx)
	if err != nil {
		return err
	}
	return s.Sleep(ctx, id, func(now time.Time) time.Time { return now.Add(max(d, 0)) })
}

// SleepUntil pauses the run until t, durably, as Sleep does. A time in the
// past returns at once. A time outside the years 1 to 9999 fails the step
// with an error wrapping ErrInvalidTime.
func SleepUntil(ctx context.Context, id string, t time.Time) error {
	s, err := engine.FromContext(ctx)
	if err != nil {
		return err
	}
	return s.Sleep(ctx, id, func(time.Time) time.Time { return t })
}
